//! The proxy's routing table: the cluster's [`RoutingTable`] plus the live proxies, mirrored
//! from etcd by watches. It is only ever replaced by newer etcd state, so while etcd is
//! unreachable the proxy goes on routing by the last table it saw.

use parking_lot::RwLock;
use slotcache_cluster::records::PartitionRecord;
use slotcache_cluster::routing::RoutingTable;
use slotcache_cluster::SLOTS;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Default)]
struct Topology {
    routing: RoutingTable,
    /// Each slot's leader address, derived from `routing` on every change: the per-request
    /// lookup is one index.
    leaders: Vec<Option<Arc<str>>>,
    /// Each partition's in-sync copies' addresses, for READONLY reads.
    readers: BTreeMap<u32, Vec<Arc<str>>>,
    /// Live proxies by id, with the address each announces.
    proxies: BTreeMap<String, String>,
}

impl Topology {
    fn derive_routes(&mut self) {
        let routing = &self.routing;
        self.leaders = (0..SLOTS)
            .map(|slot| routing.leader_addr(routing.partition_of(slot)?))
            .collect();
        self.readers = routing
            .partitions()
            .map(|pid| (pid, routing.in_sync_addrs(pid)))
            .collect();
    }
}

/// Items whose slots one server leads, with its address.
pub type LeaderGroup<T> = (Arc<str>, Vec<T>);

#[derive(Default)]
pub struct RouteTable {
    topology: RwLock<Topology>,
    /// Bumped on every placement change, for requests waiting out a leader change.
    version: watch::Sender<u64>,
}

/// How long a request waiting out a leader change waits after its `attempt`-th failure when
/// the placement does not change meanwhile: briefly at first (the new leader may take up its
/// role a moment after the proxy learnt of it), then up to 100 ms.
pub fn retry_wait(attempt: usize) -> Duration {
    Duration::from_millis((5u64 << attempt.min(5)).min(100))
}

impl RouteTable {
    /// Applies a partition record (None: deleted), by its id.
    pub fn set_partition(&self, pid: u32, record: Option<PartitionRecord>) {
        let mut topology = self.topology.write();
        topology.routing.set_partition(pid, record);
        topology.derive_routes();
        drop(topology);
        self.version.send_modify(|version| *version += 1);
    }

    /// Applies a node's client address (None: the node is gone).
    pub fn set_node(&self, id: &str, addr: Option<String>) {
        let mut topology = self.topology.write();
        topology.routing.set_node(id, addr);
        topology.derive_routes();
        drop(topology);
        self.version.send_modify(|version| *version += 1);
    }

    pub fn set_proxy(&self, id: &str, addr: Option<String>) {
        let mut topology = self.topology.write();
        match addr {
            Some(addr) => topology.proxies.insert(id.to_string(), addr),
            None => topology.proxies.remove(id),
        };
    }

    /// The node whose client address is `addr`.
    pub fn node_at(&self, addr: &str) -> Option<String> {
        self.topology.read().routing.node_at(addr).map(String::from)
    }

    /// The `turn`-th of the in-sync copies of `slot`'s partition, round the list: where a
    /// READONLY client's reads spread.
    pub fn reader_of(&self, slot: u16, turn: usize) -> Option<Arc<str>> {
        let topology = self.topology.read();
        let pid = topology.routing.partition_of(slot)?;
        let readers = topology.readers.get(&pid)?;
        readers.get(turn % readers.len().max(1)).cloned()
    }

    /// The address of the leader of `slot`'s partition, when it has a known one.
    pub fn leader_of(&self, slot: u16) -> Option<Arc<str>> {
        self.topology.read().leaders.get(usize::from(slot))?.clone()
    }

    /// Groups `items` by the leader of their slots, with one look at the table; the items
    /// whose slot has no known leader come back apart.
    pub fn group_by_leader<T>(
        &self,
        items: Vec<T>,
        slot: impl Fn(&T) -> u16,
    ) -> (Vec<LeaderGroup<T>>, Vec<T>) {
        let topology = self.topology.read();
        let mut groups: Vec<LeaderGroup<T>> = Vec::new();
        let mut leaderless = Vec::new();
        for item in items {
            let Some(Some(addr)) = topology.leaders.get(usize::from(slot(&item))) else {
                leaderless.push(item);
                continue;
            };
            // Addresses are shared, so a pointer comparison usually settles it.
            let same = |group: &Arc<str>| Arc::ptr_eq(group, addr) || group == addr;
            match groups.iter_mut().find(|(group, _)| same(group)) {
                Some((_, members)) => members.push(item),
                None => groups.push((addr.clone(), vec![item])),
            }
        }
        (groups, leaderless)
    }

    pub fn partition_of(&self, slot: u16) -> Option<u32> {
        self.topology.read().routing.partition_of(slot)
    }

    /// The lowest slot of a partition: where requests addressed to the partition are routed.
    pub fn first_slot(&self, pid: u32) -> Option<u16> {
        self.topology.read().routing.first_slot(pid)
    }

    /// Every partition with its leader's address (None while it has no known leader).
    pub fn partitions(&self) -> Vec<(u32, Option<Arc<str>>)> {
        let topology = self.topology.read();
        let routing = &topology.routing;
        routing
            .partitions()
            .map(|pid| (pid, routing.leader_addr(pid)))
            .collect()
    }

    /// Every leader address, once each: where keyless requests go.
    pub fn leader_addrs(&self) -> Vec<Arc<str>> {
        let mut addrs: Vec<Arc<str>> = self
            .partitions()
            .into_iter()
            .filter_map(|(_, addr)| addr)
            .collect();
        addrs.sort();
        addrs.dedup();
        addrs
    }

    /// Every live shard server's address, leader or not: where settings go.
    pub fn server_addrs(&self) -> Vec<Arc<str>> {
        self.topology.read().routing.server_addrs()
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

    /// The placement's version: see [`RouteTable::changed_since`].
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// Waits until the placement changed since version `seen` (at once if it has already),
    /// or `patience` at most.
    pub async fn changed_since(&self, seen: u64, patience: Duration) {
        let mut versions = self.version.subscribe();
        let _ = tokio::time::timeout(patience, versions.wait_for(|v| *v != seen)).await;
    }
}
