//! Which keyspace a request runs in. Standalone, every request runs in the one keyspace. In
//! cluster mode a request with keys runs in the keyspace of their slot's partition when this
//! server leads it (or, for a read on a READONLY connection, holds a follower copy), and is
//! redirected (`MOVED`) otherwise; a keyless request runs in the partition the connection last
//! addressed, as it would on the Redis Cluster node owning it.

use crate::commands::CommandSpec;
use slotcache_protocol::command::route::slot_of;
use slotcache_protocol::command::Flag;
use slotcache_protocol::slot::parse_slot;
use slotcache_protocol::topology::{Node, Shard};

use crate::partition::SharedKeyspace;
use ahash::AHashMap;
use bytes::Bytes;
use slotcache_cluster::records::PartitionRecord;
use slotcache_cluster::routing::RoutingTable;

/// This server's view of the placement, from the partition and node records it watches.
pub struct Routes {
    node_id: String,
    table: RoutingTable,
    /// Keyspaces of the partitions this server leads.
    led: AHashMap<u32, SharedKeyspace>,
    /// Keyspaces of the partitions this server follows.
    followed: AHashMap<u32, SharedKeyspace>,
}

/// Where a request goes.
pub enum Target<'a> {
    /// The connection's current keyspace (keyless requests, and requests Redis refuses before
    /// looking at keys: unknown commands, wrong arity).
    Current,
    Partition(u32, &'a SharedKeyspace),
}

impl Routes {
    pub fn new(node_id: &str) -> Routes {
        Routes {
            node_id: node_id.to_string(),
            table: RoutingTable::default(),
            led: AHashMap::new(),
            followed: AHashMap::new(),
        }
    }

    /// Takes a partition's new record (None: deleted); `keyspace` is its keyspace when this
    /// server hosts it.
    pub fn update(
        &mut self,
        pid: u32,
        record: Option<PartitionRecord>,
        keyspace: Option<SharedKeyspace>,
    ) {
        self.led.remove(&pid);
        self.followed.remove(&pid);
        let leads = record.as_ref().is_some_and(|r| r.led_by(&self.node_id));
        if let Some(keyspace) = keyspace {
            match leads {
                true => self.led.insert(pid, keyspace),
                false => self.followed.insert(pid, keyspace),
            };
        }
        self.table.set_partition(pid, record);
    }

    /// Whether the placement names this server the leader of `pid`.
    pub fn leads(&self, pid: u32) -> bool {
        self.led.contains_key(&pid)
    }

    pub fn set_node_addr(&mut self, node: &str, addr: Option<String>) {
        self.table.set_node(node, addr);
    }

    /// The cluster as Redis Cluster clients see it from this server (direct mode): each
    /// group of partitions a leader leads with the same in-sync followers is a master, with
    /// those followers as its replicas when `with_replicas`.
    pub fn topology(&self, with_replicas: bool) -> Vec<Shard> {
        self.table
            .served()
            .into_iter()
            .filter_map(|(slots, copies)| {
                let mut nodes = copies
                    .iter()
                    .map(|(id, addr)| Node::new(id, addr, *id == self.node_id));
                Some(Shard {
                    slots,
                    master: nodes.next()?,
                    replicas: nodes.filter(|_| with_replicas).collect(),
                })
            })
            .collect()
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The partition leading `slot` here (or any copy of it, for `any_copy`), or the error a
    /// client gets: a redirect to the leader, or CLUSTERDOWN when the slot has none.
    pub fn locate(&self, slot: u16, any_copy: bool) -> Result<(u32, &SharedKeyspace), String> {
        let pid = self.table.partition_of(slot);
        let here = |pid| {
            let copy = self.led.get(&pid);
            match any_copy {
                true => copy.or_else(|| self.followed.get(&pid)),
                false => copy,
            }
        };
        if let Some((pid, keyspace)) = pid.and_then(|pid| Some((pid, here(pid)?))) {
            return Ok((pid, keyspace));
        }
        match pid.and_then(|pid| self.table.leader_addr(pid)) {
            Some(addr) => Err(format!("MOVED {slot} {addr}")),
            None => Err("CLUSTERDOWN Hash slot not served".to_string()),
        }
    }

    /// Where `args`, a call of `command` (None: unknown, or of the wrong arity), runs; an
    /// error reply when it cannot run here. Keys of different slots
    /// may meet in one request when they share a partition: the proxy sends such requests
    /// when it splits a multi-key command by partition. A READONLY connection's reads may run
    /// on a follower copy.
    pub fn target(
        &self,
        command: Option<&'static CommandSpec>,
        args: &[Bytes],
        readonly: bool,
    ) -> Result<Target<'_>, String> {
        let Some(spec) = command else {
            return Ok(Target::Current);
        };
        let same_partition = |a, b| self.table.partition_of(a) == self.table.partition_of(b);
        let mut any_copy = false;
        let slot = match slot_of(spec, args, same_partition).map_err(|err| err.to_string())? {
            Some(slot) => {
                any_copy = readonly && spec.flags.has(Flag::Readonly);
                slot
            }
            None => match self.addressed_slot(spec, args) {
                Some(slot) => slot?,
                None => return Ok(Target::Current),
            },
        };
        let (pid, keyspace) = self.locate(slot, any_copy)?;
        Ok(Target::Partition(pid, keyspace))
    }

