//! `slotcache-proxy`: mirrors the cluster's placement from etcd, registers itself under a lease
//! and serves Redis clients until stopped. A lost etcd session never stops it: it keeps routing
//! by the last placement it saw.

use anyhow::Context;
use clap::Parser;
use slotcache_cluster::admin;
use slotcache_cluster::config_file::{self, CONFIG_HELP};
use slotcache_cluster::lease;
use slotcache_cluster::records::{
    ClusterConfig, NodeRecord, PartitionRecord, ProxyRecord, SuspectReport, Witness, RECORD_VERSION,
};
use slotcache_cluster::store::{EtcdAccess, Store, StoreError};
use slotcache_cluster::tls_settings::TlsSettings;
use slotcache_protocol::limits::{parse_memory, OutputLimits};
use slotcache_protocol::protected_mode::parse_yes_no;
use slotcache_protocol::tls::{reload_on_change, Acceptor, Stream};
use slotcache_proxy::limits::ClientLimits;
use slotcache_proxy::metrics::ProxyAdmin;
use slotcache_proxy::{session, Announce, Proxy};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

/// mimalloc, as the shard servers use: many small buffers per request, freed across threads.
#[global_allocator]
static GLOBAL: slotcache_cluster::allocator::Allocator = slotcache_cluster::allocator::Allocator;

#[derive(Parser, Debug)]
#[command(
    name = "slotcache-proxy",
    version,
    about = "slotcache RESP proxy",
    after_help = CONFIG_HELP,
    args_override_self = true
)]
struct Args {
    #[arg(long, env = "SLOTCACHE_BIND", default_value = "127.0.0.1")]
    bind: String,
    #[arg(long, env = "SLOTCACHE_PORT", default_value_t = 6379)]
    port: u16,
    /// etcd endpoints, comma separated.
    #[arg(long, env = "SLOTCACHE_ETCD")]
    etcd: String,
    #[arg(long, env = "SLOTCACHE_CLUSTER")]
    cluster: String,
    /// How cluster clients are told the slots are spread: every slot on the proxy they ask
    /// (`self`), or shared among the live proxies (`spread`).
    #[arg(long, env = "SLOTCACHE_ANNOUNCE", value_enum, default_value = "self")]
    announce: Announce,
    /// The address clients must use to reach this proxy (NAT, containers); default: the
    /// address each client connected to.
    #[arg(long, env = "SLOTCACHE_ANNOUNCE_ADDR")]
    announce_addr: Option<String>,
    /// This proxy's id in etcd (default: host address and port).
    #[arg(long, env = "SLOTCACHE_PROXY_ID")]
    id: Option<String>,
    /// Worker threads, each serving its own clients over its own backend connections
    /// (0: half the cores, at least one).
    #[arg(long, env = "SLOTCACHE_PROXY_THREADS", default_value_t = 0)]
    threads: usize,
    /// Port of the admin HTTP endpoint: /metrics, /healthz, /readyz (default: none).
    #[arg(long, env = "SLOTCACHE_ADMIN_PORT")]
    admin_port: Option<u16>,
    /// Seconds a request waits for a shard server's reply before it is released (a read is
    /// sent again, any other request answered that it may or may not have been applied);
    /// 0: no deadline. Blocking commands and scripts are exempt.
    #[arg(long, env = "SLOTCACHE_BACKEND_TIMEOUT", default_value_t = 5.0)]
    backend_timeout: f64,
    /// Most clients served at once; more are refused as Redis refuses them.
    #[arg(long, default_value_t = 10000)]
    maxclients: u64,
    /// Seconds an idle client is kept (subscribers excepted); 0: for ever.
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    /// The largest bulk string a request may carry (Redis's sizes: 512mb, 1gb...).
    #[arg(long, default_value = "512mb", value_parser = memory)]
    proto_max_bulk_len: u64,
    /// Most bytes a client's unparsed requests may hold before it is cut off.
    #[arg(long, default_value = "1gb", value_parser = memory)]
    client_query_buffer_limit: u64,
    /// When a client that does not read is cut off, as Redis's setting of this name writes it:
    /// `<class> <hard> <soft> <soft seconds>` for the classes given (normal, pubsub).
    #[arg(long, value_parser = output_limits)]
    client_output_buffer_limit: Option<OutputLimits>,
    /// The default user's password: clients AUTH before anything else (empty: none).
    #[arg(long, env = "SLOTCACHE_REQUIREPASS", default_value = "")]
    requirepass: String,
    /// The cluster's internal secret, when it is kept in a file rather than in etcd.
    #[arg(long, env = "SLOTCACHE_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<std::path::PathBuf>,
    /// `no` to serve clients beyond 127.0.0.1 without a password.
    #[arg(long, default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    protected_mode: bool,
    #[command(flatten)]
    tls: TlsSettings,
    #[command(flatten)]
    etcd_access: EtcdAccess,
}

