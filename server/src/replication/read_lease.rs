//! Reads under the leader's lease: a leader answers reads from its own copy, without a barrier
//! record acknowledged by its followers, while no other copy of the partition can have been
//! elected. What makes that true:
//!
//! * The controller elects a new leader without a handover only in a transaction that finds
//!   the old leader's liveness key gone, that is once its etcd lease has expired (or was
//!   revoked after its port was found refusing connections: no process is left to serve).
//! * This server holds its lease until the send time of the last request that etcd answered
//!   with the lease alive, plus the TTL (see [`LeaseHold`]): etcd counts from a later moment.
//!   The leader serves lease reads only while that holds for `lease-read-margin` more, the
//!   allowance for its clock running slower than etcd's.
//! * Leadership counts only once etcd was seen naming this server leader at a revision
//!   written after the current lease's keys: a record seen under an earlier lease may have
//!   been replaced while that lease had expired, before this server registered again.
//! * A leader stops lease reads for its epoch as soon as its record asks for a handover,
//!   before it writes the next epoch itself or the controller switches without it.
//!
//! Anything else falls back to the barrier (see [`super::log::Log::barrier`]).

use slotcache_cluster::lease::LeaseHold;

/// Whether reads wait for a barrier, or may be served under the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadConsistency {
    Lease,
    Barrier,
}

impl ReadConsistency {
    pub fn parse(text: &str) -> Option<ReadConsistency> {
        match text.to_ascii_lowercase().as_str() {
            "lease" => Some(ReadConsistency::Lease),
            "barrier" => Some(ReadConsistency::Barrier),
            _ => None,
        }
    }
}

/// A led partition's permission to read under the lease.
#[derive(Clone, Default)]
pub struct ReadLease {
    /// The server's lease and the margin kept before its end; none: never.
    hold: Option<(LeaseHold, i64)>,
    /// The lease generation and epoch at which etcd was seen naming this server leader.
    confirmed: Option<(u64, u64)>,
    /// Epochs up to this one serve no lease reads (a handover was asked for at it).
    barred: u64,
}

impl ReadLease {
    /// Reads may use `hold`, kept `margin_ms` before its end.
    pub fn enable(&mut self, hold: LeaseHold, margin_ms: i64) {
        self.hold = Some((hold, margin_ms));
    }

    /// etcd named this server leader at `epoch`, at a revision after the keys of lease
    /// `generation` were written.
    pub fn confirm(&mut self, generation: u64, epoch: u64) {
        if epoch > self.barred && self.confirmed.is_none_or(|seen| seen < (generation, epoch)) {
            self.confirmed = Some((generation, epoch));
        }
    }

    /// No lease reads at `epoch` or before, whatever is confirmed later.
    pub fn bar(&mut self, epoch: u64) {
        self.barred = self.barred.max(epoch);
        if self.confirmed.is_some_and(|(_, seen)| seen <= epoch) {
            self.confirmed = None;
        }
    }

    /// Whether the leader of `epoch` may answer a read from its copy now.
    pub fn serves(&self, epoch: u64) -> bool {
        match (&self.hold, self.confirmed) {
            (Some((hold, margin)), Some((generation, confirmed))) => {
                confirmed == epoch && hold.generation() == generation && hold.held_for(*margin)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_served_without_a_hold_or_a_confirmation() {
        let mut lease = ReadLease::default();
        lease.confirm(1, 3);
        assert!(!lease.serves(3), "no hold");
        assert!(ReadConsistency::parse("LEASE") == Some(ReadConsistency::Lease));
        assert!(ReadConsistency::parse("other").is_none());
    }

    #[test]
    fn a_barred_epoch_stays_barred() {
        let mut lease = ReadLease::default();
        lease.confirm(1, 3);
        lease.bar(3);
        assert_eq!(lease.confirmed, None);
        lease.confirm(2, 3);
        assert_eq!(
            lease.confirmed, None,
            "a later confirmation of a barred epoch"
        );
        lease.confirm(2, 4);
        assert_eq!(lease.confirmed, Some((2, 4)));
        lease.confirm(1, 5);
        assert_eq!(
            lease.confirmed,
            Some((2, 4)),
            "an earlier lease confirms nothing newer"
        );
    }
}
