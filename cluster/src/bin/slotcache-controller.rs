//! `slotcache-controller`: campaigns for leadership of a cluster and, while leading, keeps its
//! partitions placed. Run several: standbys take over within the lease TTL.

use anyhow::Context;
use clap::Parser;
use slotcache_cluster::controller;
use slotcache_cluster::store::Store;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "slotcache-controller", version, about = "slotcache controller")]
struct Args {
    /// etcd endpoints, comma separated.
    #[arg(long, env = "SLOTCACHE_ETCD")]
    etcd: String,
    #[arg(long, env = "SLOTCACHE_CLUSTER")]
    cluster: String,
    /// This controller's name in the election (default: host and process id).
    #[arg(long, env = "SLOTCACHE_CONTROLLER_ID")]
    id: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    slotcache_cluster::supervision::start_process();
    let args = Args::parse();
    let id = args
        .id
        .unwrap_or_else(|| format!("controller-{}", std::process::id()));
    let store = Store::connect(&args.etcd, &args.cluster, Duration::from_secs(30))
        .await
        .context("connecting to etcd")?;
    tokio::select! {
        result = controller::run(store, &id) => result.context("controller"),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
