//! The controller: any number run, one leads (etcd election). The leader keeps every
//! partition placed on the live nodes: RF replicas, balanced leaders, a new leader from the
//! in-sync set when a leader's lease expires, the epoch bumped with every leader change. Every
//! write is a transaction guarded by its election key and the record's revision, so a deposed
//! controller cannot write and two writers cannot interleave. It keeps no state outside etcd
//! but the clock of pending handovers: a standby that takes over starts from what etcd holds.
//!
//! Leadership leaves a live leader (an operator's failover, a drain, leader balancing) by a
//! handover: the controller names the successor in the record, and the leader, once the
//! successor has every record, writes the next epoch itself. Writes pause only for that last
//! step, and nothing in flight is cut off.

use crate::controller_stats::ControllerStats;
use crate::lease;
use crate::offsets;
use crate::placement::{place, Replicas};
use crate::records::{
    node_state, ClusterConfig, ControllerRecord, NodeRecord, PartitionRecord, RECORD_VERSION,
};
use crate::store::{Store, StoreError};
use crate::suspicion::Suspicions;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How long the leader waits between reconciliations when nothing changes.
const IDLE_RECHECK: Duration = Duration::from_secs(2);

/// Node states (in `nodes/<id>`) that take a node out of placement.
const OUT_OF_SERVICE: &[&str] = &[node_state::DRAINING, node_state::REMOVED];

/// The `live` nodes placement may use: those whose record (if any) is not out of service.
pub fn in_service(live: &[String], records: &BTreeMap<String, NodeRecord>) -> Vec<String> {
    live.iter()
        .filter(|id| {
            records
                .get(*id)
                .is_none_or(|r| !OUT_OF_SERVICE.contains(&r.state.as_str()))
        })
        .cloned()
        .collect()
}

/// How long a live leader gets to hand over before the controller switches without it (and
/// without pausing writes: what was in flight at the old leader fails with a lost connection).
const HANDOVER_PATIENCE: Duration = Duration::from_secs(10);

/// When this controller first saw each pending handover (partition → target, since).
type Handovers = BTreeMap<u32, (String, Instant)>;

/// The nodes placement looks at: `live` ones hold a lease; `eligible` ones are live and in
/// service (placement may give them replicas and leadership).
struct Nodes {
    live: Vec<String>,
    eligible: Vec<String>,
    /// Servers on their way down: they keep their copies and lead nothing.
    stopping: Vec<String>,
    /// Client addresses, by node id.
    addrs: BTreeMap<String, String>,
}

/// How long in-sync copies get to report their offsets to an election; one that does not
/// answer in time is not preferred.
const OFFSETS_TIMEOUT: Duration = Duration::from_millis(200);

/// The election key a leader holds: its key and create revision guard every write.
#[derive(Clone, Debug)]
pub struct Leadership {
    pub key: Vec<u8>,
    pub revision: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("lost the election")]
    Deposed,
}

