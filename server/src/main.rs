//! `slotcache-server`: a shard server. Without `--etcd` it runs standalone (one keyspace with
//! 16 databases, all slots), like a plain Redis.

use anyhow::Context;
use clap::Parser;
use slotcache_cluster::admin;
use slotcache_cluster::store::EtcdAccess;
use slotcache_cluster::tls_settings::TlsSettings;
use slotcache_protocol::protected_mode::parse_yes_no;
use slotcache_protocol::tls::reload_on_change;
use slotcache_server::config::Config;
use slotcache_server::membership::Addresses;
use slotcache_server::metrics::ServerAdmin;
use slotcache_server::net;
use slotcache_server::replication::read_lease::ReadConsistency;
use slotcache_server::state::Server;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::info;

#[derive(Parser, Debug)]
#[command(
    name = "slotcache-server",
    version,
    about = "slotcache shard server",
    args_override_self = true
)]
struct Args {
    /// TOML configuration file; flags and environment override it.
    #[arg(long, env = "SLOTCACHE_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, env = "SLOTCACHE_BIND")]
    bind: Option<String>,
    #[arg(long, env = "SLOTCACHE_PORT")]
    port: Option<u16>,
    #[arg(long, env = "SLOTCACHE_MAXCLIENTS")]
    maxclients: Option<u64>,
    #[arg(long, env = "SLOTCACHE_REQUIREPASS")]
    requirepass: Option<String>,
    /// A file of ACL users (`user <name> <rules...>` lines), loaded at start and by ACL LOAD.
    #[arg(long, env = "SLOTCACHE_ACLFILE")]
    aclfile: Option<String>,
    /// `no` to serve clients beyond 127.0.0.1 without a password.
    #[arg(long, env = "SLOTCACHE_PROTECTED_MODE", value_parser = parse_yes_no)]
    protected_mode: Option<bool>,
    /// Memory limit, in bytes or with a unit (64mb, 1gb).
    #[arg(long, env = "SLOTCACHE_MAXMEMORY")]
    maxmemory: Option<String>,
    #[arg(long, env = "SLOTCACHE_MAXMEMORY_POLICY")]
    maxmemory_policy: Option<String>,
    #[arg(long, env = "SLOTCACHE_DATABASES")]
    databases: Option<u64>,
    /// Worker threads (0: half the cores, at least one).
    #[arg(long, env = "SLOTCACHE_THREADS")]
    threads: Option<u64>,
    /// Idle client timeout in seconds (0: never).
    #[arg(long, env = "SLOTCACHE_TIMEOUT")]
    timeout: Option<u64>,
    /// etcd endpoints, comma separated; without them the server runs standalone.
    #[arg(long, env = "SLOTCACHE_ETCD")]
    etcd: Option<String>,
    #[arg(long, env = "SLOTCACHE_CLUSTER")]
    cluster: Option<String>,
    #[arg(long, env = "SLOTCACHE_NODE_ID")]
    node_id: Option<String>,
    /// The cluster's internal secret, when it is kept in a file rather than in etcd.
    #[arg(long, env = "SLOTCACHE_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<String>,
    /// Milliseconds an in-sync replica may lag before it leaves the in-sync set.
    #[arg(long, env = "SLOTCACHE_REPLICA_LAG_TIMEOUT")]
    replica_lag_timeout: Option<u64>,
    /// Seconds a stopping server (SIGTERM) waits for its leaderships to be handed over.
    #[arg(long, env = "SLOTCACHE_SHUTDOWN_TIMEOUT")]
    shutdown_timeout: Option<u64>,
    /// Replication backlog per partition, in bytes or with a unit (16mb); a follower that falls
    /// further behind gets a full resync.
    #[arg(long, env = "SLOTCACHE_REPL_BACKLOG_SIZE")]
    repl_backlog_size: Option<String>,
    /// How a leader proves reads are not stale: lease (from its copy, under its etcd lease) or
    /// barrier (a record its followers acknowledge).
    #[arg(long, env = "SLOTCACHE_READ_CONSISTENCY")]
    read_consistency: Option<String>,
    /// Milliseconds before its lease's end at which a leader stops lease reads (clock drift).
    #[arg(long, env = "SLOTCACHE_LEASE_READ_MARGIN", allow_hyphen_values = true)]
    lease_read_margin: Option<i64>,
    /// Port of the admin HTTP endpoint: /metrics, /healthz, /readyz (default: none).
    #[arg(long, env = "SLOTCACHE_ADMIN_PORT")]
    admin_port: Option<u16>,
    /// The host other hosts reach this server at (default: the bind address).
    #[arg(long, env = "SLOTCACHE_ANNOUNCE_ADDR")]
    announce_addr: Option<String>,
    /// Port of the replication listener (default: a free one).
    #[arg(long, env = "SLOTCACHE_REPLICATION_PORT")]
    replication_port: Option<u16>,
    #[command(flatten)]
    tls: TlsSettings,
    #[command(flatten)]
    etcd_access: EtcdAccess,
}

