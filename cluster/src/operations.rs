//! The operator's actions, shared by the CLI and the dashboard: drain and undrain a node
//! (node states are the operator's to write), and ask the leading controller to move a
//! replica, fail a partition over or rebalance (requests under `requests/`, since it alone
//! writes partition records). Each is checked against the cluster before it is made, so both
//! front ends refuse the same things with the same words.

use crate::controller::in_service;
use crate::placement::{place, Replicas};
use crate::records::{node_state, NodeRecord, PartitionRecord};
use crate::store::{ClusterState, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OperationError {
    /// The action makes no sense for the cluster as it is; the text says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn refuse<T>(why: String) -> Result<T, OperationError> {
    Err(OperationError::Refused(why))
}

/// One operator action.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// Make another in-sync replica the partition's leader (the named one, if any).
    Failover { partition: u32, to: Option<String> },
    /// Take a node out of placement: its replicas and leaderships move away.
    Drain { node: String },
    /// Put a drained node back in service.
    Undrain { node: String },
    /// Replace one replica of a partition by another node.
    Move {
        partition: u32,
        from: String,
        to: String,
    },
    /// Have the controller balance replicas and leaders over the nodes in service now.
    Rebalance,
}

impl Action {
    /// What the action will do, in a sentence for a confirmation prompt.
    pub fn describe(&self) -> String {
        match self {
            Action::Failover { partition, to } => match to {
                Some(to) => format!("hand partition {partition}'s leadership to '{to}'"),
                None => format!("hand partition {partition}'s leadership to an in-sync follower"),
            },
            Action::Drain { node } => {
                format!("drain node '{node}': move every replica and leadership it holds away")
            }
            Action::Undrain { node } => format!("put node '{node}' back in service"),
            Action::Move {
                partition,
                from,
                to,
            } => format!("move partition {partition}'s replica from '{from}' to '{to}'"),
            Action::Rebalance => "balance replicas and leaders over the nodes in service".into(),
        }
    }

    /// Refuses the action if the cluster, as it is now, cannot carry it out.
    pub async fn check(&self, store: &mut Store) -> Result<(), OperationError> {
        match self {
            Action::Failover { partition, to } => {
                let record = partition_record(store, *partition).await?;
                let Some(leader) = record.leader.clone() else {
                    return refuse(format!("partition {partition} has no leader yet"));
                };
                let candidates: Vec<&String> =
                    record.isr.iter().filter(|n| **n != leader).collect();
                if candidates.is_empty() {
                    return refuse(format!(
                        "partition {partition} has no other in-sync replica to take over"
                    ));
                }
                if let Some(to) = to.as_ref().filter(|to| !candidates.contains(to)) {
                    return refuse(format!(
                        "'{to}' is not an in-sync follower of partition {partition}"
                    ));
                }
            }
            Action::Drain { node } | Action::Undrain { node } => {
                node_record(store, node).await?;
            }
            Action::Move {
                partition,
                from,
                to,
            } => {
                let record = partition_record(store, *partition).await?;
                if !record.replicas.contains(from) {
                    return refuse(format!(
                        "'{from}' holds no replica of partition {partition}"
                    ));
                }
                if record.replicas.contains(to) {
                    return refuse(format!(
                        "'{to}' already holds a replica of partition {partition}"
                    ));
                }
                if !is_up(store, to).await? {
                    return refuse(format!("node '{to}' is not up (see `slotcache status`)"));
                }
            }
            Action::Rebalance => {}
        }
        Ok(())
    }

    /// Checks the action, then makes it (the controller carries requests out shortly after).
    pub async fn apply(&self, store: &mut Store) -> Result<(), OperationError> {
        self.check(store).await?;
        match self {
            Action::Failover { partition, to } => {
                request(store, "failover", *partition, to.as_deref().unwrap_or("")).await
            }
            Action::Drain { node } => set_state(store, node, node_state::DRAINING).await,
            Action::Undrain { node } => set_state(store, node, node_state::UP).await,
            Action::Move {
                partition,
                from,
                to,
            } => request(store, "move", *partition, &format!("{from} {to}")).await,
            Action::Rebalance => request(store, "rebalance", 0, "").await,
        }
    }
}

