//! The operator's commands: draining, undraining and removing nodes, moving a replica, a
//! planned failover, rebalancing, and following the cluster's changes live. The actions
//! themselves are the library's (`operations`), shared with the dashboard; this module adds
//! progress bars and `--wait`.

use crate::output::Output;
use clap::Subcommand;
use serde_json::json;
use slotcache_cluster::offsets::{self, CopyOffsets};
use slotcache_cluster::operations::{self, balance, Action};
use slotcache_cluster::store::{ClusterState, Store, WatchEvent};
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Take a node out of placement: its replicas and leaderships move to other nodes.
    Drain {
        id: String,
        /// Show the partitions and keys moving away and return once none is left on the node.
        #[arg(long)]
        wait: bool,
    },
    /// Put a drained node back in service: placement may use it again.
    Undrain { id: String },
    /// Forget a node that is down (drain and stop it first).
    Remove { id: String },
}

#[derive(Subcommand)]
pub enum PartitionCommand {
    /// Move one replica of a partition from one node to another.
    Move {
        pid: u32,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Return once the new replica is in sync and the old one is gone.
        #[arg(long)]
        wait: bool,
    },
}

pub async fn node(store: &mut Store, command: NodeCommand, out: Output) -> anyhow::Result<()> {
    match command {
        NodeCommand::Drain { id, wait } => {
            Action::Drain { node: id.clone() }.apply(store).await?;
            out.line(format!(
                "node '{id}' draining: the controller moves its partitions away"
            ));
            let moved = match wait {
                true => Some(wait_drained(store, &id, out).await?),
                false => None,
            };
            out.result(json!({"node": id, "state": "draining", "drained": moved}));
        }
        NodeCommand::Undrain { id } => {
            Action::Undrain { node: id.clone() }.apply(store).await?;
            out.line(format!(
                "node '{id}' back in service: placement may give it partitions again"
            ));
            out.result(json!({"node": id, "state": "up"}));
        }
        NodeCommand::Remove { id } => {
            operations::node_record(store, &id).await?;
            anyhow::ensure!(
                !operations::is_up(store, &id).await?,
                "node '{id}' is still up: drain it (`slotcache node drain {id} --wait`) and stop it first"
            );
            store.delete(&store.keys.node(&id)).await?;
            out.line(format!("node '{id}' removed"));
            out.result(json!({"node": id, "state": "removed"}));
        }
    }
    Ok(())
}

/// The partitions `node` holds a copy of, how many of them it leads, and the keys in them (as
/// their leaders count them).
async fn held_by(store: &mut Store, node: &str) -> anyhow::Result<(u64, u64, u64)> {
    let state = store.state().await?;
    let held: Vec<u32> = state
        .partitions
        .iter()
        .filter(|(_, p)| p.replicas.iter().any(|r| r == node))
        .map(|(pid, _)| *pid)
        .collect();
    let led = state
        .partitions
        .iter()
        .filter(|(_, p)| p.leader.as_deref() == Some(node))
        .count();
    let keys = copy_keys_of(&state).await;
    let keys_held = held
        .iter()
        .filter_map(|pid| keys.get(pid).and_then(|copies| copies.get(node)))
        .sum();
    Ok((held.len() as u64, led as u64, keys_held))
}

/// Partition → node → keys of that node's copy, from every live server.
async fn copy_keys_of(state: &ClusterState) -> CopyOffsets {
    let servers = state
        .nodes
        .iter()
        .filter(|n| state.active_nodes.contains(&n.id))
        .map(|n| (n.id.clone(), n.client_addr.clone()));
    offsets::ask_field(servers, Duration::from_millis(500), "keys").await
}

async fn copy_keys(store: &mut Store) -> anyhow::Result<CopyOffsets> {
    Ok(copy_keys_of(&store.state().await?).await)
}

/// A progress bar over a count of `unit`s (partitions, keys), with throughput and ETA; hidden
/// with `--json`.
fn progress_bar(total: u64, unit: &str, out: Output) -> indicatif::ProgressBar {
    if out.json {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let template =
        format!("{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, ETA {{eta}}) {{msg}}");
    let style = indicatif::ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Follows a drain until the node holds no partition (Ctrl-C stops waiting, not the drain);
/// what moved, for the JSON result.
async fn wait_drained(
    store: &mut Store,
    node: &str,
    out: Output,
) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    let (total, _, keys_before) = held_by(store, node).await?;
    let bar = progress_bar(total, "partitions", out);
    loop {
        let (held, led, keys) = held_by(store, node).await?;
        bar.set_position(total.saturating_sub(held));
        let moved = keys_before.saturating_sub(keys);
        let rate = moved as f64 / started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "still on '{node}': {held} partitions ({keys} keys), leading {led}; {moved} keys moved ({rate:.0} keys/s)"
        ));
        if held == 0 {
            bar.finish_with_message("done");
            let seconds = started.elapsed().as_secs_f64();
            out.line(format!(
                "node '{node}' drained: {total} partitions and {keys_before} keys moved in {seconds:.1} s"
            ));
            return Ok(json!({"partitions": total, "keys": keys_before, "seconds": seconds}));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => {
                bar.abandon_with_message("stopped waiting; the drain goes on");
                return Ok(serde_json::Value::Null);
            }
        }
    }
}

