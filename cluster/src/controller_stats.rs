//! What a controller counts, and shows on its admin endpoint: whether it leads, how often it
//! won the election, the failovers it carried out and how long they took, its other placement
//! writes, and how long etcd takes to answer it.

use crate::admin::{value, Admin, Metrics};
use slotcache_protocol::command::stats::Durations;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

#[derive(Default)]
pub struct ControllerStats {
    /// It has read its cluster's settings from etcd.
    pub started: AtomicBool,
    pub leading: AtomicBool,
    /// Times this controller won the election.
    pub elections_won: AtomicU64,
    /// Partitions given a new leader because theirs was lost, timed from the pass that found
    /// the loss to the record's write.
    pub failovers: Durations,
    /// Planned leader changes asked of a live leader.
    pub handovers: AtomicU64,
    /// Partition records written (every placement change, failovers included).
    pub placements: AtomicU64,
    /// Operator requests carried out.
    pub requests: AtomicU64,
    /// Leases revoked after a crash report was confirmed.
    pub revocations: AtomicU64,
    /// etcd round trips, reads and guarded writes.
    pub etcd_reads: Durations,
    pub etcd_writes: Durations,
}

impl ControllerStats {
    /// Records one round trip that started at `since`.
    pub fn timed(durations: &Durations, since: Instant) {
        durations.record(1, since.elapsed().as_micros() as u64);
    }
}

impl Admin for ControllerStats {
    fn metrics(&self, out: &mut Metrics) {
        out.gauge(
            "slotcache_controller_leading",
            "1 while this controller leads the cluster.",
        )
        .sample(
            &[],
            f64::from(u8::from(self.leading.load(Ordering::Relaxed))),
        );
        out.counter(
            "slotcache_controller_elections_won_total",
            "Times this controller won the election.",
        )
        .sample(&[], value(&self.elections_won));
        out.counter(
            "slotcache_controller_failovers_total",
            "Partitions given a new leader because theirs was lost.",
        )
        .sample(&[], value(&self.failovers.calls));
        out.histogram(
            "slotcache_controller_failover_duration_seconds",
            "From the pass that found a lost leader to its successor's record written.",
        )
        .durations(&[], &self.failovers);
        out.counter(
            "slotcache_controller_handovers_total",
            "Planned leader changes asked of a live leader.",
        )
        .sample(&[], value(&self.handovers));
        out.counter(
            "slotcache_controller_placements_total",
            "Partition records written.",
        )
        .sample(&[], value(&self.placements));
        out.counter(
            "slotcache_controller_requests_total",
            "Operator requests carried out.",
        )
        .sample(&[], value(&self.requests));
        out.counter(
            "slotcache_controller_lease_revocations_total",
            "Leases of crashed servers revoked early.",
        )
        .sample(&[], value(&self.revocations));
        out.histogram(
            "slotcache_controller_etcd_duration_seconds",
            "etcd round trips of the controller.",
        )
        .durations(&[("op", "read")], &self.etcd_reads)
        .durations(&[("op", "write")], &self.etcd_writes);
    }

    fn readiness(&self) -> Result<(), String> {
        match self.started.load(Ordering::Relaxed) {
            true => Ok(()),
            false => Err("the cluster's settings are not read from etcd yet".into()),
        }
    }
}
