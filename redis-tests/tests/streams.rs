//! Streams beyond the differential test: blocking reads woken by other clients (`$` meaning
//! "after what was there when I blocked"), consumer-group reads that block, timeouts, a reader
//! that leaves, and DUMP/RESTORE keeping groups and pending entries.

use redis_tests::{start_slotcache, Frame};

fn entry(id: &str, fields: &[&str]) -> Frame {
    Frame::Array(vec![
        Frame::bulk(id),
        Frame::Array(fields.iter().map(|f| Frame::bulk(f)).collect()),
    ])
}

fn read_reply(key: &str, entries: Vec<Frame>) -> Frame {
    Frame::Array(vec![Frame::Array(vec![
        Frame::bulk(key),
        Frame::Array(entries),
    ])])
}

#[test]
fn blocked_readers_are_woken_by_writers() {
    let server = start_slotcache(&[]);
    let mut control = server.connect();
    control.call(&["XADD", "events", "1", "old", "x"]);
    // `$` waits for entries after the ones present when the reader blocked.
    let mut tail = server.connect();
    tail.send_raw(b"XREAD BLOCK 0 STREAMS events $\r\n");
    control.wait_blocked(1);
    let mut group_reader = server.connect();
    control.call(&["XGROUP", "CREATE", "events", "workers", "$"]);
    group_reader.send_raw(b"XREADGROUP GROUP workers w1 BLOCK 0 STREAMS events >\r\n");
    control.wait_blocked(2);
    // A deletion touches the key without adding anything: both keep waiting.
    control.call(&["XDEL", "events", "1"]);
    control.call(&["XADD", "events", "2", "new", "y"]);
    assert_eq!(
        tail.read(),
        read_reply("events", vec![entry("2-0", &["new", "y"])])
    );
    assert_eq!(
        group_reader.read(),
        read_reply("events", vec![entry("2-0", &["new", "y"])])
    );
    let pending = control.call(&["XPENDING", "events", "workers"]);
    let Frame::Array(summary) = pending else {
        panic!("XPENDING: {pending:?}")
    };
    assert_eq!(summary[0], Frame::Int(1));
    // A timeout answers a null array; a reader that leaves is forgotten.
    assert_eq!(
        tail.call(&["XREAD", "BLOCK", "100", "STREAMS", "events", "$"]),
        Frame::NullArray
    );
    let mut quitter = server.connect();
    quitter.send_raw(b"XREAD BLOCK 0 STREAMS events $\r\n");
    control.wait_blocked(1);
    drop(quitter);
    control.wait_blocked(0);
    assert_eq!(control.call(&["XLEN", "events"]), Frame::Int(1));
}

#[test]
fn dump_and_restore_keep_groups_and_pending_entries() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    for id in ["1", "2", "3"] {
        conn.call(&["XADD", "s", id, "f", id]);
    }
    conn.call(&["XGROUP", "CREATE", "s", "g", "0"]);
    conn.call(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "2",
        "STREAMS",
        "s",
        ">",
    ]);
    conn.call(&["XDEL", "s", "3"]);
    let Frame::Bulk(dump) = conn.call(&["DUMP", "s"]) else {
        panic!("DUMP")
    };
    let restored = conn.call_bytes(&[b"RESTORE".to_vec(), b"copy".to_vec(), b"0".to_vec(), dump]);
    assert_eq!(restored, Frame::Simple("OK".into()));
    for probe in [
        vec!["XRANGE", "{}", "-", "+"],
        vec!["XINFO", "GROUPS", "{}"],
        vec!["XPENDING", "{}", "g"],
        vec!["XINFO", "STREAM", "{}"],
    ] {
        let on =
            |key: &str| -> Vec<String> { probe.iter().map(|w| w.replace("{}", key)).collect() };
        let original: Vec<String> = on("s");
        let copy: Vec<String> = on("copy");
        let original: Vec<&str> = original.iter().map(String::as_str).collect();
        let copy: Vec<&str> = copy.iter().map(String::as_str).collect();
        assert_eq!(conn.call(&original), conn.call(&copy), "{probe:?}");
    }
}