pub async fn partition(
    store: &mut Store,
    command: PartitionCommand,
    out: Output,
) -> anyhow::Result<()> {
    let PartitionCommand::Move {
        pid,
        from,
        to,
        wait,
    } = command;
    let action = Action::Move {
        partition: pid,
        from: from.clone(),
        to: to.clone(),
    };
    action.apply(store).await?;
    out.line(format!(
        "partition {pid}: moving its replica from '{from}' to '{to}'"
    ));
    if wait {
        let started = Instant::now();
        let bar = progress_bar(0, "keys", out);
        loop {
            let now = operations::partition_record(store, pid).await?;
            if now.isr.contains(&to) && !now.replicas.contains(&from) {
                bar.finish_with_message("done");
                out.line(format!(
                    "partition {pid}: '{to}' holds it in sync, '{from}' no longer does ({:.1} s)",
                    started.elapsed().as_secs_f64()
                ));
                break;
            }
            // The new copy's keys against its leader's, while it catches up.
            let copies = copy_keys(store).await?;
            let keys = copies.get(&pid);
            let leader = now.leader.as_ref().and_then(|l| keys?.get(l)).copied();
            let copied = keys.and_then(|k| k.get(&to)).copied().unwrap_or(0);
            bar.set_length(leader.unwrap_or(copied).max(copied));
            bar.set_position(copied);
            bar.set_message(format!("'{to}' catching up"));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    out.result(json!({"partition": pid, "from": from, "to": to, "done": wait}));
    Ok(())
}

pub async fn failover(
    store: &mut Store,
    pid: u32,
    to: Option<String>,
    out: Output,
) -> anyhow::Result<()> {
    let record = operations::partition_record(store, pid).await?;
    let leader = record.leader.clone().unwrap_or_default();
    Action::Failover { partition: pid, to }.apply(store).await?;
    out.line(format!("partition {pid}: handing over from '{leader}'..."));
    // The controller asks the leader to hand over; it switches without it only after a
    // patience shorter than this.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let now = operations::partition_record(store, pid).await?;
        if now.epoch > record.epoch && now.leader.as_ref() != Some(&leader) {
            let successor = now.leader.unwrap_or_default();
            out.line(format!(
                "partition {pid}: '{successor}' leads at epoch {}",
                now.epoch
            ));
            out.result(
                json!({"partition": pid, "from": leader, "leader": successor, "epoch": now.epoch}),
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("partition {pid}: the failover is not done after 20s; see `slotcache status`")
}

/// Asks the controller to balance placement now; with `wait`, follows it until balanced.
pub async fn rebalance(store: &mut Store, wait: bool, out: Output) -> anyhow::Result<()> {
    let before = balance(&store.state().await?);
    Action::Rebalance.apply(store).await?;
    out.line(format!(
        "replicas per node {:?}, leaders per node {:?}: {} replica and {} leader changes pending",
        before.replicas, before.leaders, before.replica_moves, before.leader_moves
    ));
    let started = Instant::now();
    let mut now = before.clone();
    if wait {
        let total = (before.replica_moves + before.leader_moves) as u64;
        let bar = progress_bar(total, "partitions", out);
        while !now.balanced() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            now = balance(&store.state().await?);
            bar.set_position(total.saturating_sub((now.replica_moves + now.leader_moves) as u64));
        }
        bar.finish_with_message("balanced");
        out.line(format!(
            "balanced in {:.1} s: replicas per node {:?}, leaders per node {:?}",
            started.elapsed().as_secs_f64(),
            now.replicas,
            now.leaders
        ));
    }
    out.result(json!({"before": before, "after": now, "balanced": now.balanced()}));
    Ok(())
}

/// Prints every change under the cluster's prefix as it happens, until interrupted (one JSON
/// object per line with `--json`).
pub async fn watch(store: &mut Store, out: Output) -> anyhow::Result<()> {
    let prefix = store.keys.prefix().to_string();
    let revision = store.revision().await?;
    let mut events = store.watch(&prefix, revision + 1);
    out.line(format!(
        "watching cluster '{}' (Ctrl-C stops)",
        store.cluster
    ));
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(WatchEvent::Put { key, value }) => {
                    let (key, value) = (key.trim_start_matches(&prefix), String::from_utf8_lossy(&value));
                    out.event(format!("put    {key} {value}"), json!({"event": "put", "key": key, "value": value}));
                }
                Some(WatchEvent::Delete { key }) => {
                    let key = key.trim_start_matches(&prefix);
                    out.event(format!("delete {key}"), json!({"event": "delete", "key": key}));
                }
                Some(WatchEvent::Reset { entries }) => {
                    out.event(format!("reset  ({} keys)", entries.len()), json!({"event": "reset", "keys": entries.len()}));
                }
                None => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
