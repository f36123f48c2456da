//! Client-side caching (CLIENT TRACKING), side by side with Redis: the same conversation is
//! held with a slotcache server, through a proxy of a replicated cluster, and with a
//! redis-server, and every frame each connection reads must be the same (client ids, which
//! differ, are replaced by `ID`).

use redis_tests::cluster::Cluster;
use redis_tests::{start_redis, start_slotcache, Conn, Frame, Process};
use std::time::Duration;

/// What every connection of a conversation read, in order, with client ids masked.
struct Transcript {
    lines: Vec<String>,
    ids: Vec<i64>,
}

impl Transcript {
    fn note(&mut self, who: &str, frame: Frame) -> Frame {
        let mut text = frame.display();
        for id in &self.ids {
            text = text.replace(&format!(":{id}"), ":ID");
            text = text.replace(&format!("\"{id}\""), "\"ID\"");
        }
        // A proxy is a cluster's endpoint, and HELLO says so.
        let text = text
            .replace("\"mode\": \"cluster\"", "\"mode\": \"standalone\"")
            .replace("\"mode\", \"cluster\"", "\"mode\", \"standalone\"");
        self.lines.push(format!("{who}: {text}"));
        frame
    }
}

fn connect(server: &Process, ids: &mut Vec<i64>) -> (Conn, String) {
    let mut conn = server.connect();
    conn.set_read_timeout(Duration::from_secs(5));
    let id = conn.call(&["CLIENT", "ID"]).as_int().expect("CLIENT ID");
    ids.push(id);
    (conn, id.to_string())
}

/// Every shape of tracking a client library uses, one after the other.
fn conversation(server: &Process) -> Vec<String> {
    // Client ids above any other number the conversation reads, so masking them is exact.
    for _ in 0..100 {
        server.connect().call(&["PING"]);
    }
    let mut ids = Vec::new();
    let (mut cache, _) = connect(server, &mut ids);
    let (mut writer, _) = connect(server, &mut ids);
    let (mut subscriber, subscriber_id) = connect(server, &mut ids);
    let mut t = Transcript {
        lines: Vec::new(),
        ids,
    };
    // `say!(conn, "GET {key}")`: the words of one request, with variables filled in.
    macro_rules! say {
        ($who:ident, $request:literal) => {{
            let request = format!($request);
            let words: Vec<&str> = request.split(' ').collect();
            let frame = $who.call(&words);
            t.note(stringify!($who), frame)
        }};
    }
    macro_rules! hear {
        ($who:ident) => {{
            let frame = $who.read();
            t.note(stringify!($who), frame)
        }};
    }

    // RESP3, default mode: a read key is invalidated once, by another connection's write.
    say!(cache, "HELLO 3");
    say!(cache, "CLIENT TRACKING ON");
    say!(writer, "SET k1 1");
    say!(cache, "GET k1");
    say!(writer, "SET k1 2");
    hear!(cache);
    say!(writer, "SET k1 3");
    // A connection's own write: the reply first, then the message.
    say!(cache, "GET k1");
    say!(cache, "INCR k1");
    hear!(cache);
    // A transaction's messages come after EXEC's reply.
    say!(cache, "GET k1");
    say!(cache, "MULTI");
    say!(cache, "INCR k1");
    say!(cache, "GET k1");
    say!(cache, "EXEC");
    hear!(cache);
    say!(cache, "CLIENT TRACKINGINFO");
    say!(cache, "CLIENT TRACKING OFF");

    // RESP2 redirection to a subscriber of __redis__:invalidate.
    say!(subscriber, "SUBSCRIBE __redis__:invalidate");
    say!(cache, "HELLO 2");
    say!(cache, "CLIENT TRACKING ON REDIRECT {subscriber_id} NOLOOP");
    say!(cache, "CLIENT GETREDIR");
    say!(cache, "MGET a{{t}} b{{t}}");
    say!(cache, "SET a{{t}} mine");
    say!(writer, "SET b{{t}} theirs");
    hear!(subscriber);
    say!(cache, "CLIENT TRACKING OFF");

    // BCAST with prefixes: one message per prefix per command.
    say!(
        cache,
        "CLIENT TRACKING ON BCAST REDIRECT {subscriber_id} PREFIX a: PREFIX b:"
    );
    say!(cache, "CLIENT TRACKING ON BCAST PREFIX a");
    say!(writer, "MSET a:1{{t}} 1 b:1{{t}} 1 c:1{{t}} 1");
    hear!(subscriber);
    hear!(subscriber);
    say!(cache, "CLIENT TRACKINGINFO");
    say!(cache, "CLIENT TRACKING OFF");

    // OPTIN: only reads after CLIENT CACHING YES are remembered.
    say!(cache, "CLIENT TRACKING ON OPTIN REDIRECT {subscriber_id}");
    say!(cache, "CLIENT CACHING NO");
    say!(cache, "GET skipped");
    say!(cache, "CLIENT CACHING YES");
    say!(cache, "GET cached");
    say!(writer, "MSET skipped 1 cached 1");
    hear!(subscriber);

    // A flush invalidates everything at once.
    say!(writer, "FLUSHALL");
    hear!(subscriber);
    say!(cache, "CLIENT TRACKING OFF");

    // Bad options answer errors and change nothing.
    say!(cache, "CLIENT TRACKING ON PREFIX x");
    say!(cache, "CLIENT TRACKING ON OPTIN OPTOUT");
    say!(cache, "CLIENT TRACKING ON REDIRECT 999999");
    say!(cache, "CLIENT TRACKING ON BCAST PREFIX ab PREFIX a");
    say!(cache, "CLIENT TRACKING MAYBE");
    say!(cache, "CLIENT CACHING YES");
    say!(cache, "CLIENT TRACKINGINFO");

    // The connection redirected to goes away: a RESP3 client is told.
    say!(cache, "HELLO 3");
    say!(cache, "CLIENT TRACKING ON REDIRECT {subscriber_id}");
    say!(cache, "GET gone");
    drop(subscriber);
    std::thread::sleep(Duration::from_millis(200));
    say!(writer, "SET gone 1");
    hear!(cache);
    say!(cache, "CLIENT TRACKINGINFO");
    say!(cache, "PING");
    t.lines
}

