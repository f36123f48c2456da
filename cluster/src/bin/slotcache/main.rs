//! `slotcache`: the admin CLI. `cluster init` creates a cluster in etcd; `status` and
//! `cluster info` show it, `top` and `hotkeys` watch it; `node`, `partition`, `failover` and
//! `rebalance` change it; `up` runs a whole local cluster. `--json` makes any of them print
//! JSON.

mod inspect;
mod operate;
mod output;
mod progress;
mod up;

use anyhow::Context;
use clap::{Parser, Subcommand};
use output::Output;
use slotcache_cluster::credential;
use slotcache_cluster::records::{ClusterConfig, ReplicationMode, RECORD_VERSION};
use slotcache_cluster::store::{EtcdAccess, Store, StoreError};
use slotcache_cluster::tls_settings::LinkSettings;
use slotcache_protocol::internal::Secret;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "slotcache", version, about = "slotcache admin")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print JSON (one document, or one per line for `watch` and `top`) instead of text.
    #[arg(long, global = true)]
    json: bool,
}

/// Where the cluster lives.
#[derive(clap::Args)]
struct Target {
    /// etcd endpoints, comma separated.
    #[arg(
        long,
        global = true,
        env = "SLOTCACHE_ETCD",
        default_value = "http://127.0.0.1:2379"
    )]
    etcd: String,
    #[arg(
        long,
        global = true,
        env = "SLOTCACHE_CLUSTER",
        default_value = "default"
    )]
    cluster: String,
    /// How long to keep trying to reach etcd.
    #[arg(long, global = true, default_value_t = 5)]
    connect_timeout: u64,
    /// The cluster's internal secret, when it is kept in a file rather than in etcd.
    #[arg(long, global = true, env = "SLOTCACHE_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    etcd_access: EtcdAccess,
    /// With tls-cluster yes, queries of shard servers go over TLS.
    #[command(flatten)]
    tls: LinkSettings,
}

#[derive(Subcommand)]
enum Command {
    /// Cluster-wide operations.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// A local cluster in the foreground: etcd, shard servers, controllers (Ctrl-C stops all).
    Up(up::UpOptions),
    /// Runs a program until it exits or this process's parent goes away (used by `up` for
    /// etcd, so a killed `up` leaves nothing behind).
    #[command(hide = true)]
    Supervise {
        program: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Drain or remove a shard server.
    Node {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: operate::NodeCommand,
    },
    /// Move a partition's replica.
    Partition {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: operate::PartitionCommand,
    },
    /// Planned failover: another in-sync replica becomes the partition's leader.
    Failover {
        #[command(flatten)]
        target: Target,
        pid: u32,
        /// The follower to promote (default: the first in-sync one).
        #[arg(long)]
        to: Option<String>,
    },
    /// Balance replicas and leaders over the nodes in service (the controller also does it
    /// by itself after every change).
    Rebalance {
        #[command(flatten)]
        target: Target,
        /// Follow the moves with a progress bar and return once balanced.
        #[arg(long)]
        wait: bool,
    },
    /// Print the cluster's changes (nodes, placement, elections) as they happen.
    Watch {
        #[command(flatten)]
        target: Target,
    },
    /// Nodes, partitions, leaders, in-sync sets and epochs.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// The hottest keys of the cluster by LFU counter (needs an LFU maxmemory policy).
    Hotkeys {
        #[command(flatten)]
        target: Target,
        /// How many keys to show.
        #[arg(long, default_value_t = 10)]
        count: usize,
    },
    /// A live view of nodes, partitions and hot keys, redrawn every interval (Ctrl-C stops).
    Top {
        #[command(flatten)]
        target: Target,
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes.
        #[arg(long)]
        iterations: Option<u64>,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Create a cluster: its configuration and slot map.
    Init {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 16)]
        partitions: u32,
        #[arg(long, default_value_t = 2)]
        replication_factor: u32,
        #[arg(long, default_value = "sync")]
        replication_mode: ReplicationMode,
        /// Seconds a server's lease lives without renewal.
        #[arg(long, default_value_t = 2)]
        lease_ttl: u64,
        /// Fewest in-sync copies (leader included) a partition accepts `sync` writes with.
        #[arg(long, default_value_t = 1)]
        min_isr: u32,
        /// With every in-sync copy of a partition gone, elect another live replica anyway
        /// (what it lacked is lost) instead of waiting for an in-sync copy to come back.
        #[arg(long)]
        unclean_failover: bool,
        /// Overwrite an existing cluster of the same name.
        #[arg(long)]
        force: bool,
    },
    /// The cluster's health in a few lines, as CLUSTER INFO.
    Info {
        #[command(flatten)]
        target: Target,
    },
    /// Replace the internal secret kept in etcd without a restart: every part takes the new
    /// one at once and still accepts the old one until `--finish`.
    RotateSecret {
        #[command(flatten)]
        target: Target,
        /// End the rotation: the old secret is no longer accepted.
        #[arg(long)]
        finish: bool,
    },
}

