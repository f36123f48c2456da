//! Random and malformed input thrown at a live server: every request must get a reply (a panic
//! would drop the connection instead), the server must log no panic, and data written before
//! must be intact afterwards.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use redis_tests::cluster::running_cluster;
use redis_tests::{encode, start_slotcache, Frame, Process};

const WORDS: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "2",
    "7",
    "100",
    "-100",
    "99999",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "-0.5",
    "inf",
    "-inf",
    "nan",
    "1e308",
    "x",
    "*",
    "?",
    "[",
    "\\",
    "{a}",
    "k0",
    "k1",
    "k2",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "GET",
    "SET",
    "INCRBY",
    "OVERFLOW",
    "SAT",
    "FAIL",
    "WRAP",
    "u8",
    "i64",
    "u63",
    "i1",
    "#3",
    "BYTE",
    "BIT",
    "AND",
    "OR",
    "NOT",
    "IDX",
    "LEN",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "MATCH",
    "COUNT",
    "TYPE",
    "string",
    "REPLACE",
    "ABSTTL",
    "IDLETIME",
    "FREQ",
    "DB",
    "ASYNC",
    "SYNC",
    "KEEPTTL",
    "PERSIST",
    "ID",
    "ADDR",
    "SKIPME",
    "no",
    "yes",
    "AUTH",
    "SETNAME",
    "default",
    "maxmemory",
    "timeout",
    "hz",
    "\u{0}\u{ff}",
    "a\r\nb",
    "WITHSCORES",
    "BYSCORE",
    "BYLEX",
    "LIMIT",
    "MAXLEN",
    "MINID",
    "~",
    "STREAMS",
    "GROUP",
    "MKSTREAM",
    "$",
    ">",
    "-",
    "+",
    "(1",
    "[a",
    "1-1",
    "return redis.call('get', KEYS[1])",
    "return {1, 'x', {err = 'e'}}",
    // Adversarial: deep glob patterns, huge counts and ranges, recursive script results.
    "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
    "*[a-z]*[^b]*?*\\*[*",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "4294967296",
    "2147483647",
    "-2147483648",
    "1000000000000",
    "local a = {} a[1] = a return a",
    "local t = {} for i = 1, 100000 do t[i] = i end return t",
    "MULTI",
    "EXEC",
    "DISCARD",
    "WATCH",
];

/// Commands that legitimately end, silence or block the connection, or reconfigure the server
/// (an idle timeout would close the witness connection). The blocking commands' argument
/// errors are covered by the differential cases.
const SKIPPED: &[&str] = &[
    "quit",
    "client|kill",
    "client|reply",
    "reset",
    "hello",
    "config|set",
    "blpop",
    "brpop",
    "blmove",
    "brpoplpush",
    "blmpop",
    "bzpopmin",
    "bzpopmax",
    "bzmpop",
    "wait",
    "shutdown",
];

#[test]
fn random_requests_always_get_a_reply_and_never_panic_the_server() {
    let server = start_slotcache(&["--threads", "2"]);
    throw_random_requests(&server, 20_000);
    let log = server.log();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

#[test]
fn random_requests_through_a_proxy_always_get_a_reply() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    throw_random_requests(&proxy, 10_000);
    for process in running.servers.iter().chain([&proxy]) {
        let log = process.log();
        assert!(!log.contains("panicked"), "a process panicked:\n{log}");
        let mut witness = process.connect();
        assert_eq!(witness.call(&["PING"]), Frame::Simple("PONG".into()));
    }
}

/// Random commands of the table `process` describes, with random and adversarial arguments,
/// each of which must get a reply; then raw garbage on fresh connections. A key written
/// before must be intact after.
fn throw_random_requests(server: &Process, requests: usize) {
    let mut witness = server.connect();
    assert_eq!(
        witness.call(&["SET", "{w}witness", "intact"]),
        Frame::Simple("OK".into())
    );
    let mut conn = server.connect();
    let names: Vec<String> = match conn.call(&["COMMAND", "LIST"]) {
        Frame::Array(items) => items
            .into_iter()
            .filter_map(|f| match f {
                Frame::Bulk(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                _ => None,
            })
            .filter(|n| !SKIPPED.contains(&n.as_str()) && !n.contains("flush") && n != "swapdb")
            .collect(),
        other => panic!("COMMAND LIST: {other:?}"),
    };
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..requests {
        let name = names.choose(&mut rng).expect("commands").clone();
        let mut args: Vec<Vec<u8>> = name.split('|').map(|w| w.as_bytes().to_vec()).collect();
        for _ in 0..rng.random_range(0..7) {
            args.push(WORDS.choose(&mut rng).expect("words").as_bytes().to_vec());
        }
        conn.send_raw(&encode(&args));
        let reply = conn.try_read();
        assert!(
            reply.is_some(),
            "no reply to {:?}: the connection dropped",
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        );
    }
    // Raw garbage on fresh connections: an error or a silent close, never a crash.
    for _ in 0..300 {
        let mut garbage = server.connect();
        let len = rng.random_range(1..200);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                *b"*$\r\n0123456789-+:abc \"'"
                    .choose(&mut rng)
                    .expect("bytes")
            })
            .collect();
        garbage.send_raw(&bytes);
        garbage.send_raw(b"\r\n");
    }
    assert_eq!(witness.call(&["GET", "{w}witness"]), Frame::bulk("intact"));
    assert_eq!(witness.call(&["PING"]), Frame::Simple("PONG".into()));
}
