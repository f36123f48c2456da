//! The control plane on a real etcd with real processes: servers register under leases and
//! host the partitions placed on them, an elected controller places partitions and moves
//! leadership when a node's lease expires, a standby controller takes over, a deposed
//! controller cannot write, and everyone resumes their watches after etcd restarts.

use redis_tests::cluster::{names, partition_records, Cluster, TTL};
use redis_tests::{restart_etcd, run_binary, spawn_binary, Frame, Process};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Every partition has `rf` replicas among `nodes`, its leader first, leaders balanced.
fn placed_on(state: &Value, nodes: &[&str], rf: usize) -> bool {
    let mut leaders: BTreeMap<String, usize> = nodes.iter().map(|n| (n.to_string(), 0)).collect();
    for p in partition_records(state) {
        let replicas = names(&p["replicas"]);
        let Some(leader) = p["leader"].as_str() else {
            return false;
        };
        if replicas.len() != rf || replicas[0] != leader {
            return false;
        }
        if !replicas.iter().all(|r| nodes.contains(&r.as_str())) {
            return false;
        }
        *leaders.entry(leader.to_string()).or_default() += 1;
    }
    let max = leaders.values().max().copied().unwrap_or(0);
    let min = leaders.values().min().copied().unwrap_or(0);
    max - min <= 1
}

