//! The values stored in etcd, as JSON. Every record carries a `version`; unknown fields are
//! ignored and missing ones take defaults, so a reader survives fields added later.

use serde::{Deserialize, Serialize};

/// Record format version written by this build.
pub const RECORD_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReplicationMode {
    #[default]
    Sync,
    Async,
}

impl std::fmt::Display for ReplicationMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplicationMode::Sync => "sync",
            ReplicationMode::Async => "async",
        })
    }
}

impl std::str::FromStr for ReplicationMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sync" => Ok(ReplicationMode::Sync),
            "async" => Ok(ReplicationMode::Async),
            other => Err(format!(
                "replication mode must be sync or async, not '{other}'"
            )),
        }
    }
}

/// `config`: the cluster's fixed settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterConfig {
    pub version: u32,
    pub partitions: u32,
    pub replication_factor: u32,
    pub replication_mode: ReplicationMode,
    pub lease_ttl_secs: u64,
    /// In `sync` mode, the fewest copies (the leader included) a partition's in-sync set may
    /// have while it accepts writes; below it writes answer NOREPLICAS.
    pub min_isr: u32,
    /// A partition whose in-sync copies are all gone gets a leader from its other live
    /// replicas anyway, losing what they lacked, instead of waiting for an in-sync copy.
    pub unclean_failover: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            version: RECORD_VERSION,
            partitions: 16,
            replication_factor: 2,
            replication_mode: ReplicationMode::Sync,
            lease_ttl_secs: 2,
            min_isr: 1,
            unclean_failover: false,
        }
    }
}

/// One contiguous range of slots owned by a partition (inclusive bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
    pub partition: u32,
}

/// `slots`: the slot → partition map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SlotMap {
    pub version: u32,
    pub ranges: Vec<SlotRange>,
}

impl SlotMap {
    /// The 16384 slots split into `partitions` contiguous, near-equal ranges.
    pub fn even(partitions: u32) -> SlotMap {
        let slots = crate::SLOTS as u32;
        let partitions = partitions.clamp(1, slots);
        let ranges = (0..partitions)
            .map(|p| SlotRange {
                start: (p * slots / partitions) as u16,
                end: ((p + 1) * slots / partitions - 1) as u16,
                partition: p,
            })
            .collect();
        SlotMap {
            version: RECORD_VERSION,
            ranges,
        }
    }

    pub fn partition_of(&self, slot: u16) -> Option<u32> {
        self.ranges
            .iter()
            .find(|r| r.start <= slot && slot <= r.end)
            .map(|r| r.partition)
    }
}

/// `partitions/<pid>`: placement of one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PartitionRecord {
    pub version: u32,
    pub epoch: u64,
    pub leader: Option<String>,
    pub replicas: Vec<String>,
    pub isr: Vec<String>,
    pub slots: Vec<[u16; 2]>,
    /// A planned leader change in progress: the controller names the in-sync replica that is
    /// to lead; the leader pauses writes, waits until that replica has every record, and
    /// writes the next epoch itself ([`PartitionRecord::handed_over`]).
    pub handover: Option<String>,
}

impl PartitionRecord {
    /// Whether `node` leads the partition: it is named leader and is in the in-sync set. A
    /// named leader outside the set is a process that restarted empty before the controller
    /// replaced it (a starting server withdraws from every in-sync set): it must not serve
    /// the partition, nor stream its empty copy to followers, until it is elected again.
    pub fn led_by(&self, node: &str) -> bool {
        self.leader.as_deref() == Some(node) && self.isr.iter().any(|n| n == node)
    }

    /// The record after the handover it asks for: the named replica leads at the next epoch.
    /// None when no handover is asked for, or its target is not an in-sync replica.
    pub fn handed_over(&self) -> Option<PartitionRecord> {
        let target = self.handover.as_ref()?;
        if !self.isr.contains(target) || self.leader.as_ref() == Some(target) {
            return None;
        }
        let at = self.replicas.iter().position(|n| n == target)?;
        let mut next = self.clone();
        next.version = RECORD_VERSION;
        next.replicas.swap(0, at);
        next.leader = Some(target.clone());
        next.epoch += 1;
        next.handover = None;
        Some(next)
    }
}

/// `nodes/<id>`: a shard server's registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct NodeRecord {
    pub version: u32,
    pub id: String,
    pub client_addr: String,
    pub replication_addr: String,
    pub admin_addr: String,
    pub zone: String,
    /// One of [`node_state`]'s.
    pub state: String,
    /// The server answers reads under its lease (`read-consistency lease`): a controller that
    /// revokes its lease while the process may still run waits the lease out before electing.
    pub lease_reads: bool,
}

