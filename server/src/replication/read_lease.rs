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
//! * A leader serves lease reads only while it has heard from every follower it counts within
//!   [`FOLLOWERS_HEARD_WITHIN`] (they acknowledge its heartbeats). A leader cut off from its
//!   followers stops them that soon: the controller, once every in-sync follower has reported
//!   the leader silent, waits that long rather than a whole lease TTL before electing another.
//!
//! Anything else falls back to the barrier (see [`super::log::Log::barrier`]).

use slotcache_cluster::lease::LeaseHold;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How recently a leader must have heard from each counted follower to read under its lease.
/// The controller's `suspicion` module relies on it as `HEARD_HOLD`, with room to spare.
pub const FOLLOWERS_HEARD_WITHIN: Duration = Duration::from_millis(500);

/// When a leader last heard from all of its counted followers.
#[derive(Debug)]
pub struct Heard {
    base: Instant,
    /// Milliseconds since `base` at which the member heard longest ago was last heard; 0:
    /// one never was; `u64::MAX`: no member counts.
    all_since_ms: AtomicU64,
}

impl Default for Heard {
    fn default() -> Self {
        Heard {
            base: Instant::now(),
            all_since_ms: AtomicU64::new(0),
        }
    }
}

impl Heard {
    /// Sets when the member heard longest ago was heard (None: no member counts).
    pub fn set(&self, oldest: Option<Option<Instant>>) {
        let ms = match oldest {
            None => u64::MAX,
            Some(None) => 0,
            // Heard before this leadership began: as good as never.
            Some(Some(at)) => at
                .checked_duration_since(self.base)
                .map_or(0, |since| since.as_millis() as u64 + 1),
        };
        self.all_since_ms.store(ms, Ordering::Release);
    }

    /// Whether every counted member was heard within [`FOLLOWERS_HEARD_WITHIN`] of `now`.
    pub fn fresh(&self, now: Instant) -> bool {
        let since = self.all_since_ms.load(Ordering::Acquire);
        let now = now.saturating_duration_since(self.base).as_millis() as u64;
        since == u64::MAX
            || (since != 0 && now.saturating_sub(since) < FOLLOWERS_HEARD_WITHIN.as_millis() as u64)
    }
}

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
    /// When the leader last heard from all its followers; none: never read under the lease.
    heard: Option<Arc<Heard>>,
}

impl ReadLease {
    /// Reads may use `hold`, kept `margin_ms` before its end.
    pub fn enable(&mut self, hold: LeaseHold, margin_ms: i64, heard: Arc<Heard>) {
        self.hold = Some((hold, margin_ms));
        self.heard = Some(heard);
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
        match (&self.hold, self.confirmed, &self.heard) {
            (Some((hold, margin)), Some((generation, confirmed)), Some(heard)) => {
                // One clock read, after the checks that need none, for both that do: reads
                // under the lease check it per run, and a clock read is a measurable share of
                // a read-only load (5% of a server's CPU).
                confirmed == epoch && hold.generation() == generation && {
                    let now = Instant::now();
                    hold.held_for(*margin, now) && heard.fresh(now)
                }
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
    fn followers_must_have_been_heard_lately() {
        let heard = Heard::default();
        assert!(!heard.fresh(Instant::now()), "never heard");
        heard.set(Some(Some(Instant::now())));
        assert!(heard.fresh(Instant::now()));
        let long_ago = Instant::now() - 2 * FOLLOWERS_HEARD_WITHIN;
        let heard = Heard {
            base: long_ago - Duration::from_secs(1),
            all_since_ms: AtomicU64::new(0),
        };
        heard.set(Some(Some(long_ago)));
        assert!(!heard.fresh(Instant::now()), "heard too long ago");
        heard.set(None);
        assert!(heard.fresh(Instant::now()), "no follower counts");
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
