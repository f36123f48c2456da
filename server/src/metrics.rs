//! What a shard server tells its admin endpoint: Prometheus metrics named as `redis_exporter`
//! names Redis's (so its Grafana dashboards mostly work), per-partition replication state, and
//! readiness. Everything is read from the counters INFO reports, when scraped.

use crate::commands::Table;
use crate::memory::{peak_memory, rss_bytes, used_memory};
use crate::partition::STANDALONE_PARTITION;
use crate::replication::log::Role;
use crate::state::Server;
use slotcache_cluster::admin::{value, Admin, Metrics};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A shard server, as its admin endpoint sees it.
pub struct ServerAdmin(pub Arc<Server>);

/// How long a scrape waits for a busy partition before leaving it out.
const PARTITION_WAIT: Duration = Duration::from_millis(50);

fn load_usize(gauge: &AtomicUsize) -> f64 {
    gauge.load(Ordering::Relaxed) as f64
}

impl Admin for ServerAdmin {
    fn metrics(&self, out: &mut Metrics) {
        let server = &self.0;
        let stats = &server.stats;
        let config = server.config.read().clone();
        out.endpoint(
            server.started,
            server.clients.lock().len(),
            value(&stats.connections_received),
        );
        out.gauge("redis_max_clients", "The maxclients setting.")
            .sample(&[], config.maxclients as f64);
        out.counter(
            "redis_rejected_connections_total",
            "Client connections refused (maxclients).",
        )
        .sample(&[], value(&stats.rejected_connections));
        out.counter("redis_net_input_bytes_total", "Bytes read from clients.")
            .sample(&[], value(&stats.net_input_bytes));
        out.counter("redis_net_output_bytes_total", "Bytes written to clients.")
            .sample(&[], value(&stats.net_output_bytes));
        out.counter(
            "redis_commands_processed_total",
            "Commands run, every command counted.",
        )
        .sample(&[], server.commands_processed() as f64);
        out.gauge("redis_memory_used_bytes", "Bytes allocated.")
            .sample(&[], used_memory() as f64);
        out.gauge("redis_memory_used_rss_bytes", "Resident set size.")
            .sample(&[], rss_bytes() as f64);
        out.gauge("redis_memory_used_peak_bytes", "Most bytes ever allocated.")
            .sample(&[], peak_memory() as f64);
        out.gauge("redis_memory_max_bytes", "The maxmemory setting (0: none).")
            .sample(&[], config.maxmemory as f64);
        out.gauge(
            "redis_replication_backlog_bytes",
            "Bytes the partitions' replication backlogs hold.",
        )
        .sample(&[], crate::replication::log::backlogs_bytes() as f64);
        let errors = stats.error_codes.lock().clone();
        for (code, count) in errors {
            out.counter("redis_errors_total", "Error replies, by error code.")
                .sample(&[("err", &code)], count as f64);
        }
        let table = Table::get();
        out.commands(
            table.all.iter().map(|spec| spec.name),
            &server.command_stats,
            &[],
        );
        if let Some(replication) = server.replication.get() {
            let links = &replication.links;
            out.gauge(
                "redis_connected_slaves",
                "Follower streams this server serves.",
            )
            .sample(&[], load_usize(&links.followers));
            out.counter(
                "slotcache_replication_snapshots_total",
                "Followers started from a snapshot (full resynchronisations).",
            )
            .sample(&[], value(&links.sync_full));
            let resyncs = out.counter(
                "slotcache_replication_partial_resyncs_total",
                "Followers continued from the backlog (ok) or refused it (err).",
            );
            resyncs
                .sample(&[("result", "ok")], value(&links.sync_partial_ok))
                .sample(&[("result", "err")], value(&links.sync_partial_err));
        }
        keyspaces(server, out);
    }

    fn readiness(&self) -> Result<(), String> {
        let server = &self.0;
        if server.config.read().etcd.is_some() && server.replication.get().is_none() {
            return Err("not joined to its cluster yet".into());
        }
        Ok(())
    }
}

