//! slotcache's RESP proxy: one endpoint for every Redis client. Each request is routed by the
//! slot of its keys to the leader of the slot's partition, as placed in etcd; multi-key
//! commands spanning partitions are split; the cluster is described to cluster-aware clients
//! as Redis Cluster masters made of proxies.

pub mod access;
pub mod backend;
pub mod busy;
pub mod clients;
pub mod cluster_view;
pub mod cluster_wide;
pub mod command_table;
pub mod config;
pub mod fanout;
pub mod forward;
pub mod info;
pub mod limits;
pub mod merged;
pub mod metrics;
pub mod monitor;
pub mod outbox;
pub mod pending;
pub mod pubsub;
pub mod refusals;
pub mod request;
pub mod session;
pub mod sort;
pub mod table;
pub mod tracking;
pub mod transaction;

use ahash::AHashMap;
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// How cluster-aware clients are told the slots are spread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Announce {
    /// The proxy a client talks to owns every slot.
    #[value(name = "self")]
    Myself,
    /// The live proxies share the slots evenly.
    Spread,
}

/// How long a request waits for a shard server's reply by default.
pub const DEFAULT_BACKEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What every client connection of a proxy shares.
pub struct Proxy {
    pub id: String,
    pub table: table::RouteTable,
    pub backends: backend::Backends,
    /// Scripts running at the shard servers, for BUSY replies.
    pub scripts: busy::Scripts,
    pub pubsub: pubsub::Hub,
    pub announce: Announce,
    /// The address announced for this proxy; by default the one each client connected to.
    pub announce_addr: Option<String>,
    pub next_client_id: AtomicU64,
    pub connected_clients: AtomicU64,
    /// A CONFIG SET through this proxy gave the servers a `maxmemory`: commands that may use
    /// memory are checked as a transaction queues them.
    pub memory_limited: AtomicBool,
    /// The shard servers' `slowlog-max-len` (Redis's default until a CONFIG SET through this
    /// proxy): the merged SLOWLOG keeps as many entries.
    pub slowlog_max_len: AtomicUsize,
    /// Clients with CLIENT TRACKING on.
    pub tracking_clients: AtomicU64,
    /// CLIENT PAUSE through this proxy: its clients' held commands wait here, not on a
    /// backend connection that other clients share.
    pub pause: slotcache_protocol::pause::ClientPause,
    /// The connected clients, by id.
    pub clients: Mutex<AHashMap<u64, std::sync::Arc<clients::Connected>>>,
    pub port: u16,
    pub started: Instant,
    pub stats: metrics::ProxyStats,
    /// How long a request waits for a shard server's reply before it is released (None:
    /// for ever); see `forward`.
    pub backend_timeout: Option<std::time::Duration>,
    /// ACL users and the ACL log.
    pub acl: slotcache_protocol::acl::Acl,
    /// Where users changed through this proxy go, to be shared through etcd.
    pub shared_users: std::sync::OnceLock<access::Publisher>,
    /// `maxclients`, `timeout` and the buffer limits its clients are held to.
    pub limits: std::sync::Arc<parking_lot::RwLock<limits::ClientLimits>>,
    /// Lanes that log in on behalf of a user, by user name (see `Backends::on_behalf_of`).
    pub user_lanes: Mutex<AHashMap<Vec<u8>, std::sync::Arc<backend::Backends>>>,
    /// Its own TLS settings, which CONFIG GET through it shows and CONFIG SET changes.
    pub tls: parking_lot::RwLock<slotcache_cluster::tls_settings::TlsSettings>,
    /// Its TLS port's handshakes, when it has one.
    pub tls_port: std::sync::OnceLock<std::sync::Arc<slotcache_protocol::tls::Acceptor>>,
}

impl Proxy {
    pub fn new(id: String, announce: Announce, announce_addr: Option<String>, port: u16) -> Proxy {
        Proxy {
            id,
            table: table::RouteTable::default(),
            backends: backend::Backends::default(),
            scripts: busy::Scripts::default(),
            pubsub: pubsub::Hub::default(),
            announce,
            announce_addr,
            next_client_id: AtomicU64::new(1),
            connected_clients: AtomicU64::new(0),
            memory_limited: AtomicBool::new(false),
            slowlog_max_len: AtomicUsize::new(128),
            tracking_clients: AtomicU64::new(0),
            pause: Default::default(),
            clients: Mutex::default(),
            port,
            started: Instant::now(),
            stats: Default::default(),
            backend_timeout: Some(DEFAULT_BACKEND_TIMEOUT),
            acl: Default::default(),
            shared_users: Default::default(),
            limits: Default::default(),
            user_lanes: Mutex::default(),
            tls: Default::default(),
            tls_port: Default::default(),
        }
    }

    /// The lanes whose shard servers hold what they run to `user`'s rules.
    pub fn lanes_on_behalf_of(&self, user: &[u8]) -> std::sync::Arc<backend::Backends> {
        let mut lanes = self.user_lanes.lock();
        let pool = lanes
            .entry(user.to_vec())
            .or_insert_with(|| std::sync::Arc::new(backend::Backends::on_behalf_of(user)));
        pool.clone()
    }

    /// Follows the settings a CONFIG SET through this proxy gives every server that the proxy
    /// acts on itself.
    pub fn follow_config(&self, args: &[Bytes]) {
        self.scripts.follow_config(args);
        for pair in args.get(2..).unwrap_or_default().chunks(2) {
            if let [name, value] = pair {
                self.limits.write().follow(name, value);
                if name.eq_ignore_ascii_case(b"maxmemory") {
                    let digits: Vec<u8> = value
                        .iter()
                        .copied()
                        .take_while(u8::is_ascii_digit)
                        .collect();
                    let limited = digits.iter().any(|&d| d != b'0');
                    self.memory_limited.store(limited, Ordering::Relaxed);
                } else if name.eq_ignore_ascii_case(b"slowlog-max-len") {
                    if let Some(len) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok())
                    {
                        self.slowlog_max_len.store(len, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// INFO, with the fields clients look at (`redis_version`, `loading`, `cluster_enabled`)
    /// and the proxy's own.
    /// The proxy's own INFO sections, by lower-case name, each with its `# Title` line.
    pub fn info_sections(&self) -> Vec<(&'static str, String)> {
        let partitions = self.table.partitions();
        let routable = partitions
            .iter()
            .filter(|(_, route)| route.is_some())
            .count();
        vec![
            (
                "server",
                format!(
                    "# Server\r\nredis_version:{}\r\nredis_mode:cluster\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n",
                    slotcache_protocol::command::REDIS_VERSION,
                    std::process::id(),
                    self.port,
                    self.started.elapsed().as_secs(),
                ),
            ),
            (
                "clients",
                format!(
                    "# Clients\r\nconnected_clients:{}\r\ntracking_clients:{}\r\n",
                    self.connected_clients.load(Ordering::Relaxed),
                    self.tracking_clients.load(Ordering::Relaxed),
                ),
            ),
            ("persistence", "# Persistence\r\nloading:0\r\n".into()),
            ("cluster", "# Cluster\r\ncluster_enabled:1\r\n".into()),
            (
                "proxy",
                format!(
                    "# Proxy\r\nslotcache_proxy_id:{}\r\nslotcache_partitions:{}\r\nslotcache_partitions_routable:{}\r\nslotcache_shard_servers:{}\r\n",
                    self.id,
                    partitions.len(),
                    routable,
                    self.table.leader_addrs().len(),
                ),
            ),
        ]
    }
}