pub async fn node_record(store: &mut Store, id: &str) -> Result<NodeRecord, OperationError> {
    match store.get::<NodeRecord>(&store.keys.node(id)).await? {
        Some(record) => Ok(record),
        None => refuse(format!(
            "no node '{id}' in cluster '{}' (see `slotcache status`)",
            store.cluster
        )),
    }
}

pub async fn partition_record(
    store: &mut Store,
    pid: u32,
) -> Result<PartitionRecord, OperationError> {
    match store
        .get::<PartitionRecord>(&store.keys.partition(pid))
        .await?
    {
        Some(record) => Ok(record),
        None => refuse(format!(
            "no partition {pid} in cluster '{}' (see `slotcache status`)",
            store.cluster
        )),
    }
}

/// Whether a node holds its lease.
pub async fn is_up(store: &mut Store, id: &str) -> Result<bool, OperationError> {
    let key = store.keys.active_node(id);
    let (active, _) = store.snapshot(&key).await?;
    Ok(active.iter().any(|(found, _)| *found == key))
}

/// Sets a node's `state` (see [`node_state`]).
pub async fn set_state(store: &mut Store, id: &str, state: &str) -> Result<(), OperationError> {
    let mut record = node_record(store, id).await?;
    record.state = state.into();
    store.put(&store.keys.node(id), &record).await?;
    Ok(())
}

/// Leaves a request for the controller.
async fn request(
    store: &mut Store,
    kind: &str,
    pid: u32,
    value: &str,
) -> Result<(), OperationError> {
    let key = store.keys.request(kind, pid);
    store.put_raw(&key, value).await?;
    Ok(())
}

/// How evenly placement is spread, and how far it is from what the controller aims at.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Balance {
    /// Node in service → replicas it holds.
    pub replicas: BTreeMap<String, usize>,
    /// Node in service → partitions it leads.
    pub leaders: BTreeMap<String, usize>,
    /// Replicas placement still adds or removes to be balanced.
    pub replica_moves: usize,
    /// Partitions whose leader placement still changes.
    pub leader_moves: usize,
}

impl Balance {
    pub fn balanced(&self) -> bool {
        self.replica_moves == 0 && self.leader_moves == 0
    }
}

/// The balance of `state`, against the controller's own placement of it.
pub fn balance(state: &ClusterState) -> Balance {
    let records: BTreeMap<String, NodeRecord> = state
        .nodes
        .iter()
        .map(|n| (n.id.clone(), n.clone()))
        .collect();
    let eligible = in_service(&state.active_nodes, &records);
    let current: BTreeMap<u32, Replicas> = state
        .partitions
        .iter()
        .map(|(pid, record)| {
            let mut order: Replicas = record.leader.iter().cloned().collect();
            for node in record.isr.iter().chain(&record.replicas) {
                if !order.contains(node) {
                    order.push(node.clone());
                }
            }
            (*pid, order)
        })
        .collect();
    let epochs = state
        .partitions
        .iter()
        .map(|(pid, r)| (*pid, r.epoch))
        .collect();
    let plan = place(
        &current,
        state.config.partitions,
        &eligible,
        state.config.replication_factor as usize,
        &epochs,
    );
    let mut balance = Balance {
        replicas: eligible.iter().map(|n| (n.clone(), 0)).collect(),
        leaders: eligible.iter().map(|n| (n.clone(), 0)).collect(),
        ..Balance::default()
    };
    for (pid, record) in &state.partitions {
        for node in &record.replicas {
            if let Some(count) = balance.replicas.get_mut(node) {
                *count += 1;
            }
        }
        if let Some(count) = record
            .leader
            .as_ref()
            .and_then(|l| balance.leaders.get_mut(l))
        {
            *count += 1;
        }
        let planned = plan.get(pid).cloned().unwrap_or_default();
        balance.replica_moves += planned
            .iter()
            .filter(|n| !record.replicas.contains(n))
            .count();
        balance.replica_moves += record
            .replicas
            .iter()
            .filter(|n| !planned.contains(n))
            .count();
        if planned.first() != record.leader.as_ref() {
            balance.leader_moves += 1;
        }
    }
    balance
}
