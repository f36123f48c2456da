//! Direct mode: shard servers speak the Redis Cluster protocol from the placement they watch,
//! so cluster-aware clients seeded with a server's address talk to the partitions' leaders
//! without a proxy hop: redis-py's RedisCluster, the `redis` crate's cluster client and
//! `redis-cli -c`, through a kill -9 of a leader.

use redis::Commands;
use redis_tests::cluster::{partition_of_slot, partition_records};
use redis_tests::failover::*;
use redis_tests::{redis_cli, Frame, Process};
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
