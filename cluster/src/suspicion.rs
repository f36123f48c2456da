//! The controller's judgement of reports that a shard server crashed or is cut off
//! (`suspects/<node>/<reporter>`, written by proxies and followers). Liveness is the lease;
//! reports only let the controller end a lease early, after its own probe agrees:
//!
//! * The server's port refuses connections: no process is left, its lease is revoked.
//! * The server does not answer the probe, and two or more peers report it: it is paused or
//!   cut off from the data plane while etcd still hears it. The controller fences it (it may not
//!   register again), revokes its lease, and waits the lease out before electing anew when the
//!   server reads under its lease, since the process may still believe in it.
//! * The server answers the probe: the reporting followers are the ones cut off. They leave
//!   its in-sync sets (the leader itself cannot shrink them while reported), and the reports are
//!   dismissed. A server that is merely slow answers, so it is never failed over this way.
//!
//! A fence is lifted once the fenced node leads no partition.

use crate::controller::{ControlError, Leadership};
use crate::controller_stats::ControllerStats;
use crate::records::{Evidence, NodeRecord, PartitionRecord, SuspectReport, Witness};
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How long a suspect gets to answer the probe (connect, log in, PING).
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// A node is probed again at most this often while reports about it keep coming.
const PROBE_AGAIN: Duration = Duration::from_millis(500);
/// How long a leader that none of its in-sync followers hears may still read under its lease:
/// the server's `FOLLOWERS_HEARD_WITHIN` (500 ms), counted from its last follower's last
/// acknowledgement, which came at least `SILENCE` (400 ms) before that follower's report.
const HEARD_HOLD: Duration = Duration::from_millis(600);
/// Distinct reporters it takes, beside a failed probe, to end a silent node's lease.
const WITNESSES: usize = 2;

/// What the controller's own probe of a suspect found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    Refused,
    Silent,
    Answered,
}

/// What the controller does about a suspect.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Crashed: end its lease.
    Crashed,
    /// Paused or cut off: fence it and end its lease.
    CutOff,
    /// Not enough evidence yet: keep the reports (they block its in-sync set from shrinking).
    Undecided,
    /// It answers: these followers are the ones cut off, and the reports are dismissed.
    Dismissed(Vec<String>),
}

fn verdict(probe: Probe, reporters: &BTreeMap<String, SuspectReport>) -> Verdict {
    match probe {
        Probe::Refused => Verdict::Crashed,
        Probe::Silent if reporters.len() >= WITNESSES => Verdict::CutOff,
        Probe::Silent => Verdict::Undecided,
        // A refusal was seen by a follower of an earlier process (one restarted since): only
        // a follower that hears nothing from a process that answers is the one cut off.
        Probe::Answered => Verdict::Dismissed(
            reporters
                .iter()
                .filter(|(_, r)| r.by == Witness::Follower && r.evidence == Evidence::Silent)
                .map(|(reporter, _)| reporter.clone())
                .collect(),
        ),
    }
}

/// The controller's memory of suspects: when each was last probed and with how many reporters,
/// and until when each fenced node may still serve under the lease it lost.
#[derive(Default)]
pub struct Suspicions {
    probed: BTreeMap<String, (Instant, usize)>,
    holds: BTreeMap<String, Instant>,
}

