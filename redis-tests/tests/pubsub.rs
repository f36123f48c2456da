//! Pub/sub across connections: channel, pattern and shard subscribers, RESP3 push frames, and
//! a subscriber that stops reading being disconnected instead of growing memory.

use redis_tests::{rss_bytes, start_slotcache, Conn, Frame};
use std::time::{Duration, Instant};

fn message(kind: &str, channel: &str, payload: &str) -> Frame {
    Frame::Array(vec![
        Frame::bulk(kind),
        Frame::bulk(channel),
        Frame::bulk(payload),
    ])
}

#[test]
fn messages_reach_channel_pattern_and_shard_subscribers() {
    let server = start_slotcache(&[]);
    let mut publisher = server.connect();
    let mut plain = server.connect();
    plain.call(&["SUBSCRIBE", "news"]);
    let mut pattern = server.connect();
    pattern.call(&["PSUBSCRIBE", "ne*"]);
    let mut shard = server.connect();
    shard.call(&["SSUBSCRIBE", "news"]);
    let mut resp3 = server.connect();
    resp3.call(&["HELLO", "3"]);
    assert!(matches!(resp3.call(&["SUBSCRIBE", "news"]), Frame::Push(_)));

    assert_eq!(publisher.call(&["PUBLISH", "news", "hello"]), Frame::Int(3));
    assert_eq!(plain.read(), message("message", "news", "hello"));
    assert_eq!(
        pattern.read(),
        Frame::Array(vec![
            Frame::bulk("pmessage"),
            Frame::bulk("ne*"),
            Frame::bulk("news"),
            Frame::bulk("hello")
        ])
    );
    assert_eq!(
        resp3.read(),
        Frame::Push(vec![
            Frame::bulk("message"),
            Frame::bulk("news"),
            Frame::bulk("hello")
        ])
    );
    // A RESP3 subscriber may run other commands meanwhile.
    assert_eq!(resp3.call(&["SET", "k", "v"]), Frame::Simple("OK".into()));
    assert_eq!(
        publisher.call(&["SPUBLISH", "news", "sharded"]),
        Frame::Int(1)
    );
    assert_eq!(shard.read(), message("smessage", "news", "sharded"));
    assert_eq!(
        publisher.call(&["PUBSUB", "NUMSUB", "news"]),
        Frame::Array(vec![Frame::bulk("news"), Frame::Int(2)])
    );
    // Leaving (here: disconnecting) removes the subscriptions.
    drop(plain);
    drop(resp3);
    let deadline = Instant::now() + Duration::from_secs(5);
    while publisher.call(&["PUBLISH", "news", "x"]) != Frame::Int(1) {
        assert!(
            Instant::now() < deadline,
            "subscriptions outlived their connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected() {
    let server = start_slotcache(&[]);
    let mut slow: Conn = server.connect();
    slow.call(&["SUBSCRIBE", "firehose"]);
    let mut publisher = server.connect();
    let payload = "x".repeat(64 * 1024);
    // 200 MB published to a subscriber that reads nothing.
    let mut delivered_to_none_at = None;
    for i in 0..3200 {
        if publisher.call(&["PUBLISH", "firehose", &payload]) == Frame::Int(0) {
            delivered_to_none_at = Some(i);
            break;
        }
    }
    assert!(
        delivered_to_none_at.is_some(),
        "the slow subscriber was never cut off"
    );
    let rss = rss_bytes(server.child.id()) >> 20;
    assert!(rss < 200, "server RSS grew to {rss} MB");
    assert_eq!(
        publisher.call(&["PUBSUB", "NUMSUB", "firehose"]),
        Frame::Array(vec![Frame::bulk("firehose"), Frame::Int(0)])
    );
}
