//! Server configuration: a TOML file, overridden by environment and flags, and readable and
//! partly settable at run time through CONFIG GET/SET under Redis's parameter names.

use serde::{Deserialize, Deserializer};
use slotcache_cluster::config_file::ConfigFileError;
use slotcache_cluster::tls_settings::TlsSettings;
use slotcache_protocol::limits::{
    at_least, parse_count, OutputLimits, DEFAULT_QUERY_BUFFER_LIMIT, MIN_QUERY_BUFFER_LIMIT,
};
use slotcache_protocol::protected_mode::parse_yes_no;
use std::path::Path;

/// Every setting, with Redis's defaults. TOML keys are the Redis names with `-` or `_`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Config {
    pub bind: String,
    pub port: u16,
    pub requirepass: String,
    /// Users to load at start and for ACL LOAD / ACL SAVE; empty: none.
    pub aclfile: String,
    /// The length of ACL LOG.
    pub acllog_max_len: u64,
    /// `allchannels` or `resetchannels`: the channels new users start with.
    pub acl_pubsub_default: String,
    /// With no password, only clients on 127.0.0.1 or ::1 are served (Redis's protected mode).
    pub protected_mode: bool,
    pub maxclients: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub maxmemory_samples: u64,
    pub databases: u64,
    pub proto_max_bulk_len: u64,
    /// Most bytes a client's unparsed input may hold before it is cut off.
    pub client_query_buffer_limit: u64,
    /// When a client that does not read its replies (or messages) is cut off.
    #[serde(deserialize_with = "output_limits")]
    pub client_output_buffer_limit: OutputLimits,
    pub timeout: u64,
    pub hz: u64,
    pub loglevel: String,
    /// Worker threads; 0 picks half the cores (at least one). The keyspace is locked per
    /// batch, so past a few threads more only add contention, and on a small machine the
    /// clients and the server share the cores.
    pub threads: u64,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub set_max_listpack_entries: u64,
    pub set_max_listpack_value: u64,
    pub list_max_listpack_size: i64,
    pub hll_sparse_max_bytes: u64,
    /// Milliseconds a script runs before other clients get BUSY (Redis's lua-time-limit).
    pub busy_reply_threshold: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    /// etcd endpoints; none means standalone.
    pub etcd: Option<String>,
    pub cluster: Option<String>,
    pub node_id: Option<String>,
    /// The cluster's internal secret, when it is kept in a file rather than in etcd.
    pub cluster_secret_file: Option<String>,
    /// The TLS client port and its certificates.
    #[serde(flatten)]
    pub tls: TlsSettings,
    /// Port of the admin HTTP endpoint (`/metrics`, `/healthz`, `/readyz`) on the bind
    /// address; none: no endpoint.
    pub admin_port: Option<u16>,
    /// The host other hosts reach this server at, published with its ports in etcd (default:
    /// the bind address, which must then be a specific one).
    pub announce_addr: Option<String>,
    /// Port of the replication listener (0: a free one).
    pub replication_port: u16,
    /// Milliseconds an in-sync replica may lag behind its leader before the leader drops it
    /// from the in-sync set (in etcd) and `sync` writes go on without it.
    pub replica_lag_timeout: u64,
    /// Seconds a stopping server (SIGTERM, SIGINT) waits for the partitions it leads to be
    /// handed over to in-sync followers (Redis's setting of this name waits for replicas).
    pub shutdown_timeout: u64,
    /// Bytes of replication log each led partition keeps for followers' partial resyncs.
    pub repl_backlog_size: u64,
    /// How a `sync` leader proves a read is not stale: `lease` (answer from its copy while
    /// its etcd lease certainly holds) or `barrier` (wait for a record its followers
    /// acknowledge).
    pub read_consistency: String,
    /// Milliseconds before the end of its etcd lease at which a leader stops reading under it:
    /// the allowance for its clock running slower than etcd's. Negative only to show what it
    /// protects against.
    pub lease_read_margin: i64,
    /// Direct mode: whether CLUSTER SLOTS, SHARDS and NODES list the in-sync followers as
    /// replicas. Off by default: every server leads some partitions and follows others, which
    /// Redis Cluster clients that keep one role per node (redis-py) misread.
    pub cluster_announce_replicas: bool,
    /// Microseconds past which a command is logged in SLOWLOG; negative: never.
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    /// Milliseconds from which an event is recorded by the latency monitor; 0: off.
    pub latency_monitor_threshold: u64,
    /// Accepted and reported as Redis reports them; the engine's own layout does not use
    /// them (its lists are not compressed, streams not split into nodes, frees not deferred).
    pub list_compress_depth: u64,
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: u64,
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,
    /// Most keys CLIENT TRACKING remembers; past it, keys are invalidated to make room.
    pub tracking_table_max_keys: u64,
    /// The keyspace event classes published (`notify-keyspace-events`), as flags.
    pub notify_keyspace_events: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1".into(),
            port: 6379,
            requirepass: String::new(),
            aclfile: String::new(),
            acllog_max_len: 128,
            acl_pubsub_default: "resetchannels".into(),
            protected_mode: true,
            maxclients: 10000,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: 5,
            databases: 16,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: DEFAULT_QUERY_BUFFER_LIMIT,
            client_output_buffer_limit: OutputLimits::default(),
            timeout: 0,
            hz: 10,
            loglevel: "notice".into(),
            threads: 0,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            list_max_listpack_size: -2,
            hll_sparse_max_bytes: 3000,
            busy_reply_threshold: 5000,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            etcd: None,
            cluster: None,
            node_id: None,
            cluster_secret_file: None,
            tls: TlsSettings::default(),
            admin_port: None,
            announce_addr: None,
            replication_port: 0,
            replica_lag_timeout: 1000,
            shutdown_timeout: 10,
            repl_backlog_size: crate::replication::log::DEFAULT_BACKLOG as u64,
            read_consistency: "lease".into(),
            lease_read_margin: 500,
            cluster_announce_replicas: false,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            list_compress_depth: 0,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            tracking_table_max_keys: 1_000_000,
            notify_keyspace_events: 0,
        }
    }
}