impl Suspicions {
    /// Fenced nodes whose revoked lease may still be believed by their process: their
    /// partitions are not given another leader yet.
    pub fn held(&self) -> BTreeSet<String> {
        let now = Instant::now();
        self.holds
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(node, _)| node.clone())
            .collect()
    }

    /// When the next hold ends, for the controller to reconcile then.
    pub fn next_release(&self) -> Option<Instant> {
        let now = Instant::now();
        self.holds
            .values()
            .filter(|until| **until > now)
            .min()
            .copied()
    }

    /// Acts on the reports in etcd, then lifts the fences of nodes that lead nothing.
    pub async fn check(
        &mut self,
        store: &mut Store,
        lease_ttl: Duration,
        leadership: &Leadership,
        stats: &ControllerStats,
    ) -> Result<(), ControlError> {
        let keys = store.keys.clone();
        let (fences, _) = store.snapshot(&keys.fences()).await?;
        let fenced: BTreeSet<String> = fences
            .iter()
            .filter_map(|(key, _)| key.strip_prefix(&keys.fences()).map(str::to_string))
            .collect();
        // A fence this controller did not set (a standby took over): its lease ended at most a
        // TTL ago, when that controller revoked it.
        for node in &fenced {
            self.holds
                .entry(node.clone())
                .or_insert_with(|| Instant::now() + lease_ttl);
        }
        self.holds.retain(|node, _| fenced.contains(node));
        let reports = reports_by_node(store).await?;
        let mut probes = tokio::task::JoinSet::new();
        for node in reports.keys().filter(|node| !fenced.contains(*node)) {
            // Probed lately with as many reporters: nothing new to weigh.
            let witnesses = reports[node].len();
            if self
                .probed
                .get(node)
                .is_some_and(|(at, seen)| at.elapsed() < PROBE_AGAIN && *seen >= witnesses)
            {
                continue;
            }
            let record: Option<NodeRecord> = store.get(&keys.node(node)).await?;
            let Some(record) = record else { continue };
            let node = node.clone();
            probes.spawn(async move { (node, probe(&record.client_addr).await, record) });
        }
        while let Some(Ok((node, probe, record))) = probes.join_next().await {
            let reporters = &reports[&node];
            self.probed
                .insert(node.clone(), (Instant::now(), reporters.len()));
            match verdict(probe, reporters) {
                Verdict::Crashed => {
                    if store.revoke_lease_of(&keys.active_node(&node)).await? {
                        warn!(%node, "crash confirmed (its port refuses connections): lease revoked");
                        stats.revocations.fetch_add(1, Ordering::Relaxed);
                    }
                    delete_reports(store, &node).await?;
                }
                Verdict::CutOff => {
                    store.put_raw(&keys.fence(&node), "silent").await?;
                    if store.revoke_lease_of(&keys.active_node(&node)).await? {
                        let names: Vec<&String> = reporters.keys().collect();
                        warn!(%node, reporters = ?names, "cut off or paused (reported, and silent to the controller): fenced, lease revoked");
                        stats.revocations.fetch_add(1, Ordering::Relaxed);
                    }
                    // The process may still read under the lease it lost, until its TTL, or
                    // until it misses its followers' acknowledgements if every one of them
                    // reported it.
                    let wait = match record.lease_reads {
                        false => Duration::ZERO,
                        true if followers_all_report(store, &node, reporters).await? => HEARD_HOLD,
                        true => lease_ttl,
                    };
                    self.holds.insert(node.clone(), Instant::now() + wait);
                }
                Verdict::Undecided => {}
                Verdict::Dismissed(followers) => {
                    for follower in &followers {
                        drop_from_isr(store, leadership, &node, follower).await?;
                    }
                    delete_reports(store, &node).await?;
                }
            }
        }
        self.lift_fences(store, &fenced).await
    }

    /// Deletes the fences of nodes that lead no partition any more.
    async fn lift_fences(
        &mut self,
        store: &mut Store,
        fenced: &BTreeSet<String>,
    ) -> Result<(), ControlError> {
        if fenced.is_empty() {
            return Ok(());
        }
        let prefix = store.keys.partitions();
        let (records, _) = store.snapshot(&prefix).await?;
        let leaders: BTreeSet<String> = records
            .iter()
            .filter_map(|(_, value)| serde_json::from_slice::<PartitionRecord>(value).ok())
            .filter_map(|record| record.leader)
            .collect();
        for node in fenced.iter().filter(|node| !leaders.contains(*node)) {
            store.delete(&store.keys.fence(node)).await?;
            self.holds.remove(node);
            info!(%node, "replaced as leader: fence lifted, it may register again");
        }
        Ok(())
    }
}

/// Whether every partition `node` leads has in-sync followers, and all of them report it:
/// none then hears it, so it stops reading under its lease within `HEARD_HOLD`.
async fn followers_all_report(
    store: &mut Store,
    node: &str,
    reporters: &BTreeMap<String, SuspectReport>,
) -> Result<bool, ControlError> {
    let (records, _) = store.snapshot(&store.keys.partitions()).await?;
    let reported = |follower: &String| {
        reporters
            .get(follower)
            .is_some_and(|report| report.by == Witness::Follower)
    };
    let led = records
        .iter()
        .filter_map(|(_, value)| serde_json::from_slice::<PartitionRecord>(value).ok())
        .filter(|record| record.leader.as_deref() == Some(node));
    let mut every = true;
    for record in led {
        let followers: Vec<&String> = record.isr.iter().filter(|n| *n != node).collect();
        every &= !followers.is_empty() && followers.into_iter().all(reported);
    }
    Ok(every)
}

