//! Which keyspace a request runs in. Standalone, every request runs in the one keyspace. In
//! cluster mode a request with keys runs in the keyspace of their slot's partition when this
//! server leads it, and is redirected (`MOVED`) otherwise; a keyless request runs in the
//! partition the connection last addressed, as it would on the Redis Cluster node owning it.

use crate::engine::SharedKeyspace;
use ahash::AHashMap;
use bytes::Bytes;
use slotcache_cluster::records::PartitionRecord;
use slotcache_cluster::{key_slot, SLOTS};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("CROSSSLOT Keys in request don't hash to the same slot")]
    CrossSlot,
    /// Unknown command or wrong arity: the reply Redis would give.
    #[error("{0}")]
    Command(String),
}

/// The slot every key of `args` hashes to, or None for a keyless request.
pub fn request_slot(args: &[Bytes]) -> Result<Option<u16>, RouteError> {
    let table = crate::commands::Table::get();
    let resolved = table
        .resolve(args)
        .map_err(|err| RouteError::Command(err.to_string()))?;
    if !resolved.spec.arity_ok(args.len()) {
        let err = crate::commands::arity_error(resolved.spec);
        return Err(RouteError::Command(err.to_string()));
    }
    let mut slot = None;
    for position in resolved.spec.key_positions(args) {
        let this = key_slot(&args[position]);
        match slot {
            None => slot = Some(this),
            Some(s) if s == this => {}
            Some(_) => return Err(RouteError::CrossSlot),
        }
    }
    Ok(slot)
}

const NO_PARTITION: u32 = u32::MAX;

/// This server's view of the placement, from the partition and node records it watches.
pub struct Routes {
    node_id: String,
    slot_partition: Vec<u32>,
    records: AHashMap<u32, PartitionRecord>,
    /// Keyspaces of the partitions this server leads.
    led: AHashMap<u32, SharedKeyspace>,
    /// Client addresses of the nodes, for redirects.
    node_addrs: AHashMap<String, String>,
}

/// Where a request goes.
pub enum Target {
    /// The connection's current keyspace (keyless requests, and requests Redis refuses before
    /// looking at keys: unknown commands, wrong arity).
    Current,
    Partition(u32, SharedKeyspace),
}