/// Runs a controller until the process ends: campaign, lead while elected, campaign again.
/// `me` is what it campaigns with (its id and admin address); `stats` counts what it does.
pub async fn run(
    mut store: Store,
    me: &ControllerRecord,
    stats: &ControllerStats,
) -> Result<(), ControlError> {
    let id = me.id.as_str();
    let config: ClusterConfig = store
        .get(&store.keys.config())
        .await?
        .ok_or_else(|| StoreError::NoCluster(store.cluster.clone()))?;
    stats.started.store(true, Ordering::Relaxed);
    let campaign_value = serde_json::to_string(me).unwrap_or_else(|_| id.to_string());
    // One session for every campaign: a campaign that ends without a win (the client's
    // request timeout) is made again under the same lease, so the same election key.
    let mut session = lease::register(store.client(), Vec::new(), config.lease_ttl_secs);
    loop {
        let lease = session.granted().await;
        let mut client = store.client();
        let campaign = client
            .campaign(
                store.keys.controller_election(),
                campaign_value.as_str(),
                lease,
            )
            .await;
        let leadership = match campaign.ok().and_then(|r| r.leader().cloned()) {
            Some(leader) => Leadership {
                key: leader.key().to_vec(),
                revision: leader.rev(),
            },
            None => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        info!(id, "leading the cluster");
        stats.elections_won.fetch_add(1, Ordering::Relaxed);
        stats.leading.store(true, Ordering::Relaxed);
        let outcome = tokio::select! {
            result = lead(&mut store, &config, &leadership, stats) => result,
            // The session's lease was replaced: the election key went with the old one.
            _ = session.lost(lease) => Err(ControlError::Deposed),
        };
        stats.leading.store(false, Ordering::Relaxed);
        match outcome {
            Err(ControlError::Deposed) => warn!(id, "no longer leading; campaigning again"),
            Err(err) => warn!(id, "leading failed ({err}); campaigning again"),
            Ok(()) => {}
        }
    }
}

/// Reconciles placement whenever nodes change or an operator asks, until leadership is lost.
async fn lead(
    store: &mut Store,
    config: &ClusterConfig,
    leadership: &Leadership,
    stats: &ControllerStats,
) -> Result<(), ControlError> {
    let mut node_changes = store.watch(&store.keys.nodes(), 0);
    let mut requests = store.watch(&store.keys.requests(), 0);
    let mut suspects = store.watch(&store.keys.suspects(), 0);
    // A replica joining an in-sync set lets a move finish (see `successor_record`).
    let mut partition_changes = store.watch(&store.keys.partitions(), 0);
    let mut handovers = Handovers::new();
    let mut suspicions = Suspicions::default();
    let lease_ttl = Duration::from_secs(config.lease_ttl_secs);
    loop {
        suspicions
            .check(store, lease_ttl, leadership, stats)
            .await?;
        carry_out_requests(store, config, leadership, stats).await?;
        let held = suspicions.held();
        reconcile(store, config, leadership, &mut handovers, &held, stats).await?;
        // Wait for something to happen (or a fenced node's lease to run out), then let a
        // burst settle.
        let idle = suspicions.next_release().map_or(IDLE_RECHECK, |at| {
            at.duration_since(Instant::now()).min(IDLE_RECHECK)
        });
        tokio::select! {
            _ = node_changes.recv() => {}
            _ = requests.recv() => {}
            _ = partition_changes.recv() => {}
            _ = suspects.recv() => continue,
            _ = tokio::time::sleep(idle) => {}
        }
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(50), node_changes.recv()).await
        {}
        while partition_changes.try_recv().is_ok() {}
    }
}

/// An operator's request, as `slotcache` writes it under `requests/`.
enum Request {
    /// Make another in-sync replica the leader (the named one, if any).
    Failover { to: Option<String> },
    /// Replace one replica by another node.
    Move { from: String, to: String },
}

fn parse_request(kind: &str, value: &str) -> Option<Request> {
    match kind {
        "failover" => Some(Request::Failover {
            to: (!value.is_empty()).then(|| value.to_string()),
        }),
        "move" => {
            let (from, to) = value.split_once(' ')?;
            Some(Request::Move {
                from: from.to_string(),
                to: to.to_string(),
            })
        }
        _ => None,
    }
}

