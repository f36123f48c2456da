//! The dashboard's event log: what changed between two readings of the cluster.

use crate::records::PartitionRecord;
use crate::store::ClusterState;
use serde::Serialize;
use std::collections::VecDeque;

/// Events kept, newest first.
const KEPT: usize = 100;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Event {
    pub time_ms: u64,
    /// `node-joined`, `node-lost`, `placed` (a first leader), `failover`, `handover`, `isr`,
    /// `replicas`, `controller`.
    pub kind: &'static str,
    pub text: String,
}

#[derive(Default, Serialize)]
#[serde(transparent)]
pub struct Events(VecDeque<Event>);

impl Events {
    fn push(&mut self, time_ms: u64, kind: &'static str, text: String) {
        self.0.push_front(Event {
            time_ms,
            kind,
            text,
        });
        self.0.truncate(KEPT);
    }

    /// Records what differs from `before` to `after`.
    pub fn compare(&mut self, before: &ClusterState, after: &ClusterState, now: u64) {
        for node in &after.active_nodes {
            if !before.active_nodes.contains(node) {
                self.push(now, "node-joined", format!("node {node} joined"));
            }
        }
        for node in &before.active_nodes {
            if !after.active_nodes.contains(node) {
                self.push(now, "node-lost", format!("node {node} lost"));
            }
        }
        let controller = |s: &ClusterState| s.controller.as_ref().map(|c| c.id.clone());
        if controller(before) != controller(after) {
            if let Some(id) = controller(after) {
                self.push(now, "controller", format!("controller {id} elected"));
            }
        }
        for (pid, next) in &after.partitions {
            let Some((_, last)) = before.partitions.iter().find(|(p, _)| p == pid) else {
                continue;
            };
            self.partition(*pid, last, next, &after.active_nodes, now);
        }
    }

    fn partition(
        &mut self,
        pid: u32,
        last: &PartitionRecord,
        next: &PartitionRecord,
        live: &[String],
        now: u64,
    ) {
        let name = |n: &Option<String>| n.clone().unwrap_or_else(|| "none".into());
        if last.leader != next.leader {
            let kind = match &last.leader {
                None => "placed",
                Some(old) if !live.contains(old) => "failover",
                Some(_) => "handover",
            };
            let text = format!(
                "partition {pid}: {kind} from {} to {} (epoch {})",
                name(&last.leader),
                name(&next.leader),
                next.epoch
            );
            self.push(now, kind, text);
        }
        if last.isr != next.isr {
            let text = format!(
                "partition {pid}: in-sync set [{}] → [{}]",
                last.isr.join(", "),
                next.isr.join(", ")
            );
            self.push(now, "isr", text);
        }
        let mut before = last.replicas.clone();
        let mut after = next.replicas.clone();
        before.sort();
        after.sort();
        if before != after {
            let text = format!(
                "partition {pid}: replicas [{}] → [{}]",
                before.join(", "),
                after.join(", ")
            );
            self.push(now, "replicas", text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ClusterConfig;

    fn state(live: &[&str], leader: &str, isr: &[&str]) -> ClusterState {
        let names = |l: &[&str]| l.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        ClusterState {
            cluster: "c".into(),
            config: ClusterConfig::default(),
            slots: Default::default(),
            partitions: vec![(
                0,
                PartitionRecord {
                    leader: Some(leader.into()),
                    replicas: names(&["n1", "n2"]),
                    isr: names(isr),
                    epoch: 2,
                    ..PartitionRecord::default()
                },
            )],
            nodes: Vec::new(),
            active_nodes: names(live),
            controller: None,
            proxies: Vec::new(),
        }
    }

    #[test]
    fn a_lost_leader_replaced_is_a_failover_and_the_loss_is_logged() {
        let mut events = Events::default();
        let before = state(&["n1", "n2"], "n1", &["n1", "n2"]);
        let after = state(&["n2"], "n2", &["n2"]);
        events.compare(&before, &after, 7);
        let kinds: Vec<&str> = events.0.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["isr", "failover", "node-lost"]);
        assert_eq!(
            events.0[1].text,
            "partition 0: failover from n1 to n2 (epoch 2)"
        );
        events.compare(&after, &state(&["n1", "n2"], "n1", &["n1", "n2"]), 8);
        assert_eq!(events.0[1].kind, "handover");
        assert_eq!(events.0[2].kind, "node-joined");
    }
}