/// A port clients connect to: the plain one, or the TLS one with its handshakes.
struct ClientPort {
    listener: std::net::TcpListener,
    tls: Option<Arc<Acceptor>>,
}

impl ClientPort {
    fn bind(host: &str, port: u16, tls: Option<Arc<Acceptor>>) -> anyhow::Result<ClientPort> {
        let addr = format!("{host}:{port}");
        let listener =
            std::net::TcpListener::bind(&addr).with_context(|| format!("binding {addr}"))?;
        listener.set_nonblocking(true)?;
        Ok(ClientPort { listener, tls })
    }

    fn try_clone(&self) -> std::io::Result<ClientPort> {
        Ok(ClientPort {
            listener: self.listener.try_clone()?,
            tls: self.tls.clone(),
        })
    }
}

fn memory(value: &str) -> Result<u64, String> {
    parse_memory(value)
}

fn output_limits(value: &str) -> Result<OutputLimits, String> {
    OutputLimits::default().updated(value)
}

impl Args {
    fn client_limits(&self) -> ClientLimits {
        ClientLimits {
            maxclients: self.maxclients,
            proto_max_bulk_len: self.proto_max_bulk_len,
            query_buffer: self.client_query_buffer_limit,
            output: self.client_output_buffer_limit.unwrap_or_default(),
            timeout: self.timeout,
            protected_mode: self.protected_mode,
        }
    }
}

fn main() -> anyhow::Result<()> {
    slotcache_cluster::supervision::start_process();
    let args = Args::parse_from(config_file::arguments()?);
    args.etcd_access.install()?;
    let tls = args.tls.client_port().context("TLS settings")?;
    args.tls.links.install(false).context("TLS links")?;
    let mut ports = Vec::new();
    // `--port 0` with a TLS port serves TLS clients only, as in Redis.
    if args.port != 0 || tls.is_none() {
        ports.push(ClientPort::bind(&args.bind, args.port, None)?);
    }
    if let Some((port, acceptor)) = tls {
        ports.push(ClientPort::bind(&args.bind, port, Some(acceptor))?);
    }
    single_threaded_runtime()?.block_on(run(args, ports))
}

/// Each worker runs a single-threaded runtime: a request, its backend lane and its reply stay
/// on one thread, and requests of many clients gather into one backend write.
fn single_threaded_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

fn worker_count(threads: usize) -> usize {
    match threads {
        0 => (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).max(1),
        n => n,
    }
}

/// Starts the worker threads beyond the main one, each accepting on the shared listeners.
fn start_workers(proxy: &Arc<Proxy>, ports: &[ClientPort], count: usize) -> anyhow::Result<()> {
    for worker in 1..count {
        let ports = ports
            .iter()
            .map(ClientPort::try_clone)
            .collect::<Result<Vec<_>, _>>()?;
        let runtime = single_threaded_runtime()?;
        let proxy = proxy.clone();
        std::thread::Builder::new()
            .name(format!("proxy-worker-{worker}"))
            .spawn(move || {
                runtime.block_on(async move {
                    if let Err(err) = accept_all(proxy, ports).await {
                        warn!(%err, worker, "worker cannot listen");
                    }
                })
            })?;
    }
    Ok(())
}

