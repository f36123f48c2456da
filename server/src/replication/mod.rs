//! Replication of partitions between shard servers: the leader's log of effects ([`log`]), the
//! stream that carries it to followers over the replication port ([`leader`], [`wire`]), and
//! the followers' side ([`follower`]).
//!
//! In `sync` mode a reply leaves the leader only once every member of the partition's in-sync
//! set has every record written before it (reads too: nothing a client saw can be lost by a
//! failover that elects from that set). A member that lags past `replica-lag-timeout` is
//! removed from the set in etcd before writes go on without it; a follower that has caught up
//! counts for acknowledgements at once and is added to the set in etcd after.

pub mod follower;
pub mod handover;
pub mod leader;
pub mod log;
pub mod mux;
pub mod read_lease;
pub mod unsettled;
pub mod wire;

use crate::state::Server;
use ahash::AHashMap;
use log::WriteGate;
use parking_lot::Mutex;
use read_lease::ReadConsistency;
use slotcache_cluster::lease::LeaseHold;
use slotcache_cluster::records::{PartitionRecord, ReplicationMode};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The led partition a connection addresses, with its log's head: what WAIT counts replicas
/// against. None when the connection addresses no partition this server leads.
pub fn progress_at(
    server: &Server,
    client: &crate::client::Client,
    ks: &crate::partition::Keyspace,
) -> Option<(Arc<Progress>, u64)> {
    if ks.log.role() != log::Role::Leader {
        return None;
    }
    let (pid, _) = client.partition.as_ref()?;
    let progress = server.replication.get()?.progress(*pid)?;
    Some((progress, ks.log.next_offset()))
}

/// What a server knows about replication in its cluster.
pub struct Replication {
    pub node_id: String,
    pub mode: ReplicationMode,
    pub lag_timeout: Duration,
    backlog: usize,
    min_isr: usize,
    /// Replication addresses of the nodes, by id.
    addrs: Mutex<AHashMap<String, String>>,
    /// Nodes whose liveness key is gone (lease expired or revoked): a leader drops them from
    /// its in-sync sets at once, a follower stops acknowledging them.
    gone: Mutex<ahash::AHashSet<String>>,
    /// Per hosted partition: its record as last seen, driving the partition's task.
    assignments: Mutex<AHashMap<u32, watch::Sender<Option<PartitionRecord>>>>,
    /// Per partition this server leads: its followers' progress.
    progress: Mutex<AHashMap<u32, Arc<Progress>>>,
    pub store: tokio::sync::Mutex<slotcache_cluster::store::Store>,
    /// This server's lease, once registered: `async` leaders stop writing when unsure of it.
    lease: OnceLock<LeaseHold>,
    /// The margin kept before the lease's end by leaders reading under it; none: every read
    /// waits for a barrier.
    read_margin: OnceLock<Option<i64>>,
    /// The partitions' epochs as etcd had them after the current lease's keys were written.
    lease_view: Mutex<LeaseView>,
    pub links: Links,
    /// When each leader was last reported to the controller: every stream from one leader
    /// sees the same trouble, one report stands for them.
    reported: Mutex<AHashMap<String, std::time::Instant>>,
}

/// A read of every partition record made under one lease, after its keys were written: a
/// record seen since with an epoch at least as high is no older than the lease.
#[derive(Default)]
struct LeaseView {
    generation: u64,
    epochs: AHashMap<u32, u64>,
}

/// The replication streams of this server, counted for INFO and cut by CLIENT KILL TYPE
/// replica (streams it serves) or TYPE master (streams it follows); a cut stream's follower
/// attaches again, from its offset.
pub struct Links {
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    /// Followers that asked to continue from an offset and got a full resync instead.
    pub sync_partial_err: AtomicU64,
    pub followers: AtomicUsize,
    pub leaders: AtomicUsize,
    cut_followers: watch::Sender<u64>,
    cut_leaders: watch::Sender<u64>,
}

/// One open stream in a [`Links`] gauge, for as long as it lives.
pub struct Attached<'a>(&'a AtomicUsize);

