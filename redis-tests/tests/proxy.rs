//! Clients through `slotcache-proxy` in front of a real cluster (etcd, 3 shard servers, a
//! controller): the `redis` crate's plain and cluster clients, redis-cli with and without
//! `-c`, keys over every slot, multi-key commands split over partitions, CROSSSLOT refusals,
//! blocking pops woken through another proxy, and the cluster views of both announce modes.

use redis::{Commands, RedisResult};
use redis_tests::cluster::Cluster;
use redis_tests::{redis_cli, Frame, Process};
use std::time::Duration;

struct Running {
    cluster: Cluster,
    _servers: Vec<Process>,
    _controller: Process,
}

/// 8 partitions over 3 servers, every partition with a leader.
fn running_cluster() -> Running {
    let cluster = Cluster::new(8, 1);
    let servers = ["n1", "n2", "n3"].map(|n| cluster.server(n)).into();
    let controller = cluster.controller("c1");
    cluster.wait_for("leaders", Duration::from_secs(20), |state| {
        let partitions = state["partitions"].as_array().cloned().unwrap_or_default();
        partitions.len() == 8 && partitions.iter().all(|p| p[1]["leader"].is_string())
    });
    Running {
        cluster,
        _servers: servers,
        _controller: controller,
    }
}

fn url(proxy: &Process) -> String {
    format!("redis://127.0.0.1:{}/", proxy.port)
}

#[test]
fn clients_reach_every_slot_and_multi_key_commands_split() {
    let running = running_cluster();
    let p1 = running.cluster.proxy(&[]);
    let p2 = running.cluster.proxy(&[]);
    let mut plain = redis::Client::open(url(&p1))
        .and_then(|c| c.get_connection())
        .expect("plain client");
    // 10,000 keys over all slots, written in one pipeline through one proxy...
    let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i}")).collect();
    let mut pipe = redis::pipe();
    for (i, key) in keys.iter().enumerate() {
        pipe.set(key, format!("value-{i}")).ignore();
    }
    let () = pipe.query(&mut plain).expect("pipelined SETs");
    // ...read back through the other with one MGET spanning every partition.
    let mut other = redis::Client::open(url(&p2))
        .and_then(|c| c.get_connection())
        .expect("second plain client");
    let values: Vec<Option<String>> = other.mget(&keys).expect("MGET over partitions");
    for (i, value) in values.iter().enumerate() {
        assert_eq!(value.as_deref(), Some(format!("value-{i}").as_str()));
    }
    let with_missing: Vec<Option<String>> = other
        .mget(&["key:1", "missing", "key:2"])
        .expect("MGET with a missing key");
    assert_eq!(
        with_missing,
        vec![Some("value-1".into()), None, Some("value-2".into())]
    );
    // Each key lives on its partition's leader alone; the other servers redirect to it.
    let mut holders = std::collections::BTreeSet::new();
    for i in (0..10_000).step_by(503) {
        let key = format!("key:{i}");
        let mut holding = Vec::new();
        for server in &running._servers {
            match server.connect().call(&["GET", &key]) {
                Frame::Bulk(value) => {
                    assert_eq!(value, format!("value-{i}").into_bytes());
                    holding.push(server.port);
                }
                Frame::Error(e) => assert!(e.starts_with("MOVED "), "{e}"),
                other => panic!("GET {key} on a server: {other:?}"),
            }
        }
        assert_eq!(holding.len(), 1, "{key} held by {holding:?}");
        holders.extend(holding);
    }
    assert_eq!(holders.len(), 3, "keys spread over every server");
    let existing: usize = other.exists(&keys[..100]).expect("EXISTS split");
    assert_eq!(existing, 100);
    let deleted: usize = other.del(&keys[..100]).expect("DEL split");
    assert_eq!(deleted, 100);
    let deleted_again: usize = plain.del(&keys[..100]).expect("DEL again");
    assert_eq!(deleted_again, 0);
    let () = plain
        .mset(&[("a", "1"), ("b", "2"), ("c", "3")])
        .expect("MSET split");
    let abc: Vec<String> = other.mget(&["c", "b", "a"]).expect("MGET");
    assert_eq!(abc, vec!["3", "2", "1"]);
    // Hash tags keep related keys in one slot: multi-key commands run as they are.
    let () = plain
        .sadd("{user1}:a", &["x", "y"])
        .and_then(|()| plain.sadd("{user1}:b", &["y", "z"]))
        .expect("SADD");
    let common: Vec<String> = plain.sinter(&["{user1}:a", "{user1}:b"]).expect("SINTER");
    assert_eq!(common, vec!["y"]);
    // Other multi-key commands spanning slots are refused exactly as Redis Cluster does.
    for refused in [
        redis::cmd("SINTER")
            .arg("a")
            .arg("b")
            .query::<Vec<String>>(&mut plain),
        redis::cmd("MSETNX")
            .arg("a")
            .arg("1")
            .arg("b")
            .arg("2")
            .query(&mut plain),
    ] {
        let err = refused.expect_err("cross-slot command");
        assert_eq!(err.code(), Some("CROSSSLOT"), "{err}");
    }
    // Scripts go where their keys are.
    let script: String = redis::cmd("EVAL")
        .arg("return redis.call('GET', KEYS[1])")
        .arg(1)
        .arg("key:4321")
        .query(&mut plain)
        .expect("EVAL");
    assert_eq!(script, "value-4321");
    // The cluster client discovers the proxy as the whole cluster and works unchanged.
    let cluster_client =
        redis::cluster::ClusterClient::new(vec![url(&p1)]).expect("cluster client");
    let mut clustered = cluster_client.get_connection().expect("cluster connection");
    for i in (100..10_000).step_by(997) {
        let value: String = clustered.get(format!("key:{i}")).expect("cluster GET");
        assert_eq!(value, format!("value-{i}"));
    }
    let result: RedisResult<()> = clustered.set("written:by:cluster", "yes");
    result.expect("cluster SET");
    let seen: String = plain.get("written:by:cluster").expect("GET");
    assert_eq!(seen, "yes");
}

