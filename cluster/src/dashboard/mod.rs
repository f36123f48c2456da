//! The web dashboard a controller serves on its admin port: one page with no build step (its
//! HTML, CSS and script are embedded in the binary), kept live by server-sent events. Every
//! second a task reads the cluster from etcd and asks each live shard server for its INFO,
//! and publishes a snapshot: slots, nodes, partitions with their copies' offsets, proxies, the
//! cluster's ops/s over the last minutes, and the last 100 events found by comparing each
//! snapshot with the one before (node joins and losses, failovers, handovers, in-sync set and
//! replica changes, controller elections).

mod events;

use crate::offsets::info;
use crate::store::{ClusterState, Store};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use events::Events;
use serde::Serialize;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tracing::debug;

const PAGE: &str = include_str!("page.html");

/// How often the snapshot is taken.
const PERIOD: Duration = Duration::from_secs(1);
/// How long a server gets to answer INFO.
const INFO_TIMEOUT: Duration = Duration::from_millis(400);
/// Points of the ops/s chart (one per period).
const HISTORY: usize = 300;

/// What a live shard server told about itself.
#[derive(Clone, Debug, Default, Serialize)]
struct NodeStats {
    used_memory: u64,
    connected_clients: u64,
    ops_per_sec: f64,
    /// Partition → next log offset of its copy here.
    offsets: BTreeMap<u32, u64>,
}

/// One snapshot, as the page receives it.
#[derive(Serialize)]
struct Snapshot<'a> {
    time_ms: u64,
    state: &'a ClusterState,
    nodes: &'a BTreeMap<String, NodeStats>,
    /// `[unix ms, cluster ops/s]`, oldest first.
    ops: &'a [(u64, f64)],
    events: &'a Events,
}

/// The routes of the dashboard, over snapshots that [`run`] keeps current.
pub fn routes(snapshots: watch::Receiver<Arc<str>>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/state", get(state))
        .route("/api/events", get(stream))
        .with_state(snapshots)
}

async fn state(State(snapshots): State<watch::Receiver<Arc<str>>>) -> impl IntoResponse {
    let snapshot = snapshots.borrow().clone();
    ([("content-type", "application/json")], snapshot.to_string())
}

/// Server-sent events: the current snapshot at once, then each new one.
async fn stream(
    State(snapshots): State<watch::Receiver<Arc<str>>>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let first = Some(snapshots.borrow().clone());
    let updates = futures_util::stream::unfold((first, snapshots), |(first, mut rx)| async move {
        let data = match first {
            Some(data) => data,
            None => {
                rx.changed().await.ok()?;
                rx.borrow_and_update().clone()
            }
        };
        Some((Ok(Event::default().data(&*data)), (None, rx)))
    });
    Sse::new(updates).keep_alive(KeepAlive::default())
}

/// Takes a snapshot every second for as long as the process runs.
pub async fn run(mut store: Store, publish: watch::Sender<Arc<str>>) {
    let mut events = Events::default();
    let mut previous: Option<ClusterState> = None;
    let mut commands: BTreeMap<String, (u64, Instant)> = BTreeMap::new();
    let mut ops: Vec<(u64, f64)> = Vec::new();
    let mut ticker = tokio::time::interval(PERIOD);
    loop {
        ticker.tick().await;
        let state = match store.state().await {
            Ok(state) => state,
            Err(err) => {
                debug!(%err, "dashboard: cannot read the cluster");
                continue;
            }
        };
        let now = unix_ms();
        if let Some(previous) = &previous {
            events.compare(previous, &state, now);
        }
        let nodes = node_stats(&state, &mut commands).await;
        ops.push((now, nodes.values().map(|n| n.ops_per_sec).sum()));
        if ops.len() > HISTORY {
            ops.remove(0);
        }
        let snapshot = Snapshot {
            time_ms: now,
            state: &state,
            nodes: &nodes,
            ops: &ops,
            events: &events,
        };
        if let Ok(json) = serde_json::to_string(&snapshot) {
            publish.send_replace(json.into());
        }
        previous = Some(state);
    }
}

/// INFO from every live server at once; ops/s from the change of its command count since the
/// last time it answered (`commands` keeps that).
async fn node_stats(
    state: &ClusterState,
    commands: &mut BTreeMap<String, (u64, Instant)>,
) -> BTreeMap<String, NodeStats> {
    let mut asks = tokio::task::JoinSet::new();
    for node in &state.nodes {
        if !state.active_nodes.contains(&node.id) {
            continue;
        }
        let (id, addr) = (node.id.clone(), node.client_addr.clone());
        asks.spawn(async move {
            let info = tokio::time::timeout(INFO_TIMEOUT, info(&addr, "all")).await;
            (id, info.ok().and_then(Result::ok))
        });
    }
    let mut nodes = BTreeMap::new();
    while let Some(Ok((id, info))) = asks.join_next().await {
        let Some(info) = info else { continue };
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let processed = field("total_commands_processed");
        let now = Instant::now();
        let ops_per_sec = match commands.insert(id.clone(), (processed, now)) {
            Some((before, at)) if processed >= before => {
                (processed - before) as f64 / now.duration_since(at).as_secs_f64().max(1e-3)
            }
            _ => 0.0,
        };
        let stats = NodeStats {
            used_memory: field("used_memory"),
            connected_clients: field("connected_clients"),
            ops_per_sec,
            offsets: crate::offsets::copy_offsets(&info).into_iter().collect(),
        };
        nodes.insert(id, stats);
    }
    nodes
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
