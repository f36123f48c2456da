//! A partition's replication log. On the leader every write becomes an effect, the effects of
//! one top-level command (a transaction, a script) one record, numbered by a monotonically
//! increasing offset and tagged with the epoch that wrote it. Followers append the records they
//! apply with the same offsets and epochs, so whoever leads next can serve partial resyncs.
//!
//! An effect replays the same on every copy: records carry the leader's clock (relative TTLs,
//! stream ids and expiry checks see the time the leader saw) and commands that choose at random
//! substitute what they chose (SPOP becomes SREM).

use super::read_lease::ReadLease;
use super::unsettled::Unsettled;
use super::wire::EncodedEffects;
use bytes::{Bytes, BytesMut};
use slotcache_cluster::lease::LeaseHold;
use slotcache_protocol::command::{CommandSpec, Table};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

pub type Effect = Vec<Bytes>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: u64,
    pub epoch: u64,
    /// The leader's clock when the record's command ran (ms since the Unix epoch).
    pub now: i64,
    pub db: usize,
    pub effects: Vec<Effect>,
}

/// A record as the backlog keeps it: the `record` message that carries it, sent as it is.
#[derive(Debug, Clone)]
pub struct Stored {
    pub offset: u64,
    pub epoch: u64,
    pub message: Bytes,
}

/// The log's head (its `next`), for the streams sending records to followers. Publishing is an
/// atomic store, with a wake-up only while a stream waits: recording a write takes no lock.
#[derive(Debug, Default)]
pub struct Head {
    next: AtomicU64,
    waiting: AtomicBool,
    moved: Notify,
}

impl Head {
    fn publish(&self, next: u64) {
        self.next.store(next, Ordering::SeqCst);
        if self.waiting.swap(false, Ordering::SeqCst) {
            self.moved.notify_waiters();
        }
    }

    /// Waits until the head is no longer `seen`.
    pub async fn moved_from(&self, seen: u64) {
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            // Stored after the waiter is enabled and before the head is read: a publish that
            // this read misses sees the flag and wakes the waiter.
            self.waiting.store(true, Ordering::SeqCst);
            if self.next.load(Ordering::SeqCst) != seen {
                return;
            }
            moved.await;
        }
    }
}

/// The bytes every backlog of the process holds: its records, their index and its segment's
/// unused room. Eviction does not count them as data: a leader evicting its keys to make room
/// for backlogs would empty itself under a steady write load.
static BACKLOGS: AtomicUsize = AtomicUsize::new(0);

/// The bytes every partition's backlog keeps.
pub fn backlogs_bytes() -> usize {
    BACKLOGS.load(Ordering::Relaxed)
}

/// Records are encoded into buffers of this size, many records each.
const SEGMENT: usize = 64 * 1024;

/// Why a follower cannot continue from where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// Its next offset is no longer (or not yet) in the backlog.
    OutOfBacklog,
    /// Its last record differs from ours at that offset: its history diverged.
    Diverged,
}

/// What this copy of the partition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Not replicated: a standalone server's keyspace.
    #[default]
    Standalone,
    /// Records its writes.
    Leader,
    /// Applies the leader's records.
    Follower,
    /// No longer hosted here: serves nothing.
    Dropped,
}

pub struct Log {
    role: Role,
    epoch: u64,
    next: u64,
    /// The epoch of the record before `next` (of the copy's state when the backlog is empty).
    last_epoch: u64,
    /// The leader's clock in the last record applied: how far a follower may expire keys.
    last_now: i64,
    backlog: VecDeque<Stored>,
    backlog_bytes: usize,
    /// What this log adds to [`BACKLOGS`]: its records' bytes and what holding them costs.
    accounted: usize,
    backlog_limit: usize,
    /// Offsets that streams sending a snapshot will send records from: the backlog keeps
    /// them, up to [`PINNED_BACKLOG_LIMIT`].
    pins: Vec<u64>,
    /// The partition has other copies (the default): see [`Log::keeps_records`].
    replicated: bool,
    /// Follower streams served from this log.
    streams: usize,
    /// The head when a stream last took records: the records from it on are sent later.
    taken: u64,
    /// The running unit wrote, and nobody keeping records, nothing was encoded.
    unkept: bool,
    /// Nesting of commands running inside one top-level command (EXEC, scripts).
    depth: usize,
    /// The effects of the running top-level command.
    unit: EncodedEffects,
    /// Where the next records are encoded; records share it until the backlog lets it go.
    segment: BytesMut,
    substitute: Option<Effect>,
    head: Arc<Head>,
    /// While leading: what must hold before a write is accepted.
    gate: Option<WriteGate>,
    /// A leader handing over to a successor: it records nothing more, so the successor can
    /// take over from its head, and serves only what a follower would.
    handing_over: bool,
    /// While leading: whether reads may skip the barrier.
    pub read_lease: ReadLease,
    /// While leading with reads under the lease: which keys unsettled records wrote.
    unsettled: Option<Unsettled>,
}

