//! Views of "the server" through `slotcache-proxy`, merged from every shard server as one Redis
//! would show what the whole cluster ran: SLOWLOG (one log, newest first, administrative
//! commands once, at most `slowlog-max-len` entries) and MEMORY STATS (figures added).

use redis_tests::cluster::running_cluster;
use redis_tests::{Conn, Frame};

/// The request of each entry of SLOWLOG GET, newest first, as one line.
fn logged(conn: &mut Conn, count: &str) -> Vec<String> {
    let Frame::Array(entries) = conn.call(&["SLOWLOG", "GET", count]) else {
        panic!("SLOWLOG GET is an array")
    };
    entries
        .into_iter()
        .map(|entry| match entry {
            Frame::Array(fields) => fields[3].display(),
            other => panic!("an entry: {other:?}"),
        })
        .collect()
}

#[test]
fn slowlog_merges_every_servers_log() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let mut conn = proxy.connect();
    conn.call(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    conn.call(&["CONFIG", "SET", "slowlog-max-len", "128"]);
    assert_eq!(conn.call(&["SLOWLOG", "RESET"]), Frame::Simple("OK".into()));
    // Keys over every partition, so every server logs some of the writes.
    let keys: Vec<String> = (0..24).map(|i| format!("slow-{i}")).collect();
    for key in &keys {
        conn.call(&["SET", key, "v"]);
    }
    let log = logged(&mut conn, "-1");
    let mut expected: Vec<String> = keys
        .iter()
        .rev()
        .map(|key| format!("[\"SET\", \"{key}\", \"v\"]"))
        .collect();
    expected.push("[\"SLOWLOG\", \"RESET\"]".into());
    assert_eq!(log, expected, "every server's writes, newest first");
    // The SETs, the RESET and the GET (which reached every server: counted once).
    assert_eq!(conn.call(&["SLOWLOG", "LEN"]).as_int(), Some(26));
    assert_eq!(logged(&mut conn, "2").len(), 2);
    for server in &running.servers {
        let len = server.connect().call(&["SLOWLOG", "LEN"]).as_int();
        assert!(len < Some(25), "each server logged only its own: {len:?}");
    }
    // The merged log keeps what one server's log would.
    conn.call(&["CONFIG", "SET", "slowlog-max-len", "3"]);
    assert_eq!(conn.call(&["SLOWLOG", "LEN"]).as_int(), Some(3));
    assert_eq!(
        conn.call(&["SLOWLOG", "GET", "-2"]),
        Frame::Error("ERR count should be greater than or equal to -1".into())
    );
    conn.call(&["CONFIG", "SET", "slowlog-log-slower-than", "10000"]);
}

/// The value of MEMORY STATS's `field` (RESP2: name, value, name, value...).
fn stat(frame: &Frame, field: &str) -> i64 {
    let Frame::Array(flat) = frame else {
        panic!("MEMORY STATS is an array: {frame:?}")
    };
    flat.chunks(2)
        .find(|pair| pair[0] == Frame::bulk(field))
        .and_then(|pair| pair[1].as_int())
        .unwrap_or_else(|| panic!("{field} in {frame:?}"))
}

#[test]
fn memory_stats_add_every_leaders_figures() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let mut conn = proxy.connect();
    for i in 0..300 {
        conn.call(&["SET", &format!("mem-{i}"), "some value"]);
    }
    let merged = conn.call(&["MEMORY", "STATS"]);
    assert_eq!(stat(&merged, "keys.count"), 300);
    let allocated: i64 = running
        .servers
        .iter()
        .map(|server| {
            stat(
                &server.connect().call(&["MEMORY", "STATS"]),
                "total.allocated",
            )
        })
        .sum();
    let total = stat(&merged, "total.allocated");
    // Every server leads some partitions (RF 1), so the cluster's figure is their sum; it
    // moves a little between the two readings.
    assert!(
        (total - allocated).abs() < allocated / 10,
        "{total} vs {allocated}"
    );
}