impl<'a> Attached<'a> {
    pub fn new(gauge: &'a AtomicUsize) -> Self {
        gauge.fetch_add(1, Ordering::AcqRel);
        Attached(gauge)
    }
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Links {
    fn new() -> Links {
        Links {
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            followers: AtomicUsize::new(0),
            leaders: AtomicUsize::new(0),
            cut_followers: watch::channel(0).0,
            cut_leaders: watch::channel(0).0,
        }
    }

    /// Cuts every stream served to followers; returns how many there were.
    pub fn cut_followers(&self) -> usize {
        self.cut_followers.send_modify(|n| *n += 1);
        self.followers.load(Ordering::Acquire)
    }

    /// Cuts every stream followed from a leader; returns how many there were.
    pub fn cut_leaders(&self) -> usize {
        self.cut_leaders.send_modify(|n| *n += 1);
        self.leaders.load(Ordering::Acquire)
    }

    /// Resolves at the next cut of served streams.
    pub fn followers_cut(&self) -> impl std::future::Future<Output = ()> {
        let mut cuts = self.cut_followers.subscribe();
        async move {
            let _ = cuts.changed().await;
        }
    }

    /// Resolves at the next cut of followed streams.
    pub fn leaders_cut(&self) -> impl std::future::Future<Output = ()> {
        let mut cuts = self.cut_leaders.subscribe();
        async move {
            let _ = cuts.changed().await;
        }
    }
}

impl Replication {
    pub fn new(
        node_id: &str,
        mode: ReplicationMode,
        lag_timeout: Duration,
        backlog: usize,
        min_isr: usize,
        store: slotcache_cluster::store::Store,
    ) -> Replication {
        Replication {
            node_id: node_id.to_string(),
            mode,
            lag_timeout,
            backlog,
            min_isr,
            addrs: Mutex::default(),
            gone: Mutex::default(),
            assignments: Mutex::default(),
            progress: Mutex::default(),
            store: tokio::sync::Mutex::new(store),
            lease: OnceLock::new(),
            read_margin: OnceLock::new(),
            lease_view: Mutex::default(),
            links: Links::new(),
            reported: Mutex::default(),
        }
    }

    /// Whether `leader` is due a report (none in the last half second), counting this one.
    pub fn report_due(&self, leader: &str) -> bool {
        let mut reported = self.reported.lock();
        let now = std::time::Instant::now();
        match reported.get(leader) {
            Some(at) if now.duration_since(*at) < Duration::from_millis(500) => false,
            _ => {
                reported.insert(leader.to_string(), now);
                true
            }
        }
    }

    /// This server's lease, and how leaders read under it.
    pub fn set_lease(&self, held: LeaseHold, reads: ReadConsistency, margin_ms: i64) {
        let _ = self.lease.set(held);
        let _ = self
            .read_margin
            .set((reads == ReadConsistency::Lease).then_some(margin_ms));
    }

    /// Takes every partition's record as read from etcd under lease `generation`, after its
    /// keys were written: the partitions it names this server leader of read under the lease.
    pub fn confirm_leadership(
        &self,
        server: &Server,
        generation: u64,
        records: Vec<(u32, PartitionRecord)>,
    ) {
        *self.lease_view.lock() = LeaseView {
            generation,
            epochs: records.iter().map(|(pid, r)| (*pid, r.epoch)).collect(),
        };
        for (pid, record) in records {
            if let Some(keyspace) = server.engine.get(pid) {
                self.permit_lease_reads(&mut keyspace.lock().log, pid, &record);
            }
        }
    }

    /// Lets the leader `log` of `pid` read under the lease if `record`, naming this server
    /// leader, is no older than the current lease (see [`read_lease`]); a handover asked for
    /// ends lease reads at its epoch.
    fn permit_lease_reads(&self, log: &mut log::Log, pid: u32, record: &PartitionRecord) {
        if !record.led_by(&self.node_id) {
            return;
        }
        if record.handover.is_some() {
            log.read_lease.bar(record.epoch);
            return;
        }
        let (Some(hold), Some(Some(margin))) = (self.lease.get(), self.read_margin.get()) else {
            return;
        };
        let Some(progress) = self.progress(pid) else {
            return;
        };
        log.read_lease
            .enable(hold.clone(), *margin, progress.heard.clone());
        let view = self.lease_view.lock();
        let current = view.generation == hold.generation();
        if current && view.epochs.get(&pid).is_some_and(|e| record.epoch >= *e) {
            log.read_lease.confirm(view.generation, record.epoch);
        }
    }

