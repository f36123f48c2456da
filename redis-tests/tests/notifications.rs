//! Keyspace notifications (`notify-keyspace-events`), side by side with Redis: the same
//! commands, and a pattern subscriber must receive the same messages in the same order.

use redis_tests::{start_redis, start_slotcache, Conn, Frame, Process};
use std::time::Duration;

/// Commands whose events every class letter covers, each with what it should publish.
const COMMANDS: &[&str] = &[
    "SET s 1",
    "SET s 2 EX 100",
    "SETEX s2 100 v",
    "INCR s",
    "APPEND s x",
    "PERSIST s2",
    "EXPIRE s2 100",
    "RENAME s2 s3",
    "DEL s3 nothing",
    "LPUSH l a b",
    "RPUSH l c",
    "LMOVE l l2 LEFT RIGHT",
    "RPOP l 5",
    "SADD set a b",
    "SADD set a",
    "SREM set nothing",
    "SMOVE set set2 a",
    "SMOVE set set2 b",
    "HSET h f 1",
    "HINCRBY h f 2",
    "HDEL h f",
    "ZADD z 1 a 2 b",
    "ZADD z 1 a",
    "ZINCRBY z 5 a",
    "ZREM z a b",
    "XADD x 1-1 f v",
    "XGROUP CREATE x g $",
    "XGROUP CREATECONSUMER x g alice",
    "XREADGROUP GROUP g bob STREAMS x >",
    "XDEL x 1-1",
    "XGROUP DELCONSUMER x g bob",
    "MSET m1 1 m2 2",
    "GETDEL m1",
    "SETBIT b 0 0",
    "SETBIT b 0 1",
    "SETBIT b 0 1",
    "SETBIT b 30 0",
    "BITFIELD bf SET i5 0 1",
    "BITFIELD bf SET i5 0 1",
    "BITFIELD bf INCRBY i5 0 1",
    "BITOP OR bo b bf",
    "BITOP AND bo nothing",
    "PFADD hll a b",
    "PFADD hll a",
    "PFMERGE hll2 hll",
    "SETRANGE s 5 y",
    "INCRBYFLOAT f 1.5",
    "HINCRBYFLOAT h f 1.5",
    "GETSET f 1",
    "SETNX f 2",
    "GETEX f PX 100000",
    "COPY f f2",
    "RPUSH l a b c d e",
    "LSET l 0 z",
    "LINSERT l BEFORE z y",
    "LREM l 1 y",
    "LTRIM l 0 2",
    "LMPOP 1 l LEFT",
    "SADD sp a b c",
    "SPOP sp",
    "SPOP sp 5",
    "SADD sa a b",
    "SADD sb b c",
    "SINTERSTORE si sa sb",
    "SUNIONSTORE su sa sb",
    "SDIFFSTORE sd sa sa",
    "ZADD za 1 a 2 b 3 c",
    "ZPOPMIN za",
    "ZMPOP 1 za MAX",
    "ZADD zb 1 a",
    "ZUNIONSTORE zu 2 za zb",
    "ZINTERSTORE zi 2 za zb",
    "ZDIFFSTORE zd 1 za",
    "ZRANGESTORE zr zu 0 -1",
    "ZRANGESTORE zr zu 5 6",
    "ZREMRANGEBYRANK zu 0 0",
    "SORT l STORE ls",
    "GEOADD g 1 1 a 2 2 b",
    "GEOSEARCHSTORE gs g FROMLONLAT 1 1 BYRADIUS 500 km",
    "GEORADIUS g 1 1 500 km STORE gr",
    "HSETNX h2 f v",
    "SELECT 1",
    "SET mv 1",
    "MOVE mv 0",
    "COPY f mv2 DB 1",
    "SELECT 0",
    "SET gone v PX 1",
];

/// Everything a `PSUBSCRIBE *` connection receives while `COMMANDS` run, then an expiry.
fn events(server: &Process, classes: &str) -> Vec<Frame> {
    let mut admin = server.connect();
    admin.call(&["CONFIG", "SET", "notify-keyspace-events", classes]);
    let mut subscriber: Conn = server.connect();
    subscriber.set_read_timeout(Duration::from_secs(5));
    subscriber.call(&["PSUBSCRIBE", "*"]);
    let mut client = server.connect();
    for command in COMMANDS {
        let words: Vec<&str> = command.split(' ').collect();
        client.call(&words);
    }
    // The expiry of `gone` comes from the server itself, then a marker ends the stream.
    std::thread::sleep(Duration::from_millis(200));
    client.call(&["GET", "gone"]);
    client.call(&["PUBLISH", "end", "."]);
    let mut received = Vec::new();
    loop {
        let frame = subscriber.read();
        let ended =
            matches!(&frame, Frame::Array(items) if items.get(2) == Some(&Frame::bulk("end")));
        received.push(frame);
        if ended {
            return received;
        }
    }
}

#[test]
fn every_class_publishes_what_redis_publishes() {
    let redis = start_redis(&[]);
    let slotcache = start_slotcache(&[]);
    for classes in ["KEA", "Kg", "E$lshzxt", "En", "KEAn"] {
        let expected = events(&redis, classes);
        let got = events(&slotcache, classes);
        let shown = |frames: &[Frame]| frames.iter().map(Frame::display).collect::<Vec<_>>();
        let (expected, got) = (shown(&expected), shown(&got));
        for (i, (want, have)) in expected.iter().zip(&got).enumerate() {
            assert_eq!(
                want,
                have,
                "classes {classes}, message {i}: {:?} / {:?}",
                &expected[i.saturating_sub(6)..i],
                &got[i.saturating_sub(6)..i]
            );
        }
        assert_eq!(got.len(), expected.len(), "classes {classes}");
        assert!(expected.len() > 1, "classes {classes} published nothing");
        for server in [&redis, &slotcache] {
            server.connect().call(&["FLUSHALL"]);
        }
    }
}

#[test]
fn the_setting_reads_back_as_redis_writes_it() {
    let redis = start_redis(&[]);
    let slotcache = start_slotcache(&[]);
    for classes in ["KEA", "gKE", "$lshzxeKE", "KA", "mnd", "", "K!"] {
        let mut replies = Vec::new();
        for server in [&redis, &slotcache] {
            let mut conn = server.connect();
            let set = conn.call(&["CONFIG", "SET", "notify-keyspace-events", classes]);
            let get = conn.call(&["CONFIG", "GET", "notify-keyspace-events"]);
            replies.push((matches!(set, Frame::Simple(_)), get));
        }
        assert_eq!(replies[0], replies[1], "classes {classes:?}");
    }
}