/// Applies pending operator requests to their partitions; impossible ones are dropped with a
/// warning (the CLI checked them when it could).
async fn carry_out_requests(
    store: &mut Store,
    config: &ClusterConfig,
    leadership: &Leadership,
    stats: &ControllerStats,
) -> Result<(), ControlError> {
    let prefix = store.keys.requests();
    let (pending, _) = store.snapshot(&prefix).await?;
    if pending.is_empty() {
        return Ok(());
    }
    let nodes = nodes(store).await?;
    for (key, value) in pending {
        let target = key
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(kind, pid)| Some((kind.to_string(), pid.parse::<u32>().ok()?)));
        let Some((kind, pid)) = target else {
            settle_request(store, &key, leadership, true).await?;
            continue;
        };
        // A rebalance asks for no change of its own: the reconciliation after this pass
        // balances placement, as it does after any change.
        if kind == "rebalance" {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            settle_request(store, &key, leadership, true).await?;
            continue;
        }
        let request = parse_request(&kind, &String::from_utf8_lossy(&value));
        let partition_key = store.keys.partition(pid);
        let (record, revision) = store
            .get_versioned::<PartitionRecord>(&partition_key)
            .await?;
        let updated = match (record, request) {
            (Some(record), Some(request)) if pid < config.partitions => {
                apply_request(&record, request, &nodes.eligible).map(|outcome| (record, outcome))
            }
            _ => None,
        };
        let mut done = true;
        match updated {
            Some((record, outcome)) => {
                let next = match outcome {
                    Applied::Done(next) => next,
                    Applied::HandoverFirst(next) => {
                        done = false;
                        next
                    }
                };
                // Writing the record unchanged would only make its leader's handover write,
                // guarded by the record's revision, fail.
                if next != record {
                    let written = store
                        .guarded_put(
                            &partition_key,
                            &next,
                            revision,
                            &leadership.key,
                            leadership.revision,
                            None,
                        )
                        .await?;
                    if !written {
                        return Err(ControlError::Deposed);
                    }
                    info!(partition = pid, leader = ?next.leader, handover = ?next.handover, replicas = ?next.replicas, "operator request applied");
                    stats.placements.fetch_add(1, Ordering::Relaxed);
                    if next.handover.is_some() && record.handover.is_none() {
                        stats.handovers.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            None => warn!(%key, "operator request cannot be carried out; dropped"),
        }
        if done {
            stats.requests.fetch_add(1, Ordering::Relaxed);
        }
        settle_request(store, &key, leadership, done).await?;
    }
    Ok(())
}

/// Deletes an operator's request once `done`; one not done stays for the next pass.
async fn settle_request(
    store: &mut Store,
    key: &str,
    leadership: &Leadership,
    done: bool,
) -> Result<(), ControlError> {
    if done
        && !store
            .guarded_delete(key, &leadership.key, leadership.revision)
            .await?
    {
        return Err(ControlError::Deposed);
    }
    Ok(())
}

/// What an operator's request makes of a partition's record.
#[derive(Debug, PartialEq)]
enum Applied {
    /// The request is carried out by this record.
    Done(PartitionRecord),
    /// This record asks the leader to hand over first; the request stays for afterwards.
    HandoverFirst(PartitionRecord),
}

/// A partition record with an operator's request applied, or `None` when it cannot be.
fn apply_request(record: &PartitionRecord, request: Request, nodes: &[String]) -> Option<Applied> {
    let mut next = record.clone();
    let leader = record.leader.clone()?;
    let successor = |to: Option<&String>| {
        record
            .isr
            .iter()
            .find(|n| **n != leader && to.is_none_or(|t| t == *n) && nodes.contains(n))
            .cloned()
    };
    match request {
        Request::Failover { to } => {
            next.handover = Some(successor(to.as_ref())?);
            Some(Applied::Done(next))
        }
        Request::Move { from, to } => {
            if !nodes.contains(&to) || record.replicas.contains(&to) {
                return None;
            }
            if from == leader {
                next.handover = Some(successor(None)?);
                return Some(Applied::HandoverFirst(next));
            }
            let at = record.replicas.iter().position(|r| *r == from)?;
            // The new replica joins empty: its leader adds it to the in-sync set once it has
            // caught up.
            next.replicas[at] = to;
            next.isr.retain(|n| *n != from);
            Some(Applied::Done(next))
        }
    }
}

/// What to write for a partition whose placement plans `planned`. Leadership planned away
/// from a live leader to an in-sync replica becomes a handover request; a pending handover is
/// left to its leader until `overdue`, then called off (a later pass asks again), or carried
/// out by the controller once the leader is gone. Anything else placement changes waits until
/// the handover is done.
fn next_record(
    record: &PartitionRecord,
    planned: PartitionRecord,
    live: &[String],
    overdue: bool,
) -> PartitionRecord {
    // A live leader outside the in-sync set restarted empty and does not lead (see
    // `PartitionRecord::led_by`): it is replaced as a dead one is, never asked to hand over.
    let leader_live = record
        .leader
        .as_ref()
        .is_some_and(|l| live.contains(l) && record.isr.contains(l));
    if let Some(target) = &record.handover {
        let handed_over = record.handed_over().filter(|_| live.contains(target));
        return match handed_over {
            Some(_) if leader_live && !overdue => record.clone(),
            // A live leader keeps leading, and may still read under its lease: the handover
            // is called off, to be asked for again.
            Some(_) if leader_live => PartitionRecord {
                handover: None,
                ..record.clone()
            },
            Some(next) => next,
            None => planned,
        };
    }
    match &planned.leader {
        Some(successor)
            if leader_live
                && planned.leader != record.leader
                && record.isr.contains(successor)
                && record.replicas.contains(successor) =>
        {
            PartitionRecord {
                handover: Some(successor.clone()),
                ..record.clone()
            }
        }
        _ => planned,
    }
}

/// A partition's record after placement planned `replicas` (leader first) on the live `nodes`.
/// Leadership only ever goes to a live member of the in-sync set: the current leader stays
/// unless it died, left the set, or the plan moves leadership to another in-sync replica.
/// With no live in-sync replica the partition waits without a leader. New replicas start out
/// of the set (their leader adds them once caught up), except in a partition that never had
/// a leader, whose replicas are all equally empty.
fn successor_record(
    record: &PartitionRecord,
    mut replicas: Replicas,
    nodes: &[String],
    unclean_failover: bool,
) -> PartitionRecord {
    let mut next = record.clone();
    next.version = RECORD_VERSION;
    next.handover = None;
    let never_led = record.leader.is_none() && record.epoch == 0;
    let electable = |n: &String| nodes.contains(n) && record.isr.contains(n);
    let leader = if never_led {
        replicas.first().cloned()
    } else {
        let planned = replicas.first().filter(|n| electable(n));
        let current = record.leader.as_ref().filter(|n| electable(n));
        planned
            .or(current)
            .or_else(|| replicas.iter().find(|n| electable(n)))
            .or_else(|| record.isr.iter().find(|n| nodes.contains(n)))
            .or_else(|| {
                let live = |n: &&String| nodes.contains(n);
                let any = record.replicas.iter().chain(&replicas).find(live);
                any.filter(|_| unclean_failover)
            })
            .cloned()
    };
    if leader.is_none() && !never_led {
        // No in-sync copy is live: the partition waits for one to come back (a leader cut off
        // from etcd and its followers keeps every acknowledged write), which must then still
        // be a replica in the in-sync set to lead again.
        if next.leader.take().is_some() {
            next.epoch += 1;
        }
        return next;
    }
    if let Some(leader) = &leader {
        match replicas.iter().position(|n| n == leader) {
            Some(at) => replicas.swap(0, at),
            None => {
                replicas.insert(0, leader.clone());
                replicas.pop();
            }
        }
    }
    // Make before break: a live in-sync replica that the plan moves away stays until every
    // planned replica is in sync, so a move never leaves fewer in-sync copies behind.
    if !never_led && !replicas.iter().all(|n| record.isr.contains(n)) {
        for node in &record.replicas {
            if !replicas.contains(node) && electable(node) {
                replicas.push(node.clone());
            }
        }
    }
    next.isr = if never_led {
        replicas.clone()
    } else {
        record
            .isr
            .iter()
            .filter(|n| {
                replicas.contains(n) && (nodes.contains(n) || Some(*n) != record.leader.as_ref())
            })
            .cloned()
            .collect()
    };
    // An unclean pick: the only copy known to hold what it holds is the new leader.
    if let Some(leader) = leader.as_ref().filter(|l| !next.isr.contains(l)) {
        next.isr = vec![leader.clone()];
    }
    if next.leader != leader {
        next.epoch += 1;
    }
    next.leader = leader;
    next.replicas = replicas;
    next
}

/// Puts the most advanced of `candidates` (by their copies' `offsets`) first in `replicas`,
/// where the election looks first; among equals placement's order stands, and a candidate
/// whose offset is unknown is not preferred.
fn prefer_most_advanced(
    replicas: &mut Replicas,
    candidates: &[String],
    offsets: &BTreeMap<String, u64>,
) {
    let Some(top) = candidates.iter().filter_map(|n| offsets.get(n)).max() else {
        return;
    };
    let most_advanced = |n: &&String| candidates.contains(n) && offsets.get(*n) == Some(top);
    let Some(best) = replicas
        .iter()
        .chain(candidates)
        .find(most_advanced)
        .cloned()
    else {
        return;
    };
    match replicas.iter().position(|n| *n == best) {
        Some(at) => replicas.swap(0, at),
        None => {
            replicas.insert(0, best);
            replicas.pop();
        }
    }
}

/// The live nodes, and those placement may use (live and in service).
async fn nodes(store: &mut Store) -> Result<Nodes, ControlError> {
    let keys = store.keys.clone();
    let (active, _) = store.snapshot(&keys.active_nodes()).await?;
    // `nodes/` also holds the liveness keys (plain addresses): read the records beside them.
    let (entries, _) = store.snapshot(&keys.nodes()).await?;
    let records: BTreeMap<String, NodeRecord> = entries
        .iter()
        .filter(|(key, _)| !key.starts_with(&keys.active_nodes()))
        .filter_map(|(_, value)| serde_json::from_slice::<NodeRecord>(value).ok())
        .map(|record| (record.id.clone(), record))
        .collect();
    let mut live: Vec<String> = active
        .iter()
        .filter_map(|(key, _)| key.strip_prefix(&keys.active_nodes()).map(str::to_string))
        .collect();
    live.sort();
    let eligible = in_service(&live, &records);
    let stopping = records
        .values()
        .filter(|r| r.state == node_state::STOPPING)
        .map(|r| r.id.clone())
        .collect();
    let addrs = records
        .into_iter()
        .map(|(id, record)| (id, record.client_addr))
        .collect();
    Ok(Nodes {
        live,
        eligible,
        stopping,
        addrs,
    })
}

/// Moves leadership in `plan` off the `stopping` nodes, to the first other replica in the
/// partition's in-sync set (`isr`): a handover, which loses nothing and fails no request,
/// while the stopping server still runs. A partition with no such replica keeps its leader.
fn lead_elsewhere<'a>(
    plan: &mut BTreeMap<u32, Replicas>,
    stopping: &[String],
    isr: impl Fn(u32) -> &'a Vec<String>,
) {
    for (pid, replicas) in plan.iter_mut() {
        if !replicas.first().is_some_and(|l| stopping.contains(l)) {
            continue;
        }
        let in_sync = isr(*pid);
        let successor = replicas
            .iter()
            .position(|r| !stopping.contains(r) && in_sync.contains(r));
        if let Some(at) = successor {
            replicas.swap(0, at);
        }
    }
}

/// One pass: compute the placement from etcd's state and write what differs.
pub async fn reconcile(
    store: &mut Store,
    config: &ClusterConfig,
    leadership: &Leadership,
    handovers: &mut Handovers,
    held: &BTreeSet<String>,
    stats: &ControllerStats,
) -> Result<(), ControlError> {
    let pass = Instant::now();
    let Nodes {
        live,
        eligible,
        stopping,
        addrs,
    } = nodes(store).await?;
    ControllerStats::timed(&stats.etcd_reads, pass);
    let nodes = eligible;
    let mut records = BTreeMap::new();
    let mut current: BTreeMap<u32, Replicas> = BTreeMap::new();
    for pid in 0..config.partitions {
        let key = store.keys.partition(pid);
        let (record, revision) = store.get_versioned::<PartitionRecord>(&key).await?;
        let record = record.unwrap_or_default();
        // Leader first, then the in-sync replicas, so a lost leader's successor is in sync.
        let mut order: Replicas = record.leader.iter().cloned().collect();
        for node in record.isr.iter().chain(&record.replicas) {
            if !order.contains(node) {
                order.push(node.clone());
            }
        }
        current.insert(pid, order);
        records.insert(pid, (record, revision));
    }
    let mut plan = place(
        &current,
        config.partitions,
        &nodes,
        config.replication_factor as usize,
        &records
            .iter()
            .map(|(pid, (r, _))| (*pid, r.epoch))
            .collect(),
    );
    // Partitions whose leader is lost, with more than one in-sync copy to elect from: the
    // most advanced one leads (in `sync` mode they all hold every acknowledged write; the
    // most advanced also keeps what was written but not yet acknowledged).
    let electing: Vec<(u32, Vec<String>)> = records
        .iter()
        .filter_map(|(pid, (record, _))| {
            let lost = record.epoch > 0 && record.leader.as_ref().is_none_or(|l| !live.contains(l));
            let candidates: Vec<String> = record
                .isr
                .iter()
                .filter(|n| nodes.contains(n) && record.leader.as_ref() != Some(*n))
                .cloned()
                .collect();
            (lost && candidates.len() > 1).then_some((*pid, candidates))
        })
        .collect();
    if !electing.is_empty() {
        let asked: std::collections::BTreeSet<&String> =
            electing.iter().flat_map(|(_, c)| c).collect();
        let servers: Vec<(String, String)> = asked
            .into_iter()
            .filter_map(|n| Some((n.clone(), addrs.get(n)?.clone())))
            .collect();
        let offsets = offsets::ask(servers, OFFSETS_TIMEOUT).await;
        for (pid, candidates) in &electing {
            if let (Some(replicas), Some(copies)) = (plan.get_mut(pid), offsets.get(pid)) {
                prefer_most_advanced(replicas, candidates, copies);
            }
        }
    }
    lead_elsewhere(&mut plan, &stopping, |pid| &records[&pid].0.isr);
    for (pid, replicas) in plan {
        let (record, revision) = &records[&pid];
        // Its fenced leader may still read under its revoked lease: nobody else leads yet.
        if record.leader.as_ref().is_some_and(|l| held.contains(l)) {
            continue;
        }
        let planned = successor_record(record, replicas, &nodes, config.unclean_failover);
        let overdue = match &record.handover {
            Some(target) => {
                let since = handovers
                    .entry(pid)
                    .and_modify(|seen| {
                        if seen.0 != *target {
                            *seen = (target.clone(), Instant::now());
                        }
                    })
                    .or_insert_with(|| (target.clone(), Instant::now()))
                    .1;
                since.elapsed() >= HANDOVER_PATIENCE
            }
            None => {
                handovers.remove(&pid);
                false
            }
        };
        let next = next_record(record, planned, &live, overdue);
        if next == *record {
            continue;
        }
        if overdue && next.handover.is_none() && next.leader == record.leader {
            warn!(partition = pid, leader = ?next.leader, "handover not done in time: called off");
        }
        if let Some(leader) = next.leader.as_ref().filter(|l| !record.isr.contains(l)) {
            if record.leader.is_some() || record.epoch > 0 {
                warn!(
                    partition = pid,
                    %leader,
                    "unclean failover: no in-sync copy is left; writes acknowledged since this \
                     copy left the in-sync set are lost"
                );
            }
        }
        let key = store.keys.partition(pid);
        // A leader is replaced without its handover only once its liveness key is gone: its
        // lease has expired, so it no longer reads under it (a server registering again
        // after `nodes` was read must not be deposed on the strength of that read). A leader
        // outside the in-sync set is a process that restarted empty and never led: it reads
        // under no lease, so it is replaced while registered.
        let deposed = record
            .leader
            .as_ref()
            .filter(|old| next.leader.as_ref() != Some(*old) && record.isr.contains(old))
            .map(|old| store.keys.active_node(old));
        let write = Instant::now();
        let written = store
            .guarded_put(
                &key,
                &next,
                *revision,
                &leadership.key,
                leadership.revision,
                deposed.as_deref(),
            )
            .await?;
        ControllerStats::timed(&stats.etcd_writes, write);
        if !written {
            if let Some(active) = &deposed {
                if store.exists(active).await? {
                    info!(partition = pid, leader = ?record.leader, "the leader registered again: kept");
                    continue;
                }
            }
            return Err(ControlError::Deposed);
        }
        info!(partition = pid, leader = ?next.leader, epoch = next.epoch, handover = ?next.handover, "placed");
        stats.placements.fetch_add(1, Ordering::Relaxed);
        let lost = record.leader.as_ref().is_some_and(|l| !live.contains(l));
        if lost && next.leader.is_some() && next.leader != record.leader {
            ControllerStats::timed(&stats.failovers, pass);
        }
        if next.handover.is_some() && next.handover != record.handover {
            stats.handovers.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    fn record(leader: &str, replicas: &[&str], isr: &[&str]) -> PartitionRecord {
        PartitionRecord {
            version: RECORD_VERSION,
            epoch: 3,
            leader: Some(leader.to_string()),
            replicas: names(replicas),
            isr: names(isr),
            slots: vec![[0, 100]],
            handover: None,
        }
    }

    #[test]
    fn leadership_leaves_a_live_leader_by_a_handover_it_carries_out() {
        let live = names(&["n1", "n2"]);
        let current = record("n1", &["n1", "n2"], &["n1", "n2"]);
        let planned = successor_record(&current, names(&["n2", "n1"]), &live, false);
        assert_eq!(planned.leader.as_deref(), Some("n2"));
        let asked = next_record(&current, planned.clone(), &live, false);
        assert_eq!(asked.handover.as_deref(), Some("n2"));
        assert_eq!((asked.leader.as_deref(), asked.epoch), (Some("n1"), 3));
        // Pending: left to the leader until overdue, then called off while it lives.
        assert_eq!(next_record(&asked, planned.clone(), &live, false), asked);
        let called_off = next_record(&asked, planned.clone(), &live, true);
        assert_eq!(called_off, current);
        // The leader died meanwhile: placement's failover, no handover.
        let failed_over = next_record(&asked, planned.clone(), &names(&["n2"]), false);
        assert_eq!(failed_over, planned);
        // A dead leader's leadership moves at once.
        let dead = next_record(&current, planned.clone(), &names(&["n2"]), false);
        assert_eq!(dead, planned);
    }

    #[test]
    fn a_leader_that_restarted_empty_is_replaced_not_asked_to_hand_over() {
        // n2 led, was killed and came back before its lease ran out: the new process withdrew
        // from the in-sync set, so it holds nothing and does not lead.
        let live = names(&["n1", "n2"]);
        let restarted = record("n2", &["n2", "n1"], &["n1"]);
        let planned = successor_record(&restarted, names(&["n2", "n1"]), &live, false);
        let next = next_record(&restarted, planned, &live, false);
        assert_eq!(next.handover, None);
        assert_eq!((next.leader.as_deref(), next.epoch), (Some("n1"), 4));
        assert_eq!(next.isr, names(&["n1"]));
        // A handover it was asked for before is carried out by the controller.
        let asked = PartitionRecord {
            handover: Some("n1".into()),
            ..restarted.clone()
        };
        let planned = successor_record(&asked, names(&["n2", "n1"]), &live, false);
        let next = next_record(&asked, planned, &live, false);
        assert_eq!((next.leader.as_deref(), next.epoch), (Some("n1"), 4));
    }

    #[test]
    fn a_partition_whose_only_in_sync_copy_is_gone_waits_for_it_to_come_back() {
        // n2 led alone (its follower dropped from the set) and lost its lease: cut off, its
        // copy still holds every acknowledged write.
        let alone = record("n2", &["n2", "n3"], &["n2"]);
        let others = names(&["n1", "n3"]);
        let waiting = successor_record(&alone, names(&["n3", "n1"]), &others, false);
        assert_eq!((waiting.leader.as_deref(), waiting.epoch), (None, 4));
        assert_eq!(waiting.replicas, alone.replicas);
        assert_eq!(waiting.isr, alone.isr);
        // Back, it leads again.
        let live = names(&["n1", "n2", "n3"]);
        let back = successor_record(&waiting, names(&["n2", "n3"]), &live, false);
        assert_eq!((back.leader.as_deref(), back.epoch), (Some("n2"), 5));
        assert_eq!(back.isr, names(&["n2"]));
    }

    #[test]
    fn the_most_advanced_in_sync_copy_is_elected() {
        let offsets = |list: &[(&str, u64)]| -> BTreeMap<String, u64> {
            list.iter().map(|(n, o)| (n.to_string(), *o)).collect()
        };
        let candidates = names(&["n2", "n3"]);
        let mut replicas = names(&["n2", "n3", "n4"]);
        prefer_most_advanced(
            &mut replicas,
            &candidates,
            &offsets(&[("n2", 90), ("n3", 120)]),
        );
        assert_eq!(replicas, names(&["n3", "n2", "n4"]));
        // Equal: placement's order stands. Unknown: not preferred.
        let mut replicas = names(&["n2", "n3", "n4"]);
        prefer_most_advanced(
            &mut replicas,
            &candidates,
            &offsets(&[("n2", 120), ("n3", 120)]),
        );
        assert_eq!(replicas, names(&["n2", "n3", "n4"]));
        prefer_most_advanced(&mut replicas, &candidates, &offsets(&[("n3", 5)]));
        assert_eq!(replicas, names(&["n3", "n2", "n4"]));
        // The election then picks it.
        let lost = record("n1", &["n1", "n2", "n3"], &["n1", "n2", "n3"]);
        let next = successor_record(&lost, replicas, &names(&["n2", "n3", "n4"]), false);
        assert_eq!((next.leader.as_deref(), next.epoch), (Some("n3"), 4));
    }

    #[test]
    fn a_failover_request_asks_for_a_handover_and_a_leader_move_waits_for_it() {
        let nodes = names(&["n1", "n2", "n3"]);
        let current = record("n1", &["n1", "n2"], &["n1", "n2"]);
        let failover = apply_request(&current, Request::Failover { to: None }, &nodes);
        let Some(Applied::Done(asked)) = failover else {
            panic!("{failover:?}");
        };
        assert_eq!(asked.handover.as_deref(), Some("n2"));
        assert_eq!(asked.epoch, 3);
        let moving = Request::Move {
            from: "n1".into(),
            to: "n3".into(),
        };
        let first = apply_request(&current, moving, &nodes);
        assert_eq!(first, Some(Applied::HandoverFirst(asked.clone())));
        let after = asked.handed_over().unwrap();
        let moving = Request::Move {
            from: "n1".into(),
            to: "n3".into(),
        };
        let Some(Applied::Done(moved)) = apply_request(&after, moving, &nodes) else {
            panic!("the move completes once n1 no longer leads");
        };
        assert_eq!(moved.replicas, names(&["n2", "n3"]));
        assert_eq!(moved.isr, names(&["n2"]));
    }

    #[test]
    fn a_moved_replica_stays_until_its_successor_is_in_sync() {
        let nodes = names(&["n1", "n2", "n3"]);
        // The plan moves n2's copy to n3, which has nothing yet: n2 stays, in sync.
        let moving = record("n1", &["n1", "n2"], &["n1", "n2"]);
        let next = successor_record(&moving, names(&["n1", "n3"]), &nodes, false);
        assert_eq!(next.replicas, names(&["n1", "n3", "n2"]));
        assert_eq!(next.isr, names(&["n1", "n2"]));
        assert_eq!((next.leader.as_deref(), next.epoch), (Some("n1"), 3));
        // The leader lost meanwhile: the in-sync n2 takes over, not the empty n3.
        let next = successor_record(&next, names(&["n3", "n2"]), &names(&["n2", "n3"]), false);
        assert_eq!(next.leader.as_deref(), Some("n2"));
        assert_eq!(next.epoch, 4);
        // Once n3 is in sync the move completes.
        let caught_up = record("n1", &["n1", "n3", "n2"], &["n1", "n2", "n3"]);
        let next = successor_record(&caught_up, names(&["n1", "n3"]), &nodes, false);
        assert_eq!(next.replicas, names(&["n1", "n3"]));
        assert_eq!(next.isr, names(&["n1", "n3"]));
    }

    #[test]
    fn with_no_in_sync_copy_left_only_unclean_failover_elects() {
        // n2 had left the in-sync set when its leader n1 died.
        let stranded = record("n1", &["n1", "n2"], &["n1"]);
        let nodes = names(&["n2", "n3"]);
        let waits = successor_record(&stranded, names(&["n2", "n3"]), &nodes, false);
        assert_eq!(waits.leader, None);
        let unclean = successor_record(&stranded, names(&["n2", "n3"]), &nodes, true);
        assert_eq!(unclean.leader.as_deref(), Some("n2"));
        assert_eq!(unclean.isr, names(&["n2"]));
        assert_eq!(unclean.epoch, 4);
    }

    #[test]
    fn a_stopping_node_hands_its_leaderships_to_in_sync_replicas() {
        let mut plan: BTreeMap<u32, Replicas> = BTreeMap::new();
        plan.insert(0, names(&["n1", "n2"]));
        plan.insert(1, names(&["n1", "n3"]));
        plan.insert(2, names(&["n2", "n1"]));
        let isr: BTreeMap<u32, Vec<String>> = [
            (0, names(&["n1", "n2"])),
            // n3 is catching up: not a successor yet.
            (1, names(&["n1"])),
            (2, names(&["n2", "n1"])),
        ]
        .into();
        lead_elsewhere(&mut plan, &names(&["n1"]), |pid| &isr[&pid]);
        assert_eq!(plan[&0], names(&["n2", "n1"]));
        assert_eq!(plan[&1], names(&["n1", "n3"]), "no in-sync successor");
        assert_eq!(plan[&2], names(&["n2", "n1"]));
    }
}
