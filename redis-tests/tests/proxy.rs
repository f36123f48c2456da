//! Clients through `slotcache-proxy` in front of a real cluster (etcd, 3 shard servers, a
//! controller): the `redis` crate's plain and cluster clients, redis-cli with and without
//! `-c`, keys over every slot, multi-key commands split over partitions, CROSSSLOT refusals,
//! blocking pops woken through another proxy, and the cluster views of both announce modes.

use redis::{Commands, RedisResult};
use redis_tests::cluster::running_cluster;
use redis_tests::{redis_cli, Frame, Process};
use std::time::Duration;

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
        for server in &running.servers {
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
    // In a pipeline, commands sent together and split ones still run in request order.
    let (before, after, both): (String, String, Vec<String>) = redis::pipe()
        .set("a", "10")
        .ignore()
        .get("a")
        .mset(&[("a", "11"), ("b", "12")])
        .ignore()
        .get("a")
        .set("b", "13")
        .ignore()
        .mget(&["a", "b"])
        .query(&mut plain)
        .expect("mixed pipeline");
    assert_eq!((before.as_str(), after.as_str()), ("10", "11"));
    assert_eq!(both, vec!["11", "13"]);
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
    // A client that leaves while blocked leaves no waiter at its shard server: the element
    // pushed next stays in the list, where a waiter left behind would have taken it.
    let mut leaving = p1.connect();
    send(&mut leaving, &["BLPOP", "queue", "0"]);
    std::thread::sleep(Duration::from_millis(300));
    drop(leaving);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(redis_cli(p2.port, &["RPUSH", "queue", "kept"]).trim(), "1");
    assert_eq!(
        redis_cli(p1.port, &["LRANGE", "queue", "0", "-1"]).trim(),
        "kept"
    );
}

fn call(conn: &mut redis_tests::Conn, line: &str) -> Frame {
    conn.call(&line.split(' ').collect::<Vec<_>>())
}

