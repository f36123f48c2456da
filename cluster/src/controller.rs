//! The controller: any number run, one leads (etcd election). The leader keeps every
//! partition placed on the live nodes: RF replicas, balanced leaders, a new leader from the
//! in-sync set when a leader's lease expires, the epoch bumped with every leader change. Every
//! write is a transaction guarded by its election key and the record's revision, so a deposed
//! controller cannot write and two writers cannot interleave. It keeps no state outside etcd:
//! a standby that takes over starts from what etcd holds.

use crate::lease;
use crate::placement::{place, Replicas};
use crate::records::{ClusterConfig, NodeRecord, PartitionRecord, RECORD_VERSION};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{info, warn};

/// How long the leader waits between reconciliations when nothing changes.
const IDLE_RECHECK: Duration = Duration::from_secs(2);

/// Node states (in `nodes/<id>`) that take a node out of placement.
const OUT_OF_SERVICE: &[&str] = &["draining", "removed"];

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
pub async fn run(mut store: Store, id: &str) -> Result<(), ControlError> {
    let config: ClusterConfig = store
        .get(&store.keys.config())
        .await?
        .ok_or_else(|| StoreError::NoCluster(store.cluster.clone()))?;
    loop {
        let mut session = lease::register(store.client(), Vec::new(), config.lease_ttl_secs);
        let lease = session.granted().await;
        let mut client = store.client();
        let campaign = client
            .campaign(store.keys.controller_election(), id, lease)
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
        let outcome = tokio::select! {
            result = lead(&mut store, &config, &leadership) => result,
            // The session's lease was replaced: the election key went with the old one.
            _ = async { while session.lease() == lease { tokio::time::sleep(Duration::from_millis(100)).await } } => Err(ControlError::Deposed),
        };
        match outcome {
            Err(ControlError::Deposed) => warn!(id, "no longer leading; campaigning again"),
            Err(err) => warn!(id, "leading failed ({err}); campaigning again"),
            Ok(()) => {}
        }
    }
}

/// Reconciles placement whenever nodes change, until leadership is lost.
async fn lead(
    store: &mut Store,
    config: &ClusterConfig,
    leadership: &Leadership,
) -> Result<(), ControlError> {
    let mut changes = store.watch(&store.keys.nodes(), 0);
    loop {
        reconcile(store, config, leadership).await?;
        // Wait for a node to come, go or change state, then let a burst settle.
        let _ = tokio::time::timeout(IDLE_RECHECK, changes.recv()).await;
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(50), changes.recv()).await
        {}
    }
}

/// The nodes placement may use: live (under lease) and in service.
async fn eligible_nodes(store: &mut Store) -> Result<Vec<String>, ControlError> {
    let keys = store.keys.clone();
    let (active, _) = store.snapshot(&keys.active_nodes()).await?;
    let records: BTreeMap<String, NodeRecord> = store
        .list::<NodeRecord>(&keys.nodes())
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| !key.starts_with(&keys.active_nodes()))
        .map(|(_, record)| (record.id.clone(), record))
        .collect();
    let mut nodes: Vec<String> = active
        .iter()
        .filter_map(|(key, _)| key.strip_prefix(&keys.active_nodes()).map(str::to_string))
        .filter(|id| {
            records
                .get(id)
                .is_none_or(|r| !OUT_OF_SERVICE.contains(&r.state.as_str()))
        })
        .collect();
    nodes.sort();
    Ok(nodes)
}

/// One pass: compute the placement from etcd's state and write what differs.
pub async fn reconcile(
    store: &mut Store,
    config: &ClusterConfig,
    leadership: &Leadership,
) -> Result<(), ControlError> {
    let nodes = eligible_nodes(store).await?;
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
    let plan = place(
        &current,
        config.partitions,
        &nodes,
        config.replication_factor as usize,
    );
    for (pid, replicas) in plan {
        let (record, revision) = &records[&pid];
        let leader = replicas.first().cloned();
        if record.leader == leader && record.replicas == replicas {
            continue;
        }
        let mut next = record.clone();
        next.version = RECORD_VERSION;
        if next.leader != leader {
            next.epoch += 1;
        }
        next.leader = leader;
        next.isr = replicas.clone();
        next.replicas = replicas;
        let key = store.keys.partition(pid);
        let written = store
            .guarded_put(&key, &next, *revision, &leadership.key, leadership.revision)
            .await?;
        if !written {
            return Err(ControlError::Deposed);
        }
        info!(partition = pid, leader = ?next.leader, epoch = next.epoch, "placed");
    }
    Ok(())
}
