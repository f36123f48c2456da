//! Requests that once hung a server or left a client without its reply, found by Redis's own
//! test suite. Each is sent as a client would, its reply is checked, and then another
//! connection must get PONG within a second: against a standalone server and through a proxy.

use redis_tests::cluster::{running_cluster, Cluster};
use redis_tests::{encode, start_slotcache, Conn, Frame, Process};
use std::time::Duration;

/// 40 `a`s, and a pattern whose stars backtrack exponentially without Redis's early exit.
const LONG_KEY: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DEEP_PATTERN: &str = "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";

/// A connection that gives up on a read after `seconds`, so a hang fails the test.
fn impatient(port: u16, seconds: u64) -> Conn {
    let mut conn = Conn::connect(port);
    conn.set_read_timeout(Duration::from_secs(seconds));
    conn
}

/// The server still answers: PONG within a second on a fresh connection.
fn answers_ping(port: u16, after: &str) {
    let mut witness = impatient(port, 1);
    assert_eq!(
        witness.try_read_reply(&["PING"]),
        Some(Frame::Simple("PONG".into())),
        "no PONG within a second after {after}"
    );
}

fn error_text(frame: Option<Frame>) -> String {
    match frame {
        Some(Frame::Error(text)) => text,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn deep_glob_patterns(port: u16) {
    let mut conn = impatient(port, 5);
    assert_eq!(
        conn.call(&["SET", LONG_KEY, "1"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        conn.try_read_reply(&["KEYS", DEEP_PATTERN]),
        Some(Frame::Array(vec![]))
    );
    answers_ping(port, "KEYS with a deep pattern");
    let Some(Frame::Array(scan)) = conn.try_read_reply(&["SCAN", "0", "MATCH", DEEP_PATTERN])
    else {
        panic!("SCAN MATCH gave no array");
    };
    assert_eq!(scan.len(), 2);
    answers_ping(port, "SCAN MATCH with a deep pattern");
    // The same matcher routes published messages to patterns.
    let mut subscriber = impatient(port, 5);
    subscriber.send_raw(&encode(&[b"PSUBSCRIBE".to_vec(), DEEP_PATTERN.into()]));
    assert!(matches!(subscriber.try_read(), Some(Frame::Array(_))));
    assert_eq!(
        conn.try_read_reply(&["PUBLISH", LONG_KEY, "m"]),
        Some(Frame::Int(0))
    );
    answers_ping(port, "PUBLISH against a deep pattern");
    assert_eq!(conn.call(&["DEL", LONG_KEY]), Frame::Int(1));
}

fn recursive_script_result(port: u16) {
    let mut conn = impatient(port, 5);
    let mut reply = conn.try_read_reply(&[
        "EVAL",
        "local a = {}; local b = {a}; a[1] = b; return a",
        "0",
    ]);
    // Nested one-element arrays until Redis's stack limit, which ends in an error.
    let mut depth = 0;
    while let Some(Frame::Array(mut items)) = reply {
        assert_eq!(items.len(), 1);
        depth += 1;
        reply = items.pop();
    }
    assert!(depth > 10, "only {depth} levels");
    assert_eq!(
        reply,
        Some(Frame::Error("ERR reached lua stack limit".into()))
    );
    assert_eq!(
        conn.try_read_reply(&["PING"]),
        Some(Frame::Simple("PONG".into()))
    );
    answers_ping(port, "a recursive script result");
}

fn client_reply_skip_then_on(port: u16) {
    let mut conn = impatient(port, 5);
    conn.send_raw(&encode(&[
        b"CLIENT".to_vec(),
        b"REPLY".into(),
        b"SKIP".into(),
    ]));
    // REPLY ON is answered even though it is the command SKIP named.
    assert_eq!(
        conn.try_read_reply(&["CLIENT", "REPLY", "ON"]),
        Some(Frame::Simple("OK".into()))
    );
    assert_eq!(
        conn.try_read_reply(&["PING"]),
        Some(Frame::Simple("PONG".into()))
    );
    // SKIP silences exactly the next reply.
    conn.send_raw(&encode(&[
        b"CLIENT".to_vec(),
        b"REPLY".into(),
        b"SKIP".into(),
    ]));
    conn.send_raw(&encode(&[b"ECHO".to_vec(), b"skipped".into()]));
    assert_eq!(
        conn.try_read_reply(&["ECHO", "answered"]),
        Some(Frame::bulk("answered"))
    );
    answers_ping(port, "CLIENT REPLY SKIP then ON");
}

fn subscriber_with_replies_off(port: u16) {
    let mut subscriber = impatient(port, 5);
    assert!(matches!(
        subscriber.try_read_reply(&["HELLO", "3"]),
        Some(Frame::Map(_))
    ));
    subscriber.send_raw(&encode(&[
        b"CLIENT".to_vec(),
        b"REPLY".into(),
        b"OFF".into(),
    ]));
    subscriber.send_raw(&encode(&[b"SUBSCRIBE".to_vec(), b"news".into()]));
    assert_eq!(
        subscriber.try_read(),
        Some(Frame::Push(vec![
            Frame::bulk("subscribe"),
            Frame::bulk("news"),
            Frame::Int(1)
        ]))
    );
    let mut publisher = impatient(port, 5);
    assert_eq!(
        publisher.try_read_reply(&["PUBLISH", "news", "hello"]),
        Some(Frame::Int(1))
    );
    assert_eq!(
        subscriber.try_read(),
        Some(Frame::Push(vec![
            Frame::bulk("message"),
            Frame::bulk("news"),
            Frame::bulk("hello")
        ]))
    );
    answers_ping(port, "a subscriber with replies off");
}

/// Waits until one of the servers at `ports` has a blocked client.
fn one_blocked(ports: &[u16]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ports.iter().any(|port| {
        let Frame::Bulk(info) = Conn::connect(*port).call(&["INFO", "clients"]) else {
            return false;
        };
        String::from_utf8_lossy(&info).contains("blocked_clients:1\r")
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the reader never blocked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A blocked XREADGROUP is told when its stream goes, however it goes. `servers` are where
/// the reader may block.
fn blocked_group_reader_whose_stream_goes(port: u16, servers: &[u16], ways: &[&[&str]]) {
    let mut conn = impatient(port, 5);
    for way in ways {
        let key = "{s}stream";
        conn.call(&["DEL", key]);
        assert!(matches!(
            conn.call(&["XADD", key, "1-1", "f", "v"]),
            Frame::Bulk(_)
        ));
        assert_eq!(
            conn.call(&["XGROUP", "CREATE", key, "g", "$"]),
            Frame::Simple("OK".into())
        );
        let mut reader = impatient(port, 5);
        reader.send_raw(&encode(
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                key,
                ">",
            ]
            .map(|a| a.as_bytes().to_vec()),
        ));
        // The reader is blocked before the stream goes (its PING answers after it).
        reader.send_raw(&encode(&[b"PING".to_vec()]));
        one_blocked(servers);
        let way: Vec<&str> = way
            .iter()
            .map(|w| if *w == "KEY" { key } else { w })
            .collect();
        assert!(!matches!(conn.call(&way), Frame::Error(_)), "{way:?}");
        let told = error_text(reader.try_read());
        assert_eq!(told, "UNBLOCKED the stream key no longer exists", "{way:?}");
        assert_eq!(reader.try_read(), Some(Frame::Simple("PONG".into())));
        answers_ping(port, &format!("{way:?} under a blocked XREADGROUP"));
    }
}

/// A script that catches SCRIPT KILL's error with pcall still ends. While it runs, a server
/// answers PING with BUSY (`ping_sees_busy`; a proxy answers PING itself), and SCRIPT KILL
/// reaches it, through a proxy too, though the script holds up the connection it came on.
/// The kill comes `runs_for` after the script started.
fn script_catching_its_kill(port: u16, ping_sees_busy: bool, runs_for: Duration) {
    let mut admin = impatient(port, 5);
    admin.call(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    let mut runner = impatient(port, 10);
    runner.send_raw(&encode(&[
        b"EVAL".to_vec(),
        b"local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end"
            .to_vec(),
        // A key puts the script in its partition, which a replicated server streams.
        b"1".to_vec(),
        b"script-key".to_vec(),
    ]));
    std::thread::sleep(runs_for);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ping_sees_busy
        && !matches!(admin.call(&["PING"]), Frame::Error(e) if e.starts_with("BUSY"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "PING never answered BUSY"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    if ping_sees_busy {
        // A request for the script's own partition is answered BUSY too, not held behind it.
        let busy = error_text(admin.try_read_reply(&["GET", "script-key"]));
        assert!(busy.starts_with("BUSY"), "{busy}");
    }
    loop {
        match admin.call(&["SCRIPT", "KILL"]) {
            Frame::Simple(ok) if ok == "OK" => break,
            Frame::Error(e) if e.starts_with("NOTBUSY") => {}
            other => panic!("SCRIPT KILL: {other:?}"),
        }
        assert!(std::time::Instant::now() < deadline, "never busy");
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = error_text(runner.try_read());
    assert!(killed.contains("Script killed by user"), "{killed}");
    answers_ping(port, "SCRIPT KILL of a script that catches errors");
    // The next script runs, and counts instructions again.
    assert_eq!(
        runner.try_read_reply(&[
            "EVAL",
            "local n = 0 for i = 1, 1000000 do n = n + 1 end return n",
            "0"
        ]),
        Some(Frame::Int(1_000_000))
    );
}

#[test]
fn hostile_requests_never_hang_a_server() {
    let server = start_slotcache(&[]);
    deep_glob_patterns(server.port);
    recursive_script_result(server.port);
    client_reply_skip_then_on(server.port);
    subscriber_with_replies_off(server.port);
    blocked_group_reader_whose_stream_goes(
        server.port,
        &[server.port],
        &[
            &["DEL", "KEY"],
            &["SET", "KEY", "v"],
            &["FLUSHALL"],
            &[
                "EVAL",
                "redis.call('del', KEYS[1]) redis.call('sadd', KEYS[1], 'e')",
                "1",
                "KEY",
            ],
        ],
    );
    script_catching_its_kill(server.port, true, Duration::ZERO);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn hostile_requests_never_hang_a_proxy() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    deep_glob_patterns(proxy.port);
    recursive_script_result(proxy.port);
    client_reply_skip_then_on(proxy.port);
    let servers: Vec<u16> = running.servers.iter().map(|s| s.port).collect();
    blocked_group_reader_whose_stream_goes(
        proxy.port,
        &servers,
        &[&["DEL", "KEY"], &["SET", "KEY", "v"]],
    );
    for server in &running.servers {
        answers_ping(server.port, "the proxy's run");
        assert!(!server.log().contains("panicked"), "{}", server.log());
    }
    assert!(!proxy.log().contains("panicked"), "{}", proxy.log());
}

/// Quick scripts sent back to back wait behind each other, longer than a short threshold,
/// and yet none is busy: the proxy once answered them BUSY by their time in flight.
fn pipelined_quick_scripts_are_not_busy(port: u16) {
    let mut conn = impatient(port, 10);
    conn.call(&["CONFIG", "SET", "busy-reply-threshold", "10"]);
    let script = ["EVAL", "return redis.call('incr', KEYS[1])", "1", "quick"];
    let request: Vec<Vec<u8>> = script.iter().map(|a| a.as_bytes().to_vec()).collect();
    conn.send_raw(&encode(&request).repeat(10_000));
    for count in 1..=10_000 {
        assert_eq!(conn.read(), Frame::Int(count));
    }
}

/// 4 partitions at RF 2 over two servers, each leading some and following the others, every
/// copy in sync; the cluster, its servers and its controller.
fn two_servers_in_sync() -> (Cluster, Vec<Process>, Process) {
    let cluster = Cluster::new(4, 2);
    let servers: Vec<Process> = ["n1", "n2"].iter().map(|n| cluster.server(n)).collect();
    let controller = cluster.controller("c1");
    cluster.wait_in_sync(4, 2);
    (cluster, servers, controller)
}

/// A script running forever on a leader of a replicated partition: its replication tasks
/// once parked both worker threads of a 2-core server on the partition's lock, and then
/// nothing, SCRIPT KILL included, was ever answered again. Through a proxy, PING and the
/// script's partition answer BUSY past the threshold; killed, the servers answer at once.
#[test]
fn a_script_never_hangs_a_replicated_server() {
    let (cluster, servers, _controller) = two_servers_in_sync();
    let proxy = cluster.proxy(&[]);
    pipelined_quick_scripts_are_not_busy(proxy.port);
    // The proxy answers BUSY as the server would: PING, and the script's partition.
    script_catching_its_kill(proxy.port, true, Duration::from_secs(3));
    for server in &servers {
        answers_ping(server.port, "a script killed through the proxy");
    }
}

/// A key whose partition `conn`'s server leads (it answers, not MOVED), addressed once so
/// that the connection's keyless requests run in that partition too.
fn key_led_by(conn: &mut Conn) -> String {
    (0..1000)
        .map(|i| format!("key-{i}"))
        .find(|key| !matches!(conn.call(&["GET", key]), Frame::Error(e) if e.starts_with("MOVED")))
        .expect("no key of 1000 is led by this server")
}

/// A function looping forever on one server while a library loaded on the other replicates
/// to it: the replicated FUNCTION LOAD waited for the interpreter on a worker thread, and with
/// the script on the other worker of a 2-core server nothing, SCRIPT KILL included, was
/// answered again (Redis's "Timedout script does not cause a false dead client", through a
/// proxy). The server must answer BUSY, take the kill, and then load the library.
#[test]
fn a_replicated_function_load_never_waits_on_a_running_script() {
    let (_cluster, servers, _controller) = two_servers_in_sync();
    let (runner_port, loader_port) = (servers[0].port, servers[1].port);
    let mut runner = impatient(runner_port, 10);
    let key = key_led_by(&mut runner);
    let endless = "#!lua name=endless\nredis.register_function('endless', function() while 1 do redis.call('ping') end end)";
    assert_eq!(
        runner.call(&["FUNCTION", "LOAD", endless]),
        Frame::Bulk(b"endless".to_vec())
    );
    runner.call(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    runner.send_raw(&encode(&[
        b"FCALL".to_vec(),
        b"endless".to_vec(),
        b"1".to_vec(),
        key.into_bytes(),
    ]));
    let mut admin = impatient(runner_port, 5);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !matches!(admin.call(&["PING"]), Frame::Error(e) if e.starts_with("BUSY")) {
        assert!(std::time::Instant::now() < deadline, "never busy");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every partition the loader leads is followed on the runner (RF 2 on two servers).
    let mut loader = impatient(loader_port, 5);
    key_led_by(&mut loader);
    let other = "#!lua name=other\nredis.register_function('other', function() return 1 end)";
    assert_eq!(
        loader.call(&["FUNCTION", "LOAD", other]),
        Frame::Bulk(b"other".to_vec())
    );
    // Time for the load to reach the runner's follower and wait there.
    std::thread::sleep(Duration::from_millis(300));
    let busy = error_text(impatient(runner_port, 1).try_read_reply(&["PING"]));
    assert!(busy.starts_with("BUSY"), "{busy}");
    assert_eq!(
        impatient(runner_port, 1).try_read_reply(&["FUNCTION", "KILL"]),
        Some(Frame::Simple("OK".into()))
    );
    let killed = error_text(runner.try_read());
    assert!(killed.contains("Script killed by user"), "{killed}");
    answers_ping(runner_port, "a function killed while a library replicated");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !matches!(admin.call(&["FCALL", "other", "0"]), Frame::Int(1)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the library never replicated"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
