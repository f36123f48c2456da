//! Where partitions live: RF replicas on distinct nodes, replicas and leaders spread evenly, and
//! as little movement as balance allows when nodes join or leave. Pure functions, so the
//! controller's decisions can be property-tested without etcd.

use std::collections::{BTreeMap, BTreeSet};

/// A partition's replicas, leader first.
pub type Replicas = Vec<String>;

/// The placement for `partitions` partitions over `nodes` (the live ones), starting from
/// `current` (a partition missing from it has no replicas yet). Each partition gets
/// `min(rf, nodes)` distinct replicas; replica counts and leader counts per node differ by at
/// most one; replicas already in place stay unless balance requires moving them. Leadership
/// that must move for balance moves first in the partitions with the lowest `epochs` (the
/// longest settled): a leader an operator just chose stays.
pub fn place(
    current: &BTreeMap<u32, Replicas>,
    partitions: u32,
    nodes: &[String],
    rf: usize,
    epochs: &BTreeMap<u32, u64>,
) -> BTreeMap<u32, Replicas> {
    let live: BTreeSet<&String> = nodes.iter().collect();
    let width = rf.min(live.len());
    let mut plan: BTreeMap<u32, Replicas> = (0..partitions)
        .map(|pid| {
            let mut kept: Replicas = Vec::new();
            for node in current.get(&pid).into_iter().flatten() {
                if live.contains(node) && !kept.contains(node) {
                    kept.push(node.clone());
                }
            }
            kept.truncate(width);
            (pid, kept)
        })
        .collect();
    if live.is_empty() {
        return plan;
    }
    let total = partitions as usize * width;
    let ceiling = total.div_ceil(live.len());
    shed_excess(&mut plan, nodes, ceiling);
    fill(&mut plan, nodes, width);
    balance_replicas(&mut plan, nodes);
    balance_leaders(&mut plan, nodes, epochs);
    plan
}

fn replica_counts(plan: &BTreeMap<u32, Replicas>, nodes: &[String]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = nodes.iter().map(|n| (n.clone(), 0)).collect();
    for replicas in plan.values() {
        for node in replicas {
            *counts.entry(node.clone()).or_default() += 1;
        }
    }
    counts
}

fn leader_counts(plan: &BTreeMap<u32, Replicas>, nodes: &[String]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = nodes.iter().map(|n| (n.clone(), 0)).collect();
    for replicas in plan.values() {
        if let Some(leader) = replicas.first() {
            *counts.entry(leader.clone()).or_default() += 1;
        }
    }
    counts
}

/// Drops followers (then leaders) from nodes holding more than `ceiling` replicas, one per
/// partition where possible, so each gap can be filled by a single (new) node.
fn shed_excess(plan: &mut BTreeMap<u32, Replicas>, nodes: &[String], ceiling: usize) {
    let counts = replica_counts(plan, nodes);
    let mut shed: BTreeSet<u32> = BTreeSet::new();
    for (node, count) in counts {
        let mut excess = count.saturating_sub(ceiling);
        for (spread_out, follower_first) in
            [(true, true), (true, false), (false, true), (false, false)]
        {
            for (pid, replicas) in plan.iter_mut() {
                if excess == 0 {
                    break;
                }
                if spread_out && shed.contains(pid) {
                    continue;
                }
                if let Some(at) = replicas.iter().position(|r| *r == node) {
                    if (at > 0) == follower_first {
                        replicas.remove(at);
                        shed.insert(*pid);
                        excess -= 1;
                    }
                }
            }
        }
    }
}

/// Gives every partition `width` replicas, each time on the least-loaded node it lacks. Ties
/// go round-robin from the partition's number, so replica sets mix instead of pairing up, and
/// a node's departure spreads its load over many nodes.
fn fill(plan: &mut BTreeMap<u32, Replicas>, nodes: &[String], width: usize) {
    let mut counts = replica_counts(plan, nodes);
    for (pid, replicas) in plan.iter_mut() {
        while replicas.len() < width {
            let turn = |i: usize| {
                (i + nodes.len() - (*pid as usize + replicas.len()) % nodes.len()) % nodes.len()
            };
            let Some((_, node)) = nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| !replicas.contains(n))
                .min_by_key(|(i, n)| (counts[*n], turn(*i)))
            else {
                break;
            };
            *counts.entry(node.clone()).or_default() += 1;
            replicas.push(node.clone());
        }
    }
}