impl Config {
    /// The compact-encoding thresholds these settings ask for.
    pub fn encoding_limits(&self) -> crate::engine::limits::Limits {
        crate::engine::limits::Limits {
            hash_entries: self.hash_max_listpack_entries as usize,
            hash_value: self.hash_max_listpack_value as usize,
            set_intset_entries: self.set_max_intset_entries as usize,
            set_entries: self.set_max_listpack_entries as usize,
            set_value: self.set_max_listpack_value as usize,
            list_size: self.list_max_listpack_size,
            zset_entries: self.zset_max_listpack_entries as usize,
            zset_value: self.zset_max_listpack_value as usize,
        }
    }

    /// The worker thread count `threads` resolves to on this machine.
    pub fn worker_threads(&self) -> usize {
        match self.threads {
            0 => (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).max(1),
            n => n as usize,
        }
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        // Accept snake_case keys as well as Redis's kebab-case.
        let text = normalize_keys(&text);
        toml::from_str(&text).map_err(|source| ConfigFileError::Parse {
            path: path.display().to_string(),
            source,
        })
    }
}

/// `client-output-buffer-limit` in a file is written as CONFIG SET takes it.
fn output_limits<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OutputLimits, D::Error> {
    let text = String::deserialize(deserializer)?;
    OutputLimits::default()
        .updated(&text)
        .map_err(serde::de::Error::custom)
}

