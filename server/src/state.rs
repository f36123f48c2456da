//! State shared by every connection: configuration, the engine, the client registry and the
//! counters INFO reports.

use crate::client::ClientInfo;
use crate::commands::Table;
use crate::config::Config;
use crate::partition::{Partitions, SharedKeyspace, STANDALONE_PARTITION};
use ahash::AHashMap;
use parking_lot::{Mutex, RwLock};
pub use slotcache_protocol::command::stats::{latency_bucket, CommandStats, LATENCY_BUCKETS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub errors: AtomicU64,
    /// INFO errorstats: error replies by their code (the first word: ERR, WRONGTYPE...).
    pub error_codes: Mutex<AHashMap<String, u64>>,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts an error reply (`-CODE message\r\n`) under its code.
    pub fn count_error(&self, reply: &[u8]) {
        let text = reply.strip_prefix(b"-").unwrap_or(reply);
        let end = text
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(text.len());
        let code = String::from_utf8_lossy(&text[..end]).into_owned();
        *self.error_codes.lock().entry(code).or_insert(0) += 1;
    }
}

pub struct Server {
    pub config: RwLock<Config>,
    pub engine: Partitions,
    /// The keyspace client connections address (standalone: the one partition).
    pub keyspace: SharedKeyspace,
    /// Cluster mode's placement, set once the server has joined.
    pub routes: std::sync::OnceLock<RwLock<crate::routing::Routes>>,
    /// Cluster mode's replication of the hosted partitions, set once the server has joined.
    pub replication: std::sync::OnceLock<crate::replication::Replication>,
    /// The TLS ports' certificates (client and replication), which CONFIG SET can change.
    pub tls: std::sync::OnceLock<Arc<slotcache_protocol::tls::Acceptor>>,
    pub clients: Mutex<AHashMap<u64, Arc<ClientInfo>>>,
    pub pubsub: Mutex<crate::pubsub::Registry>,
    /// ACL users and the ACL log.
    pub acl: slotcache_protocol::acl::Acl,
    pub tracking: crate::tracking::ClientSideCaching,
    pub monitors: crate::monitor::Monitors,
    pub scripts: crate::scripting::Scripts,
    pub evictor: crate::eviction::Evictor,
    pub slowlog: crate::slowlog::SlowLog,
    pub latency: crate::latency::LatencyMonitor,
    pub pause: crate::pause::ServerPause,
    next_client_id: AtomicU64,
    pub stats: Stats,
    pub command_stats: Vec<CommandStats>,
    pub started: Instant,
    pub saves: crate::persistence::Saves,
    pub run_id: String,
    pub tcp_port: u16,
}

impl Server {
    pub fn new(config: Config, tcp_port: u16) -> Server {
        crate::engine::limits::apply(config.encoding_limits());
        crate::notify::set_flags(config.notify_keyspace_events);
        crate::engine::db::set_lfu_mode(
            crate::engine::evict::Policy::from_name(&config.maxmemory_policy).is_lfu(),
        );
        let engine = Partitions::new(config.databases as usize);
        let keyspace = engine.open(STANDALONE_PARTITION);
        let command_count = Table::get().all.len();
        let pubsub = crate::pubsub::Registry::new(&config.client_output_buffer_limit);
        let acl = slotcache_protocol::acl::Acl::default();
        crate::commands::acl::follow_config(&acl, &config);
        Server {
            config: RwLock::new(config),
            engine,
            keyspace,
            routes: std::sync::OnceLock::new(),
            replication: std::sync::OnceLock::new(),
            tls: std::sync::OnceLock::new(),
            clients: Mutex::new(AHashMap::new()),
            pubsub: Mutex::new(pubsub),
            acl,
            tracking: Default::default(),
            monitors: Default::default(),
            scripts: crate::scripting::Scripts::new(),
            evictor: crate::eviction::Evictor::new(),
            slowlog: Default::default(),
            latency: Default::default(),
            pause: Default::default(),
            next_client_id: AtomicU64::new(1),
            stats: Stats::default(),
            command_stats: (0..command_count)
                .map(|_| CommandStats::default())
                .collect(),
            started: Instant::now(),
            saves: crate::persistence::Saves::new(now_ms() / 1000),
            run_id: random_hex(40),
            tcp_port,
        }
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Commands run, as INFO's `total_commands_processed`: the sum of the per-command calls.
    pub fn commands_processed(&self) -> u64 {
        self.command_stats
            .iter()
            .map(|s| s.durations.calls.load(Ordering::Relaxed))
            .sum()
    }

    pub fn reset_stats(&self) {
        for s in &self.command_stats {
            s.reset();
        }
        let st = &self.stats;
        st.error_codes.lock().clear();
        for counter in [
            &st.connections_received,
            &st.rejected_connections,
            &st.net_input_bytes,
            &st.net_output_bytes,
            &st.errors,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

pub fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}