/// What a leader checks before it accepts a write.
#[derive(Clone)]
pub enum WriteGate {
    /// `sync`: the copies in the in-sync set (leader included), kept by the partition's
    /// progress, and the fewest that writes need.
    InSync(Arc<AtomicUsize>, usize),
    /// `async`: nothing waits for followers, so a leader cut off from etcd must stop before
    /// its lease can have expired and a new leader been elected.
    Lease(LeaseHold),
}

/// Backlog kept per partition by default, in bytes of effects.
pub const DEFAULT_BACKLOG: usize = 16 * 1024 * 1024;

/// The most a backlog grows to keep the records a snapshot's follower needs after it (as
/// Redis's default output buffer limit for replicas); past it the follower starts over.
pub const PINNED_BACKLOG_LIMIT: usize = 256 * 1024 * 1024;

impl Drop for Log {
    fn drop(&mut self) {
        BACKLOGS.fetch_sub(self.accounted, Ordering::Relaxed);
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            role: Role::Standalone,
            epoch: 0,
            next: 0,
            last_epoch: 0,
            last_now: 0,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            accounted: 0,
            backlog_limit: DEFAULT_BACKLOG,
            pins: Vec::new(),
            replicated: true,
            streams: 0,
            taken: 0,
            unkept: false,
            depth: 0,
            unit: EncodedEffects::default(),
            segment: BytesMut::new(),
            substitute: None,
            head: Arc::default(),
            gate: None,
            handing_over: false,
            read_lease: ReadLease::default(),
            unsettled: None,
        }
    }
}

impl Log {
    /// Starts recording writes as the leader of `epoch`, continuing this copy's offsets.
    pub fn lead(&mut self, epoch: u64) {
        if (self.role, self.epoch) != (Role::Leader, epoch) {
            // What it holds may not be on the followers that count now.
            self.unsettled = self.unsettled.is_some().then(|| Unsettled::new(self.next));
        }
        self.role = Role::Leader;
        self.epoch = epoch;
        // Nothing it holds counts as untaken (it may have come from another leader, or
        // been taken already): the next read writes a barrier of its own.
        self.taken = self.next;
    }

    /// Stops recording: this copy follows the partition's leader of `epoch`.
    pub fn follow(&mut self, epoch: u64) {
        self.role = Role::Follower;
        self.epoch = epoch;
        self.unsettled = None;
        self.gate = None;
        self.handing_over = false;
    }

    /// This copy is no longer hosted: it neither records nor serves.
    pub fn drop_copy(&mut self) {
        self.role = Role::Dropped;
        self.unsettled = None;
        self.gate = None;
        self.handing_over = false;
    }

    /// A leader starts handing over (true) or gives up on it (false). Returns the head: the
    /// offset from which the successor takes over.
    pub fn set_handing_over(&mut self, handing_over: bool) -> u64 {
        self.handing_over = handing_over && self.role == Role::Leader;
        if self.handing_over {
            self.read_lease.bar(self.epoch);
        }
        self.next
    }

    /// Whether a read may be answered from this copy without a barrier (see [`ReadLease`]).
    pub fn reads_under_lease(&self) -> bool {
        self.recording() && self.read_lease.serves(self.epoch)
    }

    /// Whether this leader keeps track of which keys unsettled records wrote, so that its
    /// reads under the lease wait only for those (see [`Unsettled`]): in `sync` mode with
    /// lease reads. Turned on, every record it has so far counts as unsettled.
    pub fn track_unsettled(&mut self, on: bool) {
        match (on && self.role == Role::Leader, self.unsettled.is_some()) {
            (true, false) => self.unsettled = Some(Unsettled::new(self.next)),
            (false, true) => self.unsettled = None,
            _ => {}
        }
    }

    /// The unsettled writes, while tracked.
    pub fn unsettled(&self) -> Option<&Unsettled> {
        self.unsettled.as_ref()
    }