fn hosted(server: &Process) -> Vec<u32> {
    let Frame::Bulk(info) = server.connect().call(&["INFO", "cluster"]) else {
        panic!("INFO cluster")
    };
    let text = String::from_utf8_lossy(&info).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("slotcache_partitions:"))
        .map(|list| {
            list.trim()
                .split(',')
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn nodes_register_get_placed_and_a_lost_node_is_seen_within_the_lease() {
    let cluster = Cluster::new(8, 2);
    let servers: Vec<Process> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| cluster.server(n))
        .collect();
    let _controller = cluster.controller("c1");
    cluster.wait_for("placement on three nodes", Duration::from_secs(20), |s| {
        placed_on(s, &["n1", "n2", "n3"], 2)
    });
    // Each server hosts exactly the partitions placed on it.
    let state = cluster.status();
    for (server, node) in servers.iter().zip(["n1", "n2", "n3"]) {
        let mut expected: Vec<u32> = partition_records(&state)
            .iter()
            .enumerate()
            .filter(|(_, p)| names(&p["replicas"]).iter().any(|r| r == node))
            .map(|(pid, _)| pid as u32)
            .collect();
        expected.sort();
        let deadline = Instant::now() + Duration::from_secs(10);
        while hosted(server) != expected {
            assert!(
                Instant::now() < deadline,
                "{node} hosts {:?}, placed {expected:?}",
                hosted(server)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let led_by_n2: Vec<(usize, u64)> = partition_records(&state)
        .iter()
        .enumerate()
        .filter(|(_, p)| p["leader"] == "n2")
        .map(|(pid, p)| (pid, p["epoch"].as_u64().unwrap_or(0)))
        .collect();
    assert!(!led_by_n2.is_empty());

    // kill -9 n2: its liveness key goes with its lease, within TTL + 1 s.
    let mut servers = servers;
    let n2 = servers.remove(1);
    drop(n2);
    let took = cluster.wait_for("n2's lease expiring", Duration::from_secs(TTL + 5), |s| {
        !names(&s["active_nodes"]).contains(&"n2".to_string())
    });
    assert!(
        took <= Duration::from_secs(TTL + 1),
        "n2 seen down after {took:?}"
    );
    let (_, table, _) = run_binary(
        "slotcache",
        &[
            "status",
            "--etcd",
            &cluster.endpoint,
            "--cluster",
            &cluster.name,
        ],
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("n2") && l.ends_with("down")),
        "{table}"
    );
    // Its partitions get new leaders (from their in-sync replicas) at a higher epoch.
    cluster.wait_for("re-placement without n2", Duration::from_secs(10), |s| {
        placed_on(s, &["n1", "n3"], 2)
    });
    let state = cluster.status();
    let parts = partition_records(&state);
    for (pid, epoch) in led_by_n2 {
        assert!(
            parts[pid]["epoch"].as_u64().unwrap_or(0) > epoch,
            "partition {pid}"
        );
    }
}

#[test]
fn a_standby_controller_takes_over_within_the_lease_and_keeps_placing() {
    let cluster = Cluster::new(4, 2);
    let _n1 = cluster.server("n1");
    let _n2 = cluster.server("n2");
    let first = cluster.controller("c1");
    cluster.wait_for("c1 leading", Duration::from_secs(20), |s| {
        s["controller"]["id"] == "c1"
    });
    let _second = cluster.controller("c2");
    cluster.wait_for("placement", Duration::from_secs(20), |s| {
        placed_on(s, &["n1", "n2"], 2)
    });
    std::thread::sleep(Duration::from_millis(500));
    drop(first);
    let took = cluster.wait_for("c2 leading", Duration::from_secs(TTL + 5), |s| {
        s["controller"]["id"] == "c2"
    });
    assert!(
        took <= Duration::from_secs(TTL + 1),
        "standby led after {took:?}"
    );
    // The new leader acts on changes: a third node gets its share.
    let _n3 = cluster.server("n3");
    cluster.wait_for("placement on n3 too", Duration::from_secs(20), |s| {
        placed_on(s, &["n1", "n2", "n3"], 2)
    });
}

#[test]
fn watches_resume_after_etcd_restarts() {
    let mut cluster = Cluster::new(6, 2);
    let n1 = cluster.server("n1");
    let n2 = cluster.server("n2");
    let _controller = cluster.controller("c1");
    cluster.wait_for("placement", Duration::from_secs(20), |s| {
        placed_on(s, &["n1", "n2"], 2)
    });
    assert_eq!(hosted(&n1).len(), 6);
    restart_etcd(&mut cluster.etcd);
    // Servers kept serving meanwhile.
    assert_eq!(n1.connect().call(&["PING"]), Frame::Simple("PONG".into()));
    // A node joining after the restart is placed, and the servers' watches see their share
    // move: they drop what went to n3.
    let _n3 = cluster.server("n3");
    cluster.wait_for("placement on three nodes", Duration::from_secs(30), |s| {
        placed_on(s, &["n1", "n2", "n3"], 2)
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    while hosted(&n1).len() + hosted(&n2).len() != 8 {
        assert!(
            Instant::now() < deadline,
            "servers did not follow placement after the restart: n1 {:?} n2 {:?}",
            hosted(&n1),
            hosted(&n2)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Fencing of controllers: a write guarded by an election key is refused once that key is
/// gone (its lease expired or revoked) and another controller holds the election.
#[test]
fn a_deposed_controllers_write_is_rejected_by_etcd() {
    use slotcache_cluster::records::PartitionRecord;
    use slotcache_cluster::store::Store;
    let cluster = Cluster::new(2, 1);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut store = Store::connect(&cluster.endpoint, &cluster.name, Duration::from_secs(5))
            .await
            .expect("etcd");
        let election = store.keys.controller_election();
        let mut client = store.client();
        let elector = store.client();
        let campaign = |lease: i64| {
            let mut client = elector.clone();
            let election = election.clone();
            async move {
                let response = client
                    .campaign(election, "candidate", lease)
                    .await
                    .expect("campaign");
                let leader = response.leader().expect("leader key").clone();
                (leader.key().to_vec(), leader.rev())
            }
        };
        let old_lease = store.grant(TTL).await.expect("lease");
        let (old_key, old_rev) = campaign(old_lease).await;
        let key = store.keys.partition(0);
        let (record, revision) = store
            .get_versioned::<PartitionRecord>(&key)
            .await
            .expect("partition 0");
        let mut record = record.expect("partition 0 exists");
        record.epoch += 1;
        // While elected, the guarded write goes through.
        assert!(store
            .guarded_put(&key, &record, revision, &old_key, old_rev, None)
            .await
            .expect("txn"));
        // Deposed: its lease is gone and another controller is elected.
        client.lease_revoke(old_lease).await.expect("revoke");
        let new_lease = store.grant(TTL).await.expect("lease");
        let (new_key, new_rev) = campaign(new_lease).await;
        let (_, revision) = store
            .get_versioned::<PartitionRecord>(&key)
            .await
            .expect("read");
        record.epoch += 1;
        assert!(
            !store
                .guarded_put(&key, &record, revision, &old_key, old_rev, None)
                .await
                .expect("txn"),
            "a deposed controller wrote"
        );
        assert!(store
            .guarded_put(&key, &record, revision, &new_key, new_rev, None)
            .await
            .expect("txn"));
        // And two writers cannot interleave: a stale record revision is refused too.
        assert!(!store
            .guarded_put(&key, &record, revision, &new_key, new_rev, None)
            .await
            .expect("txn"));
    });
}

/// `slotcache up` brings a cluster up that redis-cli can talk to, and a hard-killed `up`
/// leaves no process behind.
#[test]
fn slotcache_up_starts_a_cluster_and_leaves_no_orphans() {
    use std::process::{Command, Stdio};
    let base = redis_tests::free_port_block(50);
    let mut up = Command::new(redis_tests::binary("slotcache"))
        .args([
            "up",
            "--servers",
            "2",
            "--base-port",
            &base.to_string(),
            "--cluster",
            "uptest",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("slotcache up");
    let server_port = base + 10;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let ping = std::process::Command::new("redis-cli")
            .args(["-p", &server_port.to_string(), "PING"])
            .output()
            .expect("redis-cli");
        if String::from_utf8_lossy(&ping.stdout).trim() == "PONG" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no server answered on {server_port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let children = |parent: u32| -> Vec<u32> {
        let out = Command::new("pgrep")
            .args(["-P", &parent.to_string()])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    let mut spawned = children(up.id());
    assert!(
        spawned.len() >= 5,
        "etcd's supervisor, two servers, two controllers: {spawned:?}"
    );
    let grandchildren: Vec<u32> = spawned.iter().flat_map(|pid| children(*pid)).collect();
    spawned.extend(grandchildren);
    up.kill().expect("kill -9 slotcache up");
    let _ = up.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in spawned {
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
        {
            assert!(
                Instant::now() < deadline,
                "child {pid} outlived slotcache up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn operators_drain_move_fail_over_and_watch() {
    use std::io::BufRead;
    let cluster = Cluster::new(2, 2);
    let _n1 = cluster.server("n1");
    let _n2 = cluster.server("n2");
    let _n3 = cluster.server("n3");
    let _controller = cluster.controller("c1");
    cluster.wait_for("placement", Duration::from_secs(20), |s| {
        placed_on(s, &["n1", "n2", "n3"], 2)
    });
    // `watch` prints changes as they happen.
    let mut watcher = spawn_binary(
        "slotcache",
        &[
            "watch",
            "--etcd",
            &cluster.endpoint,
            "--cluster",
            &cluster.name,
        ],
        true,
    );
    let mut lines = std::io::BufReader::new(watcher.child.stdout.take().expect("stdout")).lines();
    assert!(lines
        .next()
        .is_some_and(|l| l.is_ok_and(|l| l.starts_with("watching"))));

    // Planned failover: the other in-sync replica leads, at a higher epoch.
    let before = cluster.status();
    let p0 = partition_records(&before)[0].clone();
    let (leader, epoch) = (
        p0["leader"].as_str().unwrap_or("").to_string(),
        p0["epoch"].as_u64().unwrap_or(0),
    );
    let (ok, _, err) = cluster.cli(&["failover", "0"]);
    assert!(ok, "{err}");
    cluster.wait_for("failover of partition 0", Duration::from_secs(10), |s| {
        let p = partition_records(s)[0];
        p["leader"].as_str() != Some(&leader) && p["epoch"].as_u64().unwrap_or(0) > epoch
    });
    let seen = lines
        .by_ref()
        .take_while(|l| l.is_ok())
        .find(|l| l.as_ref().is_ok_and(|l| l.contains("partitions/0")));
    assert!(seen.is_some(), "watch printed the failover");
    drop(watcher);

    // Move: the node holding one replica hands it to one holding none of partition 0.
    let state = cluster.status();
    let replicas = names(&partition_records(&state)[0]["replicas"]);
    let spare = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| !replicas.contains(&n.to_string()))
        .expect("a node without partition 0");
    let from = replicas[1].clone();
    let (ok, out, err) = cluster.cli(&[
        "partition",
        "move",
        "0",
        "--from",
        &from,
        "--to",
        spare,
        "--wait",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("holds it in sync"), "{out}");
    let now = names(&partition_records(&cluster.status())[0]["replicas"]);
    assert!(
        now.contains(&spare.to_string()) && !now.contains(&from),
        "{now:?}"
    );
    let (ok, _, err) = cluster.cli(&["partition", "move", "0", "--from", "nobody", "--to", "n1"]);
    assert!(!ok && err.contains("holds no replica"), "{err}");

    // Drain: `--wait` returns once n3 holds nothing; it cannot be removed while up.
    let (ok, out, err) = cluster.cli(&["node", "drain", "n3", "--wait"]);
    assert!(ok, "{err}");
    assert!(out.contains("node 'n3' drained"), "{out}");
    assert!(placed_on(&cluster.status(), &["n1", "n2"], 2));
    let (ok, _, err) = cluster.cli(&["node", "remove", "n3"]);
    assert!(!ok && err.contains("still up"), "{err}");
    let (ok, _, err) = cluster.cli(&["node", "drain", "nope"]);
    assert!(!ok && err.contains("no node 'nope'"), "{err}");
    // Undrain: n3 is in service again.
    let (ok, _, err) = cluster.cli(&["node", "undrain", "n3"]);
    assert!(ok, "{err}");
    let status = cluster.status();
    let n3 = status["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == "n3"))
        .cloned();
    assert_eq!(n3.map(|n| n["state"].clone()), Some("up".into()));
}

/// What redis-cli prints for a request to `port` (empty when it cannot connect).
fn cli(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits up to `limit` for `done`, failing with `what`.
fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Killing a shard server of `slotcache up` is how a user watches a failover: `up` reports
/// the death and keeps the rest serving (writes and reads through the proxy go on once the
/// followers take over), and with `--restart` the server comes back.
#[test]
fn slotcache_up_keeps_serving_when_a_server_dies() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let base = redis_tests::free_port_block(50);
    let mut up = Command::new(redis_tests::binary("slotcache"))
        .args([
            "up",
            "--json",
            "--servers",
            "3",
            "--proxies",
            "1",
            "--restart",
        ])
        .args(["--base-port", &base.to_string(), "--cluster", "upkill"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("slotcache up");
    let stdout = up.stdout.take().expect("up's stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    // With --json, `up` says where everything is in one JSON line, then one per event.
    let banner: serde_json::Value = lines
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .and_then(|line| serde_json::from_str(&line).ok())
        .expect("up's JSON banner");
    assert_eq!(banner["servers"].as_array().map(Vec::len), Some(3));
    let proxy_addr = format!("127.0.0.1:{base}");
    assert_eq!(banner["proxies"][0]["addr"], proxy_addr.as_str());
    let (proxy, victim) = (base, base + 11);
    let serves = || {
        (0..20).all(|i| {
            let key = format!("key-{i}");
            cli(proxy, &["SET", &key, "v"]) == "OK" && cli(proxy, &["GET", &key]) == "v"
        })
    };
    eventually("the cluster never served", Duration::from_secs(40), serves);
    let pid = cli(victim, &["INFO", "server"])
        .lines()
        .find_map(|l| {
            l.strip_prefix("process_id:")
                .map(str::trim)
                .map(String::from)
        })
        .expect("the server's pid");
    Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill -9 server-2");
    let announced = |lines: &std::sync::mpsc::Receiver<String>| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if event["exited"] == "server-2" && event["restarted"] == true {
                return true;
            }
        }
        false
    };
    assert!(announced(&lines), "up did not report server-2's death");
    assert!(up.try_wait().expect("up's status").is_none(), "up stopped");
    eventually(
        "the proxy did not serve through the failover",
        Duration::from_secs(30),
        serves,
    );
    eventually(
        "server-2 did not come back",
        Duration::from_secs(20),
        || cli(victim, &["PING"]) == "PONG",
    );
    assert!(up.try_wait().expect("up's status").is_none(), "up stopped");
    // SIGTERM: `up` stops its parts and removes its logs.
    Command::new("kill")
        .args(["-TERM", &up.id().to_string()])
        .status()
        .expect("kill -TERM up");
    let _ = up.wait();
}

/// A port `up` needs that is taken stops it before anything starts, saying which and what to
/// do, rather than leaving parts that cannot bind.
#[test]
fn slotcache_up_refuses_taken_ports() {
    let base = redis_tests::free_port_block(50);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", base + 11)).expect("bind");
    let (ok, _, stderr) = run_binary("slotcache", &["up", "--base-port", &base.to_string()]);
    assert!(!ok, "up started with a port taken");
    let expected = format!("port {} is taken", base + 11);
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("--base-port"), "{stderr}");
}

#[test]
fn a_server_bound_to_every_interface_must_announce_an_address() {
    let cluster = Cluster::new(2, 1);
    let port = redis_tests::free_port().to_string();
    let (ok, _, err) = run_binary(
        "slotcache-server",
        &[
            "--bind",
            "0.0.0.0",
            "--port",
            &port,
            "--etcd",
            &cluster.endpoint,
            "--cluster",
            &cluster.name,
            "--node-id",
            "n1",
        ],
    );
    assert!(!ok, "a wildcard bind without announce-addr must not join");
    assert!(err.contains("--announce-addr"), "{err}");
    let announced = cluster.server_with(
        "n1",
        &cluster.endpoint,
        &[
            "--bind",
            "0.0.0.0",
            "--announce-addr",
            "127.0.0.1",
            "--replication-port",
            "0",
        ],
    );
    let status = cluster.status();
    let node = &status["nodes"][0];
    assert_eq!(node["client_addr"], format!("127.0.0.1:{}", announced.port));
    assert!(node["replication_addr"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
}