impl Routes {
    pub fn new(node_id: &str) -> Routes {
        Routes {
            node_id: node_id.to_string(),
            slot_partition: vec![NO_PARTITION; SLOTS as usize],
            records: AHashMap::new(),
            led: AHashMap::new(),
            node_addrs: AHashMap::new(),
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
        if let Some(old) = self.records.remove(&pid) {
            for [start, end] in old.slots {
                for slot in start..=end.min(SLOTS - 1) {
                    if self.slot_partition[slot as usize] == pid {
                        self.slot_partition[slot as usize] = NO_PARTITION;
                    }
                }
            }
        }
        self.led.remove(&pid);
        let Some(record) = record else { return };
        for [start, end] in &record.slots {
            for slot in *start..=(*end).min(SLOTS - 1) {
                self.slot_partition[slot as usize] = pid;
            }
        }
        if record.leader.as_deref() == Some(self.node_id.as_str()) {
            if let Some(keyspace) = keyspace {
                self.led.insert(pid, keyspace);
            }
        }
        self.records.insert(pid, record);
    }

    pub fn set_node_addr(&mut self, node: &str, addr: Option<String>) {
        match addr {
            Some(addr) => self.node_addrs.insert(node.to_string(), addr),
            None => self.node_addrs.remove(node),
        };
    }

    /// The partition leading `slot` here, or the error a client gets: a redirect to the
    /// leader, or CLUSTERDOWN when the slot has none.
    pub fn locate(&self, slot: u16) -> Result<(u32, SharedKeyspace), String> {
        let pid = self.slot_partition[slot as usize];
        if let Some(keyspace) = self.led.get(&pid) {
            return Ok((pid, keyspace.clone()));
        }
        let leader = self
            .records
            .get(&pid)
            .and_then(|r| r.leader.as_ref())
            .and_then(|id| self.node_addrs.get(id));
        match leader {
            Some(addr) => Err(format!("MOVED {slot} {addr}")),
            None => Err("CLUSTERDOWN Hash slot not served".to_string()),
        }
    }

    /// Where `args` runs; an error reply when it cannot run here. Keys of different slots
    /// may meet in one request when they share a partition: the proxy sends such requests
    /// when it splits a multi-key command by partition.
    pub fn target(&self, args: &[Bytes]) -> Result<Target, String> {
        let table = crate::commands::Table::get();
        let spec = match table.resolve(args) {
            Ok(resolved) if resolved.spec.arity_ok(args.len()) => resolved.spec,
            _ => return Ok(Target::Current),
        };
        let mut first: Option<(u32, u16)> = None;
        for position in spec.key_positions(args) {
            let slot = key_slot(&args[position]);
            let pid = self.slot_partition[slot as usize];
            match first {
                None => first = Some((pid, slot)),
                Some((seen, _)) if seen == pid => {}
                Some(_) => return Err(RouteError::CrossSlot.to_string()),
            }
        }
        match first {
            None => Ok(Target::Current),
            Some((_, slot)) => {
                let (pid, keyspace) = self.locate(slot)?;
                Ok(Target::Partition(pid, keyspace))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect()
    }

    #[test]
    fn single_and_multi_key_requests() {
        assert_eq!(request_slot(&args("GET foo")), Ok(Some(12182)));
        assert_eq!(request_slot(&args("PING")), Ok(None));
        let tagged = request_slot(&args("MSET {u1}a 1 {u1}b 2")).unwrap();
        assert_eq!(tagged, Some(key_slot(b"u1")));
        assert_eq!(
            request_slot(&args("MSET a 1 b 2")),
            Err(RouteError::CrossSlot)
        );
        assert_eq!(
            request_slot(&args("BITOP AND {t}d {t}a {t}b")),
            Ok(Some(key_slot(b"t")))
        );
        assert_eq!(
            request_slot(&args("RENAME a b")).unwrap_err().to_string(),
            "CROSSSLOT Keys in request don't hash to the same slot"
        );
    }

    #[test]
    fn bad_requests_get_redis_errors() {
        assert_eq!(
            request_slot(&args("GET")).unwrap_err().to_string(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert!(request_slot(&args("NOSUCH x"))
            .unwrap_err()
            .to_string()
            .starts_with("ERR unknown command 'NOSUCH'"));
    }

    #[test]
    fn slots_route_to_led_partitions_or_redirect() {
        let mut routes = Routes::new("n1");
        let led = std::sync::Arc::new(parking_lot::Mutex::new(crate::engine::Keyspace::new(1)));
        let record = |leader: &str, slots: [u16; 2]| PartitionRecord {
            leader: Some(leader.to_string()),
            slots: vec![slots],
            ..PartitionRecord::default()
        };
        routes.update(0, Some(record("n1", [0, 8191])), Some(led));
        routes.update(1, Some(record("n2", [8192, 16383])), None);
        routes.set_node_addr("n2", Some("10.0.0.2:7011".into()));
        assert_eq!(routes.locate(100).map(|(pid, _)| pid), Ok(0));
        assert_eq!(
            routes.locate(9000).err(),
            Some("MOVED 9000 10.0.0.2:7011".to_string())
        );
        routes.update(1, None, None);
        assert_eq!(
            routes.locate(9000).err(),
            Some("CLUSTERDOWN Hash slot not served".to_string())
        );
        assert!(matches!(routes.target(&args("PING")), Ok(Target::Current)));
        // Slots 3300 ("b") and 7365 ("c") differ but share partition 0; "a" is in 15495.
        assert!(matches!(
            routes.target(&args("MGET b c")),
            Ok(Target::Partition(0, _))
        ));
        assert_eq!(
            routes.target(&args("MGET a b")).err(),
            Some("CROSSSLOT Keys in request don't hash to the same slot".to_string())
        );
    }
}
