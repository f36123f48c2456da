//! The routing table: slot → partition → leader address, mirrored from etcd's partition and
//! node records by watches. It is only ever replaced by newer etcd state, so while etcd is
//! unreachable the proxy goes on routing by the last table it saw.

use ahash::AHashMap;
use parking_lot::RwLock;
use slotcache_cluster::records::{NodeRecord, PartitionRecord};
use slotcache_cluster::SLOTS;
use std::collections::BTreeMap;
use tokio::sync::Notify;

const NO_PARTITION: u32 = u32::MAX;

#[derive(Default)]
struct Topology {
    slot_partition: Vec<u32>,
    partitions: BTreeMap<u32, PartitionRecord>,
    node_addrs: AHashMap<String, String>,
    /// Live proxies by id, with the address each announces.
    proxies: BTreeMap<String, String>,
}

/// Where a partition's requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub partition: u32,
    pub epoch: u64,
    pub addr: String,
}

pub struct RouteTable {
    topology: RwLock<Topology>,
    /// Woken on every change, for requests waiting out a leader change.
    changed: Notify,
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            topology: RwLock::new(Topology {
                slot_partition: vec![NO_PARTITION; SLOTS as usize],
                ..Topology::default()
            }),
            changed: Notify::new(),
        }
    }
}

impl RouteTable {
    /// Applies a partition record (None: deleted), by its id.
    pub fn set_partition(&self, pid: u32, record: Option<PartitionRecord>) {
        {
            let mut topology = self.topology.write();
            if let Some(old) = topology.partitions.remove(&pid) {
                for slot in slots_of(&old) {
                    if topology.slot_partition[slot] == pid {
                        topology.slot_partition[slot] = NO_PARTITION;
                    }
                }
            }
            if let Some(record) = record {
                for slot in slots_of(&record) {
                    topology.slot_partition[slot] = pid;
                }
                topology.partitions.insert(pid, record);
            }
        }
        self.changed.notify_waiters();
    }

    pub fn set_node(&self, id: &str, record: Option<NodeRecord>) {
        {
            let mut topology = self.topology.write();
            match record {
                Some(record) => topology
                    .node_addrs
                    .insert(id.to_string(), record.client_addr),
                None => topology.node_addrs.remove(id),
            };
        }
        self.changed.notify_waiters();
    }

    pub fn set_proxy(&self, id: &str, addr: Option<String>) {
        let mut topology = self.topology.write();
        match addr {
            Some(addr) => topology.proxies.insert(id.to_string(), addr),
            None => topology.proxies.remove(id),
        };
    }

    /// The partition owning `slot`, and its leader's address when it has a reachable one.
    pub fn route(&self, slot: u16) -> Option<Route> {
        let topology = self.topology.read();
        let pid = topology.slot_partition[slot as usize];
        route_of(&topology, pid)
    }

    pub fn partition_of(&self, slot: u16) -> u32 {
        self.topology.read().slot_partition[slot as usize]
    }

    /// Every partition with its route (None while it has no reachable leader), in id order.
    pub fn partitions(&self) -> Vec<(u32, Option<Route>)> {
        let topology = self.topology.read();
        topology
            .partitions
            .keys()
            .map(|pid| (*pid, route_of(&topology, *pid)))
            .collect()
    }

    /// Every leader address, once each: where keyless requests and broadcasts go.
    pub fn leader_addrs(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self
            .partitions()
            .into_iter()
            .filter_map(|(_, route)| route.map(|r| r.addr))
            .collect();
        addrs.sort();
        addrs.dedup();
        addrs
    }

    /// Live proxies (id, announced address), in id order.
    pub fn proxies(&self) -> Vec<(String, String)> {
        let topology = self.topology.read();
        topology
            .proxies
            .iter()
            .map(|(id, addr)| (id.clone(), addr.clone()))
            .collect()
    }

    /// Waits for the next change, or `patience` at most.
    pub async fn changed(&self, patience: std::time::Duration) {
        let _ = tokio::time::timeout(patience, self.changed.notified()).await;
    }
}

fn route_of(topology: &Topology, pid: u32) -> Option<Route> {
    let record = topology.partitions.get(&pid)?;
    let addr = topology.node_addrs.get(record.leader.as_ref()?)?;
    Some(Route {
        partition: pid,
        epoch: record.epoch,
        addr: addr.clone(),
    })
}

fn slots_of(record: &PartitionRecord) -> impl Iterator<Item = usize> + '_ {
    record
        .slots
        .iter()
        .flat_map(|[start, end]| *start as usize..=(*end).min(SLOTS - 1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_records_and_leaders() {
        let table = RouteTable::default();
        let node = |addr: &str| NodeRecord {
            client_addr: addr.into(),
            ..NodeRecord::default()
        };
        table.set_node("a", Some(node("127.0.0.1:1")));
        table.set_node("b", Some(node("127.0.0.1:2")));
        let record = |leader: &str, epoch: u64| PartitionRecord {
            leader: Some(leader.into()),
            epoch,
            slots: vec![[0, 99]],
            ..PartitionRecord::default()
        };
        table.set_partition(3, Some(record("a", 1)));
        assert_eq!(table.route(50).map(|r| r.addr), Some("127.0.0.1:1".into()));
        assert_eq!(table.route(100), None);
        table.set_partition(3, Some(record("b", 2)));
        assert_eq!(
            table.route(99),
            Some(Route {
                partition: 3,
                epoch: 2,
                addr: "127.0.0.1:2".into()
            })
        );
        table.set_node("b", None);
        assert_eq!(table.route(99), None);
        assert_eq!(table.partition_of(99), 3);
        table.set_partition(3, None);
        assert_eq!(table.partition_of(99), NO_PARTITION);
    }
}
