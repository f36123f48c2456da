//! The web dashboard a controller serves on its admin port: one page with no build step (its
//! HTML, CSS and script are embedded in the binary), kept live by server-sent events. Every
//! second a task reads the cluster from etcd and surveys each live shard server (`survey`),
//! and publishes a snapshot: slots, nodes, partitions with their copies' offsets and keys,
//! proxies, the cluster's ops/s and p99 latency over the last minutes, hot keys, the slow log,
//! and the last 100 events found by comparing each snapshot with the one before.
//!
//! Operator actions take two steps (`actions`): the page asks for one and is shown what it
//! will do, and only a confirmation with the token it got carries it out.

mod actions;
mod events;

use crate::store::{ClusterState, Store};
use crate::survey::{self, Ask, HotKey, NodeReport, Rates, SlowEntry};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::Router;
use events::Events;
use serde::Serialize;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tracing::debug;

const PAGE: &str = include_str!("page.html");

/// How often the snapshot is taken.
const PERIOD: Duration = Duration::from_secs(1);
/// How long a server gets to answer.
const ASK_TIMEOUT: Duration = Duration::from_millis(400);
/// Points of the charts (one per period).
const HISTORY: usize = 300;
/// Hot keys and slow log entries shown.
const SHOWN: usize = 10;

/// What a live shard server told about itself, as the page shows it.
#[derive(Serialize)]
struct NodeView<'a> {
    used_memory: u64,
    connected_clients: u64,
    ops_per_sec: f64,
    /// Partition → next log offset of its copy here.
    offsets: &'a BTreeMap<u32, u64>,
    /// Partition → keys in its copy here.
    keys: &'a BTreeMap<u32, u64>,
}

/// One point of the charts.
#[derive(Clone, Serialize)]
struct Point {
    time_ms: u64,
    ops_per_sec: f64,
    /// Under which bound (µs) 99% of the period's commands ran.
    p99_usec: Option<u64>,
}

/// One snapshot, as the page receives it.
#[derive(Serialize)]
struct Snapshot<'a> {
    time_ms: u64,
    state: &'a ClusterState,
    nodes: BTreeMap<&'a str, NodeView<'a>>,
    history: &'a [Point],
    hot_keys: Vec<HotKey>,
    /// Why servers name no hot keys (no LFU policy), if so.
    hot_keys_error: Option<&'a str>,
    slowlog: Vec<SlowEntry>,
    events: &'a Events,
}

/// The dashboard's routes: the page, the current snapshot, its stream, and the actions.
pub fn routes(snapshots: watch::Receiver<Arc<str>>, store: Store) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/state", get(state).with_state(snapshots.clone()))
        .route("/api/events", get(stream).with_state(snapshots))
        .merge(
            Router::new()
                .route("/api/actions/prepare", post(actions::prepare))
                .route("/api/actions/confirm", post(actions::confirm))
                .with_state(actions::Actions::new(store)),
        )
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
    let mut rates = Rates::default();
    let mut history: Vec<Point> = Vec::new();
    let mut ticker = tokio::time::interval(PERIOD);
    let ask = Ask {
        hot_keys: SHOWN,
        slowlog: SHOWN,
        latency: true,
    };
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
        let reports = survey::survey(&state, ask, ASK_TIMEOUT).await;
        let interval = rates.update(&reports);
        history.push(Point {
            time_ms: now,
            ops_per_sec: interval.ops_per_sec.values().sum(),
            p99_usec: interval.p99_usec,
        });
        if history.len() > HISTORY {
            history.remove(0);
        }
        let snapshot = Snapshot {
            time_ms: now,
            state: &state,
            nodes: views(&reports, &interval.ops_per_sec),
            history: &history,
            hot_keys: survey::hottest(&reports, SHOWN),
            hot_keys_error: reports.values().find_map(|r| r.hot_keys_error.as_deref()),
            slowlog: survey::slowest(&reports, SHOWN),
            events: &events,
        };
        if let Ok(json) = serde_json::to_string(&snapshot) {
            publish.send_replace(json.into());
        }
        previous = Some(state);
    }
}

fn views<'a>(
    reports: &'a BTreeMap<String, NodeReport>,
    ops: &BTreeMap<String, f64>,
) -> BTreeMap<&'a str, NodeView<'a>> {
    reports
        .iter()
        .map(|(id, report)| {
            let view = NodeView {
                used_memory: report.used_memory,
                connected_clients: report.connected_clients,
                ops_per_sec: ops.get(id).copied().unwrap_or(0.0),
                offsets: &report.offsets,
                keys: &report.keys,
            };
            (id.as_str(), view)
        })
        .collect()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