    /// Every record before `committed` is on the counted followers.
    pub fn settle(&mut self, committed: u64) {
        if let Some(unsettled) = &mut self.unsettled {
            unsettled.settle(committed);
        }
    }

    /// The offset a read-only run under the lease must see committed: the last record that
    /// wrote what its calls read (`needed`, from [`Unsettled::needed_by`]) while unsettled
    /// writes are tracked, else the head.
    pub fn read_needs(&self, needed: u64) -> u64 {
        match self.unsettled {
            Some(_) => needed,
            None => self.next,
        }
    }

    pub fn handing_over(&self) -> bool {
        self.handing_over
    }

    pub fn set_gate(&mut self, gate: WriteGate) {
        self.gate = Some(gate);
    }

    /// Why a write must be refused now, as the error to answer; None when it may run.
    pub fn write_refusal(&self) -> Option<&'static str> {
        match self.gate.as_ref()? {
            WriteGate::InSync(copies, min) if copies.load(Ordering::Acquire) < *min => {
                Some("NOREPLICAS Not enough good replicas to write.")
            }
            WriteGate::Lease(held) if !held.certain() => {
                Some("CLUSTERDOWN The partition's leader cannot renew its lease; retry")
            }
            _ => None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    fn recording(&self) -> bool {
        self.role == Role::Leader && !self.handing_over
    }

    /// The time up to which this copy may expire keys on its own, at wall-clock `now`: a
    /// follower never runs ahead of the leader's clock, or a replayed command could find a key
    /// gone that the leader still had.
    pub fn expiry_clock(&self, now: i64) -> i64 {
        match self.role {
            Role::Follower => self.last_now.min(now),
            _ => now,
        }
    }

    pub fn set_backlog_limit(&mut self, bytes: usize) {
        self.backlog_limit = bytes.max(1);
        self.trim();
    }

    /// Whether the partition has other copies than this one.
    pub fn set_replicated(&mut self, replicated: bool) {
        self.replicated = replicated;
        self.forget_if_unkept();
    }

    /// A follower's stream starts being served from this log (see [`Log::keeps_records`]).
    pub fn attach_stream(&mut self) {
        self.streams += 1;
    }

    pub fn detach_stream(&mut self) {
        self.streams = self.streams.saturating_sub(1);
        self.forget_if_unkept();
    }

    /// Records are encoded and kept while the partition has other copies, a follower is
    /// streamed, or a snapshot's follower will want them. Otherwise, as Redis keeps no backlog
    /// without replicas, only the offset advances: encoding and keeping the records of an
    /// unreplicated partition cost a write a fifth of its CPU, and filled 16 MB for nothing.
    fn keeps_records(&self) -> bool {
        self.replicated || self.streams > 0 || !self.pins.is_empty()
    }

    /// Once records stop being kept, the backlog is dropped whole: the records after it are
    /// missing, so no follower may continue from it.
    fn forget_if_unkept(&mut self) {
        if !self.keeps_records() {
            self.clear_backlog();
        }
    }

    fn clear_backlog(&mut self) {
        self.backlog.clear();
        self.backlog_bytes = 0;
        self.account();
    }

    /// Brings [`BACKLOGS`] up to date with what the backlog holds now, its index and the
    /// segment's unused room included: at a million small records the index alone is tens of
    /// megabytes, which eviction would otherwise take for data.
    fn account(&mut self) {
        let held = self.backlog_bytes
            + self.backlog.capacity() * std::mem::size_of::<Stored>()
            + self.segment.capacity();
        if held >= self.accounted {
            BACKLOGS.fetch_add(held - self.accounted, Ordering::Relaxed);
        } else {
            BACKLOGS.fetch_sub(self.accounted - held, Ordering::Relaxed);
        }
        self.accounted = held;
    }

    /// The offset the next record gets.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// The epoch of the last record this copy has.
    pub fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn head(&self) -> Arc<Head> {
        self.head.clone()
    }

    /// A top-level command starts: what it and the commands it runs write is one record.
    pub fn begin(&mut self) {
        self.depth += 1;
    }

    /// The call `args` of `spec`, a write, succeeded: it (or its substitute) is an effect.
    pub fn effect(&mut self, spec: &CommandSpec, args: &[Bytes]) {
        if !self.recording() {
            return;
        }
        match self.substitute.take() {
            Some(effect) => {
                self.note_keys(None, &effect);
                self.push(&effect)
            }
            None => {
                self.note_keys(Some(spec), args);
                self.push(args)
            }
        }
    }

    /// Notes the keys a leader's effect writes, while they are tracked; `spec` when the caller
    /// resolved the effect's command already.
    fn note_keys(&mut self, spec: Option<&CommandSpec>, effect: &[Bytes]) {
        if let Some(unsettled) = &mut self.unsettled {
            let spec = spec.or_else(|| Some(Table::get().resolve(effect).ok()?.spec));
            unsettled.effect(spec, effect);
        }
    }

    /// Adds an effect to the running unit, encoded if records are kept.
    fn push(&mut self, effect: &[Bytes]) {
        match self.keeps_records() {
            true => self.unit.push(effect),
            false => self.unkept = true,
        }
    }

    /// What the running command replicates as instead of itself (a random choice made fixed).
    pub fn substitute(&mut self, effect: Effect) {
        if self.recording() {
            self.substitute = Some(effect);
        }
    }

    /// A command failed: what it meant to substitute is dropped with it.
    pub fn discard_substitute(&mut self) {
        self.substitute = None;
    }

    /// A top-level command ends: seals its effects, if any, as one record.
    pub fn end(&mut self, now: i64, db: usize) {
        self.depth = self.depth.saturating_sub(1);
        if self.depth > 0 || (self.unit.is_empty() && !self.unkept) {
            return;
        }
        if let Some(unsettled) = &mut self.unsettled {
            unsettled.sealed(self.next + 1);
        }
        self.seal(self.next, self.epoch, now, db);
    }

    /// Records a write made outside any command (expiry, eviction) as one record.
    pub fn record(&mut self, now: i64, db: usize, effect: Effect) {
        if self.recording() {
            self.begin();
            self.note_keys(None, &effect);
            self.push(&effect);
            self.end(now, db);
        }
    }

    /// Makes sure a record reaches the followers after the reads that ran so far, which they
    /// acknowledge only while they follow this copy: a record no stream has taken yet will,
    /// as streams take records under the partition's lock; otherwise a no-op (PING) is
    /// written. Reads of many connections between two takes so share one record.
    pub fn barrier(&mut self, now: i64) {
        if self.next > self.taken {
            return;
        }
        self.record(now, 0, vec![Bytes::from_static(b"PING")]);
    }

    /// A follower appends the record it applied; it must be the next one.
    pub fn append(&mut self, record: &Record) -> bool {
        if record.offset != self.next {
            return false;
        }
        record.effects.iter().for_each(|effect| self.push(effect));
        self.seal(record.offset, record.epoch, record.now, record.db);
        true
    }

    /// Encodes the unit's effects as the record at `offset` and keeps it in the backlog.
    fn seal(&mut self, offset: u64, epoch: u64, now: i64, db: usize) {
        if std::mem::take(&mut self.unkept) {
            self.unit = EncodedEffects::default();
            self.advance(offset, epoch, now);
            return;
        }
        let room = self.unit.len() + 128;
        if self.segment.capacity() - self.segment.len() < room {
            self.segment = BytesMut::with_capacity(room.max(SEGMENT));
        }
        self.unit.seal(&mut self.segment, offset, epoch, now, db);
        let message = self.segment.split().freeze();
        self.backlog_bytes += message.len();
        self.backlog.push_back(Stored {
            offset,
            epoch,
            message,
        });
        self.trim();
        self.advance(offset, epoch, now);
    }

    /// The record at `offset` is this copy's last.
    fn advance(&mut self, offset: u64, epoch: u64, now: i64) {
        self.next = offset + 1;
        self.last_epoch = epoch;
        self.last_now = self.last_now.max(now);
        self.head.publish(self.next);
    }

    /// Keeps the records from `offset` on until [`Log::unpin`]: a follower is sent a
    /// snapshot as of `offset` first, then them.
    pub fn pin(&mut self, offset: u64) {
        self.pins.push(offset);
    }

    pub fn unpin(&mut self, offset: u64) {
        if let Some(at) = self.pins.iter().position(|&p| p == offset) {
            self.pins.swap_remove(at);
        }
        self.trim();
        self.forget_if_unkept();
    }

    fn trim(&mut self) {
        let pinned = self.pins.iter().min().copied().unwrap_or(u64::MAX);
        while self.backlog_bytes > self.backlog_limit && self.backlog.len() > 1 {
            let keep = self.backlog.front().is_some_and(|r| r.offset >= pinned);
            if keep && self.backlog_bytes <= PINNED_BACKLOG_LIMIT.max(self.backlog_limit) {
                break;
            }
            if let Some(old) = self.backlog.pop_front() {
                self.backlog_bytes -= old.message.len();
            }
        }
        self.account();
    }

    /// After a full resync: this copy's state is the leader's at `next`, whose last record
    /// was written in `last_epoch`.
    pub fn reset(&mut self, next: u64, last_epoch: u64, now: i64) {
        self.clear_backlog();
        self.unit = EncodedEffects::default();
        self.next = next;
        self.last_epoch = last_epoch;
        self.last_now = now;
        self.head.publish(next);
    }

    /// Whether a follower whose next offset is `next` and whose last record was written in
    /// `last_epoch` can continue from the backlog.
    pub fn can_continue(&self, next: u64, last_epoch: u64) -> Result<(), Resync> {
        if next > self.next {
            return Err(Resync::Diverged);
        }
        if next == self.next {
            return match last_epoch == self.last_epoch {
                true => Ok(()),
                false => Err(Resync::Diverged),
            };
        }
        let Some(first) = self.backlog.front().map(|r| r.offset) else {
            return Err(Resync::OutOfBacklog);
        };
        if next == 0 || next <= first {
            // The record before `next` is needed to compare histories.
            return Err(Resync::OutOfBacklog);
        }
        let before = &self.backlog[(next - 1 - first) as usize];
        match before.epoch == last_epoch {
            true => Ok(()),
            false => Err(Resync::Diverged),
        }
    }

    /// The records from offset `from` on, taken by a stream to send (see [`Log::barrier`]).
    pub fn take_since(&mut self, from: u64) -> Vec<Stored> {
        self.taken = self.taken.max(self.next);
        self.since(from)
    }

    /// The bytes of the records from offset `from` on that the backlog holds: what a follower
    /// that acknowledged up to `from` has yet to receive (at least, when `from` is older than
    /// the backlog).
    pub fn bytes_since(&self, from: u64) -> u64 {
        let Some(first) = self.backlog.front().map(|r| r.offset) else {
            return 0;
        };
        let skip = from.saturating_sub(first) as usize;
        let records = self.backlog.iter().skip(skip);
        records.map(|r| r.message.len() as u64).sum()
    }

    /// The records from offset `from` on that the backlog holds (none past the head).
    fn since(&self, from: u64) -> Vec<Stored> {
        let Some(first) = self.backlog.front().map(|r| r.offset) else {
            return Vec::new();
        };
        let skip = from.saturating_sub(first) as usize;
        self.backlog.iter().skip(skip).cloned().collect()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The command of a call, from its words.
    fn spec_of(line: &str) -> &'static CommandSpec {
        Table::get().resolve(&args(line)).expect("a command").spec
    }

    /// A call's arguments, from its words.
    pub(in crate::replication) fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect()
    }

