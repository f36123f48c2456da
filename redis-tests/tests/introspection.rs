//! MONITOR, CLIENT UNBLOCK and CLIENT PAUSE, side by side with Redis: the same requests, the
//! same lines and replies (MONITOR's timestamps and client addresses masked).

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

/// Whether `conn` has a reply within a moment: a held command has none.
fn answers_soon(conn: &mut Conn) -> Option<Frame> {
    conn.set_read_timeout(Duration::from_millis(300));
    let reply = conn.try_read();
    conn.set_read_timeout(Duration::from_secs(30));
    reply
}

/// What CLIENT PAUSE holds and lets through: writes, scripts that may write, PUBLISH and EXEC
/// of a queued write wait under WRITE while reads and read-only scripts go on; everything waits
/// under ALL (CLIENT UNPAUSE too) until the deadline (long enough that a loaded machine still
/// sends the held requests before it); a held client counts as blocked.
fn paused(server: &Process) -> Vec<String> {
    let mut admin = server.connect();
    let mut writer = server.connect();
    let mut publisher = server.connect();
    let mut reader = server.connect();
    let mut seen = Vec::new();
    let mut note = |what: &str, frame: Option<Frame>| seen.push(format!("{what}: {frame:?}"));
    writer.call(&["MULTI"]);
    writer.call(&["SET", "k", "v"]);
    note(
        "pause",
        Some(admin.call(&["CLIENT", "PAUSE", "60000", "WRITE"])),
    );
    writer.send_raw(&redis_tests::encode(&[b"EXEC".to_vec()]));
    let script = "return redis.call('publish', 'ch', 'm')";
    let script_args: Vec<Vec<u8>> = ["EVAL", script, "0"]
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .collect();
    publisher.send_raw(&redis_tests::encode(&script_args));
    admin.wait_blocked(2);
    note("get", Some(reader.call(&["GET", "k"])));
    note(
        "read-only script",
        Some(reader.call(&["EVAL", "#!lua flags=no-writes\nreturn 1", "0"])),
    );
    note("held exec", answers_soon(&mut writer));
    note("unpause", Some(admin.call(&["CLIENT", "UNPAUSE"])));
    note("exec", Some(writer.read()));
    note("script", Some(publisher.read()));
    note(
        "pause all",
        Some(admin.call(&["CLIENT", "PAUSE", "3000", "ALL"])),
    );
    reader.send_raw(&redis_tests::encode(&[b"GET".to_vec(), b"k".to_vec()]));
    note("held get", answers_soon(&mut reader));
    let unpause: Vec<Vec<u8>> = vec![b"CLIENT".to_vec(), b"UNPAUSE".to_vec()];
    admin.send_raw(&redis_tests::encode(&unpause));
    note("held unpause", answers_soon(&mut admin));
    note("get", Some(reader.read()));
    note("unpause", Some(admin.read()));
    let blocked = redis_tests::info_field(&mut admin, "clients", "blocked_clients");
    note("blocked after", Some(Frame::Int(blocked as i64)));
    seen
}

#[test]
fn client_pause_holds_what_redis_holds() {
    let redis = start_redis(&[]);
    let slotcache = start_slotcache(&[]);
    let expected = paused(&redis);
    assert_eq!(paused(&slotcache), expected);
    assert_eq!(expected[3], "held exec: None");
    assert_eq!(expected[6], r#"script: Some(Int(0))"#);
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

/// INFO's Persistence section as `(field, value)` pairs.
fn persistence(conn: &mut Conn) -> Vec<(String, String)> {
    let text = match conn.call(&["INFO", "persistence"]) {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO: {other:?}"),
    };
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(field, value)| (field.to_string(), value.to_string()))
        .collect()
}

fn field(fields: &[(String, String)], name: &str) -> i64 {
    let value = fields.iter().find(|(f, _)| f == name);
    value
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
}

/// SAVE, BGSAVE and LASTSAVE answer as Redis does (slotcache writes nothing: see
/// `server/src/persistence.rs`), and INFO's Persistence section has Redis's fields, with the
/// changes since the last save counted as Redis counts them for these commands.
#[test]
fn saving_answers_as_redis_does() {
    let redis = start_redis(&[]);
    let slotcache = start_slotcache(&[]);
    let mut seen = Vec::new();
    for server in [&redis, &slotcache] {
        let mut conn = server.connect();
        let names: Vec<String> = persistence(&mut conn).into_iter().map(|(f, _)| f).collect();
        conn.call(&["SAVE"]);
        conn.call(&["SET", "a", "1"]);
        conn.call(&["SETBIT", "b", "0", "0"]);
        conn.call(&["SETBIT", "b", "0", "0"]);
        conn.call(&["SETBIT", "b", "0", "1"]);
        let before_save = field(&persistence(&mut conn), "rdb_changes_since_last_save");
        let saved = conn.call(&["SAVE"]);
        let after = persistence(&mut conn);
        let lastsave = conn.call(&["LASTSAVE"]);
        assert_eq!(
            lastsave,
            Frame::Int(field(&after, "rdb_last_save_time")),
            "{}",
            server.port
        );
        seen.push((
            names,
            before_save,
            saved,
            field(&after, "rdb_changes_since_last_save"),
            conn.call(&["BGSAVE", "later"]),
            conn.call(&["SAVE", "now"]),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    let mut conn = slotcache.connect();
    assert_eq!(
        conn.call(&["BGSAVE", "SCHEDULE"]),
        Frame::Simple("Background saving started".into())
    );
}