/// Connects to the cluster's etcd and installs its internal secret, which the commands that
/// ask shard servers present.
async fn connect(target: &Target) -> anyhow::Result<Store> {
    target.etcd_access.install()?;
    target.tls.install(false)?;
    let mut store = Store::connect(
        &target.etcd,
        &target.cluster,
        Duration::from_secs(target.connect_timeout),
    )
    .await?;
    let deadline = std::time::Instant::now() + RIDE_OUT;
    loop {
        // `cluster init` connects before there is a cluster, or a secret, to read.
        match credential::install(&mut store, target.cluster_secret_file.as_deref()).await {
            Ok(_) | Err(StoreError::NoCluster(_)) => return Ok(store),
            Err(err) if err.is_transient() && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// How long a command asks etcd again while its errors are transient (a leader election).
const RIDE_OUT: Duration = Duration::from_secs(10);

fn print_table(status: &progress::Status) {
    let state = &status.state;
    let c = &state.config;
    println!(
        "cluster {}: {} partitions, replication factor {}, {} replication, lease {} s",
        state.cluster, c.partitions, c.replication_factor, c.replication_mode, c.lease_ttl_secs
    );
    println!(
        "controller: {}",
        state
            .controller
            .as_ref()
            .map_or("none elected", |c| c.id.as_str())
    );
    println!("nodes ({}):", state.nodes.len());
    for node in &state.nodes {
        let live = if state.active_nodes.contains(&node.id) {
            "up"
        } else {
            "down"
        };
        println!("  {:<16} {:<22} {}", node.id, node.client_addr, live);
    }
    println!("partitions:");
    println!(
        "  {:>4}  {:>11}  {:>5}  {:<16} {:<24} {:<24} copies at offset (behind the leader)",
        "id", "slots", "epoch", "leader", "replicas", "in-sync"
    );
    for (pid, p) in &state.partitions {
        let slots: Vec<String> = p.slots.iter().map(|[a, b]| format!("{a}-{b}")).collect();
        println!(
            "  {:>4}  {:>11}  {:>5}  {:<16} {:<24} {:<24} {}",
            pid,
            slots.join(","),
            p.epoch,
            p.leader.as_deref().unwrap_or("-"),
            p.replicas.join(","),
            p.isr.join(","),
            progress::describe(status, *pid, &p.replicas, p.leader.as_deref())
        );
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Output { json: cli.json };
    match cli.command {
        Command::Cluster {
            command:
                ClusterCommand::Init {
                    target,
                    partitions,
                    replication_factor,
                    replication_mode,
                    lease_ttl,
                    min_isr,
                    unclean_failover,
                    force,
                },
        } => {
            anyhow::ensure!(
                (1..=16384).contains(&partitions),
                "--partitions must be between 1 and 16384"
            );
            anyhow::ensure!(
                replication_factor >= 1,
                "--replication-factor must be at least 1"
            );
            anyhow::ensure!(lease_ttl >= 1, "--lease-ttl must be at least 1 second");
            let mut store = connect(&target).await?;
            let config = ClusterConfig {
                version: RECORD_VERSION,
                partitions,
                replication_factor,
                replication_mode,
                lease_ttl_secs: lease_ttl,
                min_isr,
                unclean_failover,
            };
            // A secret kept in a file stays out of etcd.
            let secret = match target.cluster_secret_file {
                Some(_) => None,
                None => Some(Secret::generate()),
            };
            store.init_cluster(&config, secret.as_ref(), force).await?;
            out.line(format!(
                "created cluster '{}': {partitions} partitions, replication factor {replication_factor}, {replication_mode} replication, lease {lease_ttl} s",
                target.cluster
            ));
            out.result(serde_json::json!({"cluster": target.cluster, "config": config}));
        }
        Command::Cluster {
            command: ClusterCommand::Info { target },
        } => inspect::cluster_info(&mut connect(&target).await?, out).await?,
        Command::Cluster {
            command: ClusterCommand::RotateSecret { target, finish },
        } => {
            let mut store = connect(&target).await?;
            if finish {
                let ended = store.finish_rotation().await?;
                out.line(match ended {
                    true => "rotation finished: the previous secret is no longer accepted",
                    false => "no rotation was under way",
                });
                out.result(serde_json::json!({"finished": ended}));
            } else {
                store.rotate_secret(&Secret::generate()).await?;
                out.line("secret rotated: the previous one is accepted until `cluster rotate-secret --finish`");
                out.result(serde_json::json!({"rotated": true}));
            }
        }
        Command::Up(options) => up::up(options, out).await?,
        Command::Node { target, command } => {
            operate::node(&mut connect(&target).await?, command, out).await?
        }
        Command::Partition { target, command } => {
            operate::partition(&mut connect(&target).await?, command, out).await?
        }
        Command::Failover { target, pid, to } => {
            operate::failover(&mut connect(&target).await?, pid, to, out).await?
        }
        Command::Rebalance { target, wait } => {
            operate::rebalance(&mut connect(&target).await?, wait, out).await?
        }
        Command::Watch { target } => operate::watch(&mut connect(&target).await?, out).await?,
        Command::Hotkeys { target, count } => {
            inspect::hotkeys(&mut connect(&target).await?, count, out).await?
        }
        Command::Top {
            target,
            interval,
            iterations,
        } => {
            anyhow::ensure!(interval > 0.0, "--interval must be positive");
            let every = Duration::from_secs_f64(interval);
            inspect::top(&mut connect(&target).await?, every, iterations, out).await?
        }
        Command::Supervise { program, args } => {
            let code = slotcache_cluster::supervision::supervise(&program, &args)
                .with_context(|| format!("running {program}"))?;
            std::process::exit(code);
        }
        Command::Status { target } => {
            let mut store = connect(&target).await?;
            let state = store.state_within(RIDE_OUT).await?;
            let status = progress::gather(state).await;
            if out.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).context("encoding JSON")?
                );
            } else {
                print_table(&status);
            }
        }
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the runtime: {err}");
            std::process::exit(1);
        }
    };
    if let Err(err) = runtime.block_on(run(cli)) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
