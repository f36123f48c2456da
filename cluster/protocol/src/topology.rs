//! The cluster as Redis Cluster clients read it: CLUSTER SLOTS, SHARDS, NODES and INFO,
//! rendered from a list of slot ranges and the nodes serving them. The proxy describes
//! proxies this way, a shard server in direct mode the partitions' leaders and in-sync
//! followers.

use crate::resp::Reply;
use crate::SLOTS;
use sha1::{Digest, Sha1};

/// A node as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Redis Cluster's 40 hex characters (see [`node_id`]).
    pub id: String,
    pub host: String,
    pub port: u16,
    /// The node answering the request.
    pub myself: bool,
}

impl Node {
    /// The node named `name` (a slotcache node or proxy id) at `addr` (host:port).
    pub fn new(name: &str, addr: &str, myself: bool) -> Node {
        let (host, port) = match addr.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port.parse().unwrap_or(0)),
            None => (addr.to_string(), 0),
        };
        Node {
            id: node_id(name),
            host,
            port,
            myself,
        }
    }
}

/// Slot ranges served by one master, with the replicas that may answer READONLY reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub slots: Vec<(u16, u16)>,
    pub master: Node,
    pub replicas: Vec<Node>,
}

/// A name's Redis Cluster node id: 40 hex characters, the same on every node.
pub fn node_id(name: &str) -> String {
    Sha1::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// CLUSTER SLOTS: one entry per slot range, master first.
pub fn slots(out: &mut Reply, shards: &[Shard]) {
    let ranges = shards.iter().map(|shard| shard.slots.len()).sum();
    out.array(ranges);
    for shard in shards {
        for (low, high) in &shard.slots {
            out.array(3 + shard.replicas.len());
            out.int(i64::from(*low));
            out.int(i64::from(*high));
            for node in std::iter::once(&shard.master).chain(&shard.replicas) {
                out.array(4);
                out.bulk(node.host.as_bytes());
                out.int(i64::from(node.port));
                out.bulk(node.id.as_bytes());
                out.map(0);
            }
        }
    }
}

/// CLUSTER SHARDS: each shard's ranges (flattened start, end pairs) and nodes.
pub fn shards(out: &mut Reply, shards: &[Shard]) {
    out.array(shards.len());
    for shard in shards {
        out.map(2);
        out.bulk(b"slots");
        out.array(shard.slots.len() * 2);
        for (low, high) in &shard.slots {
            out.int(i64::from(*low));
            out.int(i64::from(*high));
        }
        out.bulk(b"nodes");
        out.array(1 + shard.replicas.len());
        let roles = std::iter::once((&shard.master, "master"))
            .chain(shard.replicas.iter().map(|node| (node, "replica")));
        for (node, role) in roles {
            out.map(7);
            for (field, value) in [
                ("id", &node.id),
                ("ip", &node.host),
                ("endpoint", &node.host),
            ] {
                out.bulk(field.as_bytes());
                out.bulk(value.as_bytes());
            }
            out.bulk(b"port");
            out.int(i64::from(node.port));
            out.bulk(b"role");
            out.bulk(role.as_bytes());
            out.bulk(b"replication-offset");
            out.int(0);
            out.bulk(b"health");
            out.bulk(b"online");
        }
    }
}

/// CLUSTER NODES: every master once, with all its ranges. A node is a master here even when
/// it also holds follower copies of others' slots (Redis Cluster has no such node); replicas
/// that lead nothing are listed as replicas of the first master they follow.
pub fn nodes(shards: &[Shard]) -> String {
    let mut masters: Vec<(&Node, Vec<(u16, u16)>)> = Vec::new();
    for shard in shards {
        match masters
            .iter_mut()
            .find(|(node, _)| node.id == shard.master.id)
        {
            Some((_, ranges)) => ranges.extend(&shard.slots),
            None => masters.push((&shard.master, shard.slots.clone())),
        }
    }
    let mut lines: String = masters
        .iter()
        .map(|(node, ranges)| {
            let mut ranges = ranges.clone();
            ranges.sort_unstable();
            let ranges: Vec<String> = ranges
                .iter()
                .map(|(low, high)| match low == high {
                    true => low.to_string(),
                    false => format!("{low}-{high}"),
                })
                .collect();
            line(node, "master", "-", &ranges.join(" "))
        })
        .collect();
    let mut listed: Vec<&str> = masters.iter().map(|(node, _)| node.id.as_str()).collect();
    for shard in shards {
        for replica in &shard.replicas {
            if !listed.contains(&replica.id.as_str()) {
                listed.push(&replica.id);
                lines.push_str(&line(replica, "slave", &shard.master.id, ""));
            }
        }
    }
    lines
}

fn line(node: &Node, role: &str, master: &str, ranges: &str) -> String {
    let myself = if node.myself { "myself," } else { "" };
    let ranges = if ranges.is_empty() {
        String::new()
    } else {
        format!(" {ranges}")
    };
    format!(
        "{} {}:{}@{} {myself}{role} {master} 0 0 1 connected{ranges}\n",
        node.id,
        node.host,
        node.port,
        u32::from(node.port) + 10000,
    )
}

/// CLUSTER INFO: `ok` while every slot has a master.
pub fn info(shards: &[Shard], known_nodes: usize) -> String {
    let served: usize = shards
        .iter()
        .flat_map(|shard| &shard.slots)
        .map(|(low, high)| usize::from(high - low) + 1)
        .sum();
    let state = if served >= usize::from(SLOTS) {
        "ok"
    } else {
        "fail"
    };
    let masters = shards
        .iter()
        .map(|shard| &shard.master.id)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    format!(
        "cluster_state:{state}\r\ncluster_slots_assigned:{served}\r\ncluster_slots_ok:{served}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{known_nodes}\r\n\
         cluster_size:{masters}\r\ncluster_current_epoch:1\r\ncluster_my_epoch:1\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(master: &str, replicas: &[&str], slots: Vec<(u16, u16)>) -> Shard {
        Shard {
            slots,
            master: Node::new(master, &format!("127.0.0.1:{}", 7000 + master.len()), false),
            replicas: replicas
                .iter()
                .map(|r| Node::new(r, "127.0.0.1:7100", false))
                .collect(),
        }
    }

    #[test]
    fn nodes_lists_each_master_once_with_all_its_ranges() {
        let shards = [
            shard("a", &["bb"], vec![(0, 99)]),
            shard("bb", &["a"], vec![(100, 100)]),
            shard("a", &["ccc"], vec![(101, 16383)]),
        ];
        let text = nodes(&shards);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with("master - 0 0 1 connected 0-99 101-16383"));
        assert!(lines[1].ends_with("master - 0 0 1 connected 100"));
        assert!(lines[2].contains(&format!("slave {}", node_id("a"))));
        assert!(info(&shards, 3).starts_with("cluster_state:ok\r\ncluster_slots_assigned:16384"));
        assert!(info(&shards[..2], 3).starts_with("cluster_state:fail"));
        assert_eq!(node_id("a").len(), 40);
    }
}