/// Accepts clients on every port, for ever.
async fn accept_all(proxy: Arc<Proxy>, ports: Vec<ClientPort>) -> std::io::Result<()> {
    let mut accepting = tokio::task::JoinSet::new();
    for port in ports {
        let listener = TcpListener::from_std(port.listener)?;
        accepting.spawn(accept(proxy.clone(), listener, port.tls));
    }
    accepting.join_all().await;
    Ok(())
}

async fn run(args: Args, ports: Vec<ClientPort>) -> anyhow::Result<()> {
    let port = ports[0].listener.local_addr()?.port();
    let advertised = args
        .announce_addr
        .clone()
        .unwrap_or_else(|| format!("{}:{port}", args.bind));
    let id = args.id.clone().unwrap_or_else(|| advertised.clone());
    anyhow::ensure!(
        args.backend_timeout.is_finite() && args.backend_timeout >= 0.0,
        "--backend-timeout must be a number of seconds, 0 for none"
    );
    let limits = args.client_limits();
    let mut proxy = Proxy::new(id.clone(), args.announce, args.announce_addr, port);
    let password = args.requirepass.as_bytes();
    proxy
        .acl
        .users
        .change(|users| users.set_requirepass(password));
    proxy.backend_timeout =
        (args.backend_timeout > 0.0).then(|| Duration::from_secs_f64(args.backend_timeout));
    *proxy.limits.write() = limits;
    *proxy.tls.get_mut() = args.tls.clone();
    if let Some(acceptor) = ports.iter().find_map(|port| port.tls.clone()) {
        let _ = proxy.tls_port.set(acceptor);
    }
    let proxy = Arc::new(proxy);
    let mut store = Store::connect(&args.etcd, &args.cluster, Duration::from_secs(30))
        .await
        .context("connecting to etcd")?;
    let keys = store.keys.clone();
    let config: ClusterConfig = store
        .get(&keys.config())
        .await?
        .ok_or_else(|| StoreError::NoCluster(args.cluster.clone()))?;
    // Every link to a shard server logs in with the cluster's credential.
    slotcache_cluster::credential::install(&mut store, args.cluster_secret_file.as_deref())
        .await
        .context("reading the cluster secret")?;
    mirror_placement(&mut store, &proxy).await?;
    share_users(&args.etcd, &args.cluster, &mut store, &proxy).await?;
    proxy
        .stats
        .timed
        .store(args.admin_port.is_some(), Ordering::Relaxed);
    let admin_addr = match args.admin_port {
        Some(port) => {
            let admin = Arc::new(ProxyAdmin(proxy.clone()));
            let port = admin::start(&args.bind, port, admin)
                .await
                .context("binding the admin port")?;
            format!("{}:{port}", host_of(&advertised))
        }
        None => String::new(),
    };
    let record = ProxyRecord {
        version: RECORD_VERSION,
        id: id.clone(),
        client_addr: advertised.clone(),
        admin_addr,
    };
    let _registration = lease::register(
        store.client(),
        vec![(keys.proxy(&id), serde_json::to_string(&record)?)],
        config.lease_ttl_secs,
    );
    tokio::spawn(slotcache_proxy::pubsub::keep_placed(proxy.clone()));
    tokio::spawn(report_refusals(proxy.clone(), store));
    let workers = worker_count(args.threads);
    start_workers(&proxy, &ports, workers)?;
    if let Some(acceptor) = ports.iter().find_map(|port| port.tls.clone()) {
        tokio::spawn(reload_on_change(acceptor));
    }
    info!(%advertised, id, workers, "slotcache-proxy ready");
    tokio::select! {
        result = accept_all(proxy, ports) => result.context("accepting clients"),
        _ = tokio::signal::ctrl_c() => {
            info!("shutting down");
            Ok(())
        }
    }
}

/// The host of a `host:port` address.
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(host, _)| host)
}