/// Moves single replicas from the most- to the least-loaded node until counts differ by at
/// most one (a follower where possible, so leadership stays put).
fn balance_replicas(plan: &mut BTreeMap<u32, Replicas>, nodes: &[String]) {
    for _ in 0..plan.len() * nodes.len() + 1 {
        let counts = replica_counts(plan, nodes);
        let (Some((max_node, max)), Some((min_node, min))) = (
            counts
                .iter()
                .max_by_key(|(n, c)| (**c, std::cmp::Reverse((*n).clone()))),
            counts.iter().min_by_key(|(n, c)| (**c, (*n).clone())),
        ) else {
            return;
        };
        if max - min <= 1 {
            return;
        }
        let movable = |replicas: &Replicas, follower: bool| {
            replicas
                .iter()
                .position(|r| r == max_node)
                .filter(|at| (*at > 0) == follower)
                .is_some()
                && !replicas.contains(min_node)
        };
        let choice = plan
            .iter()
            .find(|(_, r)| movable(r, true))
            .or_else(|| plan.iter().find(|(_, r)| movable(r, false)))
            .map(|(pid, _)| *pid);
        let Some(pid) = choice else { return };
        let (from, to) = (max_node.clone(), min_node.clone());
        if let Some(replicas) = plan.get_mut(&pid) {
            if let Some(slot) = replicas.iter_mut().find(|r| **r == from) {
                *slot = to;
            }
        }
    }
}

