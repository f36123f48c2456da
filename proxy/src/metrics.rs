//! The proxy's counters and what its admin endpoint shows of them: per command, calls and the
//! latency clients see (from reading a run of requests to writing its replies); per shard
//! server, requests, commands, depth and failures; redirects, retries and error replies.

use crate::Proxy;
use ahash::AHashMap;
use parking_lot::Mutex;
use slotcache_cluster::admin::{value, Admin, Metrics};
use slotcache_protocol::command::stats::CommandStats;
use slotcache_protocol::command::Table;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What every session of a proxy counts.
pub struct ProxyStats {
    /// Per command, in the table's order.
    pub commands: Vec<CommandStats>,
    pub connections_received: AtomicU64,
    /// Connections refused at `maxclients`.
    pub rejected_connections: AtomicU64,
    /// Replies from a server that no longer led the request's partition (MOVED, CLUSTERDOWN).
    pub redirects: AtomicU64,
    /// Requests sent again after a redirect or an unreachable leader.
    pub retries: AtomicU64,
    /// Requests that stopped waiting for a shard server's reply: its partition's leader
    /// changed, or the backend deadline passed.
    pub released: AtomicU64,
    /// Error replies to clients, by code.
    errors: Mutex<AHashMap<String, u64>>,
    /// Commands are timed and replies checked for errors: the admin endpoint is served.
    pub timed: AtomicBool,
}

impl Default for ProxyStats {
    fn default() -> Self {
        ProxyStats {
            commands: (0..Table::get().all.len())
                .map(|_| CommandStats::default())
                .collect(),
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            redirects: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            released: AtomicU64::new(0),
            errors: Mutex::default(),
            timed: AtomicBool::new(false),
        }
    }
}

impl ProxyStats {
    /// Whether commands are timed and replies checked for errors.
    pub fn timed(&self) -> bool {
        self.timed.load(Ordering::Relaxed)
    }

    /// Counts `reply` if it is an error, under its code.
    pub fn count_reply(&self, reply: &[u8]) {
        let Some(text) = reply.strip_prefix(b"-").filter(|_| self.timed()) else {
            return;
        };
        let end = text
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(text.len());
        let code = String::from_utf8_lossy(&text[..end]).into_owned();
        *self.errors.lock().entry(code).or_insert(0) += 1;
    }
}

/// A session's requests since its replies were last written, timed together: each counts
/// as taking the time from the first one's reading to the replies' writing.
#[derive(Default)]
pub struct RunTiming {
    since: Option<Instant>,
    commands: Vec<usize>,
}

impl RunTiming {
    /// A request of the run, by its command's index (None: unknown command).
    pub fn request(&mut self, index: Option<usize>, stats: &ProxyStats) {
        if let Some(index) = index.filter(|_| stats.timed()) {
            self.since.get_or_insert_with(Instant::now);
            self.commands.push(index);
        }
    }

    /// The run's replies are written: its requests are counted.
    pub fn replied(&mut self, stats: &ProxyStats) {
        let Some(since) = self.since.take() else {
            return;
        };
        let usec = since.elapsed().as_micros() as u64;
        for &index in &self.commands {
            if let Some(command) = stats.commands.get(index) {
                command.durations.record(1, usec);
            }
        }
        self.commands.clear();
    }
}

/// One shard server's traffic from one proxy, counted by its lanes.
#[derive(Default)]
pub struct BackendStats {
    /// Writes of queued requests (a run of one client's commands each).
    pub requests: AtomicU64,
    pub commands: AtomicU64,
    /// Requests sent and not answered yet.
    pub in_flight: AtomicI64,
    /// Requests failed because the server could not be reached (never sent).
    pub unreachable: AtomicU64,
    /// Requests whose connection was lost before their reply.
    pub lost: AtomicU64,
}

/// A proxy, as its admin endpoint sees it.
pub struct ProxyAdmin(pub Arc<Proxy>);

impl Admin for ProxyAdmin {
    fn metrics(&self, out: &mut Metrics) {
        let proxy = &self.0;
        let stats = &proxy.stats;
        out.endpoint(
            proxy.started,
            proxy.connected_clients.load(Ordering::Relaxed) as usize,
            value(&stats.connections_received),
        );
        out.counter(
            "redis_rejected_connections_total",
            "Client connections refused (maxclients).",
        )
        .sample(&[], value(&stats.rejected_connections));
        let errors = stats.errors.lock().clone();
        for (code, count) in errors {
            out.counter(
                "redis_errors_total",
                "Error replies to clients, by error code.",
            )
            .sample(&[("err", &code)], count as f64);
        }
        out.commands(
            Table::get().all.iter().map(|spec| spec.name),
            &stats.commands,
            &[],
        );
        out.counter(
            "slotcache_proxy_redirects_total",
            "Replies from a server that no longer led the partition.",
        )
        .sample(&[], value(&stats.redirects));
        out.counter(
            "slotcache_proxy_retries_total",
            "Requests sent again, after a redirect or to an unreachable leader.",
        )
        .sample(&[], value(&stats.retries));
        out.counter(
            "slotcache_proxy_released_total",
            "Requests released unanswered: their leader was replaced or the deadline passed.",
        )
        .sample(&[], value(&stats.released));
        let partitions = proxy.table.partitions();
        let routable = partitions.iter().filter(|(_, r)| r.is_some()).count();
        out.gauge("slotcache_proxy_partitions", "Partitions in the placement.")
            .sample(&[], partitions.len() as f64);
        out.gauge(
            "slotcache_proxy_partitions_routable",
            "Partitions with a leader to route to.",
        )
        .sample(&[], routable as f64);
        for (addr, backend) in proxy.backends.stats() {
            let labels = [("backend", addr.as_str())];
            out.counter(
                "slotcache_proxy_backend_requests_total",
                "Requests written to a shard server (one client's run of commands each).",
            )
            .sample(&labels, value(&backend.requests));
            out.counter(
                "slotcache_proxy_backend_commands_total",
                "Commands sent to a shard server.",
            )
            .sample(&labels, value(&backend.commands));
            out.gauge(
                "slotcache_proxy_backend_queue_depth",
                "Requests sent to a shard server and not answered yet.",
            )
            .sample(&labels, backend.in_flight.load(Ordering::Relaxed) as f64);
            out.counter(
                "slotcache_proxy_backend_failures_total",
                "Requests failed at a shard server: unreachable (never sent) or lost (the connection failed before the reply).",
            )
            .sample(&[labels[0], ("kind", "unreachable")], value(&backend.unreachable))
            .sample(&[labels[0], ("kind", "lost")], value(&backend.lost));
        }
    }

    fn readiness(&self) -> Result<(), String> {
        let partitions = self.0.table.partitions();
        let missing = partitions.iter().filter(|(_, r)| r.is_none()).count();
        match (partitions.len(), missing) {
            (0, _) => Err("no placement mirrored from etcd yet".into()),
            (_, 0) => Ok(()),
            (_, missing) => Err(format!("{missing} partitions have no leader to route to")),
        }
    }
}
