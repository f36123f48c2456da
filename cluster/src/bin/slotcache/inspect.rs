//! Looking at a running cluster: `cluster info` (its health in a few lines), `hotkeys` (the
//! hottest keys cluster-wide, from the servers' LFU counters) and `top` (a live terminal view
//! of nodes, partitions and hot keys). All read etcd and ask the live servers (`survey`).

use crate::output::Output;
use serde_json::json;
use slotcache_cluster::operations::balance;
use slotcache_cluster::store::{ClusterState, Store};
use slotcache_cluster::survey::{self, Ask, NodeReport, Rates};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a server gets to answer.
const ASK_TIMEOUT: Duration = Duration::from_millis(800);

const LFU_HINT: &str = "hot keys need an LFU policy: `CONFIG SET maxmemory-policy allkeys-lfu` through a proxy sets it on every server";

/// Partitions with a live leader, and those whose in-sync set is short of the factor.
fn partition_health(state: &ClusterState) -> (usize, usize) {
    let led = state
        .partitions
        .iter()
        .filter(|(_, p)| {
            p.leader
                .as_ref()
                .is_some_and(|l| state.active_nodes.contains(l))
        })
        .count();
    let factor = state.config.replication_factor as usize;
    let short = state
        .partitions
        .iter()
        .filter(|(_, p)| p.isr.len() < factor.min(state.active_nodes.len().max(1)))
        .count();
    (led, short)
}

/// Keys per partition as its leader counts them.
fn leader_keys(state: &ClusterState, nodes: &BTreeMap<String, NodeReport>) -> BTreeMap<u32, u64> {
    state
        .partitions
        .iter()
        .filter_map(|(pid, p)| {
            let keys = nodes.get(p.leader.as_ref()?)?.keys.get(pid)?;
            Some((*pid, *keys))
        })
        .collect()
}

pub async fn cluster_info(store: &mut Store, out: Output) -> anyhow::Result<()> {
    let state = store.state().await?;
    let nodes = survey::survey(&state, Ask::default(), ASK_TIMEOUT).await;
    let (led, short) = partition_health(&state);
    let assigned = state
        .partitions
        .iter()
        .flat_map(|(_, p)| p.slots.iter().map(|[a, b]| usize::from(b - a) + 1))
        .sum::<usize>();
    let draining = state.nodes.iter().filter(|n| n.state == "draining").count();
    let c = &state.config;
    let info = json!({
        "cluster": state.cluster,
        "cluster_state": if led == state.partitions.len() && assigned == 16384 { "ok" } else { "fail" },
        "slots_assigned": assigned,
        "partitions": c.partitions,
        "partitions_led": led,
        "partitions_under_replicated": short,
        "replication_factor": c.replication_factor,
        "replication_mode": c.replication_mode.to_string(),
        "min_isr": c.min_isr,
        "lease_ttl_secs": c.lease_ttl_secs,
        "nodes_known": state.nodes.len(),
        "nodes_up": state.active_nodes.len(),
        "nodes_answering": nodes.len(),
        "nodes_draining": draining,
        "proxies": state.proxies.len(),
        "controller": state.controller.as_ref().map(|c| c.id.clone()),
        "keys": leader_keys(&state, &nodes).values().sum::<u64>(),
        "used_memory": nodes.values().map(|n| n.used_memory).sum::<u64>(),
        "connected_clients": nodes.values().map(|n| n.connected_clients).sum::<u64>(),
        "balanced": balance(&state).balanced(),
    });
    if out.json {
        out.result(info);
    } else if let serde_json::Value::Object(fields) = info {
        for (name, value) in fields {
            let value = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Null => "none".into(),
                other => other.to_string(),
            };
            println!("{name}:{value}");
        }
    }
    Ok(())
}

pub async fn hotkeys(store: &mut Store, count: usize, out: Output) -> anyhow::Result<()> {
    let state = store.state().await?;
    let ask = Ask {
        hot_keys: count,
        ..Ask::default()
    };
    let nodes = survey::survey(&state, ask, ASK_TIMEOUT).await;
    let hottest = survey::hottest(&nodes, count);
    let error = nodes.values().find_map(|n| n.hot_keys_error.clone());
    if out.json {
        out.result(json!({"hot_keys": hottest, "error": error}));
        return Ok(());
    }
    if hottest.is_empty() {
        match error {
            Some(error) => anyhow::bail!("no hot keys: {error}\n{LFU_HINT}"),
            None => println!("no key has been read often enough to rank yet"),
        }
        return Ok(());
    }
    println!(
        "{:>4}  {:>7}  {:>9}  {:<16} key",
        "rank", "counter", "partition", "leader"
    );
    for (rank, key) in hottest.iter().enumerate() {
        println!(
            "{:>4}  {:>7}  {:>9}  {:<16} {}",
            rank + 1,
            key.counter,
            key.partition,
            key.node,
            key.key
        );
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1}G", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1}M", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.0}K", b as f64 / 1024.0),
    }
}

