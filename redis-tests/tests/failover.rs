//! Replication and failover under load, through the proxy, on a real etcd with real processes.
//! Writers record every acknowledged write (a unique value per key); after the fault the test
//! reads everything back and reports acknowledged writes lost, the longest stretch during which
//! writes failed, and the errors clients saw.

use redis::Commands;
use redis_tests::cluster::{names, partition_records, Cluster, TTL};
use redis_tests::Process;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// Every partition led, with its full replica set in sync.
fn all_in_sync(state: &Value, partitions: usize, rf: usize) -> bool {
    let all = partition_records(state);
    all.len() == partitions
        && all.iter().all(|p| {
            p["leader"].is_string()
                && names(&p["replicas"]).len() == rf
                && names(&p["isr"]).len() == rf
        })
}

/// What the writers saw.
#[derive(Default)]
struct Outcome {
    acked: Vec<(String, String)>,
    errors: Vec<String>,
    /// The longest time a writer went from a failed write to its next acknowledged one.
    longest_outage: Duration,
}

/// Writers that SET unique values through the proxy until stopped.
fn start_writers(
    proxy_url: &str,
    writers: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Outcome>> {
    (0..writers)
        .map(|w| {
            let url = proxy_url.to_string();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let client = redis::Client::open(url).expect("client");
                let mut outcome = Outcome::default();
                let mut conn = None;
                let mut failing_since: Option<Instant> = None;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let key = format!("w{w}:k{}", i % 2000);
                    let value = format!("w{w}-v{i}");
                    if conn.is_none() {
                        conn = client
                            .get_connection_with_timeout(Duration::from_secs(2))
                            .ok();
                        if let Some(c) = &conn {
                            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                        }
                    }
                    let result: redis::RedisResult<()> = match conn.as_mut() {
                        Some(c) => c.set(&key, &value),
                        None => Err(redis::RedisError::from((
                            redis::ErrorKind::IoError,
                            "no connection",
                        ))),
                    };
                    match result {
                        Ok(()) => {
                            if let Some(since) = failing_since.take() {
                                outcome.longest_outage =
                                    outcome.longest_outage.max(since.elapsed());
                            }
                            outcome.acked.push((key, value));
                        }
                        Err(err) => {
                            failing_since.get_or_insert_with(Instant::now);
                            if err.is_io_error() || err.is_connection_dropped() {
                                conn = None;
                            }
                            outcome.errors.push(err.to_string());
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                outcome
            })
        })
        .collect()
}

/// The last acknowledged value of every key must be what the cluster holds.
fn lost_writes(
    proxy_url: &str,
    acked: &[(String, String)],
) -> Vec<(String, String, Option<String>)> {
    let mut last = std::collections::BTreeMap::new();
    for (key, value) in acked {
        last.insert(key.clone(), value.clone());
    }
    let mut conn = redis::Client::open(proxy_url)
        .and_then(|c| c.get_connection())
        .expect("reader");
    let keys: Vec<&String> = last.keys().collect();
    let mut lost = Vec::new();
    for chunk in keys.chunks(500) {
        let values: Vec<Option<String>> = conn.mget(chunk).expect("MGET");
        for (key, held) in chunk.iter().zip(values) {
            if held.as_deref() != Some(last[*key].as_str()) {
                lost.push(((*key).clone(), last[*key].clone(), held));
            }
        }
    }
    lost
}

struct Stack {
    cluster: Cluster,
    servers: Vec<Option<Process>>,
    _controllers: Vec<Process>,
    proxy: Process,
}

fn stack(partitions: u32, rf: u32) -> Stack {
    let cluster = Cluster::new(partitions, rf);
    let servers = NODES.iter().map(|n| Some(cluster.server(n))).collect();
    let controllers = vec![cluster.controller("c1"), cluster.controller("c2")];
    cluster.wait_for("every partition in sync", Duration::from_secs(30), |s| {
        all_in_sync(s, partitions as usize, rf as usize)
    });
    let proxy = cluster.proxy(&[]);
    Stack {
        cluster,
        servers,
        _controllers: controllers,
        proxy,
    }
}

#[test]
fn killing_a_leader_under_load_loses_no_acknowledged_write() {
    let mut stack = stack(8, 2);
    let url = stack.proxy.url();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&url, 4, &stop);
    std::thread::sleep(Duration::from_secs(2));
    // kill -9 the leader of partition 0.
    let state = stack.cluster.status();
    let victim = partition_records(&state)[0]["leader"]
        .as_str()
        .expect("partition 0 has a leader")
        .to_string();
    let index = NODES.iter().position(|n| *n == victim).expect("known node");
    let killed_at = Instant::now();
    drop(stack.servers[index].take());
    // Its partitions get new leaders from their in-sync sets.
    let took_over = stack
        .cluster
        .wait_for("new leaders", Duration::from_secs(TTL + 8), |s| {
            partition_records(s)
                .iter()
                .all(|p| p["leader"].is_string() && p["leader"] != victim.as_str())
        });
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    let acked: Vec<(String, String)> = outcomes.iter().flat_map(|o| o.acked.clone()).collect();
    let errors: Vec<&String> = outcomes.iter().flat_map(|o| &o.errors).collect();
    let outage = outcomes
        .iter()
        .map(|o| o.longest_outage)
        .max()
        .unwrap_or_default();
    let lost = lost_writes(&url, &acked);
    eprintln!(
        "kill -9 of leader {victim}: {} writes acknowledged, {} lost, new leaders after {:.2} s \
         ({:.2} s after the kill), longest write outage {:.2} s, {} client errors {:?}",
        acked.len(),
        lost.len(),
        took_over.as_secs_f64(),
        killed_at.elapsed().as_secs_f64() - 3.0,
        outage.as_secs_f64(),
        errors.len(),
        errors.iter().take(3).collect::<Vec<_>>(),
    );
    assert!(
        acked.len() > 1000,
        "the load ran: {} acknowledged",
        acked.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged writes lost: {:?}",
        &lost[..lost.len().min(10)]
    );
    assert!(
        outage < Duration::from_secs(TTL + 4),
        "writes failed for {outage:?}"
    );
}