    pub fn set_node_addr(&self, node: &str, addr: Option<String>) {
        let mut addrs = self.addrs.lock();
        match addr.filter(|a| !a.is_empty()) {
            Some(addr) => addrs.insert(node.to_string(), addr),
            None => addrs.remove(node),
        };
    }

    /// A node's liveness key came (true) or went (false).
    pub fn set_alive(&self, node: &str, alive: bool) {
        let mut gone = self.gone.lock();
        match alive {
            true => gone.remove(node),
            false => gone.insert(node.to_string()),
        };
    }

    pub fn is_gone(&self, node: &str) -> bool {
        self.gone.lock().contains(node)
    }

    pub fn node_addr(&self, node: &str) -> Option<String> {
        self.addrs.lock().get(node).cloned()
    }

    /// A hosted partition's record, as this server last saw it.
    pub fn record(&self, pid: u32) -> Option<PartitionRecord> {
        self.assignments.lock().get(&pid)?.borrow().clone()
    }

    /// The partitions etcd names this server leader of, as last seen.
    pub fn led(&self) -> Vec<u32> {
        let me = self.node_id.as_str();
        self.assignments
            .lock()
            .iter()
            .filter(|(_, record)| record.borrow().as_ref().is_some_and(|r| r.led_by(me)))
            .map(|(pid, _)| *pid)
            .collect()
    }

    pub fn progress(&self, pid: u32) -> Option<Arc<Progress>> {
        self.progress.lock().get(&pid).cloned()
    }

    /// Takes a partition's record: sets the local copy's role before the routes change (a
    /// copy that stops leading stops recording at once), and hands the record to the
    /// partition's task, started on first sight.
    pub fn assign(&self, server: &Arc<Server>, pid: u32, record: Option<PartitionRecord>) {
        let me = self.node_id.as_str();
        let hosted = record
            .as_ref()
            .is_some_and(|r| r.replicas.iter().any(|n| n == me));
        let leads = record.as_ref().is_some_and(|r| r.led_by(me));
        if let (Some(keyspace), Some(record)) = (server.engine.get(pid), record.as_ref()) {
            let mut ks = keyspace.lock();
            ks.log.set_backlog_limit(self.backlog);
            ks.log.set_replicated(record.replicas.len() > 1);
            let role = if leads {
                log::Role::Leader
            } else {
                log::Role::Follower
            };
            if (ks.log.role(), ks.log.epoch()) != (role, record.epoch) {
                tracing::info!(
                    partition = pid,
                    epoch = record.epoch,
                    ?role,
                    offset = ks.log.next_offset(),
                    "role"
                );
            }
            if leads {
                match self.progress(pid).filter(|p| p.epoch == record.epoch) {
                    // A replica moved away stops counting (it is no longer electable either).
                    Some(progress) => progress.keep_replicas(&record.replicas),
                    None => {
                        let isr = record.isr.iter().filter(|n| *n != me).cloned().collect();
                        let progress = Arc::new(Progress::new(record.epoch, isr));
                        self.retire(self.progress.lock().insert(pid, progress));
                    }
                }
                if ks.log.role() != log::Role::Leader {
                    ks.reset_stats();
                }
                ks.log.lead(record.epoch);
                self.permit_lease_reads(&mut ks.log, pid, record);
                let lease_reads = matches!(self.read_margin.get(), Some(Some(_)));
                ks.log
                    .track_unsettled(self.mode == ReplicationMode::Sync && lease_reads);
                match (self.mode, self.progress(pid), self.lease.get()) {
                    (ReplicationMode::Sync, Some(progress), _) => ks
                        .log
                        .set_gate(WriteGate::InSync(progress.in_sync.clone(), self.min_isr)),
                    (ReplicationMode::Async, _, Some(held)) => {
                        ks.log.set_gate(WriteGate::Lease(held.clone()))
                    }
                    _ => {}
                }
            } else {
                ks.log.follow(record.epoch);
            }
        }
        if !leads {
            self.retire(self.progress.lock().remove(&pid));
        }
        let mut assignments = self.assignments.lock();
        if !hosted {
            assignments.remove(&pid);
            return;
        }
        match assignments.get(&pid) {
            Some(sender) => {
                sender.send_replace(record);
            }
            None => {
                let (sender, receiver) = watch::channel(record);
                assignments.insert(pid, sender);
                tokio::spawn(follower::run_partition(server.clone(), pid, receiver));
            }
        }
    }
}

impl Replication {
    fn retire(&self, progress: Option<Arc<Progress>>) {
        if let Some(progress) = progress {
            progress.retired.store(true, Ordering::Release);
            progress.committed.send_modify(|_| {});
        }
    }
}

/// One replication stream from a leader to a follower.
pub struct FollowerStream {
    pub node: String,
    id: u64,
}

/// A led partition's followers: what each has acknowledged, and which of them count.
pub struct Progress {
    pub epoch: u64,
    /// This server stopped leading at `epoch`: what was not committed by then never will be.
    retired: AtomicBool,
    state: Mutex<ProgressState>,
    /// Every record before this offset has been on every counted member (u64::MAX while no
    /// follower counts). It never goes back while followers count: a stream that ends or
    /// starts again takes away what its follower acknowledged for the records to come, not
    /// the fact that every member had the earlier ones, which replies may still wait on.
    committed: watch::Sender<u64>,
    /// Bumped on every acknowledgement, for WAIT.
    acks: watch::Sender<u64>,
    /// Copies counted for acknowledgements, the leader included (for `min-isr`).
    pub in_sync: Arc<AtomicUsize>,
    /// When every counted member was last heard from, for reads under the lease.
    pub heard: Arc<read_lease::Heard>,
}

struct ProgressState {
    /// Followers whose acknowledgements a reply waits for: the in-sync set, less this leader.
    members: Vec<String>,
    /// Next offset each attached follower has acknowledged.
    acked: AHashMap<String, u64>,
    /// Each follower's current stream: a stream that ends after its follower attached again
    /// must not clear what the new one reported.
    streams: AHashMap<String, u64>,
    /// When each member started lagging behind the head.
    behind_since: AHashMap<String, Instant>,
    /// When each follower last acknowledged anything (a heartbeat included).
    heard_at: AHashMap<String, Instant>,
}

impl Progress {
    fn new(epoch: u64, members: Vec<String>) -> Progress {
        let progress = Progress {
            epoch,
            retired: AtomicBool::new(false),
            state: Mutex::new(ProgressState {
                members,
                acked: AHashMap::new(),
                streams: AHashMap::new(),
                behind_since: AHashMap::new(),
                heard_at: AHashMap::new(),
            }),
            committed: watch::channel(0).0,
            acks: watch::channel(0).0,
            in_sync: Arc::new(AtomicUsize::new(1)),
            heard: Arc::default(),
        };
        progress.recompute();
        progress
    }

