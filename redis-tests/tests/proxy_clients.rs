//! Off-the-shelf clients through `slotcache-proxy` in front of a real cluster: redis-py's
//! `Redis` and `RedisCluster` (as shipped, opening with HELLO 3, and forced to RESP2),
//! redis-benchmark with and without `--cluster`, and a proxy restarted under load while the
//! clients of the other proxy carry on.

use redis::Commands;
use redis_tests::cluster::running_cluster;
use redis_tests::redis_cli;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn redis_py_plain_and_cluster_clients() {
    let python = workspace().join("target/pyenv/bin/python");
    assert!(
        python.exists(),
        "redis-py's venv is missing: scripts/deps.sh creates it"
    );
    let running = running_cluster();
    let (p1, p2) = (running.cluster.proxy(&[]), running.cluster.proxy(&[]));
    let output = Command::new(python)
        .arg(workspace().join("redis-tests/python/clients.py"))
        .args([p1.port.to_string(), p2.port.to_string()])
        .output()
        .expect("running clients.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "ok Redis protocol=default",
        "ok RedisCluster protocol=default",
        "ok Redis protocol=2",
        "ok RedisCluster protocol=2",
        "ok client-side cache",
    ] {
        assert!(stdout.contains(line), "{stdout}");
    }
}

/// redis-benchmark's report: (test, requests per second); errors fail the test.
fn benchmark(args: &[&str]) -> Vec<(String, f64)> {
    let output = Command::new("redis-benchmark")
        .args(args)
        .args(["-n", "20000", "-r", "100000", "-q"])
        .output()
        .expect("running redis-benchmark");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        !stdout.contains("ERR") && !stderr.contains("rror"),
        "{stdout}{stderr}"
    );
    stdout
        .split(['\r', '\n'])
        .filter_map(|line| {
            let (test, rest) = line.split_once(": ")?;
            let rps = rest.split_once(" requests per second")?.0.parse().ok()?;
            Some((test.trim().to_string(), rps))
        })
        .collect()
}

#[test]
fn redis_benchmark_plain_and_cluster() {
    let running = running_cluster();
    // redis-benchmark --cluster wants several masters: the spread proxies announce two.
    let (p1, p2) = (
        running.cluster.proxy(&["--announce", "spread"]),
        running.cluster.proxy(&["--announce", "spread"]),
    );
    let port = p1.port.to_string();
    let tests = "set,get,incr,lpush,lpop,sadd,hset,mset";
    for pipeline in ["1", "16"] {
        let report = benchmark(&["-p", &port, "-t", tests, "-P", pipeline]);
        assert_eq!(report.len(), 8, "{report:?}");
        assert!(report.iter().all(|(_, rps)| *rps > 0.0), "{report:?}");
    }
    let report = benchmark(&["-p", &port, "--cluster", "-t", "set,get,incr,lpush,mset"]);
    assert_eq!(report.len(), 5, "{report:?}");
    // What the benchmarks wrote is there through the other proxy, over its share of slots
    // (the random keys of 20,000 requests per run cover most of each share).
    let keys: i64 = redis_cli(p2.port, &["DBSIZE"])
        .trim()
        .parse()
        .expect("DBSIZE");
    assert!(keys > 1000, "{keys} keys");
    let counters = redis_cli(p2.port, &["KEYS", "counter:*"]);
    assert!(counters.lines().count() > 100, "{counters}");
}

#[test]
fn restarting_a_proxy_under_load_leaves_the_other_proxys_clients_unharmed() {
    let running = running_cluster();
    let steady = running.cluster.proxy(&[]);
    let mut restarted = running.cluster.proxy(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let (ops, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (stop, ops, errors) = (stop.clone(), ops.clone(), errors.clone());
            let url = steady.url();
            std::thread::spawn(move || {
                let mut conn = redis::Client::open(url)
                    .and_then(|c| c.get_connection())
                    .expect("client");
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{worker}:{}", i % 500);
                    let written: redis::RedisResult<()> = conn.set(&key, i);
                    let read: redis::RedisResult<u64> = conn.get(&key);
                    match (written, read) {
                        (Ok(()), Ok(value)) if value == i => {}
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    ops.fetch_add(2, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    let port = restarted.port;
    std::thread::sleep(Duration::from_millis(500));
    let _ = restarted.child.kill();
    let _ = restarted.child.wait();
    let before = ops.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(500));
    restarted = running.cluster.proxy_on(port, &[]);
    assert_eq!(
        redis_cli(restarted.port, &["SET", "back", "yes"]).trim(),
        "OK"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while ops.load(Ordering::Relaxed) < before + 2000 {
        assert!(
            Instant::now() < deadline,
            "the steady proxy's clients stalled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("worker");
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    assert!(ops.load(Ordering::Relaxed) > 2000);
    assert_eq!(redis_cli(steady.port, &["GET", "back"]).trim(), "yes");
}
