//! The operator's commands: draining and removing nodes, moving a replica, a planned failover,
//! and following the cluster's changes live. Node states are the CLI's to write; placement
//! changes go to the leading controller as requests under `requests/`, since it alone writes
//! partition records.

use anyhow::Context;
use clap::Subcommand;
use slotcache_cluster::records::{NodeRecord, PartitionRecord};
use slotcache_cluster::store::{Store, WatchEvent};
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Take a node out of placement: its replicas and leaderships move to other nodes.
    Drain {
        id: String,
        /// Show the partitions moving away and return once none is left on the node.
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

async fn node_record(store: &mut Store, id: &str) -> anyhow::Result<NodeRecord> {
    store
        .get::<NodeRecord>(&store.keys.node(id))
        .await?
        .with_context(|| format!("no node '{id}' in cluster '{}'", store.cluster))
}

async fn is_up(store: &mut Store, id: &str) -> anyhow::Result<bool> {
    let (active, _) = store.snapshot(&store.keys.active_node(id)).await?;
    Ok(active
        .iter()
        .any(|(key, _)| *key == store.keys.active_node(id)))
}

pub async fn node(store: &mut Store, command: NodeCommand) -> anyhow::Result<()> {
    match command {
        NodeCommand::Drain { id, wait } => {
            set_state(store, &id, "draining").await?;
            println!("node '{id}' draining: the controller moves its partitions away");
            if wait {
                wait_drained(store, &id).await?;
            }
        }
        NodeCommand::Undrain { id } => {
            set_state(store, &id, "up").await?;
            println!("node '{id}' back in service: placement may give it partitions again");
        }
        NodeCommand::Remove { id } => {
            node_record(store, &id).await?;
            anyhow::ensure!(
                !is_up(store, &id).await?,
                "node '{id}' is still up: drain it and stop it first"
            );
            store.delete(&store.keys.node(&id)).await?;
            println!("node '{id}' removed");
        }
    }
    Ok(())
}

async fn set_state(store: &mut Store, id: &str, state: &str) -> anyhow::Result<()> {
    let mut record = node_record(store, id).await?;
    record.state = state.into();
    store.put(&store.keys.node(id), &record).await?;
    Ok(())
}

/// The partitions `node` holds a copy of, and how many of them it leads.
async fn held_by(store: &mut Store, node: &str) -> anyhow::Result<(u64, u64)> {
    let state = store.state().await?;
    let held = state
        .partitions
        .iter()
        .filter(|(_, p)| p.replicas.iter().any(|r| r == node));
    let led = held
        .clone()
        .filter(|(_, p)| p.leader.as_deref() == Some(node))
        .count();
    Ok((held.count() as u64, led as u64))
}

/// A progress bar over a count of partitions, with throughput and ETA.
fn partitions_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} partitions ({per_sec}, ETA {eta}) {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Follows a drain until the node holds no partition (Ctrl-C stops waiting, not the drain).
async fn wait_drained(store: &mut Store, node: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let (total, _) = held_by(store, node).await?;
    let bar = partitions_bar(total);
    loop {
        let (held, led) = held_by(store, node).await?;
        bar.set_position(total.saturating_sub(held));
        bar.set_message(format!("still on '{node}': {held}, leading {led}"));
        if held == 0 {
            bar.finish_with_message("done");
            println!(
                "node '{node}' drained: {total} partitions moved in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => {
                bar.abandon_with_message("stopped waiting; the drain goes on");
                return Ok(());
            }
        }
    }
}

async fn partition_record(store: &mut Store, pid: u32) -> anyhow::Result<PartitionRecord> {
    store
        .get::<PartitionRecord>(&store.keys.partition(pid))
        .await?
        .with_context(|| format!("no partition {pid} in cluster '{}'", store.cluster))
}

/// Leaves a request for the controller.
async fn request(store: &mut Store, kind: &str, pid: u32, value: &str) -> anyhow::Result<()> {
    let key = store.keys.request(kind, pid);
    store
        .client()
        .put(key, value, None)
        .await
        .context("writing the request")?;
    Ok(())
}

pub async fn partition(store: &mut Store, command: PartitionCommand) -> anyhow::Result<()> {
    let PartitionCommand::Move {
        pid,
        from,
        to,
        wait,
    } = command;
    let record = partition_record(store, pid).await?;
    anyhow::ensure!(
        record.replicas.contains(&from),
        "'{from}' holds no replica of partition {pid}"
    );
    anyhow::ensure!(
        !record.replicas.contains(&to),
        "'{to}' already holds a replica of partition {pid}"
    );
    anyhow::ensure!(is_up(store, &to).await?, "node '{to}' is not up");
    request(store, "move", pid, &format!("{from} {to}")).await?;
    println!("partition {pid}: moving its replica from '{from}' to '{to}'");
    if wait {
        let bar = partitions_bar(1);
        bar.set_message(format!("'{to}' catching up"));
        loop {
            let now = partition_record(store, pid).await?;
            if now.isr.contains(&to) && !now.replicas.contains(&from) {
                bar.inc(1);
                bar.finish_with_message("done");
                println!("partition {pid}: '{to}' holds it in sync, '{from}' no longer does");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

pub async fn failover(store: &mut Store, pid: u32, to: Option<String>) -> anyhow::Result<()> {
    let record = partition_record(store, pid).await?;
    let leader = record
        .leader
        .clone()
        .context("the partition has no leader yet")?;
    let candidates: Vec<&String> = record.isr.iter().filter(|n| **n != leader).collect();
    anyhow::ensure!(
        !candidates.is_empty(),
        "partition {pid} has no other in-sync replica to take over"
    );
    if let Some(target) = &to {
        anyhow::ensure!(
            candidates.contains(&target),
            "'{target}' is not an in-sync follower of partition {pid}"
        );
    }
    request(store, "failover", pid, to.as_deref().unwrap_or("")).await?;
    println!("partition {pid}: handing over from '{leader}'...");
    // The controller asks the leader to hand over; it switches without it only after a
    // patience shorter than this.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let now = partition_record(store, pid).await?;
        if now.epoch > record.epoch && now.leader.as_ref() != Some(&leader) {
            let successor = now.leader.unwrap_or_default();
            println!(
                "partition {pid}: '{successor}' leads at epoch {}",
                now.epoch
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("partition {pid}: the failover is not done after 20s; see `slotcache status`")
}

/// Prints every change under the cluster's prefix as it happens, until interrupted.
pub async fn watch(store: &mut Store) -> anyhow::Result<()> {
    let prefix = store.keys.prefix().to_string();
    let revision = store.revision().await?;
    let mut events = store.watch(&prefix, revision + 1);
    println!("watching cluster '{}' (Ctrl-C stops)", store.cluster);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(WatchEvent::Put { key, value }) => {
                    println!("put    {} {}", key.trim_start_matches(&prefix), String::from_utf8_lossy(&value));
                }
                Some(WatchEvent::Delete { key }) => println!("delete {}", key.trim_start_matches(&prefix)),
                Some(WatchEvent::Reset { entries }) => println!("reset  ({} keys)", entries.len()),
                None => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