/// How often one server's refusals are reported at most.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Reports the shard servers whose ports refuse connections (a crashed process) or that do
/// not answer (paused, cut off): the controller confirms and revokes their leases, which fails
/// them over well before their leases expire.
async fn report_refusals(proxy: Arc<Proxy>, mut store: Store) {
    let Some(mut refusals) = proxy.backends.take_refusals() else {
        return;
    };
    let mut reported: HashMap<String, Instant> = HashMap::new();
    while let Some((addr, evidence)) = refusals.recv().await {
        if reported
            .get(&addr)
            .is_some_and(|at| at.elapsed() < REPORT_INTERVAL)
        {
            continue;
        }
        reported.insert(addr.clone(), Instant::now());
        let Some(node) = proxy.table.node_at(&addr) else {
            continue;
        };
        debug!(%node, %addr, ?evidence, "shard server refuses connections or is silent: reporting it");
        let report = SuspectReport {
            by: Witness::Proxy,
            evidence,
        };
        let sent = store.report_suspect(&node, &proxy.id, report);
        if let Ok(Err(err)) = tokio::time::timeout(REPORT_INTERVAL, sent).await {
            debug!(%err, %node, "report to the controller failed");
        }
    }
}

/// Follows the cluster's users in etcd, and writes there those changed through this proxy.
async fn share_users(
    etcd: &str,
    cluster: &str,
    store: &mut Store,
    proxy: &Arc<Proxy>,
) -> anyhow::Result<()> {
    let keys = store.keys.clone();
    let follower = proxy.clone();
    store
        .mirror(&keys.users(), move |name, value| {
            slotcache_proxy::access::follow_user(&follower, name, value);
        })
        .await?;
    let mut writer = Store::connect(etcd, cluster, Duration::from_secs(30))
        .await
        .context("connecting to etcd")?;
    let (publisher, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let _ = proxy.shared_users.set(publisher);
    tokio::spawn(async move {
        while let Some((name, rules)) = changes.recv().await {
            let key = keys.user(&name);
            let written = match rules {
                Some(rules) => writer.put_raw(&key, &String::from_utf8_lossy(&rules)).await,
                None => writer.delete(&key).await.map(drop),
            };
            if let Err(err) = written {
                warn!(%err, "sharing an ACL user through etcd failed");
            }
        }
    });
    Ok(())
}

/// Keeps the routing table equal to etcd's partitions, nodes and proxies.
async fn mirror_placement(store: &mut Store, proxy: &Arc<Proxy>) -> anyhow::Result<()> {
    let keys = store.keys.clone();
    let table = proxy.clone();
    store
        .mirror_records(&keys.nodes(), move |name, record: Option<NodeRecord>| {
            table.table.set_node(name, record.map(|r| r.client_addr));
        })
        .await?;
    let table = proxy.clone();
    store
        .mirror_records(
            &keys.partitions(),
            move |name, record: Option<PartitionRecord>| {
                if let Ok(pid) = name.parse::<u32>() {
                    table.table.set_partition(pid, record);
                }
            },
        )
        .await?;
    let table = proxy.clone();
    store
        .mirror(&keys.proxies(), move |name, value| {
            let addr = value.map(|v| ProxyRecord::parse(v).client_addr);
            table.table.set_proxy(name, addr);
        })
        .await?;
    Ok(())
}

/// Accepts clients on one port; with `tls`, each completes a TLS handshake first (one that
/// fails or stalls is dropped, as Redis drops it).
async fn accept(proxy: Arc<Proxy>, listener: TcpListener, tls: Option<Arc<Acceptor>>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let proxy = proxy.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let stream = match Stream::open(stream, tls.as_deref()).await {
                        Ok(stream) => stream,
                        Err(err) => return debug!(%peer, %err, "connection not opened"),
                    };
                    if let Err(err) = session::serve(proxy, stream).await {
                        debug!(%peer, %err, "client connection ended with an error");
                    }
                });
            }
            Err(err) => {
                warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