fn bulks(frame: Frame) -> Vec<String> {
    match frame {
        Frame::Array(items) | Frame::Set(items) => items
            .into_iter()
            .map(|item| match item {
                Frame::Bulk(b) => String::from_utf8(b).expect("utf-8"),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn transactions_and_pub_sub_across_proxies() {
    let running = running_cluster();
    let p1 = running.cluster.proxy(&[]);
    let p2 = running.cluster.proxy(&[]);
    let (mut a, mut b) = (p1.connect(), p2.connect());
    // MULTI/EXEC runs at the leader of its slot, atomically.
    assert_eq!(call(&mut a, "MULTI"), Frame::Simple("OK".into()));
    assert_eq!(call(&mut a, "SET {t}x 1"), Frame::Simple("QUEUED".into()));
    assert_eq!(call(&mut a, "INCR {t}x"), Frame::Simple("QUEUED".into()));
    assert_eq!(call(&mut a, "GET {t}y"), Frame::Simple("QUEUED".into()));
    assert_eq!(
        call(&mut a, "EXEC"),
        Frame::Array(vec![Frame::Simple("OK".into()), Frame::Int(2), Frame::Null])
    );
    // Keys of different slots inside one transaction: CROSSSLOT at EXEC, as Redis Cluster;
    // a refused command fails the whole transaction.
    call(&mut a, "MULTI");
    call(&mut a, "SET a 1");
    call(&mut a, "SET b 2");
    assert_eq!(
        call(&mut a, "EXEC"),
        Frame::Error("CROSSSLOT Keys in request don't hash to the same slot".into())
    );
    assert_eq!(call(&mut a, "GET a"), Frame::Null, "nothing of it ran");
    call(&mut a, "MULTI");
    assert!(
        matches!(call(&mut a, "NOSUCH x"), Frame::Error(e) if e.starts_with("ERR unknown command"))
    );
    assert_eq!(
        call(&mut a, "EXEC"),
        Frame::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    assert_eq!(
        call(&mut a, "EXEC"),
        Frame::Error("ERR EXEC without MULTI".into())
    );
    // WATCH: a write through the other proxy aborts the transaction; untouched, it commits.
    call(&mut a, "SET balance 10");
    assert_eq!(call(&mut a, "WATCH balance"), Frame::Simple("OK".into()));
    call(&mut b, "SET balance 100");
    call(&mut a, "MULTI");
    call(&mut a, "SET balance 9");
    assert_eq!(call(&mut a, "EXEC"), Frame::NullArray);
    assert_eq!(call(&mut b, "GET balance"), Frame::bulk("100"));
    call(&mut a, "WATCH balance");
    call(&mut a, "MULTI");
    call(&mut a, "DECR balance");
    assert_eq!(call(&mut a, "EXEC"), Frame::Array(vec![Frame::Int(99)]));
    // Keys watched in several partitions, one WATCH each: a change to any aborts EXEC, as in
    // Redis, whichever partition the transaction runs in; a flush changes only what it
    // empties.
    let watched: Vec<String> = (0..8).map(|i| format!("watched:{i}")).collect();
    for key in &watched {
        call(&mut a, &format!("WATCH {key}"));
    }
    call(&mut b, &format!("SET {} changed", watched[5]));
    call(&mut a, "MULTI");
    call(&mut a, &format!("SET {} mine", watched[0]));
    assert_eq!(call(&mut a, "EXEC"), Frame::NullArray);
    for key in &watched {
        call(&mut a, &format!("WATCH {key}"));
    }
    call(&mut a, "MULTI");
    call(&mut a, &format!("SET {} mine", watched[0]));
    assert_eq!(
        call(&mut a, "EXEC"),
        Frame::Array(vec![Frame::Simple("OK".into())])
    );
    call(&mut a, "WATCH never-written");
    call(&mut b, "FLUSHALL");
    call(&mut a, "MULTI");
    call(&mut a, "PING");
    assert_eq!(
        call(&mut a, "EXEC"),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
    call(&mut a, "SET balance 99");
    // The redis crate's atomic pipeline.
    let mut client = redis::Client::open(url(&p2))
        .and_then(|c| c.get_connection())
        .expect("client");
    let (n,): (i64,) = redis::pipe()
        .atomic()
        .set("{t}n", 5)
        .ignore()
        .incr("{t}n", 2)
        .query(&mut client)
        .expect("atomic pipeline");
    assert_eq!(n, 7);

    // Pub/sub: RESP2 and RESP3 subscribers on one proxy, publishers on the other.
    let mut resp2 = p2.connect();
    assert_eq!(
        call(&mut resp2, "SUBSCRIBE news"),
        Frame::Array(vec![
            Frame::bulk("subscribe"),
            Frame::bulk("news"),
            Frame::Int(1)
        ])
    );
    assert_eq!(
        call(&mut resp2, "PSUBSCRIBE n*"),
        Frame::Array(vec![
            Frame::bulk("psubscribe"),
            Frame::bulk("n*"),
            Frame::Int(2)
        ])
    );
    assert!(
        matches!(call(&mut resp2, "GET x"), Frame::Error(e) if e.contains("only (P|S)SUBSCRIBE"))
    );
    let mut resp3 = p2.connect();
    call(&mut resp3, "HELLO 3");
    assert_eq!(
        call(&mut resp3, "SSUBSCRIBE {orders}new"),
        Frame::Push(vec![
            Frame::bulk("ssubscribe"),
            Frame::bulk("{orders}new"),
            Frame::Int(1)
        ])
    );
    // A RESP3 subscriber may still run commands.
    assert_eq!(call(&mut resp3, "GET {t}n"), Frame::bulk("7"));
    assert_eq!(call(&mut a, "PUBLISH news hello").as_int(), Some(2));
    assert_eq!(call(&mut a, "SPUBLISH {orders}new o-1").as_int(), Some(1));
    let mut messages = vec![resp2.read(), resp2.read()];
    messages.sort_by_key(|m| format!("{m:?}"));
    assert_eq!(
        messages,
        vec![
            Frame::Array(vec![
                Frame::bulk("message"),
                Frame::bulk("news"),
                Frame::bulk("hello")
            ]),
            Frame::Array(vec![
                Frame::bulk("pmessage"),
                Frame::bulk("n*"),
                Frame::bulk("news"),
                Frame::bulk("hello")
            ]),
        ]
    );
    assert_eq!(
        resp3.read(),
        Frame::Push(vec![
            Frame::bulk("smessage"),
            Frame::bulk("{orders}new"),
            Frame::bulk("o-1")
        ])
    );
    assert_eq!(bulks(call(&mut b, "PUBSUB CHANNELS")), vec!["news"]);
    assert_eq!(call(&mut b, "PUBSUB NUMPAT"), Frame::Int(1));
    assert_eq!(
        call(&mut resp2, "UNSUBSCRIBE"),
        Frame::Array(vec![
            Frame::bulk("unsubscribe"),
            Frame::bulk("news"),
            Frame::Int(1)
        ])
    );
    // Channels of every slot reach their subscribers.
    let channels: Vec<String> = (0..40).map(|i| format!("ch{i}")).collect();
    let mut subscribe = vec!["SUBSCRIBE"];
    subscribe.extend(channels.iter().map(String::as_str));
    let mut many = p1.connect();
    many.send_raw(&redis_tests::encode(
        &subscribe
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect::<Vec<_>>(),
    ));
    for _ in &channels {
        assert!(matches!(many.read(), Frame::Array(_)));
    }
    for channel in &channels {
        assert_eq!(
            call(&mut b, &format!("PUBLISH {channel} m")).as_int(),
            Some(1)
        );
    }
    // Each channel keeps its order; channels at different shard servers are not ordered
    // among themselves.
    let mut received: Vec<Frame> = channels.iter().map(|_| many.read()).collect();
    let mut expected: Vec<Frame> = channels
        .iter()
        .map(|c| {
            Frame::Array(vec![
                Frame::bulk("message"),
                Frame::bulk(c),
                Frame::bulk("m"),
            ])
        })
        .collect();
    received.sort_by_key(|m| format!("{m:?}"));
    expected.sort_by_key(|m| format!("{m:?}"));
    assert_eq!(received, expected);
}

/// SCAN, KEYS, DBSIZE, RANDOMKEY, FLUSHALL, slot counts and SCRIPT LOAD over the whole
/// cluster through one proxy; with `announce spread`, each proxy's share, together once.
#[test]
fn whole_cluster_commands() {
    let running = running_cluster();
    let p1 = running.cluster.proxy(&[]);
    let mut a = p1.connect();
    let keys: Vec<String> = (0..3000).map(|i| format!("k{i}")).collect();
    for chunk in keys.chunks(500) {
        let mut mset = vec!["MSET"];
        for key in chunk {
            mset.extend([key.as_str(), "v"]);
        }
        assert_eq!(a.call(&mset), Frame::Simple("OK".into()));
    }
    let scan_all = |conn: &mut redis_tests::Conn| {
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let Frame::Array(reply) = conn.call(&["SCAN", &cursor, "COUNT", "100"]) else {
                panic!("SCAN reply")
            };
            let Frame::Bulk(next) = &reply[0] else {
                panic!("cursor")
            };
            cursor = String::from_utf8(next.clone()).expect("cursor");
            seen.extend(bulks(reply[1].clone()));
            if cursor == "0" {
                return seen;
            }
        }
    };
    let mut seen = scan_all(&mut a);
    seen.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(seen, expected, "every key exactly once");
    assert_eq!(call(&mut a, "DBSIZE"), Frame::Int(3000));
    let mut matching = bulks(call(&mut a, "KEYS k1??"));
    matching.sort();
    assert_eq!(matching.len(), 100);
    assert!(matching.iter().all(|k| k.len() == 4 && k.starts_with("k1")));
    let Frame::Bulk(random) = call(&mut a, "RANDOMKEY") else {
        panic!("RANDOMKEY")
    };
    assert!(keys.contains(&String::from_utf8(random).expect("key")));
    let slot = slotcache_cluster::key_slot(b"k7");
    let in_slot: Vec<&String> = keys
        .iter()
        .filter(|k| slotcache_cluster::key_slot(k.as_bytes()) == slot)
        .collect();
    assert_eq!(
        call(&mut a, &format!("CLUSTER COUNTKEYSINSLOT {slot}")).as_int(),
        Some(in_slot.len() as i64)
    );
    let got = bulks(call(&mut a, &format!("CLUSTER GETKEYSINSLOT {slot} 1000")));
    assert_eq!(got.len(), in_slot.len());
    // A script loaded through one proxy runs by its SHA wherever its keys are.
    let Frame::Bulk(sha) = a.call(&["SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"]) else {
        panic!("SCRIPT LOAD")
    };
    let sha = String::from_utf8(sha).expect("sha");
    for key in keys.iter().step_by(150) {
        assert_eq!(a.call(&["EVALSHA", &sha, "1", key]), Frame::bulk("v"));
    }
    assert_eq!(
        call(&mut a, &format!("SCRIPT EXISTS {sha} ffff")),
        Frame::Array(vec![Frame::Int(1), Frame::Int(0)])
    );

    // Two spread proxies: each scans its share; together every key, once.
    let s1 = running.cluster.proxy(&["--announce", "spread"]);
    let s2 = running.cluster.proxy(&["--announce", "spread"]);
    drop(p1);
    let (mut c1, mut c2) = (s1.connect(), s2.connect());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while [&mut c1, &mut c2].into_iter().any(|c| {
        let Frame::Bulk(nodes) = call(c, "CLUSTER NODES") else {
            panic!("CLUSTER NODES")
        };
        String::from_utf8_lossy(&nodes).lines().count() != 2
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "spread proxies never saw just each other"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (first, second) = (scan_all(&mut c1), scan_all(&mut c2));
    assert!(!first.is_empty() && !second.is_empty());
    let mut together = [first, second].concat();
    together.sort();
    assert_eq!(together, expected, "the shares partition the keys");
    let sizes = [&mut c1, &mut c2].map(|c| call(c, "DBSIZE").as_int().expect("DBSIZE"));
    assert_eq!(sizes.iter().sum::<i64>(), 3000);
    assert_eq!(call(&mut c1, "FLUSHALL"), Frame::Simple("OK".into()));
    assert_eq!(call(&mut c1, "DBSIZE"), Frame::Int(0));
    assert_eq!(
        call(&mut c2, "DBSIZE"),
        Frame::Int(sizes[1]),
        "the other share stays"
    );
    assert_eq!(call(&mut c2, "FLUSHALL"), Frame::Simple("OK".into()));
    assert_eq!(call(&mut c1, "RANDOMKEY"), Frame::Null);
}

/// Commands that a shard server would run on one partition's database or on itself, where the
/// client means the cluster, are refused (SHUTDOWN once stopped a shard server), or reach
/// every server (CONFIG SET). The database moves are refused by the shard servers, as Redis Cluster nodes refuse them, so scripts and
/// transactions meet the same errors as in Redis Cluster.
#[test]
fn commands_acting_on_one_server_or_database_are_refused() {
    let mut running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let mut conn = proxy.connect();
    assert_eq!(call(&mut conn, "SET k v"), Frame::Simple("OK".into()));
    let refused = |conn: &mut redis_tests::Conn, line: &str| match call(conn, line) {
        Frame::Error(text) => text,
        other => panic!("{line}: expected an error, got {other:?}"),
    };
    assert_eq!(
        refused(&mut conn, "MOVE k 1"),
        "ERR MOVE is not allowed in cluster mode"
    );
    assert_eq!(
        refused(&mut conn, "SWAPDB 0 1"),
        "ERR SWAPDB is not allowed in cluster mode"
    );
    assert_eq!(
        refused(&mut conn, "COPY k {k}2 DB 1"),
        "ERR Copying to another database is not allowed in cluster mode"
    );
    for line in ["SHUTDOWN", "SHUTDOWN NOSAVE"] {
        let text = refused(&mut conn, line);
        assert!(
            text.contains("not supported through slotcache-proxy"),
            "{line}: {text}"
        );
    }
    // CONFIG SET reaches every shard server; a bad one changes none.
    assert_eq!(
        call(&mut conn, "CONFIG SET hash-max-listpack-entries 7"),
        Frame::Simple("OK".into())
    );
    assert!(refused(&mut conn, "CONFIG SET hash-max-listpack-entries x").starts_with("ERR"));
    for server in &running.servers {
        let Frame::Array(pair) =
            server
                .connect()
                .call(&["CONFIG", "GET", "hash-max-listpack-entries"])
        else {
            panic!("CONFIG GET")
        };
        assert_eq!(pair[1], Frame::bulk("7"), "server {}", server.port);
    }
    // Inside a transaction it would change only the server the transaction runs on: the
    // proxy's refusal fails the transaction, as a command Redis refuses at queueing; a
    // database move is queued, and fails when run, as in Redis Cluster.
    assert_eq!(call(&mut conn, "MULTI"), Frame::Simple("OK".into()));
    refused(&mut conn, "CONFIG SET maxmemory 1mb");
    assert!(matches!(call(&mut conn, "EXEC"), Frame::Error(text) if text.starts_with("EXECABORT")));
    assert_eq!(call(&mut conn, "MULTI"), Frame::Simple("OK".into()));
    assert_eq!(call(&mut conn, "MOVE k 1"), Frame::Simple("QUEUED".into()));
    assert_eq!(
        call(&mut conn, "EXEC"),
        Frame::Array(vec![Frame::Error(
            "ERR MOVE is not allowed in cluster mode".into()
        )])
    );
    let script = conn.call(&["EVAL", "return redis.call('select', '1')", "0"]);
    assert!(
        matches!(&script, Frame::Error(text) if text.starts_with("ERR SELECT is not allowed in cluster mode")),
        "{script:?}"
    );
    let script = conn.call(&["EVAL", "return redis.call('select', '0')", "0"]);
    assert_eq!(script, Frame::Simple("OK".into()));
    assert!(matches!(
        call(&mut conn, "CONFIG GET maxmemory"),
        Frame::Array(_)
    ));
    // Every server still runs, and the key is where it was.
    for server in &mut running.servers {
        assert_eq!(
            server.child.try_wait().ok().flatten(),
            None,
            "a server exited"
        );
    }
    assert_eq!(call(&mut conn, "GET k"), Frame::bulk("v"));
    assert_eq!(call(&mut conn, "EXISTS {k}2"), Frame::Int(0));
}

/// RESET resets the client's own state at the proxy. Sent on, it reset a shared backend
/// connection instead: other RESP3 clients then got RESP2 replies from that server.
#[test]
fn reset_resets_the_client_and_nothing_shared() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let (mut conn, mut other) = (proxy.connect(), proxy.connect());
    for client in [&mut conn, &mut other] {
        assert!(matches!(call(client, "HELLO 3"), Frame::Map(_)));
    }
    let hashes: Vec<String> = (0..24).map(|i| format!("h{i}")).collect();
    for hash in &hashes {
        assert_eq!(call(&mut conn, &format!("HSET {hash} f v")), Frame::Int(1));
    }
    assert_eq!(
        call(&mut conn, "CLIENT SETNAME me"),
        Frame::Simple("OK".into())
    );
    assert_eq!(call(&mut conn, "MULTI"), Frame::Simple("OK".into()));
    assert_eq!(call(&mut conn, "RESET"), Frame::Simple("RESET".into()));
    assert_eq!(
        call(&mut conn, "EXEC"),
        Frame::Error("ERR EXEC without MULTI".into())
    );
    assert_eq!(call(&mut conn, "CLIENT GETNAME"), Frame::Null);
    let pair = || vec![Frame::bulk("f"), Frame::bulk("v")];
    for hash in &hashes {
        let get_all = format!("HGETALL {hash}");
        assert_eq!(
            call(&mut conn, &get_all),
            Frame::Array(pair()),
            "RESP2 again"
        );
        assert_eq!(
            call(&mut other, &get_all),
            Frame::Map(vec![(Frame::bulk("f"), Frame::bulk("v"))]),
            "the other client still speaks RESP3 with every server"
        );
    }
    assert!(matches!(call(&mut conn, "RESET extra"), Frame::Error(_)));
}

/// Commands that set a connection's own state are the proxy's to answer. Queued inside MULTI
/// they reached the backend connection the client shares with others at EXEC: a CLIENT REPLY
/// OFF there left every other client of that lane without its replies.
#[test]
fn connection_commands_never_reach_a_shared_backend_connection() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let (mut conn, mut other) = (proxy.connect(), proxy.connect());
    let hashes: Vec<String> = (0..24).map(|i| format!("h{i}")).collect();
    for hash in &hashes {
        assert_eq!(call(&mut other, &format!("HSET {hash} f v")), Frame::Int(1));
    }
    let refused = Frame::Error("ERR Command not allowed inside a transaction".into());
    for command in [
        "CLIENT REPLY OFF",
        "HELLO 3",
        "SELECT 1",
        "READONLY",
        "SUBSCRIBE channel",
    ] {
        assert_eq!(call(&mut conn, "MULTI"), Frame::Simple("OK".into()));
        assert_eq!(call(&mut conn, command), refused, "{command}");
        assert_eq!(call(&mut conn, "PING"), Frame::Simple("QUEUED".into()));
        assert!(
            matches!(call(&mut conn, "EXEC"), Frame::Error(e) if e.starts_with("EXECABORT")),
            "{command}"
        );
    }
    // Every lane still answers every client, in its own protocol and database.
    for hash in &hashes {
        let get_all = format!("HGETALL {hash}");
        let pair = Frame::Array(vec![Frame::bulk("f"), Frame::bulk("v")]);
        assert_eq!(call(&mut other, &get_all), pair);
        assert_eq!(call(&mut conn, &get_all), pair);
    }
    // A HELLO refused for one of its options changes neither the protocol nor the name.
    for refused in ["HELLO 3 BOGUS", "HELLO 3 SETNAME a\tb"] {
        assert!(
            matches!(call(&mut conn, refused), Frame::Error(_)),
            "{refused}"
        );
    }
    assert_eq!(
        call(&mut conn, "HGETALL h1"),
        Frame::Array(vec![Frame::bulk("f"), Frame::bulk("v")])
    );
    assert_eq!(call(&mut conn, "CLIENT GETNAME"), Frame::Null);
    // HELLO in a pipeline: the requests before it are answered in the protocol they were
    // sent in, the requests after it in the new one.
    let mut pipeline = Vec::new();
    for line in ["HGETALL h1", "HELLO 3", "HGETALL h2"] {
        let args: Vec<Vec<u8>> = line.split(' ').map(|w| w.as_bytes().to_vec()).collect();
        pipeline.extend(redis_tests::encode(&args));
    }
    conn.send_raw(&pipeline);
    assert_eq!(
        conn.read(),
        Frame::Array(vec![Frame::bulk("f"), Frame::bulk("v")])
    );
    assert!(matches!(conn.read(), Frame::Map(_)));
    assert_eq!(
        conn.read(),
        Frame::Map(vec![(Frame::bulk("f"), Frame::bulk("v"))])
    );
    // QUIT inside MULTI closes the connection at once, as Redis does.
    assert_eq!(call(&mut conn, "MULTI"), Frame::Simple("OK".into()));
    assert_eq!(call(&mut conn, "QUIT"), Frame::Simple("OK".into()));
    assert_eq!(conn.try_read_reply(&["PING"]), None);
}

/// COMMAND through the proxy describes what the proxy serves: its CLUSTER emulation and
/// ASKING, only the CLIENT subcommands it answers, none of the commands it refuses; what it
/// forwards is described as the shard servers describe it.
#[test]
fn command_describes_what_the_proxy_serves() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let mut conn = proxy.connect();
    let names = bulks(call(&mut conn, "COMMAND LIST"));
    for served in [
        "get",
        "asking",
        "cluster|slots",
        "cluster|shards",
        "client|setname",
        "client|list",
        "client|kill",
        "client|tracking",
        "client|pause",
        "config|set",
    ] {
        assert!(names.iter().any(|n| n == served), "{served} missing");
    }
    for refused in ["shutdown", "client|unblock", "cluster|digest"] {
        assert!(!names.iter().any(|n| n == refused), "{refused} listed");
    }
    let Frame::Array(all) = call(&mut conn, "COMMAND") else {
        panic!("COMMAND is an array");
    };
    let count = call(&mut conn, "COMMAND COUNT").as_int();
    assert_eq!(count, Some(all.len() as i64));
    assert_eq!(all.len(), names.iter().filter(|n| !n.contains('|')).count());
    let info = call(&mut conn, "COMMAND INFO shutdown cluster|slots get");
    let Frame::Array(entries) = info else {
        panic!("COMMAND INFO is an array: {info:?}");
    };
    assert_eq!(entries[0], Frame::NullArray);
    let name_of = |entry: &Frame| match entry {
        Frame::Array(fields) => fields[0].clone(),
        other => panic!("not an entry: {other:?}"),
    };
    assert_eq!(name_of(&entries[1]), Frame::bulk("cluster|slots"));
    // The entry of a forwarded command is the shard servers' own.
    let direct = running.servers[0]
        .connect()
        .call(&["COMMAND", "INFO", "get"]);
    assert_eq!(Frame::Array(vec![entries[2].clone()]), direct);
    assert_eq!(
        call(&mut conn, "COMMAND GETKEYS SET a b"),
        Frame::Array(vec![Frame::bulk("a")])
    );
    assert!(
        matches!(call(&mut conn, "COMMAND NOPE"), Frame::Error(e) if e.contains("COMMAND HELP"))
    );
    assert_eq!(
        call(&mut conn, "COMMAND GETKEYS CLUSTER SLOTS"),
        Frame::Error("ERR The command has no key arguments".into())
    );
    // Every subcommand listed is answered (SCRIPT FLUSH would empty the shared servers'
    // script caches): at worst with Redis's error for missing arguments.
    for name in names
        .iter()
        .filter(|n| n.contains('|') && *n != "script|flush")
    {
        let reply = call(&mut conn, &name.replace('|', " "));
        if let Frame::Error(error) = &reply {
            assert!(
                error.starts_with("ERR wrong number of arguments for")
                    || error.starts_with("NOTBUSY")
                    // ACL LOAD and SAVE without an ACL file, as Redis answers them.
                    || error.contains("not configured to use an ACL file")
                    // CLUSTER HOTKEYS needs an LFU policy, as OBJECT FREQ does.
                    || error.starts_with("ERR An LFU maxmemory policy is not selected"),
                "{name}: {error}"
            );
        }
    }
    let Frame::Array(help) = call(&mut conn, "CLIENT HELP") else {
        panic!("CLIENT HELP is an array");
    };
    let line = |text: &str| Frame::Simple(text.into());
    assert!(help.contains(&line("SETNAME <name>")), "{help:?}");
    assert!(help.contains(&line("LIST [options ...]")));
    assert!(help.contains(&line("PAUSE <timeout> [WRITE|ALL]")));
    assert!(
        !help.contains(&line("NO-EVICT (ON|OFF)")),
        "not answered by the proxy"
    );
    assert_eq!(
        call(&mut conn, "CLIENT SETINFO lib-name a\tb"),
        Frame::Error("ERR lib-name cannot contain spaces, newlines or special characters.".into())
    );
}

/// SORT with BY and GET patterns and a STORE key in another slot, whose keys live on every
/// server: the proxy runs it, and every reply is Redis's. PUBLISH counts every subscriber of
/// the proxy's clients, however many share its subscription at the server.
#[test]
fn sort_patterns_across_servers_and_publish_counts_match_redis() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let redis = redis_tests::start_redis(&[]);
    let script = [
        "RPUSH l 3 1 2 10 -5 1.5",
        "MSET w_3 30 w_1 10 w_2 20 w_10 5 w_-5 50 w_1.5 15",
        "HSET h_1 f a",
        "HSET h_2 f b",
        "HSET h_3 f c",
        "SORT l BY w_*",
        "SORT l BY w_* DESC GET # LIMIT 1 3",
        "SORT l GET h_*->f GET # GET w_*",
        "SORT l BY h_*->f ALPHA GET #",
        "SORT_RO l BY w_* GET w_*",
        "SORT l BY w_* STORE dst",
        "LRANGE dst 0 -1",
        "SORT nokey BY w_* STORE dst",
        "EXISTS dst",
        "SET w_2 notanumber",
        "SORT l BY w_*",
        "SADD s 3 1 2",
        "SORT s BY nosort GET w_* STORE dst",
        "LRANGE dst 0 -1",
        "SET str x",
        "SORT str BY w_*",
    ];
    let mut ours = proxy.connect();
    let mut theirs = redis.connect();
    for line in script {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(ours.call(&words), theirs.call(&words), "{line}");
    }
    let mut subscribers: Vec<redis_tests::Conn> = (0..3).map(|_| proxy.connect()).collect();
    for (i, subscriber) in subscribers.iter_mut().enumerate() {
        let command = if i == 2 { "PSUBSCRIBE" } else { "SUBSCRIBE" };
        let topic = if i == 2 { "news*" } else { "news" };
        subscriber.call(&[command, topic]);
    }
    assert_eq!(ours.call(&["PUBLISH", "news", "hello"]), Frame::Int(3));
    subscribers[0].call(&["UNSUBSCRIBE"]);
    assert_eq!(ours.call(&["PUBLISH", "news", "hello"]), Frame::Int(2));
}

/// CLIENT LIST, INFO and KILL describe and act on the proxy's own clients, in Redis's format;
/// MONITOR shows what the shard servers run.
#[test]
fn client_introspection_and_monitor_through_a_proxy() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let mut me = proxy.connect();
    let mut other = proxy.connect();
    other.call(&["CLIENT", "SETNAME", "other"]);
    let Frame::Int(other_id) = other.call(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    let list = me.call(&["CLIENT", "LIST"]).display();
    assert!(list.contains(&format!("id={other_id} ")), "{list}");
    assert!(list.contains("name=other "), "{list}");
    assert!(list.contains("cmd=client|list "), "{list}");
    let info = me.call(&["CLIENT", "INFO"]).display();
    assert!(
        info.contains("cmd=client|info") && info.contains("resp=2"),
        "{info}"
    );
    assert_eq!(
        me.call(&["CLIENT", "KILL", "ID", &other_id.to_string()]),
        Frame::Int(1)
    );
    other.set_read_timeout(Duration::from_secs(5));
    assert_eq!(
        other.try_read_reply(&["PING"]),
        None,
        "a killed client is disconnected"
    );
    assert_eq!(me.call(&["CLIENT", "KILL", "ID", "999999"]), Frame::Int(0));

    let mut monitor = proxy.connect();
    monitor.set_read_timeout(Duration::from_secs(5));
    assert_eq!(monitor.call(&["MONITOR"]), Frame::Simple("OK".into()));
    me.call(&["SET", "watched-by-monitor", "1"]);
    // Lanes opened meanwhile log in first: their AUTH shows, with the secret redacted.
    let mut seen = Vec::new();
    loop {
        let Frame::Simple(line) = monitor.read() else {
            panic!("a MONITOR line")
        };
        if line.contains("\"AUTH\"") {
            assert!(
                line.ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\""),
                "{line}"
            );
        }
        if line.contains("\"SET\" \"watched-by-monitor\" \"1\"") {
            break;
        }
        seen.push(line);
        assert!(seen.len() < 50, "the SET never showed: {seen:?}");
    }
}

/// Sends a request without reading its reply.
fn send(conn: &mut redis_tests::Conn, args: &[&str]) {
    let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    conn.send_raw(&redis_tests::encode(&args));
}

/// CLIENT PAUSE WRITE through a proxy holds writes everywhere: its own clients' at the proxy,
/// another proxy's and a direct client's at the shard servers, while reads and a read-only
/// script go on; CLIENT UNPAUSE lets every one through.
#[test]
fn client_pause_through_a_proxy_holds_every_writer() {
    let running = running_cluster();
    let (p1, p2) = (running.cluster.proxy(&[]), running.cluster.proxy(&[]));
    let mut admin = p1.connect();
    let mut writers = [p1.connect(), p2.connect(), running.servers[0].connect()];
    // The direct client writes a key its server leads (one it answers without MOVED).
    let direct_key = (0..1000)
        .map(|i| format!("direct-{i}"))
        .find(|key| !matches!(writers[2].call(&["GET", key]), Frame::Error(_)))
        .expect("a key the first server leads");
    let keys = ["paused-0", "paused-1", direct_key.as_str()];
    assert_eq!(
        admin.call(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        Frame::Simple("OK".into())
    );
    for (writer, key) in writers.iter_mut().zip(keys) {
        send(writer, &["SET", key, "v"]);
    }
    let mut reader = p1.connect();
    reader.set_read_timeout(Duration::from_millis(500));
    for writer in writers.iter_mut() {
        writer.set_read_timeout(Duration::from_millis(500));
        assert_eq!(writer.try_read(), None, "a write is held while paused");
    }
    assert_eq!(reader.call(&["GET", "paused-0"]), Frame::Null);
    assert_eq!(
        reader.call(&["EVAL", "#!lua flags=no-writes\nreturn 7", "0"]),
        Frame::Int(7)
    );
    let info = reader.call(&["INFO"]).display();
    assert!(!info.contains("blocked_clients:0\r"), "{info}");
    assert_eq!(
        admin.call(&["CLIENT", "UNPAUSE"]),
        Frame::Simple("OK".into())
    );
    for writer in writers.iter_mut() {
        writer.set_read_timeout(Duration::from_secs(10));
        assert_eq!(writer.read(), Frame::Simple("OK".into()));
    }
    assert_eq!(
        reader.call(&["GET", "paused-0"]),
        Frame::Bulk(b"v".to_vec())
    );
}
