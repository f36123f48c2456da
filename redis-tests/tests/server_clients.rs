//! A standalone `slotcache-server` driven by real clients (the `redis` crate, redis-cli) and by
//! hostile raw input: pipelining, inline commands, protocol errors, limits, active expiry.

use redis_tests::{redis_cli, start_slotcache, Frame};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_client_round_trips() {
    let server = start_slotcache(&[]);
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello")
        .query_async(&mut conn)
        .await
        .unwrap();
    let value: String = redis::cmd("GET")
        .arg("greeting")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, "hello");
    let n: i64 = redis::cmd("INCRBY")
        .arg("counter")
        .arg(41)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 41);
    // A pipeline of many commands answers in order.
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    pipe.cmd("DBSIZE");
    let (size,): (i64,) = pipe.query_async(&mut conn).await.unwrap();
    assert_eq!(size, 1002);
    let values: Vec<Option<i64>> = redis::cmd("MGET")
        .arg("key:1")
        .arg("key:999")
        .arg("missing")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(values, vec![Some(1), Some(999), None]);
    let err = redis::cmd("INCR")
        .arg("greeting")
        .query_async::<i64>(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
}

#[test]
fn redis_cli_talks_to_it() {
    let server = start_slotcache(&[]);
    assert_eq!(redis_cli(server.port, &["SET", "k", "v"]).trim(), "OK");
    assert_eq!(redis_cli(server.port, &["GET", "k"]).trim(), "v");
    assert_eq!(
        redis_cli(server.port, &["--no-raw", "STRLEN", "k"]).trim(),
        "(integer) 1"
    );
    let info = redis_cli(server.port, &["INFO", "server"]);
    assert!(info.contains("redis_version:7."), "{info}");
    let hello = redis_cli(server.port, &["-3", "HELLO", "3"]);
    assert!(hello.contains("proto") && hello.contains('3'), "{hello}");
}

#[test]
fn resp3_types_after_hello_3() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    let Frame::Map(pairs) = conn.call(&["HELLO", "3"]) else {
        panic!("HELLO 3 must answer a map")
    };
    assert!(pairs.contains(&(Frame::bulk("proto"), Frame::Int(3))));
    assert_eq!(conn.call(&["GET", "missing"]), Frame::Null);
    assert!(matches!(
        conn.call(&["CONFIG", "GET", "maxmemory"]),
        Frame::Map(_)
    ));
    assert!(matches!(conn.call(&["INFO"]), Frame::Verbatim(..)));
}

#[test]
fn inline_and_pipelined_requests() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    conn.send_raw(b"SET a \"x y\"\r\nGET a\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\n");
    assert_eq!(conn.read(), Frame::Simple("OK".into()));
    assert_eq!(conn.read(), Frame::bulk("x y"));
    assert_eq!(conn.read(), Frame::bulk("x y"));
    assert_eq!(conn.read(), Frame::Simple("PONG".into()));
}