/// What a node record's `state` says of its server.
pub mod node_state {
    /// In service.
    pub const UP: &str = "up";
    /// An operator's drain: its replicas and leaderships move to other nodes.
    pub const DRAINING: &str = "draining";
    pub const REMOVED: &str = "removed";
    /// The server is stopping (SIGTERM, for a restart): it keeps its copies while its
    /// leaderships are handed over to in-sync followers.
    pub const STOPPING: &str = "stopping";
}

/// `suspects/<node>/<reporter>`: why `reporter` thinks `node` crashed or is cut off, under a
/// short lease of the reporter's (a report lapses unless repeated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspectReport {
    pub by: Witness,
    pub evidence: Evidence,
}

/// Who reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Witness {
    /// A proxy, about a shard server it forwards to.
    Proxy,
    /// A follower, about the leader it streams from.
    Follower,
}

/// What the reporter saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    /// Connections refused: no process listens.
    Refused,
    /// No answer: connecting timed out, or a request or a replication stream went quiet.
    Silent,
}

/// `proxies/<id>`: a live proxy's addresses, bound to its lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProxyRecord {
    pub version: u32,
    pub id: String,
    pub client_addr: String,
    pub admin_addr: String,
}

impl ProxyRecord {
    /// The record as stored: JSON, or the bare client address earlier proxies stored.
    pub fn parse(value: &[u8]) -> ProxyRecord {
        serde_json::from_slice(value).unwrap_or_else(|_| ProxyRecord {
            version: RECORD_VERSION,
            id: String::new(),
            client_addr: String::from_utf8_lossy(value).into_owned(),
            admin_addr: String::new(),
        })
    }
}

/// The value a controller campaigns with under `controller/leader`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ControllerRecord {
    pub version: u32,
    pub id: String,
    pub admin_addr: String,
}

impl ControllerRecord {
    /// The record as stored: JSON, or the bare id earlier controllers campaigned with.
    pub fn parse(value: &[u8]) -> ControllerRecord {
        serde_json::from_slice(value).unwrap_or_else(|_| ControllerRecord {
            version: RECORD_VERSION,
            id: String::from_utf8_lossy(value).into_owned(),
            admin_addr: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_slot_map_covers_every_slot_once() {
        for partitions in [1, 3, 16, 1000] {
            let map = SlotMap::even(partitions);
            assert_eq!(map.ranges.len(), partitions as usize);
            let mut expected = 0u32;
            for range in &map.ranges {
                assert_eq!(range.start as u32, expected);
                expected = range.end as u32 + 1;
            }
            assert_eq!(expected, crate::SLOTS as u32);
            assert_eq!(map.partition_of(0), Some(0));
            assert_eq!(map.partition_of(16383), Some(partitions - 1));
        }
    }

    #[test]
    fn a_handover_moves_leadership_to_its_in_sync_target_at_the_next_epoch() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut record = PartitionRecord {
            epoch: 4,
            leader: Some("n1".into()),
            replicas: names(&["n1", "n2", "n3"]),
            isr: names(&["n1", "n3"]),
            ..PartitionRecord::default()
        };
        assert_eq!(record.handed_over(), None);
        record.handover = Some("n2".into());
        assert_eq!(record.handed_over(), None, "n2 is not in sync");
        record.handover = Some("n3".into());
        let next = record.handed_over().unwrap();
        assert_eq!(next.leader.as_deref(), Some("n3"));
        assert_eq!(next.replicas, names(&["n3", "n2", "n1"]));
        assert_eq!((next.epoch, next.isr, next.handover), (5, record.isr, None));
    }

    #[test]
    fn readers_tolerate_new_and_missing_fields() {
        let record: PartitionRecord =
            serde_json::from_str(r#"{"version":2,"epoch":7,"future_field":[1,2]}"#).unwrap();
        assert_eq!(record.epoch, 7);
        assert!(record.replicas.is_empty());
        let config: ClusterConfig = serde_json::from_str(r#"{"partitions":4}"#).unwrap();
        assert_eq!(config.replication_factor, 2);
        let proxy =
            ProxyRecord::parse(br#"{"client_addr":"10.0.0.1:6379","admin_addr":"10.0.0.1:9121"}"#);
        assert_eq!(proxy.admin_addr, "10.0.0.1:9121");
        assert_eq!(
            ProxyRecord::parse(b"10.0.0.2:6379").client_addr,
            "10.0.0.2:6379"
        );
    }
}