/// Hands leadership from the nodes leading the most partitions to those leading the fewest,
/// until counts differ by at most one. Leadership moves only between a partition's replicas (no
/// data moves), so a unit may travel along a chain: A leads p1 where B is a replica, B leads p2
/// where C is one... The chain is found by breadth-first search from the busiest nodes.
fn balance_leaders(
    plan: &mut BTreeMap<u32, Replicas>,
    nodes: &[String],
    epochs: &BTreeMap<u32, u64>,
) {
    let mut settled_first: Vec<u32> = plan.keys().copied().collect();
    settled_first.sort_by_key(|pid| (epochs.get(pid).copied().unwrap_or(0), *pid));
    for _ in 0..plan.len() * nodes.len() + 1 {
        let counts = leader_counts(plan, nodes);
        let max = counts.values().copied().max().unwrap_or(0);
        let min = counts.values().copied().min().unwrap_or(0);
        if max - min <= 1 {
            return;
        }
        let mut came_from: BTreeMap<&String, (&String, u32)> = BTreeMap::new();
        let mut queue: std::collections::VecDeque<&String> = counts
            .iter()
            .filter(|(_, c)| **c == max)
            .map(|(n, _)| n)
            .collect();
        let mut seen: BTreeSet<&String> = queue.iter().copied().collect();
        let mut end = None;
        while let Some(node) = queue.pop_front() {
            if counts[node] + 2 <= max {
                end = Some(node);
                break;
            }
            for pid in &settled_first {
                let replicas = &plan[pid];
                if replicas.first() != Some(node) {
                    continue;
                }
                for next in &replicas[1..] {
                    if seen.insert(next) {
                        came_from.insert(next, (node, *pid));
                        queue.push_back(next);
                    }
                }
            }
        }
        let Some(end) = end else { return };
        let mut swaps = Vec::new();
        let mut node = end;
        while let Some(&(from, pid)) = came_from.get(node) {
            swaps.push((pid, node.clone()));
            node = from;
        }
        for (pid, new_leader) in swaps {
            if let Some(replicas) = plan.get_mut(&pid) {
                if let Some(at) = replicas.iter().position(|r| *r == new_leader) {
                    replicas.swap(0, at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    fn spread(counts: &BTreeMap<String, usize>) -> usize {
        let max = counts.values().max().copied().unwrap_or(0);
        let min = counts.values().min().copied().unwrap_or(0);
        max - min
    }

    fn check(plan: &BTreeMap<u32, Replicas>, partitions: u32, nodes: &[String], rf: usize) {
        assert_eq!(plan.len(), partitions as usize);
        for replicas in plan.values() {
            assert_eq!(replicas.len(), rf.min(nodes.len()), "{plan:?}");
            let distinct: BTreeSet<&String> = replicas.iter().collect();
            assert_eq!(
                distinct.len(),
                replicas.len(),
                "duplicate replica: {replicas:?}"
            );
            assert!(replicas.iter().all(|r| nodes.contains(r)));
        }
        assert!(
            spread(&replica_counts(plan, nodes)) <= 1,
            "replicas: {plan:?}"
        );
        assert!(
            spread(&leader_counts(plan, nodes)) <= 1,
            "leaders: {plan:?}"
        );
    }

    /// Replica assignments that differ between two plans.
    fn moved(before: &BTreeMap<u32, Replicas>, after: &BTreeMap<u32, Replicas>) -> usize {
        after
            .iter()
            .map(|(pid, replicas)| {
                let old: BTreeSet<&String> = before.get(pid).into_iter().flatten().collect();
                replicas.iter().filter(|r| !old.contains(r)).count()
            })
            .sum()
    }

    #[test]
    fn any_nodes_and_partitions_give_distinct_balanced_replicas() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let nodes = names(rng.random_range(1..9));
            let partitions = rng.random_range(1..40);
            let rf = rng.random_range(1..4);
            let plan = place(&BTreeMap::new(), partitions, &nodes, rf, &BTreeMap::new());
            check(&plan, partitions, &nodes, rf);
            // Placing again changes nothing.
            assert_eq!(place(&plan, partitions, &nodes, rf, &BTreeMap::new()), plan);
        }
    }

    #[test]
    fn leadership_an_operator_just_moved_is_not_the_one_balance_moves_back() {
        let nodes = names(3);
        let plan = place(&BTreeMap::new(), 8, &nodes, 2, &BTreeMap::new());
        // Partition 0's leadership moves to its other replica, as a failover does.
        let mut moved_by_hand = plan.clone();
        moved_by_hand.get_mut(&0).unwrap().swap(0, 1);
        let epochs: BTreeMap<u32, u64> = (0..8).map(|pid| (pid, 1 + u64::from(pid == 0))).collect();
        let after = place(&moved_by_hand, 8, &nodes, 2, &epochs);
        check(&after, 8, &nodes, 2);
        assert_eq!(after[&0], moved_by_hand[&0], "{plan:?} -> {after:?}");
    }

    #[test]
    fn a_join_or_a_leave_moves_only_what_balance_requires() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..300 {
            let count = rng.random_range(2..8);
            let nodes = names(count);
            let partitions = rng.random_range(count as u32..48);
            let rf = rng.random_range(1..=3usize.min(count));
            let plan = place(&BTreeMap::new(), partitions, &nodes, rf, &BTreeMap::new());

            // A node joins: it receives at most its fair share, and only it receives anything.
            let mut joined = nodes.clone();
            joined.push("node-new".into());
            let after_join = place(&plan, partitions, &joined, rf, &BTreeMap::new());
            check(&after_join, partitions, &joined, rf);
            let share = (partitions as usize * rf).div_ceil(joined.len());
            assert!(moved(&plan, &after_join) <= share);
            for (pid, replicas) in &after_join {
                for node in replicas {
                    assert!(plan[pid].contains(node) || node == "node-new");
                }
            }

            // A node leaves: its replicas are re-placed, and at most a few more move.
            let gone = &nodes[rng.random_range(0..count)];
            let left: Vec<String> = nodes.iter().filter(|n| *n != gone).cloned().collect();
            let after_leave = place(&plan, partitions, &left, rf, &BTreeMap::new());
            check(&after_leave, partitions, &left, rf);
            let lost = plan.values().filter(|r| r.contains(gone)).count();
            let width_drop = if left.len() < rf {
                partitions as usize
            } else {
                0
            };
            let share = (partitions as usize * rf).div_ceil(left.len());
            assert!(
                moved(&plan, &after_leave) <= lost.saturating_sub(width_drop) + share,
                "moved {} for {lost} lost: {plan:?} -> {after_leave:?}",
                moved(&plan, &after_leave)
            );
        }
    }
}