/// One screen of `top`.
fn screen(
    state: &ClusterState,
    nodes: &BTreeMap<String, NodeReport>,
    interval: &survey::Interval,
) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    let ops: f64 = interval.ops_per_sec.values().sum();
    let p99 = interval
        .p99_usec
        .map_or("-".to_string(), |us| format!("{us} µs"));
    let (led, short) = partition_health(state);
    let _ = writeln!(
        text,
        "slotcache top — cluster {}  ops/s {ops:.0}  p99 ≤ {p99}  partitions led {led}/{}  under-replicated {short}  proxies {}",
        state.cluster,
        state.partitions.len(),
        state.proxies.len()
    );
    let keys = leader_keys(state, nodes);
    let _ = writeln!(
        text,
        "\n{:<16} {:<6} {:<9} {:>5} {:>10} {:>8} {:>8} {:>10}",
        "NODE", "HEALTH", "STATE", "LEADS", "OPS/S", "MEMORY", "CLIENTS", "KEYS"
    );
    for node in &state.nodes {
        let up = state.active_nodes.contains(&node.id);
        let report = nodes.get(&node.id);
        let leads = state
            .partitions
            .iter()
            .filter(|(_, p)| p.leader.as_ref() == Some(&node.id))
            .count();
        let led_keys: u64 = keys
            .iter()
            .filter(|(pid, _)| {
                state
                    .partitions
                    .iter()
                    .any(|(p, r)| p == *pid && r.leader.as_ref() == Some(&node.id))
            })
            .map(|(_, k)| k)
            .sum();
        let _ = writeln!(
            text,
            "{:<16} {:<6} {:<9} {:>5} {:>10.0} {:>8} {:>8} {:>10}",
            node.id,
            if up { "up" } else { "DOWN" },
            node.state,
            leads,
            interval.ops_per_sec.get(&node.id).copied().unwrap_or(0.0),
            report.map_or("-".into(), |r| human(r.used_memory)),
            report.map_or("-".into(), |r| r.connected_clients.to_string()),
            led_keys
        );
    }
    let _ = writeln!(
        text,
        "\n{:>4} {:<16} {:>5} {:>9}  {:<24} copies behind the leader",
        "PART", "LEADER", "EPOCH", "KEYS", "IN SYNC"
    );
    for (pid, p) in &state.partitions {
        let offset = |node: &str| nodes.get(node).and_then(|r| r.offsets.get(pid)).copied();
        let head = p.leader.as_deref().and_then(offset);
        let lag: Vec<String> = p
            .replicas
            .iter()
            .filter(|r| Some(*r) != p.leader.as_ref())
            .map(|r| match (offset(r), head) {
                (Some(o), Some(h)) => format!("{r}:{}", h.saturating_sub(o)),
                _ => format!("{r}:?"),
            })
            .collect();
        let _ = writeln!(
            text,
            "{:>4} {:<16} {:>5} {:>9}  {:<24} {}",
            pid,
            p.leader.as_deref().unwrap_or("-"),
            p.epoch,
            keys.get(pid).map_or("-".into(), |k| k.to_string()),
            p.isr.join(","),
            lag.join(" ")
        );
    }
    let hottest = survey::hottest(nodes, 10);
    let _ = writeln!(text, "\nHOT KEYS (LFU counter)");
    match (
        hottest.is_empty(),
        nodes.values().find_map(|n| n.hot_keys_error.as_ref()),
    ) {
        (true, Some(_)) => {
            let _ = writeln!(text, "  {LFU_HINT}");
        }
        (true, None) => {
            let _ = writeln!(text, "  none yet");
        }
        _ => {
            for key in hottest {
                let _ = writeln!(text, "  {:>3}  {:<12} {}", key.counter, key.node, key.key);
            }
        }
    }
    text
}

/// Redraws the view every `interval` until Ctrl-C (or `iterations` screens); with `--json`,
/// one JSON object per refresh.
pub async fn top(
    store: &mut Store,
    interval: Duration,
    iterations: Option<u64>,
    out: Output,
) -> anyhow::Result<()> {
    let ask = Ask {
        hot_keys: 10,
        latency: true,
        ..Ask::default()
    };
    let mut rates = Rates::default();
    // The first survey only sets the baseline of the rates.
    let state = store.state().await?;
    rates.update(&survey::survey(&state, ask, ASK_TIMEOUT).await);
    let mut shown = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let state = store.state().await?;
        let nodes = survey::survey(&state, ask, ASK_TIMEOUT).await;
        let rates_now = rates.update(&nodes);
        if out.json {
            out.event(
                "",
                json!({"state": state, "nodes": nodes, "interval": rates_now, "hot_keys": survey::hottest(&nodes, 10)}),
            );
        } else {
            // Clear the screen and go home, as top does.
            print!("\x1b[H\x1b[2J{}", screen(&state, &nodes, &rates_now));
        }
        shown += 1;
        if iterations.is_some_and(|n| shown >= n) {
            return Ok(());
        }
    }
}