    fn decoded(stored: &Stored) -> Record {
        let mut input = BytesMut::from(&stored.message[..]);
        let fields = slotcache_protocol::resp::RequestParser::default()
            .next_request(
                &mut input,
                &slotcache_protocol::resp::ParseLimits::default(),
            )
            .expect("parses")
            .expect("whole");
        match super::super::wire::Message::decode(fields) {
            Ok(super::super::wire::Message::Record(record)) => record,
            other => panic!("not a record: {other:?}"),
        }
    }

    #[test]
    fn one_record_per_top_level_command() {
        let mut log = Log::default();
        log.begin();
        log.effect(spec_of("SET a 1"), &args("SET a 1"));
        log.end(5, 0);
        assert_eq!(log.next_offset(), 0, "nothing recorded before leading");
        log.lead(3);
        log.begin();
        log.begin();
        log.effect(spec_of("SET a 1"), &args("SET a 1"));
        log.end(7, 0);
        log.substitute(args("SREM s x"));
        log.effect(spec_of("SPOP s"), &args("SPOP s"));
        log.end(7, 0);
        log.begin();
        log.end(8, 0);
        assert_eq!(log.next_offset(), 1);
        let records = log.since(0);
        assert_eq!(records.len(), 1);
        let record = decoded(&records[0]);
        assert_eq!((record.offset, record.epoch, record.now), (0, 3, 7));
        assert_eq!(record.effects, vec![args("SET a 1"), args("SREM s x")]);
    }