/// The live reports, by suspect then reporter.
async fn reports_by_node(
    store: &mut Store,
) -> Result<BTreeMap<String, BTreeMap<String, SuspectReport>>, ControlError> {
    let prefix = store.keys.suspects();
    let (entries, _) = store.snapshot(&prefix).await?;
    let mut reports: BTreeMap<String, BTreeMap<String, SuspectReport>> = BTreeMap::new();
    for (key, value) in entries {
        let parsed = key
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('/'))
            .zip(serde_json::from_slice::<SuspectReport>(&value).ok());
        match parsed {
            Some(((node, reporter), report)) => {
                let by_node = reports.entry(node.to_string()).or_default();
                by_node.insert(reporter.to_string(), report);
            }
            // Not a report this build understands: nobody acts on it.
            None => {
                store.delete(&key).await?;
            }
        }
    }
    Ok(reports)
}

async fn delete_reports(store: &mut Store, node: &str) -> Result<(), ControlError> {
    store.delete_prefix(&store.keys.suspicions_of(node)).await?;
    Ok(())
}

/// Connects to a shard server, logs in and PINGs it.
async fn probe(addr: &str) -> Probe {
    let connect = tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr));
    match connect.await {
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Probe::Refused
        }
        Ok(Ok(_)) => {}
        _ => return Probe::Silent,
    }
    let ping = async {
        let client = crate::credential::node_client(addr)?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING")
            .query_async::<redis::Value>(&mut connection)
            .await
    };
    match tokio::time::timeout(PROBE_TIMEOUT, ping).await {
        Ok(Ok(_)) => Probe::Answered,
        // An error reply (a BUSY script) shows a process that answers too.
        Ok(Err(err)) if !err.is_io_error() => Probe::Answered,
        _ => Probe::Silent,
    }
}

/// Takes `follower` out of the in-sync set of every partition `leader` leads: it reported the
/// leader silent while the controller reaches it, so it is the follower that is cut off.
async fn drop_from_isr(
    store: &mut Store,
    leadership: &Leadership,
    leader: &str,
    follower: &str,
) -> Result<(), ControlError> {
    let prefix = store.keys.partitions();
    let (records, _) = store.snapshot(&prefix).await?;
    for (key, _) in records {
        let (record, revision) = store.get_versioned::<PartitionRecord>(&key).await?;
        let Some(mut record) = record else { continue };
        // Only where `leader` really leads (in the in-sync set: not a process restarted empty),
        // so the set keeps the leader.
        if !record.led_by(leader) || !record.isr.iter().any(|n| n == follower) {
            continue;
        }
        record.isr.retain(|n| n != follower);
        let written = store
            .guarded_put(
                &key,
                &record,
                revision,
                &leadership.key,
                leadership.revision,
                None,
            )
            .await?;
        if written {
            warn!(%leader, %follower, partition = %key, "follower cut off from its leader: removed from the in-sync set");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reports(from: &[(&str, Witness)]) -> BTreeMap<String, SuspectReport> {
        from.iter()
            .map(|(name, by)| {
                let report = SuspectReport {
                    by: *by,
                    evidence: Evidence::Silent,
                };
                (name.to_string(), report)
            })
            .collect()
    }

    #[test]
    fn a_silent_node_is_cut_off_only_with_two_witnesses() {
        let one = reports(&[("p1", Witness::Proxy)]);
        assert_eq!(verdict(Probe::Silent, &one), Verdict::Undecided);
        let two = reports(&[("p1", Witness::Proxy), ("n2", Witness::Follower)]);
        assert_eq!(verdict(Probe::Silent, &two), Verdict::CutOff);
        assert_eq!(verdict(Probe::Refused, &one), Verdict::Crashed);
    }

    #[test]
    fn a_node_that_answers_is_kept_and_its_reporting_followers_are_the_cut_off_ones() {
        let both = reports(&[("p1", Witness::Proxy), ("n2", Witness::Follower)]);
        assert_eq!(
            verdict(Probe::Answered, &both),
            Verdict::Dismissed(vec!["n2".to_string()])
        );
        // A follower that met refusals saw a process that is gone: it is not cut off.
        let mut refused = reports(&[("n2", Witness::Follower)]);
        refused.get_mut("n2").expect("a report").evidence = Evidence::Refused;
        assert_eq!(
            verdict(Probe::Answered, &refused),
            Verdict::Dismissed(vec![])
        );
    }

    #[test]
    fn holds_end_on_time() {
        let mut suspicions = Suspicions::default();
        let soon = Instant::now() + Duration::from_secs(60);
        suspicions.holds.insert("n1".into(), soon);
        suspicions.holds.insert("n2".into(), Instant::now());
        assert_eq!(suspicions.held(), BTreeSet::from(["n1".to_string()]));
        assert_eq!(suspicions.next_release(), Some(soon));
    }
}
