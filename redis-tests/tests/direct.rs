//! Direct mode: shard servers speak the Redis Cluster protocol from the placement they watch,
//! so cluster-aware clients seeded with a server's address talk to the partitions' leaders
//! without a proxy hop: redis-py's RedisCluster, the `redis` crate's cluster client and
//! `redis-cli -c`, through a kill -9 of a leader and through planned handovers.

use redis::Commands;
use redis_tests::cluster::{partition_of_slot, partition_records};
use redis_tests::failover::*;
use redis_tests::{redis_cli, Conn, Frame, Process};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CLUSTER SLOTS of a server: (low, high, [port of each node, master first]).
fn cluster_slots(server: &Process) -> Vec<(u64, u64, Vec<u64>)> {
    let Frame::Array(ranges) = server.connect().call(&["CLUSTER", "SLOTS"]) else {
        panic!("CLUSTER SLOTS is an array")
    };
    ranges
        .into_iter()
        .map(|range| {
            let Frame::Array(fields) = range else {
                panic!("a range is an array")
            };
            let int = |frame: &Frame| match frame {
                Frame::Int(n) => *n as u64,
                other => panic!("expected an integer, got {other:?}"),
            };
            let ports = fields[2..]
                .iter()
                .map(|node| match node {
                    Frame::Array(node) => int(&node[1]),
                    other => panic!("a node is an array, got {other:?}"),
                })
                .collect();
            (int(&fields[0]), int(&fields[1]), ports)
        })
        .collect()
}

/// The client port of each node, by name.
fn ports(stack: &Stack) -> BTreeMap<String, u64> {
    NODES
        .iter()
        .zip(&stack.servers)
        .filter_map(|(name, server)| Some((name.to_string(), u64::from(server.as_ref()?.port))))
        .collect()
}

#[test]
fn cluster_clients_seeded_with_a_server_talk_to_the_leaders() {
    let stack = stack(8, 2, "sync");
    let state = stack.cluster.status();
    let ports = ports(&stack);
    // Every server describes the same placement: each partition's slots with its leader as
    // the master.
    let leader_port = |slot: u64| {
        let record = partition_records(&state)[partition_of_slot(&state, slot)];
        ports[record["leader"].as_str().expect("a leader for every slot")]
    };
    for server in stack.servers.iter().flatten() {
        let ranges = cluster_slots(server);
        let covered: u64 = ranges.iter().map(|(low, high, _)| high - low + 1).sum();
        assert_eq!(covered, 16384, "{ranges:?}");
        for (low, high, nodes) in &ranges {
            assert_eq!(
                nodes.len(),
                1,
                "a leader, no replicas by default: {ranges:?}"
            );
            assert_eq!(nodes[0], leader_port(*low));
            assert_eq!(nodes[0], leader_port(*high));
        }
        let Frame::Bulk(nodes) = server.connect().call(&["CLUSTER", "NODES"]) else {
            panic!("CLUSTER NODES is a bulk string")
        };
        let nodes = String::from_utf8_lossy(&nodes).into_owned();
        let Frame::Bulk(myid) = server.connect().call(&["CLUSTER", "MYID"]) else {
            panic!("CLUSTER MYID is a bulk string")
        };
        let myself = nodes
            .lines()
            .find(|l| l.contains("myself"))
            .expect("myself");
        assert!(
            myself.starts_with(&*String::from_utf8_lossy(&myid)),
            "{nodes}"
        );
    }
    let seed = stack.servers[0].as_ref().expect("running");
    // redis-cli follows MOVED.
    for i in 0..20 {
        let key = format!("cli:{i}");
        assert_eq!(redis_cli(seed.port, &["-c", "SET", &key, "x"]).trim(), "OK");
        assert_eq!(redis_cli(seed.port, &["-c", "GET", &key]).trim(), "x");
    }
    // The redis crate's cluster client; what it wrote is what the proxy reads.
    let client = redis::cluster::ClusterClient::new(vec![seed.url()]).expect("cluster client");
    let mut conn = client.get_connection().expect("cluster connection");
    for i in 0..500 {
        let _: () = conn.set(format!("crate:{i}"), i).expect("SET");
    }
    let mut proxy = stack.proxy.connect();
    for i in 0..500 {
        let key = format!("crate:{i}");
        assert_eq!(
            proxy.call(&["GET", &key]),
            Frame::Bulk(i.to_string().into_bytes())
        );
    }
    // redis-py's RedisCluster, from leaders and from replicas.
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(workspace.join("target/pyenv/bin/python"))
        .arg(workspace.join("redis-tests/python/direct.py"))
        .arg(seed.port.to_string())
        .output()
        .expect("running direct.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ok RedisCluster direct"), "{stdout}");
}

#[test]
fn announced_followers_serve_a_cluster_clients_replica_reads() {
    let stack = stack(8, 2, "sync");
    let mut proxy = stack.proxy.connect();
    // CONFIG SET through the proxy reaches every shard server.
    assert_eq!(
        proxy.call(&["CONFIG", "SET", "cluster-announce-replicas", "yes"]),
        Frame::Simple("OK".into())
    );
    let seed = stack.servers[1].as_ref().expect("running");
    for (_, _, nodes) in cluster_slots(seed) {
        assert_eq!(nodes.len(), 2, "a leader and its in-sync follower");
        assert_ne!(nodes[0], nodes[1]);
    }
    for i in 0..200 {
        let key = format!("replicated:{i}");
        assert_eq!(
            proxy.call(&["SET", &key, &i.to_string()]),
            Frame::Simple("OK".into())
        );
    }
    let client = redis::cluster::ClusterClientBuilder::new(vec![seed.url()])
        .read_from_replicas()
        .build()
        .expect("cluster client");
    let mut conn = client.get_connection().expect("cluster connection");
    for i in 0..200u64 {
        let value: Option<u64> = conn.get(format!("replicated:{i}")).expect("GET");
        assert_eq!(value, Some(i), "replicated:{i}");
    }
}