    #[test]
    fn continuing_needs_the_same_history_and_a_backlog() {
        let mut log = Log::default();
        log.lead(1);
        for i in 0..3 {
            log.record(i, 0, args("INCR n"));
        }
        log.lead(2);
        log.record(9, 0, args("INCR n"));
        assert_eq!(log.can_continue(4, 2), Ok(()));
        assert_eq!(log.can_continue(3, 1), Ok(()));
        assert_eq!(log.can_continue(2, 1), Ok(()));
        assert_eq!(log.can_continue(4, 1), Err(Resync::Diverged));
        assert_eq!(log.can_continue(3, 2), Err(Resync::Diverged));
        assert_eq!(log.can_continue(5, 2), Err(Resync::Diverged));
        assert_eq!(log.can_continue(0, 0), Err(Resync::OutOfBacklog));
        assert_eq!(
            log.since(2).iter().map(|r| r.offset).collect::<Vec<_>>(),
            [2, 3]
        );
        log.set_backlog_limit(1);
        assert_eq!(log.can_continue(2, 1), Err(Resync::OutOfBacklog));
        assert_eq!(log.can_continue(4, 2), Ok(()));
    }

    #[test]
    fn an_unreplicated_partition_keeps_no_records_until_a_follower_needs_them() {
        let mut log = Log::default();
        log.lead(1);
        log.record(0, 0, args("INCR n"));
        log.set_replicated(false);
        assert!(
            log.since(0).is_empty(),
            "the backlog goes with the other copies"
        );
        assert_eq!(
            log.can_continue(1, 1),
            Ok(()),
            "a copy at the head continues"
        );
        for i in 1..4 {
            log.begin();
            log.effect(spec_of("INCR n"), &args("INCR n"));
            log.end(i, 0);
        }
        assert_eq!(log.next_offset(), 4, "offsets advance");
        assert!(log.since(0).is_empty(), "nothing is kept");
        assert_eq!(log.can_continue(1, 1), Err(Resync::OutOfBacklog));
        assert_eq!(log.can_continue(4, 1), Ok(()));
        // A follower's stream keeps the records written while it is served, and a snapshot's
        // pin the records after it.
        log.attach_stream();
        log.record(4, 0, args("INCR n"));
        log.detach_stream();
        assert!(
            log.since(0).is_empty(),
            "dropped whole with the last stream"
        );
        log.pin(5);
        log.record(5, 0, args("INCR n"));
        assert_eq!(decoded(&log.since(5)[0]).effects, vec![args("INCR n")]);
        log.unpin(5);
        assert!(log.since(0).is_empty());
        log.set_replicated(true);
        log.record(6, 0, args("INCR n"));
        assert_eq!(
            log.since(0).iter().map(|r| r.offset).collect::<Vec<_>>(),
            [6]
        );
    }