    /// A follower's stream starts: what it acknowledges replaces what earlier streams did.
    pub fn attach(&self, node: &str) -> FollowerStream {
        static STREAMS: AtomicU64 = AtomicU64::new(0);
        let stream = FollowerStream {
            node: node.to_string(),
            id: STREAMS.fetch_add(1, Ordering::Relaxed),
        };
        let mut state = self.state.lock();
        state.streams.insert(stream.node.clone(), stream.id);
        state.acked.remove(node);
        drop(state);
        self.recompute();
        stream
    }

    /// A follower acknowledged every record before `next` on `stream`, answering what this
    /// leader sent at `sent` (None: nothing newer than what it answered before).
    pub fn acked(&self, stream: &FollowerStream, next: u64, sent: Option<Instant>) {
        let mut state = self.state.lock();
        if state.streams.get(&stream.node) != Some(&stream.id) {
            return;
        }
        state.acked.insert(stream.node.clone(), next);
        if let Some(sent) = sent {
            let heard = state.heard_at.entry(stream.node.clone()).or_insert(sent);
            *heard = (*heard).max(sent);
        }
        drop(state);
        self.recompute();
        self.acks.send_modify(|count| *count += 1);
    }

    /// How many attached followers have every record before `head`.
    pub fn replicas_at(&self, head: u64) -> usize {
        let state = self.state.lock();
        state.acked.values().filter(|acked| **acked >= head).count()
    }

    /// Whether `node` is attached and has every record before `head`.
    pub fn holds(&self, node: &str, head: u64) -> bool {
        self.state
            .lock()
            .acked
            .get(node)
            .is_some_and(|acked| *acked >= head)
    }