async fn bind_listener(bind: &str, port: u16) -> anyhow::Result<TcpListener> {
    let addr = format!("{bind}:{port}");
    TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

fn load_config(args: Args) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(v) = args.bind {
        config.bind = v;
    }
    if let Some(v) = args.port {
        config.port = v;
    }
    if let Some(v) = args.maxclients {
        config.maxclients = v;
    }
    if let Some(v) = args.requirepass {
        config.requirepass = v;
    }
    if let Some(v) = args.aclfile {
        config.aclfile = v;
    }
    if let Some(v) = args.protected_mode {
        config.protected_mode = v;
    }
    if let Some(v) = args.maxmemory {
        config.maxmemory = slotcache_server::config::parse_memory(&v)
            .map_err(|why| anyhow::anyhow!("--maxmemory {v}: {why}"))?;
    }
    if let Some(v) = args.maxmemory_policy {
        config.maxmemory_policy = v;
    }
    if let Some(v) = args.databases {
        config.databases = v.max(1);
    }
    if let Some(v) = args.threads {
        config.threads = v;
    }
    if let Some(v) = args.timeout {
        config.timeout = v;
    }
    if let Some(v) = args.replica_lag_timeout {
        config.replica_lag_timeout = v;
    }
    if let Some(v) = args.shutdown_timeout {
        config.shutdown_timeout = v;
    }
    if let Some(v) = args.repl_backlog_size {
        config.repl_backlog_size = slotcache_server::config::parse_memory(&v)
            .map_err(|why| anyhow::anyhow!("--repl-backlog-size {v}: {why}"))?;
    }
    if let Some(v) = args.read_consistency {
        config.read_consistency = v;
    }
    if let Some(v) = args.lease_read_margin {
        config.lease_read_margin = v;
    }
    anyhow::ensure!(
        ReadConsistency::parse(&config.read_consistency).is_some(),
        "read-consistency {}: expected lease or barrier",
        config.read_consistency
    );
    config.etcd = args.etcd.or(config.etcd);
    config.cluster = args.cluster.or(config.cluster);
    config.node_id = args.node_id.or(config.node_id);
    config.cluster_secret_file = args.cluster_secret_file.or(config.cluster_secret_file);
    config.admin_port = args.admin_port.or(config.admin_port);
    config.announce_addr = args.announce_addr.or(config.announce_addr);
    if let Some(v) = args.replication_port {
        config.replication_port = v;
    }
    config.tls = config.tls.overridden_by(args.tls);
    Ok(config)
}

/// The host a server in a cluster publishes: `announce-addr`, or the bind address when it
/// names one host (a wildcard bind publishes nothing another host could reach).
fn announced(config: &Config) -> anyhow::Result<String> {
    if let Some(host) = &config.announce_addr {
        return Ok(host.clone());
    }
    let wildcard = config
        .bind
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    anyhow::ensure!(
        !wildcard,
        "bind {} is every interface, which no other host can reach: set --announce-addr (announce-addr) to the address they should use",
        config.bind
    );
    Ok(config.bind.clone())
}