/// Keys and keyspace counters: per database over the copies this server leads (as INFO and
/// `redis_exporter` count them), and per hosted partition with its replication state.
fn keyspaces(server: &Server, out: &mut Metrics) {
    let replication = server.replication.get();
    let (mut hits, mut misses, mut expired, mut evicted) = (0, 0, 0, 0);
    let mut db_keys: Vec<(usize, usize)> = Vec::new();
    // Each hosted copy's keys, for its share of the memory.
    let mut copies: Vec<(String, usize)> = Vec::new();
    for (pid, keyspace) in server.engine.all() {
        let clustered = pid != STANDALONE_PARTITION;
        if clustered && replication.is_none() {
            continue;
        }
        let Some(ks) = keyspace.try_lock_for(PARTITION_WAIT) else {
            continue;
        };
        let role = ks.log.role();
        let leads = matches!(role, Role::Standalone | Role::Leader);
        let stats = ks.stats();
        let keys: usize = ks.dbs.iter().map(|db| db.len()).sum();
        if leads {
            hits += stats.keyspace_hits;
            misses += stats.keyspace_misses;
            expired += stats.expired_keys;
            evicted += stats.evicted_keys;
            db_keys.resize(db_keys.len().max(ks.dbs.len()), (0, 0));
            for (i, db) in ks.dbs.iter().enumerate() {
                db_keys[i].0 += db.len();
                db_keys[i].1 += db.volatile_len();
            }
        }
        if !clustered {
            continue;
        }
        let partition = pid.to_string();
        copies.push((partition.clone(), keys));
        let labels = [("partition", partition.as_str())];
        out.gauge(
            "slotcache_partition_keys",
            "Keys of a hosted partition copy.",
        )
        .sample(&labels, keys as f64);
        out.counter(
            "slotcache_partition_commands_total",
            "Commands run on a hosted partition copy.",
        )
        .sample(&labels, ks.commands_run as f64);
        out.gauge(
            "slotcache_partition_leader",
            "1 where this server leads the partition, 0 where it follows.",
        )
        .sample(&labels, f64::from(u8::from(role == Role::Leader)));
        out.gauge("slotcache_partition_epoch", "The copy's epoch.")
            .sample(&labels, ks.log.epoch() as f64);
        out.gauge(
            "slotcache_partition_log_offset",
            "The offset of the copy's next replication record.",
        )
        .sample(&labels, ks.log.next_offset() as f64);
        let head = ks.log.next_offset();
        drop(ks);
        let progress = replication.and_then(|r| r.progress(pid));
        if let (Some(progress), Role::Leader) = (progress, role) {
            out.gauge(
                "slotcache_partition_in_sync_copies",
                "Copies in the partition's in-sync set, the leader included.",
            )
            .sample(&labels, load_usize(&progress.in_sync));
            let lags = progress.lags(head);
            // The keyspace again, briefly, for the bytes of what each follower lacks.
            let bytes: Vec<Option<u64>> = match keyspace.try_lock_for(PARTITION_WAIT) {
                Some(ks) => lags
                    .iter()
                    .map(|(_, records, _)| Some(ks.log.bytes_since(head - records)))
                    .collect(),
                None => vec![None; lags.len()],
            };
            for ((follower, records, behind), bytes) in lags.into_iter().zip(bytes) {
                let labels = [("partition", partition.as_str()), ("follower", &follower)];
                out.gauge(
                    "slotcache_partition_follower_lag_records",
                    "Replication records a follower lacks.",
                )
                .sample(&labels, records as f64);
                if let Some(bytes) = bytes {
                    out.gauge(
                        "slotcache_partition_follower_lag_bytes",
                        "Bytes of the replication records a follower lacks (as the backlog holds them).",
                    )
                    .sample(&labels, bytes as f64);
                }
                out.gauge(
                    "slotcache_partition_follower_lag_seconds",
                    "How long an in-sync follower has lacked records.",
                )
                .sample(&labels, behind.as_secs_f64());
            }
        }
    }
    // The process's data memory (less the replication backlogs) shared among its copies by
    // their keys, as eviction estimates the followers' share: an estimate, not a measure.
    let total_keys: usize = copies.iter().map(|(_, keys)| keys).sum();
    let data = used_memory().saturating_sub(crate::replication::log::backlogs_bytes());
    for (partition, keys) in &copies {
        let share = (data as f64 * *keys as f64) / total_keys.max(1) as f64;
        out.gauge(
            "slotcache_partition_memory_bytes",
            "Estimated memory of a hosted partition copy: the server's data memory by key share.",
        )
        .sample(&[("partition", partition.as_str())], share);
    }
    out.counter("redis_keyspace_hits_total", "Lookups that found their key.")
        .sample(&[], hits as f64);
    out.counter("redis_keyspace_misses_total", "Lookups that found no key.")
        .sample(&[], misses as f64);
    out.counter("redis_expired_keys_total", "Keys removed as expired.")
        .sample(&[], expired as f64);
    out.counter("redis_evicted_keys_total", "Keys evicted for maxmemory.")
        .sample(&[], evicted as f64);
    for (db, (keys, expiring)) in db_keys.into_iter().enumerate() {
        if keys == 0 {
            continue;
        }
        let db = format!("db{db}");
        out.gauge("redis_db_keys", "Keys, by database.")
            .sample(&[("db", &db)], keys as f64);
        out.gauge("redis_db_keys_expiring", "Keys with a TTL, by database.")
            .sample(&[("db", &db)], expiring as f64);
    }
}
