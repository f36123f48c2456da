//! Blocking list commands with several concurrent clients: first come, first served wake-ups,
//! timeouts, clients that leave while blocked, and requests pipelined behind a blocked one.

use redis_tests::{start_slotcache, Conn, Frame};
use std::time::{Duration, Instant};

fn pair(key: &str, value: &str) -> Frame {
    Frame::Array(vec![Frame::bulk(key), Frame::bulk(value)])
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let server = start_slotcache(&[]);
    let mut pusher = server.connect();
    let mut waiters: Vec<Conn> = Vec::new();
    for i in 0..3 {
        let mut conn = server.connect();
        conn.send_raw(b"BLPOP queue 0\r\n");
        waiters.push(conn);
        pusher.wait_blocked(i + 1);
    }
    // One push serves exactly the oldest waiter; the others keep waiting.
    assert_eq!(pusher.call(&["RPUSH", "queue", "first"]), Frame::Int(1));
    assert_eq!(waiters[0].read(), pair("queue", "first"));
    pusher.wait_blocked(2);
    assert_eq!(
        pusher.call(&["RPUSH", "queue", "second", "third"]),
        Frame::Int(2)
    );
    assert_eq!(waiters[1].read(), pair("queue", "second"));
    assert_eq!(waiters[2].read(), pair("queue", "third"));
    assert_eq!(pusher.call(&["LLEN", "queue"]), Frame::Int(0));
}

#[test]
fn timeouts_disconnects_and_pipelines() {
    let server = start_slotcache(&[]);
    let mut control = server.connect();
    // Timeout: a null array after about the timeout, and the connection goes on working.
    let mut conn = server.connect();
    let start = Instant::now();
    assert_eq!(conn.call(&["BLPOP", "nothing", "0.2"]), Frame::NullArray);
    assert!(start.elapsed() >= Duration::from_millis(190));
    // Redis 7.0 times out every key wait with a null array, BLMOVE's too.
    assert_eq!(
        conn.call(&["BLMOVE", "nothing", "dst", "LEFT", "LEFT", "0.1"]),
        Frame::NullArray
    );
    assert_eq!(conn.call(&["PING"]), Frame::Simple("PONG".into()));
    // A client that disconnects while blocked takes nothing with it.
    let mut quitter = server.connect();
    quitter.send_raw(b"BLPOP jobs 0\r\n");
    control.wait_blocked(1);
    drop(quitter);
    control.wait_blocked(0);
    let mut worker = server.connect();
    // Requests pipelined behind a blocked one wait for it, then run in order.
    worker.send_raw(b"BRPOP jobs 0\r\nLLEN jobs\r\nECHO after\r\n");
    control.wait_blocked(1);
    // The blocked client never holds up anyone else.
    assert_eq!(
        control.call(&["SET", "other", "1"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(control.call(&["LPUSH", "jobs", "a", "b"]), Frame::Int(2));
    assert_eq!(worker.read(), pair("jobs", "a"));
    assert_eq!(worker.read(), Frame::Int(1));
    assert_eq!(worker.read(), Frame::bulk("after"));
    // BLMOVE hands over atomically to its destination.
    let mut mover = server.connect();
    mover.send_raw(b"BLMOVE src dst RIGHT LEFT 0\r\n");
    control.wait_blocked(1);
    control.call(&["RPUSH", "src", "x"]);
    assert_eq!(mover.read(), Frame::bulk("x"));
    assert_eq!(
        control.call(&["LRANGE", "dst", "0", "-1"]),
        Frame::Array(vec![Frame::bulk("x")])
    );
    // A waiter on several keys is served by whichever gets data.
    let mut multi = server.connect();
    multi.send_raw(b"BLMPOP 0 2 k1 k2 LEFT COUNT 2\r\n");
    control.wait_blocked(1);
    control.call(&["RPUSH", "k2", "p", "q", "r"]);
    assert_eq!(
        multi.read(),
        Frame::Array(vec![
            Frame::bulk("k2"),
            Frame::Array(vec![Frame::bulk("p"), Frame::bulk("q")])
        ])
    );
}

/// `cmdstat_<name>`'s `calls` in INFO commandstats.
fn calls(conn: &mut Conn, name: &str) -> Option<u64> {
    let Frame::Bulk(info) = conn.call(&["INFO", "commandstats"]) else {
        panic!("INFO is a bulk")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let line = info
        .lines()
        .find(|line| line.starts_with(&format!("cmdstat_{name}:")))?;
    line.split([':', ','])
        .find_map(|field| field.strip_prefix("calls=")?.parse().ok())
}

/// A command that blocks and is then served counts as one call, as in Redis (the run that
/// found nothing is not counted), and a waiter failed by XGROUP DESTROY too.
#[test]
fn a_blocked_command_counts_once() {
    for server in [redis_tests::start_redis(&[]), start_slotcache(&[])] {
        let mut admin = server.connect();
        let mut waiter = server.connect();
        waiter.send_raw(&redis_tests::encode(&[
            b"BLPOP".to_vec(),
            b"list".to_vec(),
            b"0".to_vec(),
        ]));
        admin.wait_blocked(1);
        admin.call(&["RPUSH", "list", "a"]);
        assert_eq!(waiter.read(), pair("list", "a"));
        admin.call(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let read = [
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ];
        let read: Vec<Vec<u8>> = read.iter().map(|a| a.as_bytes().to_vec()).collect();
        waiter.send_raw(&redis_tests::encode(&read));
        admin.wait_blocked(1);
        admin.call(&["XGROUP", "DESTROY", "s", "g"]);
        assert!(matches!(waiter.read(), Frame::Error(e) if e.starts_with("NOGROUP")));
        assert_eq!(calls(&mut admin, "blpop"), Some(1), "port {}", server.port);
        assert_eq!(
            calls(&mut admin, "xreadgroup"),
            Some(1),
            "port {}",
            server.port
        );
    }
}