/// Holds the conversation with Redis and with `slotcache`, line by line the same.
fn assert_same_conversation(slotcache: &Process) {
    let redis = start_redis(&[]);
    let expected = conversation(&redis);
    let got = conversation(slotcache);
    for (line, (want, have)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(want, have, "line {line} differs");
    }
    assert_eq!(expected.len(), got.len());
}

#[test]
fn tracking_conversation_matches_redis() {
    assert_same_conversation(&start_slotcache(&[]));
}

/// Through a proxy, the keys live on three servers that each keep a copy of another's
/// partitions: the messages must still be Redis's, one per change (not one more from the
/// follower that applied it too), one per flush (not one per server).
#[test]
fn tracking_conversation_through_a_proxy_matches_redis() {
    let cluster = Cluster::new(8, 2);
    let _servers: Vec<Process> = ["n1", "n2", "n3"].map(|n| cluster.server(n)).into();
    let _controller = cluster.controller("c1");
    cluster.wait_for("leaders", Duration::from_secs(20), |state| {
        let partitions = state["partitions"].as_array().cloned().unwrap_or_default();
        partitions.len() == 8 && partitions.iter().all(|p| p[1]["leader"].is_string())
    });
    assert_same_conversation(&cluster.proxy(&[]));
}

/// Past `tracking-table-max-keys`, keys are invalidated to make room, and INFO counts what
/// the table holds.
#[test]
fn the_tracking_table_stays_within_its_limit() {
    for server in [start_redis(&[]), start_slotcache(&[])] {
        let mut cache = server.connect();
        let mut admin = server.connect();
        cache.set_read_timeout(Duration::from_secs(5));
        cache.call(&["HELLO", "3"]);
        cache.call(&["CLIENT", "TRACKING", "ON"]);
        for i in 0..250 {
            cache.call(&["GET", &format!("key{i}")]);
        }
        assert_eq!(
            redis_tests::info_field(&mut admin, "stats", "tracking_total_keys"),
            250
        );
        admin.call(&["CONFIG", "SET", "tracking-table-max-keys", "10"]);
        // The server's periodic work evicts 100, then 200 keys a round until 10 are left.
        for _ in 0..240 {
            let Frame::Push(push) = cache.read() else {
                panic!("expected an invalidation")
            };
            assert_eq!(push[0], Frame::bulk("invalidate"));
        }
        assert_eq!(
            redis_tests::info_field(&mut admin, "stats", "tracking_total_keys"),
            10
        );
        assert_eq!(
            cache.call(&["PING"]),
            Frame::Simple("PONG".into()),
            "no invalidation beyond the limit's"
        );
    }
}
