//! `slotcache-controller`: campaigns for leadership of a cluster and, while leading, keeps its
//! partitions placed. Run several: standbys take over within the lease TTL.

use anyhow::Context;
use clap::Parser;
use slotcache_cluster::admin;
use slotcache_cluster::config_file::{self, CONFIG_HELP};
use slotcache_cluster::controller;
use slotcache_cluster::controller_stats::ControllerStats;
use slotcache_cluster::credential;
use slotcache_cluster::dashboard;
use slotcache_cluster::records::{ControllerRecord, RECORD_VERSION};
use slotcache_cluster::store::{EtcdAccess, Store};
use slotcache_cluster::tls_settings::LinkSettings;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Parser, Debug)]
#[command(
    name = "slotcache-controller",
    version,
    about = "slotcache controller",
    after_help = CONFIG_HELP,
    args_override_self = true
)]
struct Args {
    /// etcd endpoints, comma separated.
    #[arg(long, env = "SLOTCACHE_ETCD")]
    etcd: String,
    #[arg(long, env = "SLOTCACHE_CLUSTER")]
    cluster: String,
    #[command(flatten)]
    etcd_access: EtcdAccess,
    /// With tls-cluster yes, the controller's queries of shard servers go over TLS.
    #[command(flatten)]
    tls: LinkSettings,
    /// This controller's name in the election (default: host and process id).
    #[arg(long, env = "SLOTCACHE_CONTROLLER_ID")]
    id: Option<String>,
    /// Address the admin endpoint binds.
    #[arg(long, env = "SLOTCACHE_BIND", default_value = "127.0.0.1")]
    bind: String,
    /// The host other hosts reach the admin endpoint at (default: the bind address).
    #[arg(long, env = "SLOTCACHE_ANNOUNCE_ADDR")]
    announce_addr: Option<String>,
    /// Port of the admin HTTP endpoint: /metrics, /healthz, /readyz (default: none).
    #[arg(long, env = "SLOTCACHE_ADMIN_PORT")]
    admin_port: Option<u16>,
    /// The cluster's internal secret, when it is kept in a file rather than in etcd.
    #[arg(long, env = "SLOTCACHE_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    slotcache_cluster::supervision::start_process();
    let args = Args::parse_from(config_file::arguments()?);
    args.etcd_access.install()?;
    args.tls.install(false).context("TLS links")?;
    let id = args
        .id
        .unwrap_or_else(|| format!("controller-{}", std::process::id()));
    let stats = Arc::new(ControllerStats::default());
    let mut store = Store::connect(&args.etcd, &args.cluster, Duration::from_secs(30))
        .await
        .context("connecting to etcd")?;
    // The controller asks servers for their offsets, presenting the cluster's credential.
    credential::install(&mut store, args.cluster_secret_file.as_deref())
        .await
        .context("reading the cluster secret")?;
    let admin_addr = match args.admin_port {
        Some(port) => {
            // The dashboard reads the cluster on a connection of its own.
            let (publish, snapshots) = watch::channel(Arc::from("{}"));
            let reader = Store::connect(&args.etcd, &args.cluster, Duration::from_secs(30))
                .await
                .context("connecting to etcd")?;
            tokio::spawn(dashboard::run(reader, publish));
            let operator = Store::connect(&args.etcd, &args.cluster, Duration::from_secs(30))
                .await
                .context("connecting to etcd")?;
            let routes = dashboard::routes(snapshots, operator);
            let port = admin::start_with(&args.bind, port, stats.clone(), routes)
                .await
                .context("binding the admin port")?;
            format!(
                "{}:{port}",
                args.announce_addr.as_ref().unwrap_or(&args.bind)
            )
        }
        None => String::new(),
    };
    let me = ControllerRecord {
        version: RECORD_VERSION,
        id,
        admin_addr,
    };
    tokio::select! {
        result = controller::run(store, &me, &stats) => result.context("controller"),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
