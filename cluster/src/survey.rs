//! What the live shard servers say about themselves, asked over RESP with the commands a Redis
//! user knows: `INFO all` (memory, clients, commands, each copy's offset and keys), `LATENCY
//! HISTOGRAM`, `SLOWLOG GET` and, per partition a server leads, `CLUSTER HOTKEYS`. The
//! dashboard, `slotcache top`, `slotcache hotkeys` and `slotcache cluster info` all read it.

use crate::offsets::copy_field;
use crate::store::ClusterState;
use redis::aio::MultiplexedConnection;
use redis::Value;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What to ask besides INFO.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ask {
    /// Hot keys per led partition (0: none).
    pub hot_keys: usize,
    /// Slow log entries per server (0: none).
    pub slowlog: usize,
    /// The latency histograms, for p99.
    pub latency: bool,
}

/// A key with one of the highest LFU counters of its partition.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct HotKey {
    /// The key, non-UTF-8 bytes escaped.
    pub key: String,
    pub counter: i64,
    pub partition: u32,
    pub node: String,
}

/// One SLOWLOG entry of one server.
#[derive(Clone, Debug, Serialize)]
pub struct SlowEntry {
    pub node: String,
    pub id: i64,
    /// Unix seconds.
    pub time: i64,
    pub duration_usec: i64,
    /// The command line, as SLOWLOG keeps it (long arguments already shortened).
    pub command: String,
}

/// One live server's answers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeReport {
    pub used_memory: u64,
    pub connected_clients: u64,
    pub commands_processed: u64,
    /// Partition → next log offset of its copy here.
    pub offsets: BTreeMap<u32, u64>,
    /// Partition → keys in its copy here.
    pub keys: BTreeMap<u32, u64>,
    /// All commands' latencies: bucket bound in µs → calls at most that slow (cumulative).
    #[serde(skip)]
    pub latency: BTreeMap<u64, u64>,
    pub slowlog: Vec<SlowEntry>,
    pub hot_keys: Vec<HotKey>,
    /// Why the server named no hot keys (no LFU policy, typically).
    pub hot_keys_error: Option<String>,
}

/// Asks every live server of `state` at once; one that does not answer within `timeout` is
/// left out.
pub async fn survey(
    state: &ClusterState,
    ask: Ask,
    timeout: Duration,
) -> BTreeMap<String, NodeReport> {
    let mut asks = tokio::task::JoinSet::new();
    for node in &state.nodes {
        if !state.active_nodes.contains(&node.id) {
            continue;
        }
        let led: Vec<u32> = state
            .partitions
            .iter()
            .filter(|(_, p)| p.leader.as_deref() == Some(node.id.as_str()))
            .map(|(pid, _)| *pid)
            .collect();
        let (id, addr) = (node.id.clone(), node.client_addr.clone());
        asks.spawn(async move {
            let report = tokio::time::timeout(timeout, report(&id, &addr, &led, ask)).await;
            (id, report.ok().and_then(Result::ok))
        });
    }
    let mut nodes = BTreeMap::new();
    while let Some(Ok((id, report))) = asks.join_next().await {
        if let Some(report) = report {
            nodes.insert(id, report);
        }
    }
    nodes
}