fn normalize_keys(text: &str) -> String {
    text.lines()
        .map(|line| match line.split_once('=') {
            Some((key, value)) if !line.trim_start().starts_with('#') => {
                format!("{}={}", key.replace('_', "-"), value)
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Applies a CONFIG SET value, or says why it is invalid.
pub type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// One CONFIG parameter: its Redis name, how to read it, and how to set it at run time (None
/// when it is fixed at start, as Redis's immutable parameters).
pub struct Param {
    pub name: &'static str,
    pub get: fn(&Config) -> String,
    pub set: Option<Setter>,
}

fn parse_i64(value: &str) -> Result<i64, String> {
    value
        .parse::<i64>()
        .map_err(|_| "argument couldn't be parsed into an integer".into())
}

pub use slotcache_protocol::limits::parse_memory;

const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];

fn one_of(value: &str, allowed: &[&str]) -> Result<String, String> {
    let lower = value.to_ascii_lowercase();
    if allowed.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err("argument(s) must be one of the following: ".to_string() + &allowed.join(", "))
    }
}

/// A non-negative count setting stored in `Config::$field`.
macro_rules! count_param {
    ($name:literal, $field:ident) => {
        Param {
            name: $name,
            get: |c| c.$field.to_string(),
            set: Some(|c, v| {
                c.$field = parse_count(v)?;
                Ok(())
            }),
        }
    };
}

macro_rules! yes_no_param {
    ($name:literal, $field:ident) => {
        Param {
            name: $name,
            get: |c| if c.$field { "yes" } else { "no" }.into(),
            set: Some(|c, v| {
                c.$field = parse_yes_no(v)?;
                Ok(())
            }),
        }
    };
}

/// A TLS setting: shown by CONFIG GET, read from the command line or file at start (the
/// certificates themselves reload on SIGHUP or change); the `SETTABLE` ones CONFIG SET changes,
/// and the TLS ports take the new files at once.
macro_rules! tls_param {
    ($name:literal) => {
        Param {
            name: $name,
            get: |c| c.tls.value($name).unwrap_or_default(),
            set: None,
        }
    };
    ($name:literal, settable) => {
        Param {
            name: $name,
            get: |c| c.tls.value($name).unwrap_or_default(),
            set: Some(|c, v| c.tls.set($name, v)),
        }
    };
}

/// The parameters CONFIG knows, sorted by name.
pub static PARAMS: &[Param] = &[
    Param {
        name: "acl-pubsub-default",
        get: |c| c.acl_pubsub_default.clone(),
        set: Some(|c, v| {
            c.acl_pubsub_default = one_of(v, &["allchannels", "resetchannels"])?;
            Ok(())
        }),
    },
    Param {
        name: "aclfile",
        get: |c| c.aclfile.clone(),
        set: None,
    },
    count_param!("acllog-max-len", acllog_max_len),
    Param {
        name: "appendonly",
        get: |_| "no".into(),
        set: Some(|_, v| parse_yes_no(v).map(|_| ())),
    },
    Param {
        name: "bind",
        get: |c| c.bind.clone(),
        set: None,
    },
    count_param!("busy-reply-threshold", busy_reply_threshold),
    Param {
        name: "client-output-buffer-limit",
        get: |c| c.client_output_buffer_limit.format(),
        set: Some(|c, v| {
            c.client_output_buffer_limit = c.client_output_buffer_limit.updated(v)?;
            Ok(())
        }),
    },
    Param {
        name: "client-query-buffer-limit",
        get: |c| c.client_query_buffer_limit.to_string(),
        set: Some(|c, v| {
            c.client_query_buffer_limit = at_least(parse_memory(v)?, MIN_QUERY_BUFFER_LIMIT)?;
            Ok(())
        }),
    },
    yes_no_param!("cluster-announce-replicas", cluster_announce_replicas),
    Param {
        name: "daemonize",
        get: |_| "no".to_string(),
        set: None,
    },
    Param {
        name: "databases",
        get: |c| c.databases.to_string(),
        set: None,
    },
    count_param!("hash-max-listpack-entries", hash_max_listpack_entries),
    count_param!("hash-max-listpack-value", hash_max_listpack_value),
    count_param!("hash-max-ziplist-entries", hash_max_listpack_entries),
    count_param!("hash-max-ziplist-value", hash_max_listpack_value),
    count_param!("hll-sparse-max-bytes", hll_sparse_max_bytes),
    Param {
        name: "hz",
        get: |c| c.hz.to_string(),
        set: Some(|c, v| {
            c.hz = parse_count(v)?.clamp(1, 500);
            Ok(())
        }),
    },
    count_param!("latency-monitor-threshold", latency_monitor_threshold),
    yes_no_param!("lazyfree-lazy-eviction", lazyfree_lazy_eviction),
    yes_no_param!("lazyfree-lazy-expire", lazyfree_lazy_expire),
    yes_no_param!("lazyfree-lazy-server-del", lazyfree_lazy_server_del),
    yes_no_param!("lazyfree-lazy-user-del", lazyfree_lazy_user_del),
    yes_no_param!("lazyfree-lazy-user-flush", lazyfree_lazy_user_flush),
    Param {
        name: "lease-read-margin",
        get: |c| c.lease_read_margin.to_string(),
        set: None,
    },
    count_param!("list-compress-depth", list_compress_depth),
    Param {
        name: "list-max-listpack-size",
        get: |c| c.list_max_listpack_size.to_string(),
        set: Some(|c, v| {
            c.list_max_listpack_size = parse_i64(v)?;
            Ok(())
        }),
    },
    Param {
        name: "list-max-ziplist-size",
        get: |c| c.list_max_listpack_size.to_string(),
        set: Some(|c, v| {
            c.list_max_listpack_size = parse_i64(v)?;
            Ok(())
        }),
    },
    Param {
        name: "loglevel",
        get: |c| c.loglevel.clone(),
        set: Some(|c, v| {
            c.loglevel = one_of(v, LOGLEVELS)?;
            Ok(())
        }),
    },
    count_param!("lua-time-limit", busy_reply_threshold),
    Param {
        name: "maxclients",
        get: |c| c.maxclients.to_string(),
        set: Some(|c, v| {
            c.maxclients = parse_count(v)?;
            Ok(())
        }),
    },
    Param {
        name: "maxmemory",
        get: |c| c.maxmemory.to_string(),
        set: Some(|c, v| {
            c.maxmemory = parse_memory(v)?;
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-policy",
        get: |c| c.maxmemory_policy.clone(),
        set: Some(|c, v| {
            c.maxmemory_policy = one_of(v, POLICIES)?;
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-samples",
        get: |c| c.maxmemory_samples.to_string(),
        set: Some(|c, v| {
            c.maxmemory_samples = parse_count(v)?.clamp(1, 64);
            Ok(())
        }),
    },
    Param {
        name: "notify-keyspace-events",
        get: |c| crate::notify::format(c.notify_keyspace_events),
        set: Some(|c, v| {
            let flags = crate::notify::parse(v).ok_or_else(|| {
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
            })?;
            c.notify_keyspace_events = flags;
            Ok(())
        }),
    },
    Param {
        name: "port",
        get: |c| c.port.to_string(),
        set: None,
    },
    yes_no_param!("protected-mode", protected_mode),
    Param {
        name: "proto-max-bulk-len",
        get: |c| c.proto_max_bulk_len.to_string(),
        set: Some(|c, v| {
            c.proto_max_bulk_len = at_least(parse_memory(v)?, 1024 * 1024)?;
            Ok(())
        }),
    },
    Param {
        name: "read-consistency",
        get: |c| c.read_consistency.clone(),
        set: None,
    },
    Param {
        name: "requirepass",
        get: |c| c.requirepass.clone(),
        set: Some(|c, v| {
            c.requirepass = v.to_string();
            Ok(())
        }),
    },
    Param {
        name: "save",
        get: |_| String::new(),
        set: Some(|_, _| Ok(())),
    },
    count_param!("set-max-intset-entries", set_max_intset_entries),
    count_param!("set-max-listpack-entries", set_max_listpack_entries),
    count_param!("set-max-listpack-value", set_max_listpack_value),
    count_param!("shutdown-timeout", shutdown_timeout),
    Param {
        name: "slowlog-log-slower-than",
        get: |c| c.slowlog_log_slower_than.to_string(),
        set: Some(|c, v| {
            c.slowlog_log_slower_than = parse_i64(v)?;
            Ok(())
        }),
    },
    count_param!("slowlog-max-len", slowlog_max_len),
    count_param!("stream-node-max-bytes", stream_node_max_bytes),
    count_param!("stream-node-max-entries", stream_node_max_entries),
    Param {
        name: "threads",
        get: |c| c.worker_threads().to_string(),
        set: None,
    },
    Param {
        name: "timeout",
        get: |c| c.timeout.to_string(),
        set: Some(|c, v| {
            c.timeout = parse_count(v)?;
            Ok(())
        }),
    },
    tls_param!("tls-auth-clients", settable),
    tls_param!("tls-ca-cert-file", settable),
    tls_param!("tls-cert-file", settable),
    tls_param!("tls-cluster"),
    tls_param!("tls-key-file", settable),
    tls_param!("tls-port"),
    tls_param!("tls-replication"),
    count_param!("tracking-table-max-keys", tracking_table_max_keys),
    count_param!("zset-max-listpack-entries", zset_max_listpack_entries),
    count_param!("zset-max-listpack-value", zset_max_listpack_value),
    count_param!("zset-max-ziplist-entries", zset_max_listpack_entries),
    count_param!("zset-max-ziplist-value", zset_max_listpack_value),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_sorted_and_memory_units() {
        assert!(PARAMS.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(parse_memory("64mb"), Ok(64 * 1024 * 1024));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert!(parse_memory("12x").is_err());
    }

    #[test]
    fn toml_file_with_either_key_style() {
        let dir = std::env::temp_dir().join(format!("slotcache-cfg-{}", std::process::id()));
        let text = "port = 7001\nmaxmemory_policy = \"allkeys-lru\"\ntls-port = 7002\ntls_cert_file = \"c.pem\"\ntls-cluster = \"yes\"\n";
        std::fs::write(&dir, text).unwrap();
        let cfg = Config::from_file(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(cfg.port, 7001);
        assert_eq!(cfg.tls.tls_port, Some(7002));
        assert_eq!(cfg.tls.value("tls-cert-file").as_deref(), Some("c.pem"));
        assert_eq!(cfg.tls.value("tls-cluster").as_deref(), Some("yes"));
        assert_eq!(cfg.tls.value("tls-replication").as_deref(), Some("no"));
        assert_eq!(cfg.maxmemory_policy, "allkeys-lru");
        assert_eq!(cfg.maxclients, 10000);
    }
}