    #[test]
    fn reads_share_a_barrier_until_a_stream_takes_it() {
        let mut log = Log::default();
        log.record(0, 0, args("SET a 1"));
        log.lead(1);
        log.barrier(1);
        assert_eq!(log.next_offset(), 1, "nothing of this leader's is untaken");
        log.barrier(2);
        log.barrier(3);
        assert_eq!(log.next_offset(), 1, "an untaken record serves later reads");
        assert_eq!(log.take_since(0).len(), 1);
        log.barrier(4);
        assert_eq!(log.next_offset(), 2, "taken: reads after it need another");
        log.record(5, 0, args("SET a 2"));
        log.barrier(6);
        assert_eq!(log.next_offset(), 3, "an untaken write serves as well");
        log.follow(2);
        log.lead(3);
        log.barrier(7);
        assert_eq!(
            log.next_offset(),
            4,
            "a new leader's records were taken by no stream"
        );
    }

    #[test]
    fn a_pinned_offset_stays_in_the_backlog_until_unpinned() {
        let mut log = Log::default();
        log.lead(1);
        log.set_backlog_limit(1);
        log.record(0, 0, args("INCR n"));
        log.pin(1);
        for i in 1..5 {
            log.record(i, 0, args("INCR n"));
        }
        let offsets = |log: &Log| log.since(0).iter().map(|r| r.offset).collect::<Vec<_>>();
        assert_eq!(offsets(&log), [1, 2, 3, 4], "records before the pin go");
        log.unpin(1);
        assert_eq!(offsets(&log), [4]);
    }
}
