//! MONITOR and CLIENT UNBLOCK, side by side with Redis: the same requests, the same lines and
//! replies (MONITOR's timestamps and client addresses masked).

use redis_tests::{start_redis, start_slotcache, Conn, Frame, Process};
use std::time::Duration;

/// A MONITOR line without its timestamp and address: `[<db> lua|client] "arg" ...`.
fn masked(frame: Frame) -> String {
    let Frame::Simple(line) = frame else {
        panic!("a MONITOR line is a status reply, got {frame:?}")
    };
    let (_, rest) = line.split_once(" [").expect("a timestamp, then the source");
    let (source, args) = rest
        .split_once("] ")
        .expect("the source, then the arguments");
    let (db, who) = source.split_once(' ').expect("db and client");
    let who = if who == "lua" { "lua" } else { "client" };
    format!("[{db} {who}] {args}")
}

fn monitored(server: &Process) -> Vec<String> {
    let mut monitor = server.connect();
    monitor.set_read_timeout(Duration::from_secs(5));
    let mut client = server.connect();
    assert_eq!(monitor.call(&["MONITOR"]), Frame::Simple("OK".into()));
    client.call(&["SET", "k", "quote\"d\nline"]);
    client.call(&["GET", "k"]);
    client.call(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "n"]);
    client.call(&["MULTI"]);
    client.call(&["SELECT", "3"]);
    client.call(&["DEL", "k"]);
    client.call(&["EXEC"]);
    // Administrative commands are never shown.
    client.call(&["CONFIG", "GET", "maxmemory"]);
    client.call(&["PING"]);
    (0..9).map(|_| masked(monitor.read())).collect()
}

#[test]
fn monitor_shows_what_redis_shows() {
    let redis = start_redis(&[]);
    let slotcache = start_slotcache(&[]);
    let expected = monitored(&redis);
    assert_eq!(monitored(&slotcache), expected);
    assert_eq!(
        expected[2],
        r#"[0 client] "EVAL" "return redis.call('incr', KEYS[1])" "1" "n""#
    );
    assert_eq!(expected[3], r#"[0 lua] "incr" "n""#);
}

fn unblocked(server: &Process) -> Vec<Frame> {
    let mut waiter = server.connect();
    let mut admin = server.connect();
    let id = waiter
        .call(&["CLIENT", "ID"])
        .as_int()
        .expect("CLIENT ID")
        .to_string();
    let mut seen = Vec::new();
    for (command, reason) in [
        (&["BLPOP", "list", "0"][..], None),
        (
            &["BLMOVE", "a", "b", "LEFT", "LEFT", "0"][..],
            Some("TIMEOUT"),
        ),
        (&["BLPOP", "list", "0"][..], Some("ERROR")),
    ] {
        let args: Vec<Vec<u8>> = command.iter().map(|a| a.as_bytes().to_vec()).collect();
        waiter.send_raw(&redis_tests::encode(&args));
        admin.wait_blocked(1);
        let mut unblock = vec!["CLIENT", "UNBLOCK", &id];
        unblock.extend(reason);
        seen.push(admin.call(&unblock));
        seen.push(waiter.read());
    }
    seen.push(admin.call(&["CLIENT", "UNBLOCK", &id]));
    seen.push(admin.call(&["CLIENT", "UNBLOCK", &id, "SOMEHOW"]));
    seen.push(admin.call(&["CLIENT", "UNBLOCK", "nope"]));
    seen
}

#[test]
fn client_unblock_answers_as_redis_does() {
    let redis = start_redis(&[]);
    let slotcache = start_slotcache(&[]);
    let expected = unblocked(&redis);
    assert_eq!(unblocked(&slotcache), expected);
    assert_eq!(
        expected[5],
        Frame::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
}

/// A connection that monitors and then goes away is forgotten; the server goes on.
#[test]
fn a_departed_monitor_is_dropped() {
    let server = start_slotcache(&[]);
    let mut monitor: Conn = server.connect();
    monitor.call(&["MONITOR"]);
    drop(monitor);
    let mut client = server.connect();
    for _ in 0..100 {
        client.call(&["SET", "k", "v"]);
    }
    assert_eq!(client.call(&["PING"]), Frame::Simple("PONG".into()));
}