    /// The slot that a keyless CLUSTER subcommand addresses by its argument: a slot, or a
    /// partition (by the first slot it owns). Invalid arguments are left to the command.
    fn addressed_slot(&self, spec: &CommandSpec, args: &[Bytes]) -> Option<Result<u16, String>> {
        let arg = args.get(2)?;
        match spec.name {
            "cluster|countkeysinslot" | "cluster|getkeysinslot" => Some(Ok(parse_slot(arg)?)),
            "cluster|partition" => {
                let pid = std::str::from_utf8(arg).ok()?.parse().ok()?;
                Some(
                    self.table
                        .first_slot(pid)
                        .ok_or_else(|| "CLUSTERDOWN Hash slot not served".to_string()),
                )
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotcache_protocol::command::Table;

    /// Where a request runs, resolved as the connection resolves it.
    fn target<'a>(
        routes: &'a Routes,
        args: &[Bytes],
        readonly: bool,
    ) -> Result<Target<'a>, String> {
        let command = Table::get()
            .resolve(args)
            .ok()
            .map(|resolved| resolved.spec)
            .filter(|spec| spec.arity_ok(args.len()));
        routes.target(command, args, readonly)
    }

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect()
    }

    #[test]
    fn slots_route_to_led_partitions_or_redirect() {
        let mut routes = Routes::new("n1");
        let led = std::sync::Arc::new(parking_lot::Mutex::new(crate::partition::Keyspace::new(1)));
        let record = |leader: &str, slots: [u16; 2]| PartitionRecord {
            leader: Some(leader.to_string()),
            isr: vec![leader.to_string()],
            slots: vec![slots],
            ..PartitionRecord::default()
        };
        // Named leader, but outside the in-sync set (restarted empty): not served here.
        let restarted = PartitionRecord {
            isr: vec!["n2".into()],
            ..record("n1", [0, 8191])
        };
        routes.update(0, Some(restarted), Some(led.clone()));
        assert!(routes.locate(100, false).is_err());
        routes.update(0, Some(record("n1", [0, 8191])), Some(led));
        routes.update(1, Some(record("n2", [8192, 16383])), None);
        routes.set_node_addr("n2", Some("10.0.0.2:7011".into()));
        assert_eq!(routes.locate(100, false).map(|(pid, _)| pid), Ok(0));
        let moved = Some("MOVED 9000 10.0.0.2:7011".to_string());
        assert_eq!(routes.locate(9000, false).err(), moved);
        // A follower copy serves READONLY reads only.
        let followed =
            std::sync::Arc::new(parking_lot::Mutex::new(crate::partition::Keyspace::new(1)));
        routes.update(1, Some(record("n2", [8192, 16383])), Some(followed));
        assert!(matches!(
            target(&routes, &args("GET a"), true),
            Ok(Target::Partition(1, _))
        ));
        assert_eq!(
            target(&routes, &args("GET a"), false).err(),
            moved.map(|m| m.replace("9000", "15495"))
        );
        assert!(target(&routes, &args("SET a 1"), true).is_err());
        routes.update(1, None, None);
        assert_eq!(
            routes.locate(9000, false).err(),
            Some("CLUSTERDOWN Hash slot not served".to_string())
        );
        assert!(matches!(
            target(&routes, &args("PING"), false),
            Ok(Target::Current)
        ));
        // Slots 3300 ("b") and 7365 ("c") differ but share partition 0; "a" is in 15495.
        assert!(matches!(
            target(&routes, &args("MGET b c"), false),
            Ok(Target::Partition(0, _))
        ));
        assert_eq!(
            target(&routes, &args("MGET a b"), false).err(),
            Some("CROSSSLOT Keys in request don't hash to the same slot".to_string())
        );
    }
}