#[test]
fn redis_cli_blocking_pops_and_cluster_views() {
    let running = running_cluster();
    let p1 = running.cluster.proxy(&[]);
    let p2 = running.cluster.proxy(&["--announce", "spread"]);
    // redis-cli, plain and in cluster mode.
    assert_eq!(
        redis_cli(p1.port, &["SET", "greeting", "hello"]).trim(),
        "OK"
    );
    assert_eq!(
        redis_cli(p2.port, &["-c", "GET", "greeting"]).trim(),
        "hello"
    );
    assert_eq!(
        redis_cli(p1.port, &["-3", "GET", "greeting"]).trim(),
        "hello"
    );
    let info = redis_cli(p1.port, &["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_state:ok"), "{info}");
    // announce self: this proxy owns every slot.
    let nodes = redis_cli(p1.port, &["CLUSTER", "NODES"]);
    let line = format!(
        "127.0.0.1:{}@{} myself,master - 0 0 1 connected 0-16383",
        p1.port,
        p1.port as u32 + 10000
    );
    assert!(nodes.contains(&line), "{nodes}");
    // announce spread: the live proxies share the slots.
    let spread = redis_cli(p2.port, &["CLUSTER", "NODES"]);
    let masters: Vec<&str> = spread.lines().collect();
    assert_eq!(masters.len(), 2, "{spread}");
    assert!(masters
        .iter()
        .any(|l| l.contains(&format!(":{}@", p1.port))));
    assert!(masters
        .iter()
        .any(|l| l.contains("myself") && l.contains(&format!(":{}@", p2.port))));
    // A pop blocked on one proxy is woken by a push through the other.
    let mut waiter = p1.connect();
    waiter.send_raw(&redis_tests::encode(&[
        b"BLPOP".to_vec(),
        b"jobs".to_vec(),
        b"10".to_vec(),
    ]));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(redis_cli(p2.port, &["RPUSH", "jobs", "job-1"]).trim(), "1");
    assert_eq!(
        waiter.read(),
        Frame::Array(vec![Frame::bulk("jobs"), Frame::bulk("job-1")])
    );
    // Its own timeout applies, and others are not held up meanwhile.
    waiter.send_raw(&redis_tests::encode(&[
        b"BLPOP".to_vec(),
        b"empty".to_vec(),
        b"1".to_vec(),
    ]));
    assert_eq!(redis_cli(p1.port, &["GET", "greeting"]).trim(), "hello");
    assert_eq!(waiter.read(), Frame::NullArray);
}
