//! Slot → partition → leader address, as the partition and node records in etcd say: what
//! shard servers redirect by and proxies route by.

use crate::records::PartitionRecord;
use crate::SLOTS;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const NO_PARTITION: u32 = u32::MAX;

/// Slot ranges, and the copies serving them: (id, client address) of the leader, then of the
/// in-sync followers.
pub type Served = (Vec<(u16, u16)>, Vec<(String, Arc<str>)>);

pub struct RoutingTable {
    slot_partition: Vec<u32>,
    partitions: BTreeMap<u32, PartitionRecord>,
    /// Client addresses of the nodes.
    node_addrs: HashMap<String, Arc<str>>,
}

impl Default for RoutingTable {
    fn default() -> Self {
        RoutingTable {
            slot_partition: vec![NO_PARTITION; SLOTS as usize],
            partitions: BTreeMap::new(),
            node_addrs: HashMap::new(),
        }
    }
}

impl RoutingTable {
    /// Takes a partition's new record (None: deleted).
    pub fn set_partition(&mut self, pid: u32, record: Option<PartitionRecord>) {
        if let Some(old) = self.partitions.remove(&pid) {
            for slot in slots_of(&old) {
                if self.slot_partition[slot] == pid {
                    self.slot_partition[slot] = NO_PARTITION;
                }
            }
        }
        if let Some(record) = record {
            for slot in slots_of(&record) {
                self.slot_partition[slot] = pid;
            }
            self.partitions.insert(pid, record);
        }
    }

    /// Takes a node's client address (None: the node is gone).
    pub fn set_node(&mut self, id: &str, addr: Option<String>) {
        match addr {
            Some(addr) => self.node_addrs.insert(id.to_string(), addr.into()),
            None => self.node_addrs.remove(id),
        };
    }

    pub fn partition_of(&self, slot: u16) -> Option<u32> {
        Some(self.slot_partition[slot as usize]).filter(|pid| *pid != NO_PARTITION)
    }

    /// The node whose client address is `addr`.
    pub fn node_at(&self, addr: &str) -> Option<&str> {
        self.node_addrs
            .iter()
            .find(|(_, at)| &***at == addr)
            .map(|(node, _)| node.as_str())
    }

    /// Every live shard server's client address, in order.
    pub fn server_addrs(&self) -> Vec<Arc<str>> {
        let mut addrs: Vec<Arc<str>> = self.node_addrs.values().cloned().collect();
        addrs.sort();
        addrs
    }

    /// The client address of a partition's leader, when it has a known one that leads (see
    /// [`PartitionRecord::led_by`]): until then requests wait for a route.
    pub fn leader_addr(&self, pid: u32) -> Option<Arc<str>> {
        let leader = leader_of(self.partitions.get(&pid)?)?;
        self.node_addrs.get(leader).cloned()
    }

    /// The client addresses of a partition's in-sync copies (the leader's included): where
    /// reads that may be stale can go.
    pub fn in_sync_addrs(&self, pid: u32) -> Vec<Arc<str>> {
        let Some(record) = self.partitions.get(&pid) else {
            return Vec::new();
        };
        record
            .isr
            .iter()
            .filter_map(|node| self.node_addrs.get(node).cloned())
            .collect()
    }

    /// What Redis Cluster clients are shown: the slot ranges of the partitions that have a
    /// leader with a known address, grouped by their copies (ids and client addresses of the
    /// leader, then of the in-sync followers), adjacent ranges joined.
    pub fn served(&self) -> Vec<Served> {
        let mut groups: Vec<Served> = Vec::new();
        for record in self.partitions.values() {
            let Some(leader) = leader_of(record) else {
                continue;
            };
            let copies: Vec<(String, Arc<str>)> = std::iter::once(leader)
                .chain(record.isr.iter().filter(|node| *node != leader))
                .filter_map(|node| Some((node.clone(), self.node_addrs.get(node)?.clone())))
                .collect();
            if copies.first().is_none_or(|(node, _)| node != leader) {
                continue;
            }
            let ranges = record
                .slots
                .iter()
                .map(|[low, high]| (*low, (*high).min(SLOTS - 1)));
            match groups.iter_mut().find(|(_, nodes)| *nodes == copies) {
                Some((slots, _)) => slots.extend(ranges),
                None => groups.push((ranges.collect(), copies)),
            }
        }
        for (slots, _) in &mut groups {
            slots.sort_unstable();
            let mut joined: Vec<(u16, u16)> = Vec::with_capacity(slots.len());
            for &(low, high) in slots.iter() {
                match joined.last_mut() {
                    Some(last) if u32::from(last.1) + 1 >= u32::from(low) => {
                        last.1 = last.1.max(high)
                    }
                    _ => joined.push((low, high)),
                }
            }
            *slots = joined;
        }
        groups.sort_by_key(|(slots, _)| slots.first().copied());
        groups
    }

    /// The lowest slot a partition owns: a slot to address it by.
    pub fn first_slot(&self, pid: u32) -> Option<u16> {
        let record = self.partitions.get(&pid)?;
        record.slots.iter().map(|[start, _]| *start).min()
    }

    /// Every partition id, in order.
    pub fn partitions(&self) -> impl Iterator<Item = u32> + '_ {
        self.partitions.keys().copied()
    }
}

fn slots_of(record: &PartitionRecord) -> impl Iterator<Item = usize> + '_ {
    record
        .slots
        .iter()
        .flat_map(|[start, end]| *start as usize..=(*end).min(SLOTS - 1) as usize)
}

/// A partition's leader, when it leads.
fn leader_of(record: &PartitionRecord) -> Option<&String> {
    record.leader.as_ref().filter(|l| record.led_by(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_records_and_leaders() {
        let mut table = RoutingTable::default();
        table.set_node("a", Some("127.0.0.1:1".into()));
        table.set_node("b", Some("127.0.0.1:2".into()));
        let record = |leader: &str| PartitionRecord {
            leader: Some(leader.into()),
            isr: vec![leader.into()],
            slots: vec![[0, 99]],
            ..PartitionRecord::default()
        };
        table.set_partition(3, Some(record("a")));
        assert_eq!(table.partition_of(50), Some(3));
        assert_eq!(table.leader_addr(3).as_deref(), Some("127.0.0.1:1"));
        assert_eq!(table.partition_of(100), None);
        table.set_partition(3, Some(record("b")));
        assert_eq!(table.leader_addr(3).as_deref(), Some("127.0.0.1:2"));
        // Named, but outside the in-sync set: a process that restarted empty does not lead.
        let restarted = PartitionRecord {
            isr: vec!["a".into()],
            ..record("b")
        };
        table.set_partition(3, Some(restarted));
        assert_eq!(table.leader_addr(3), None);
        assert!(table.served().is_empty());
        table.set_partition(3, Some(record("b")));
        table.set_node("b", None);
        assert_eq!(table.leader_addr(3), None);
        assert_eq!(table.partition_of(99), Some(3));
        table.set_partition(3, None);
        assert_eq!(table.partition_of(99), None);
        assert_eq!(table.partitions().count(), 0);
    }
}