fn main() -> anyhow::Result<()> {
    slotcache_cluster::supervision::start_process();
    let args = Args::parse();
    args.etcd_access.install()?;
    let config = load_config(args)?;
    let membership = match (&config.etcd, &config.cluster, &config.node_id) {
        (None, _, _) => None,
        (Some(etcd), Some(cluster), Some(node)) => Some((
            etcd.clone(),
            cluster.clone(),
            node.clone(),
            announced(&config)?,
        )),
        _ => anyhow::bail!("cluster mode needs --etcd, --cluster and --node-id together"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads())
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let tls = match config.tls.client_port().context("TLS settings")? {
            Some((port, acceptor)) => Some((bind_listener(&config.bind, port).await?, acceptor)),
            None => None,
        };
        // `port 0` with a TLS port serves TLS clients only, as in Redis.
        let plain = match (config.port, &tls) {
            (0, Some(_)) => None,
            (port, _) => Some(bind_listener(&config.bind, port).await?),
        };
        let tls_cluster = config.tls.links.cluster()?;
        // The replication port shares the TLS port's certificates, reloaded with them.
        let replication_tls = match (config.tls.replication()?, &tls) {
            (false, _) => None,
            (true, Some((_, acceptor))) => Some(acceptor.clone()),
            (true, None) => {
                let acceptor = config.tls.acceptor().context("tls-replication")?;
                tokio::spawn(reload_on_change(acceptor.clone()));
                Some(acceptor)
            }
        };
        config
            .tls
            .links
            .install(replication_tls.is_some())
            .context("TLS links")?;
        // The port proxies, controllers and the CLI reach this server at.
        let published = match (tls_cluster, &tls, &plain) {
            (true, Some((listener, _)), _) | (false, _, Some(listener)) => {
                Some(listener.local_addr()?.port())
            }
            _ => None,
        };
        anyhow::ensure!(
            published.is_some() || membership.is_none(),
            "a server in a cluster needs a port for proxies and followers: its plain port, or its TLS port with tls-cluster yes"
        );
        let port = match &plain {
            Some(listener) => listener.local_addr()?.port(),
            None => 0,
        };
        let (bind, admin_port, replication_port) = (
            config.bind.clone(),
            config.admin_port,
            config.replication_port,
        );
        let server = Arc::new(Server::new(config, port));
        let acceptor = tls.as_ref().map(|(_, a)| a).or(replication_tls.as_ref());
        if let Some(acceptor) = acceptor {
            let _ = server.tls.set(acceptor.clone());
        }
        slotcache_server::commands::acl::load_file(&server).map_err(anyhow::Error::msg)?;
        let admin_port = match admin_port {
            Some(admin_port) => Some(
                admin::start(&bind, admin_port, Arc::new(ServerAdmin(server.clone())))
                    .await
                    .context("binding the admin port")?,
            ),
            None => None,
        };
        // Held for the life of the process: dropping it would withdraw the registration.
        let membership = match membership {
            Some((etcd, cluster, node, announce)) => Some(
                slotcache_server::membership::join(
                    server.clone(),
                    &etcd,
                    &cluster,
                    &node,
                    Addresses {
                        bind,
                        announce,
                        client_port: published.unwrap_or(port),
                        replication_port,
                        replication_tls,
                        admin_port,
                    },
                )
                .await
                .context("joining the cluster")?,
            ),
            None => None,
        };
        if let Some((listener, acceptor)) = tls {
            tokio::spawn(reload_on_change(acceptor.clone()));
            tokio::spawn(net::serve(server.clone(), listener, Some(acceptor)));
        }
        info!(port, "slotcache-server ready");
        tokio::spawn(net::expiry_cycle(server.clone()));
        let serving = server.clone();
        let plain = async {
            match plain {
                Some(listener) => net::serve(serving, listener, None).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = plain => result.context("serving"),
            () = stop_signal() => {
                info!("shutting down");
                let patience = Duration::from_secs(server.config.read().shutdown_timeout);
                if let Some(membership) = membership {
                    membership.leave(&server, patience).await;
                }
                Ok(())
            }
        }
    })
}

/// SIGTERM (a service manager stopping the server) or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