async fn report(node: &str, addr: &str, led: &[u32], ask: Ask) -> redis::RedisResult<NodeReport> {
    let client = crate::credential::node_client(addr)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("all").query_async(&mut conn).await?;
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut report = NodeReport {
        used_memory: field("used_memory"),
        connected_clients: field("connected_clients"),
        commands_processed: field("total_commands_processed"),
        offsets: copy_field(&info, "offset").into_iter().collect(),
        keys: copy_field(&info, "keys").into_iter().collect(),
        ..NodeReport::default()
    };
    if ask.latency {
        let histograms: Value = redis::cmd("LATENCY")
            .arg("HISTOGRAM")
            .query_async(&mut conn)
            .await?;
        report.latency = combined_histogram(&histograms);
    }
    if ask.slowlog > 0 {
        let entries: Value = redis::cmd("SLOWLOG")
            .arg("GET")
            .arg(ask.slowlog)
            .query_async(&mut conn)
            .await?;
        report.slowlog = slow_entries(node, &entries);
    }
    if ask.hot_keys > 0 {
        for &pid in led {
            match hot_keys(&mut conn, pid, ask.hot_keys).await {
                Ok(pairs) => report
                    .hot_keys
                    .extend(pairs.into_iter().map(|(key, counter)| HotKey {
                        key,
                        counter,
                        partition: pid,
                        node: node.to_string(),
                    })),
                Err(err) => {
                    report.hot_keys_error = Some(err.to_string());
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// `CLUSTER HOTKEYS count` in partition `pid` (`CLUSTER PARTITION` addresses it first).
async fn hot_keys(
    conn: &mut MultiplexedConnection,
    pid: u32,
    count: usize,
) -> redis::RedisResult<Vec<(String, i64)>> {
    let mut pipe = redis::pipe();
    pipe.cmd("CLUSTER").arg("PARTITION").arg(pid).ignore();
    pipe.cmd("CLUSTER").arg("HOTKEYS").arg(count);
    let (pairs,): (Vec<(Vec<u8>, i64)>,) = pipe.query_async(conn).await?;
    Ok(pairs
        .into_iter()
        .map(|(key, counter)| (escape(&key), counter))
        .collect())
}

/// A key as text: printable ASCII as is, other bytes as `\xNN` (as redis-cli shows them).
pub fn escape(key: &[u8]) -> String {
    key.iter()
        .map(|&b| match b {
            b'\\' => "\\\\".to_string(),
            0x20..=0x7e => char::from(b).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(text) => text.clone(),
        other => format!("{other:?}"),
    }
}

/// Pairs of a flat RESP2 map or the entries of a RESP3 one.
fn pairs(value: &Value) -> Vec<(&Value, &Value)> {
    match value {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|p| Some((p.first()?, p.get(1)?)))
            .collect(),
        Value::Map(entries) => entries.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    }
}

/// The cumulative histogram of every command of a `LATENCY HISTOGRAM` reply, added up.
fn combined_histogram(reply: &Value) -> BTreeMap<u64, u64> {
    let mut per_bucket: BTreeMap<u64, u64> = BTreeMap::new();
    for (_, command) in pairs(reply) {
        let Some((_, buckets)) = pairs(command)
            .into_iter()
            .find(|(name, _)| text(name) == "histogram_usec")
        else {
            continue;
        };
        let mut below = 0;
        for (bound, cumulative) in pairs(buckets) {
            let (Some(bound), Some(cumulative)) = (int(bound), int(cumulative)) else {
                continue;
            };
            let cumulative = cumulative.max(0) as u64;
            *per_bucket.entry(bound.max(0) as u64).or_default() +=
                cumulative - below.min(cumulative);
            below = cumulative;
        }
    }
    let mut total = 0;
    per_bucket
        .into_iter()
        .map(|(bound, calls)| {
            total += calls;
            (bound, total)
        })
        .collect()
}

fn slow_entries(node: &str, reply: &Value) -> Vec<SlowEntry> {
    let Value::Array(entries) = reply else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let Value::Array(fields) = entry else {
                return None;
            };
            let command = match fields.get(3)? {
                Value::Array(args) => args.iter().map(text).collect::<Vec<_>>().join(" "),
                _ => String::new(),
            };
            Some(SlowEntry {
                node: node.to_string(),
                id: int(fields.first()?)?,
                time: int(fields.get(1)?)?,
                duration_usec: int(fields.get(2)?)?,
                command,
            })
        })
        .collect()
}

/// The `count` hottest keys of the whole cluster, hottest first.
pub fn hottest(nodes: &BTreeMap<String, NodeReport>, count: usize) -> Vec<HotKey> {
    let mut all: Vec<HotKey> = nodes.values().flat_map(|n| n.hot_keys.clone()).collect();
    all.sort_by(|a, b| b.counter.cmp(&a.counter).then_with(|| a.key.cmp(&b.key)));
    all.truncate(count);
    all
}

/// The `count` newest slow log entries of the whole cluster, newest first.
pub fn slowest(nodes: &BTreeMap<String, NodeReport>, count: usize) -> Vec<SlowEntry> {
    let mut all: Vec<SlowEntry> = nodes.values().flat_map(|n| n.slowlog.clone()).collect();
    all.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
    all.truncate(count);
    all
}

/// Rates between two surveys: each server's ops/s, and the cluster's p99 latency over the
/// interval.
#[derive(Default)]
pub struct Rates {
    previous: BTreeMap<String, (u64, BTreeMap<u64, u64>, Instant)>,
}

/// What [`Rates::update`] finds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Interval {
    pub ops_per_sec: BTreeMap<String, f64>,
    /// The bucket bound (µs) under which 99% of the interval's commands ran, when any ran.
    pub p99_usec: Option<u64>,
}

impl Rates {
    pub fn update(&mut self, nodes: &BTreeMap<String, NodeReport>) -> Interval {
        let now = Instant::now();
        let mut interval = Interval::default();
        // Per server, the interval's cumulative histogram (now minus then, bound by bound).
        let mut intervals: Vec<(BTreeMap<u64, u64>, BTreeMap<u64, u64>)> = Vec::new();
        for (id, report) in nodes {
            let current = (report.commands_processed, report.latency.clone(), now);
            let Some((before, histogram, at)) = self.previous.insert(id.clone(), current) else {
                continue;
            };
            let seconds = now.duration_since(at).as_secs_f64().max(1e-3);
            let ops = report.commands_processed.saturating_sub(before) as f64 / seconds;
            interval.ops_per_sec.insert(id.clone(), ops);
            intervals.push((report.latency.clone(), histogram));
        }
        let bounds: std::collections::BTreeSet<u64> = intervals
            .iter()
            .flat_map(|(now, then)| now.keys().chain(then.keys()).copied())
            .collect();
        let calls: BTreeMap<u64, u64> = bounds
            .into_iter()
            .map(|bound| {
                let ran = intervals
                    .iter()
                    .map(|(now, then)| at_most(now, bound).saturating_sub(at_most(then, bound)));
                (bound, ran.sum())
            })
            .collect();
        self.previous.retain(|id, _| nodes.contains_key(id));
        let total = calls.values().copied().max().unwrap_or(0);
        if total > 0 {
            interval.p99_usec = calls
                .iter()
                .find(|(_, &ran)| ran as f64 >= total as f64 * 0.99)
                .map(|(&bound, _)| bound);
        }
        interval
    }
}

/// A cumulative histogram's count at `bound`: that of the largest bucket at or under it.
fn at_most(histogram: &BTreeMap<u64, u64>, bound: u64) -> u64 {
    histogram.range(..=bound).next_back().map_or(0, |(_, &n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(points: &[(u64, u64)]) -> BTreeMap<u64, u64> {
        points.iter().copied().collect()
    }

    #[test]
    fn p99_comes_from_the_calls_of_the_interval_over_every_server() {
        let mut rates = Rates::default();
        let report = |commands, latency| NodeReport {
            commands_processed: commands,
            latency,
            ..NodeReport::default()
        };
        let mut nodes = BTreeMap::new();
        nodes.insert("a".to_string(), report(10, histogram(&[(8, 10)])));
        nodes.insert("b".to_string(), report(0, BTreeMap::new()));
        assert_eq!(rates.update(&nodes).p99_usec, None);
        // 990 calls of at most 8 µs on a, 10 of at most 1024 µs on b: p99 is 8 µs; one more
        // slow call moves it.
        nodes.insert("a".to_string(), report(1000, histogram(&[(8, 1000)])));
        nodes.insert("b".to_string(), report(10, histogram(&[(1024, 10)])));
        assert_eq!(rates.update(&nodes).p99_usec, Some(8));
        nodes.insert("a".to_string(), report(1000, histogram(&[(8, 1000)])));
        nodes.insert("b".to_string(), report(20, histogram(&[(1024, 20)])));
        assert_eq!(rates.update(&nodes).p99_usec, Some(1024));
    }

    #[test]
    fn histograms_of_commands_add_up_per_bucket() {
        let reply = Value::Array(vec![
            Value::BulkString(b"get".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"calls".to_vec()),
                Value::Int(3),
                Value::BulkString(b"histogram_usec".to_vec()),
                Value::Array(vec![
                    Value::Int(4),
                    Value::Int(1),
                    Value::Int(16),
                    Value::Int(3),
                ]),
            ]),
            Value::BulkString(b"set".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"histogram_usec".to_vec()),
                Value::Array(vec![Value::Int(16), Value::Int(2)]),
            ]),
        ]);
        assert_eq!(combined_histogram(&reply), histogram(&[(4, 1), (16, 5)]));
    }
}