#[test]
fn a_cluster_client_keeps_writing_through_a_leader_kill_and_loses_nothing() {
    let mut stack = stack(8, 2, "sync");
    let seeds: Vec<String> = stack.servers.iter().flatten().map(Process::url).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|id| {
            let (seeds, stop) = (seeds.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = redis::cluster::ClusterClientBuilder::new(seeds)
                    .retries(10)
                    .build()
                    .expect("cluster client");
                let mut conn = None;
                let (mut acknowledged, mut failed) = (Vec::new(), 0u64);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Some(c) = conn.as_mut() else {
                        conn = client.get_connection().ok();
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    n += 1;
                    let key = format!("w{id}:{n}");
                    match c.set::<_, _, ()>(&key, n) {
                        Ok(()) => acknowledged.push(key),
                        Err(_) => failed += 1,
                    }
                }
                (acknowledged, failed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let victim = 0;
    let killed = Instant::now();
    drop(stack.servers[victim].take());
    let took = new_leaders(&stack.cluster, NODES[victim]);
    std::thread::sleep(Duration::from_secs(2).saturating_sub(killed.elapsed()));
    stop.store(true, Ordering::Relaxed);
    let mut proxy = stack.proxy.connect();
    let (mut acknowledged, mut failed) = (0, 0);
    for writer in writers {
        let (keys, errors) = writer.join().expect("writer");
        failed += errors;
        acknowledged += keys.len();
        for key in keys {
            assert_ne!(
                proxy.call(&["GET", &key]),
                Frame::Null,
                "{key} was acknowledged and lost"
            );
        }
    }
    eprintln!(
        "direct cluster clients: {acknowledged} writes acknowledged, {failed} failed, \
         0 lost; new leaders after {took:?}"
    );
    assert!(acknowledged > 1000, "the writers ran: {acknowledged}");
}

/// Planned failovers of a partition while clients write and read straight at its leader, as
/// a cluster client does: the old leader holds what arrives during its handover and then
/// redirects it to the new leader (MOVED), as Redis Cluster's manual failover pauses its
/// clients and then redirects them. No client sees CLUSTERDOWN or TRYAGAIN, every read sees
/// the write acknowledged before it, and every acknowledged write survives.
#[test]
fn a_handover_answers_direct_clients_with_moved_and_nothing_else() {
    let stack = stack(8, 2, "sync");
    let ports = ports(&stack);
    let leader_port = |cluster: &redis_tests::cluster::Cluster| {
        let state = cluster.status();
        let leader = partition_records(&state)[0]["leader"]
            .as_str()
            .map(str::to_string);
        ports[&leader.expect("partition 0 has a leader")] as u16
    };
    let first = leader_port(&stack.cluster);
    let keys: Vec<String> = keys_of_partition(&stack.cluster, 0).take(64).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|id| {
            let (keys, stop) = (keys.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut at = Conn::connect(first);
                let (mut written, mut moved, mut errors) = (BTreeMap::new(), 0, Vec::new());
                let mut n = 0u64;
                // A request is sent again where MOVED points, as a cluster client does.
                let call = |at: &mut Conn, args: &[&str], moved: &mut u64| loop {
                    match at.call(args) {
                        Frame::Error(e) if e.starts_with("MOVED ") => {
                            *moved += 1;
                            let port = e.rsplit(':').next().and_then(|p| p.parse().ok());
                            *at = Conn::connect(port.expect("MOVED names an address"));
                        }
                        reply => return reply,
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = &keys[(n as usize * 4 + id) % keys.len()];
                    let value = format!("{id}:{n}");
                    match call(&mut at, &["SET", key, &value], &mut moved) {
                        Frame::Simple(ok) if ok == "OK" => {
                            written.insert(key.clone(), value.clone());
                        }
                        other => errors.push(format!("SET: {other:?}")),
                    }
                    match call(&mut at, &["GET", key], &mut moved) {
                        Frame::Bulk(read) if written.get(key) == Some(&value) => {
                            if read != value.as_bytes() {
                                errors.push(format!("GET {key} after SET {value}: {read:?}"));
                            }
                        }
                        Frame::Bulk(_) => {}
                        other => errors.push(format!("GET: {other:?}")),
                    }
                }
                (written, moved, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut leader = first;
    for _ in 0..5 {
        let (ok, out, err) = stack.cluster.cli(&["failover", "0"]);
        assert!(ok, "{out}{err}");
        let now = leader_port(&stack.cluster);
        assert_ne!(now, leader, "{out}");
        leader = now;
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    let mut proxy = stack.proxy.connect();
    let (mut acknowledged, mut redirects) = (0, 0);
    for client in clients {
        let (written, moved, errors) = client.join().expect("client");
        assert!(
            errors.is_empty(),
            "replies other than OK or MOVED: {errors:?}"
        );
        redirects += moved;
        acknowledged += written.len();
        for (key, value) in written {
            assert_eq!(
                proxy.call(&["GET", &key]),
                Frame::Bulk(value.into_bytes()),
                "{key}: its last acknowledged write"
            );
        }
    }
    eprintln!("direct clients through 5 handovers: {redirects} MOVED, no other error");
    assert!(
        redirects >= 5,
        "each handover redirected a client: {redirects}"
    );
    assert!(acknowledged > 0);
}