    /// WAIT: until `wanted` followers have every record before `head`, or `deadline`.
    pub async fn wait_replicas(
        &self,
        head: u64,
        wanted: usize,
        deadline: Option<Instant>,
    ) -> usize {
        self.wait_for(deadline, || self.replicas_at(head) >= wanted)
            .await;
        self.replicas_at(head)
    }

    /// A handover: until `successor` and every counted member have every record before
    /// `head`, or `deadline`. True when they have.
    pub async fn wait_handover(&self, successor: &str, head: u64, deadline: Instant) -> bool {
        self.wait_for(Some(deadline), || {
            self.holds(successor, head) && self.is_committed(head)
        })
        .await
    }

    /// Until `done` holds, checked at every acknowledgement and change of the counted
    /// members, or `deadline`. Whether it held.
    async fn wait_for(&self, deadline: Option<Instant>, done: impl Fn() -> bool) -> bool {
        let mut acks = self.acks.subscribe();
        let mut committed = self.committed.subscribe();
        loop {
            if done() {
                return true;
            }
            let changed = async {
                tokio::select! {
                    result = acks.changed() => result.is_ok(),
                    result = committed.changed() => result.is_ok(),
                }
            };
            let changed = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline.into(), changed)
                    .await
                    .unwrap_or(false),
                None => changed.await,
            };
            if !changed {
                return done();
            }
        }
    }

    /// A follower's stream ended (nothing changes if the follower attached again since).
    pub fn detached(&self, stream: &FollowerStream) {
        let mut state = self.state.lock();
        if state.streams.get(&stream.node) != Some(&stream.id) {
            return;
        }
        state.streams.remove(&stream.node);
        state.acked.remove(&stream.node);
        drop(state);
        self.recompute();
    }

    /// Whether any follower counts for acknowledgements.
    pub fn counts_followers(&self) -> bool {
        self.in_sync.load(Ordering::Acquire) > 1
    }

    pub fn members(&self) -> Vec<String> {
        self.state.lock().members.clone()
    }

    fn recompute(&self) {
        // Under the lock: two recomputations racing must not publish out of order.
        let state = self.state.lock();
        self.in_sync
            .store(state.members.len() + 1, Ordering::Release);
        let oldest_heard = state
            .members
            .iter()
            // None (never heard) orders first: the oldest of all.
            .map(|m| state.heard_at.get(m).copied())
            .min();
        self.heard.set(oldest_heard);
        let committed = state
            .members
            .iter()
            .map(|m| state.acked.get(m).copied().unwrap_or(0))
            .min();
        self.committed.send_if_modified(|current| {
            let next = match committed {
                None => u64::MAX,
                // The first counted follower was caught up when it started counting.
                Some(committed) if *current == u64::MAX => committed,
                Some(committed) => committed.max(*current),
            };
            let changed = *current != next;
            *current = next;
            changed
        });
    }

    /// The offset before which every counted member has every record.
    pub fn committed_offset(&self) -> u64 {
        *self.committed.borrow()
    }

    /// Whether every counted member has every record before `head` already.
    pub fn is_committed(&self, head: u64) -> bool {
        *self.committed.borrow() >= head
    }

    /// Waits until every counted member has every record before `head`: true then, false
    /// when this server stopped leading first (the records' fate is unknown to the client).
    pub async fn committed(&self, head: u64) -> bool {
        let mut receiver = self.committed.subscribe();
        let reached = receiver
            .wait_for(|committed| *committed >= head || self.retired.load(Ordering::Acquire))
            .await
            .map(|committed| *committed >= head);
        reached.unwrap_or(false)
    }

    /// Each attached follower: how many records before `head` it lacks, and for how long a
    /// counted member has lacked some (zero when caught up or not counted).
    pub fn lags(&self, head: u64) -> Vec<(String, u64, Duration)> {
        let state = self.state.lock();
        state
            .acked
            .iter()
            .map(|(node, acked)| {
                let behind = state.behind_since.get(node).map(Instant::elapsed);
                (
                    node.clone(),
                    head.saturating_sub(*acked),
                    behind.unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Members lagging behind `head` for longer than `timeout` (at once when `gone` says
    /// their process is), and attached non-members that have caught up with it.
    fn changes(
        &self,
        head: u64,
        timeout: Duration,
        gone: impl Fn(&str) -> bool,
    ) -> (Vec<String>, Vec<String>) {
        let mut state = self.state.lock();
        let now = Instant::now();
        let mut lagging = Vec::new();
        for member in state.members.clone() {
            let acked = state.acked.get(&member).copied().unwrap_or(0);
            if acked >= head {
                state.behind_since.remove(&member);
                continue;
            }
            let since = *state.behind_since.entry(member.clone()).or_insert(now);
            if gone(&member) || now.duration_since(since) >= timeout {
                lagging.push(member);
            }
        }
        let caught_up = state
            .acked
            .iter()
            .filter(|(node, acked)| **acked >= head && !state.members.contains(node))
            .map(|(node, _)| node.clone())
            .collect();
        (lagging, caught_up)
    }

    /// A caught-up follower counts for acknowledgements from now on.
    fn count(&self, node: &str) {
        let mut state = self.state.lock();
        if !state.members.iter().any(|m| m == node) {
            state.members.push(node.to_string());
        }
        drop(state);
        self.recompute();
    }

    /// Members that are no longer replicas of the partition stop counting.
    fn keep_replicas(&self, replicas: &[String]) {
        let mut state = self.state.lock();
        state.members.retain(|m| replicas.contains(m));
        drop(state);
        self.recompute();
    }

    /// A member no longer in the in-sync set (etcd says so already) stops counting.
    fn uncount(&self, node: &str) {
        let mut state = self.state.lock();
        state.members.retain(|m| m != node);
        state.behind_since.remove(node);
        drop(state);
        self.recompute();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_that_ends_after_its_follower_attached_again_changes_nothing() {
        let progress = Progress::new(1, vec!["n2".to_string()]);
        let old = progress.attach("n2");
        progress.acked(&old, 5, None);
        let new = progress.attach("n2");
        progress.acked(&new, 5, None);
        progress.detached(&old);
        progress.acked(&old, 9, None);
        assert!(progress.holds("n2", 5));
        assert!(!progress.holds("n2", 6));
        assert!(progress.is_committed(5));
        progress.detached(&new);
        assert!(!progress.holds("n2", 0));
        // What every member had stays committed; what comes next waits for n2 again.
        assert!(progress.is_committed(5));
        assert!(!progress.is_committed(6));
        let again = progress.attach("n2");
        progress.acked(&again, 3, None);
        assert!(progress.is_committed(5));
        progress.acked(&again, 7, None);
        assert!(progress.is_committed(7));
    }

    #[test]
    fn the_first_counted_follower_holds_back_what_comes_after_it() {
        let progress = Progress::new(1, Vec::new());
        assert!(progress.is_committed(u64::MAX));
        let stream = progress.attach("n2");
        progress.acked(&stream, 4, None);
        progress.count("n2");
        assert!(progress.is_committed(4));
        assert!(!progress.is_committed(5));
        progress.uncount("n2");
        assert!(progress.is_committed(u64::MAX));
    }

    #[test]
    fn a_caught_up_follower_is_reported_until_it_counts() {
        let progress = Progress::new(1, Vec::new());
        let stream = progress.attach("n3");
        progress.acked(&stream, 0, None);
        let (lagging, caught_up) = progress.changes(0, Duration::from_secs(1), |_| false);
        assert_eq!((lagging, caught_up), (vec![], vec!["n3".to_string()]));
        progress.count("n3");
        assert!(progress.counts_followers());
        let (_, caught_up) = progress.changes(0, Duration::from_secs(1), |_| false);
        assert!(caught_up.is_empty());
    }

    #[test]
    fn a_follower_counts_as_heard_when_what_it_answered_was_sent() {
        let progress = Progress::new(1, vec!["n2".to_string()]);
        let stream = progress.attach("n2");
        progress.acked(&stream, 0, None);
        assert!(!progress.heard.fresh(Instant::now()), "never heard");
        // An answer that waited while this leader was paused, to a heartbeat sent long ago.
        let long_ago = Instant::now() - 2 * read_lease::FOLLOWERS_HEARD_WITHIN;
        progress.acked(&stream, 0, Some(long_ago));
        assert!(!progress.heard.fresh(Instant::now()));
        progress.acked(&stream, 0, Some(Instant::now()));
        assert!(progress.heard.fresh(Instant::now()));
        // An older answer arriving late takes nothing back.
        progress.acked(&stream, 0, Some(long_ago));
        assert!(progress.heard.fresh(Instant::now()));
    }
}