#[test]
fn malformed_resp_gets_an_error_and_only_that_connection_closes() {
    let server = start_slotcache(&[]);
    let mut bystander = server.connect();
    assert_eq!(
        bystander.call(&["SET", "safe", "1"]),
        Frame::Simple("OK".into())
    );
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n$-3\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*1\r\n$99999999999999\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"*3000000000\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (b"*1\r\n:5\r\n", "ERR Protocol error: expected '$', got ':'"),
        (
            b"SET \"unbalanced\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ];
    for (input, expected) in cases {
        let mut conn = server.connect();
        conn.send_raw(input);
        assert_eq!(conn.read(), Frame::Error(expected.to_string()));
        assert_eq!(
            conn.try_read(),
            None,
            "connection must close after {expected}"
        );
    }
    // An oversized inline request without a newline is refused too.
    let mut conn = server.connect();
    conn.send_raw(&vec![b'x'; 70 * 1024]);
    assert_eq!(
        conn.read(),
        Frame::Error("ERR Protocol error: too big inline request".into())
    );
    // A socket closed mid-command harms nothing.
    let mut half = server.connect();
    half.send_raw(b"*3\r\n$3\r\nSET\r\n$4\r\nsafe\r\n$100\r\nabc");
    drop(half);
    assert_eq!(bystander.call(&["GET", "safe"]), Frame::bulk("1"));
}

/// Waits until the server counts `n` connected clients (dropped connections unregister
/// asynchronously).
fn wait_for_clients(conn: &mut redis_tests::Conn, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Frame::Bulk(list) = conn.call(&["CLIENT", "LIST"]) else {
            panic!("CLIENT LIST")
        };
        if String::from_utf8_lossy(&list).lines().count() == n {
            return;
        }
        assert!(Instant::now() < deadline, "client count never reached {n}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn maxclients_and_requirepass() {
    let server = start_slotcache(&["--maxclients", "2", "--requirepass", "secret"]);
    // Two slots: the readiness probe's connection may still hold one, not both.
    let mut first = server.connect();
    assert_eq!(
        first.call(&["GET", "a"]),
        Frame::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        first.call(&["AUTH", "wrong"]),
        Frame::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(first.call(&["AUTH", "secret"]), Frame::Simple("OK".into()));
    assert_eq!(first.call(&["GET", "a"]), Frame::Null);
    wait_for_clients(&mut first, 1);
    // Pipelined AUTH then a command: the command runs authenticated.
    let mut pipelined = server.connect();
    pipelined.send_raw(b"AUTH secret\r\nSET a 1\r\n");
    assert_eq!(pipelined.read(), Frame::Simple("OK".into()));
    assert_eq!(pipelined.read(), Frame::Simple("OK".into()));
    drop(pipelined);
    wait_for_clients(&mut first, 1);
    // Before AUTH only tiny requests are read, as Redis.
    let mut stranger = server.connect();
    stranger.send_raw(b"*20\r\n");
    assert_eq!(
        stranger.read(),
        Frame::Error("ERR Protocol error: unauthenticated multibulk length".into())
    );
    drop(stranger);
    wait_for_clients(&mut first, 1);
    let mut second = server.connect();
    // A round trip proves the second client is registered before the third arrives.
    assert!(matches!(second.call(&["PING"]), Frame::Error(_)));
    let mut third = server.connect();
    assert_eq!(
        third.try_read(),
        Some(Frame::Error("ERR max number of clients reached".into()))
    );
}

#[test]
fn unread_keys_expire_within_about_a_second() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    for i in 0..2000 {
        conn.call(&["SET", &format!("volatile:{i}"), "x", "PX", "300"]);
    }
    conn.call(&["SET", "durable", "x"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // DBSIZE does not touch keys: only the active cycle can bring it down.
        if conn.call(&["DBSIZE"]) == Frame::Int(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "volatile keys were not expired actively"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (Frame::Verbatim(_, info) | Frame::Bulk(info)) = conn.call(&["INFO", "stats"]) else {
        panic!("INFO must answer a string")
    };
    assert!(String::from_utf8_lossy(&info).contains("expired_keys:2000"));
}

#[test]
fn client_commands_and_kill() {
    let server = start_slotcache(&[]);
    let mut victim = server.connect();
    assert_eq!(
        victim.call(&["CLIENT", "SETNAME", "victim"]),
        Frame::Simple("OK".into())
    );
    let Frame::Int(victim_id) = victim.call(&["CLIENT", "ID"]) else {
        panic!()
    };
    let mut admin = server.connect();
    let Frame::Bulk(list) = admin.call(&["CLIENT", "LIST"]) else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&list).contains("name=victim"));
    assert_eq!(
        admin.call(&["CLIENT", "KILL", "ID", &victim_id.to_string()]),
        Frame::Int(1)
    );
    victim.send_raw(b"PING\r\n");
    assert_eq!(victim.try_read(), None);
    // CLIENT REPLY OFF silences replies until ON.
    admin.send_raw(b"CLIENT REPLY OFF\r\nSET q 1\r\nCLIENT REPLY ON\r\nGET q\r\n");
    assert_eq!(admin.read(), Frame::Simple("OK".into()));
    assert_eq!(admin.read(), Frame::bulk("1"));
}

#[test]
fn a_client_that_pipelines_without_reading_is_not_deadlocked() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    let value = "v".repeat(100);
    assert_eq!(
        conn.call(&["SET", "big", &value]),
        Frame::Simple("OK".into())
    );
    // Megabytes of requests whose replies are bigger still, all written before reading a
    // single reply: more than the socket buffers hold either way, so the server must keep
    // reading while its replies wait.
    let count = 300_000;
    let request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
    let mut batch = Vec::with_capacity(request.len() * count);
    for _ in 0..count {
        batch.extend_from_slice(request);
    }
    batch.extend_from_slice(b"*1\r\n$6\r\nDBSIZE\r\n");
    conn.send_raw(&batch);
    for _ in 0..count {
        assert_eq!(conn.read(), Frame::bulk(&value));
    }
    assert_eq!(conn.read(), Frame::Int(1));
}

#[test]
fn watch_is_broken_by_another_client_and_transactions_are_atomic() {
    let server = start_slotcache(&[]);
    let mut alice = server.connect();
    let mut bob = server.connect();
    assert_eq!(
        alice.call(&["SET", "balance", "10"]),
        Frame::Simple("OK".into())
    );
    // Optimistic lock: Bob's write between WATCH and EXEC aborts Alice's transaction.
    assert_eq!(
        alice.call(&["WATCH", "balance"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(bob.call(&["INCRBY", "balance", "5"]), Frame::Int(15));
    assert_eq!(alice.call(&["MULTI"]), Frame::Simple("OK".into()));
    assert_eq!(
        alice.call(&["SET", "balance", "0"]),
        Frame::Simple("QUEUED".into())
    );
    assert_eq!(alice.call(&["EXEC"]), Frame::NullArray);
    assert_eq!(alice.call(&["GET", "balance"]), Frame::bulk("15"));
    // Without interference the same transaction commits.
    alice.call(&["WATCH", "balance"]);
    alice.call(&["MULTI"]);
    alice.call(&["DECRBY", "balance", "15"]);
    assert_eq!(alice.call(&["EXEC"]), Frame::Array(vec![Frame::Int(0)]));
    // Many concurrent read-modify-write loops with WATCH never lose an increment.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut conn = redis_tests::Conn::connect(port);
                let mut done = 0;
                while done < 100 {
                    conn.call(&["WATCH", "counter"]);
                    let current = match conn.call(&["GET", "counter"]) {
                        Frame::Bulk(b) => String::from_utf8_lossy(&b).parse::<i64>().unwrap(),
                        _ => 0,
                    };
                    conn.call(&["MULTI"]);
                    conn.call(&["SET", "counter", &(current + 1).to_string()]);
                    if matches!(conn.call(&["EXEC"]), Frame::Array(_)) {
                        done += 1;
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(bob.call(&["GET", "counter"]), Frame::bulk("400"));
}

#[test]
fn encoding_thresholds_are_configurable() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    conn.call(&["HSET", "small", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(
        conn.call(&["OBJECT", "ENCODING", "small"]),
        Frame::bulk("listpack")
    );
    assert_eq!(
        conn.call(&["CONFIG", "SET", "hash-max-listpack-entries", "2"]),
        Frame::Simple("OK".into())
    );
    conn.call(&["HSET", "grown", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(
        conn.call(&["OBJECT", "ENCODING", "grown"]),
        Frame::bulk("hashtable")
    );
    conn.call(&["CONFIG", "SET", "set-max-intset-entries", "2"]);
    conn.call(&["SADD", "numbers", "1", "2", "3"]);
    assert_ne!(
        conn.call(&["OBJECT", "ENCODING", "numbers"]),
        Frame::bulk("intset")
    );
    assert_eq!(conn.call(&["SCARD", "numbers"]), Frame::Int(3));
}

/// The latency monitor records a command slower than the threshold (a script that spins for
/// 30 ms), and LATENCY HISTOGRAM counts each command's calls from the last CONFIG RESETSTAT.
#[test]
fn latency_monitor_and_histograms() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    assert_eq!(
        conn.call(&["CONFIG", "SET", "latency-monitor-threshold", "10"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(conn.call(&["LATENCY", "LATEST"]), Frame::Array(vec![]));
    let spin = "local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] \
                while true do t = redis.call('TIME') \
                if t[1] * 1000000 + t[2] - start > 30000 then return 1 end end";
    assert_eq!(conn.call(&["EVAL", spin, "0"]), Frame::Int(1));
    let Frame::Array(events) = conn.call(&["LATENCY", "LATEST"]) else {
        panic!("LATENCY LATEST is an array");
    };
    let [Frame::Array(command)] = &events[..] else {
        panic!("one event: {events:?}");
    };
    assert_eq!(command[0], Frame::bulk("command"));
    assert!(
        matches!(command[2], Frame::Int(ms) if ms >= 30),
        "{command:?}"
    );
    let Frame::Array(history) = conn.call(&["LATENCY", "HISTORY", "command"]) else {
        panic!("LATENCY HISTORY is an array");
    };
    assert_eq!(history.len(), 1);
    assert_eq!(conn.call(&["LATENCY", "RESET"]), Frame::Int(1));
    assert_eq!(conn.call(&["LATENCY", "LATEST"]), Frame::Array(vec![]));

    conn.call(&["CONFIG", "RESETSTAT"]);
    conn.call(&["SET", "a", "1"]);
    conn.call(&["SET", "b", "2"]);
    let Frame::Array(histogram) = conn.call(&["LATENCY", "HISTOGRAM", "set", "get", "nosuch"])
    else {
        panic!("LATENCY HISTOGRAM is a map");
    };
    assert_eq!(histogram.len(), 2, "set only: {histogram:?}");
    assert_eq!(histogram[0], Frame::bulk("set"));
    let Frame::Array(set) = &histogram[1] else {
        panic!("a command's histogram is a map");
    };
    assert_eq!(set[..2], [Frame::bulk("calls"), Frame::Int(2)]);
    let Frame::Array(buckets) = &set[3] else {
        panic!("histogram_usec is a map");
    };
    assert_eq!(
        buckets.last(),
        Some(&Frame::Int(2)),
        "cumulative: {buckets:?}"
    );
}

/// RESTORE's IDLETIME and FREQ set the access record the maxmemory policy reads, as OBJECT
/// IDLETIME and OBJECT FREQ then report it.
#[test]
fn restore_sets_idle_time_and_frequency() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    conn.call(&["SET", "source", "value"]);
    let Frame::Bulk(payload) = conn.call(&["DUMP", "source"]) else {
        panic!("DUMP answers a bulk string");
    };
    let restore = |conn: &mut redis_tests::Conn, option: &str, n: &str| {
        let args: Vec<Vec<u8>> = ["RESTORE", "copy", "0"]
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .chain([payload.clone()])
            .chain(["REPLACE", option, n].iter().map(|a| a.as_bytes().to_vec()))
            .collect();
        conn.call_bytes(&args)
    };
    conn.call(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    assert_eq!(
        restore(&mut conn, "IDLETIME", "1000"),
        Frame::Simple("OK".into())
    );
    let Frame::Int(idle) = conn.call(&["OBJECT", "IDLETIME", "copy"]) else {
        panic!("OBJECT IDLETIME answers an integer");
    };
    assert!((1000..=1010).contains(&idle), "idle {idle}");
    conn.call(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    assert_eq!(
        restore(&mut conn, "FREQ", "100"),
        Frame::Simple("OK".into())
    );
    assert_eq!(conn.call(&["OBJECT", "FREQ", "copy"]), Frame::Int(100));
    assert!(matches!(restore(&mut conn, "FREQ", "256"), Frame::Error(e) if e.contains("FREQ")));
}

/// CLIENT NO-TOUCH (Redis 7.2): a connection's reads and writes leave the keys' LFU counters
/// as they were, except TOUCH, which is meant to touch; RESET turns it off.
#[test]
fn client_no_touch_leaves_access_records_alone() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    // LFU counters decay once a minute, so stay clear of a minute's turn.
    let Frame::Array(time) = conn.call(&["TIME"]) else {
        panic!("TIME answered no array")
    };
    let Frame::Bulk(seconds) = &time[0] else {
        panic!("TIME's seconds are not a bulk")
    };
    let seconds: u64 = String::from_utf8_lossy(seconds).parse().expect("seconds");
    if seconds % 60 > 50 {
        std::thread::sleep(std::time::Duration::from_secs(61 - seconds % 60));
    }
    conn.call(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    conn.call(&["SET", "k", "v"]);
    // A new key's counter is 5; from 5, every access adds one.
    let freq = |conn: &mut redis_tests::Conn| conn.call(&["OBJECT", "FREQ", "k"]);
    assert_eq!(freq(&mut conn), Frame::Int(5));
    assert_eq!(
        conn.call(&["CLIENT", "NO-TOUCH", "ON"]),
        Frame::Simple("OK".into())
    );
    conn.call(&["GET", "k"]);
    conn.call(&["APPEND", "k", "w"]);
    assert_eq!(freq(&mut conn), Frame::Int(5));
    conn.call(&["TOUCH", "k"]);
    assert_eq!(freq(&mut conn), Frame::Int(6));
    assert_eq!(
        conn.call(&["CLIENT", "NO-TOUCH", "MAYBE"]),
        Frame::Error("ERR syntax error".into())
    );
    assert_eq!(conn.call(&["RESET"]), Frame::Simple("RESET".into()));
    // From 6, an access adds one with probability 1/11: 200 of them all miss once in 10^8.
    for _ in 0..200 {
        conn.call(&["GET", "k"]);
    }
    assert!(
        matches!(freq(&mut conn), Frame::Int(n) if n > 6),
        "RESET turned NO-TOUCH off"
    );
}
