//! Scripting beyond the differential test: a runaway script is stopped by SCRIPT KILL from
//! another client (which meanwhile gets BUSY), a script that wrote cannot be killed, scripts
//! are atomic against concurrent clients, errors name their line, and the `redis` crate's
//! Script helper (EVALSHA, falling back to EVAL on NOSCRIPT) works.

use redis_tests::{start_slotcache, Frame};
use std::time::{Duration, Instant};

fn error_text(frame: &Frame) -> String {
    match frame {
        Frame::Error(text) => text.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Sends commands until one gets a reply other than BUSY, or the deadline passes.
fn until_not_busy(conn: &mut redis_tests::Conn, args: &[&str]) -> Frame {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = conn.call(args);
        match &reply {
            Frame::Error(text) if text.starts_with("BUSY") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => return reply,
        }
    }
}

#[test]
fn script_kill_stops_a_runaway_script_and_busy_is_reported_meanwhile() {
    let server = start_slotcache(&[]);
    let mut control = server.connect();
    control.call(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    control.call(&["SET", "before", "1"]);
    let mut runaway = server.connect();
    runaway.send_raw(b"EVAL \"while true do end\" 0\r\n");
    // Past the threshold every other command is answered BUSY.
    let busy = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let reply = control.call(&["GET", "before"]);
            if matches!(&reply, Frame::Error(t) if t.starts_with("BUSY"))
                || Instant::now() > deadline
            {
                break reply;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(
        error_text(&busy),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    assert_eq!(
        control.call(&["SCRIPT", "KILL"]),
        Frame::Simple("OK".into())
    );
    let killed = error_text(&runaway.read());
    assert!(
        killed.starts_with("ERR Script killed by user with SCRIPT KILL... script: "),
        "{killed}"
    );
    // Everything works again, the data untouched.
    assert_eq!(
        until_not_busy(&mut control, &["GET", "before"]),
        Frame::bulk("1")
    );
    assert_eq!(
        error_text(&control.call(&["SCRIPT", "KILL"])),
        "NOTBUSY No scripts in execution right now."
    );
}

#[test]
fn a_script_that_wrote_cannot_be_killed() {
    let server = start_slotcache(&[]);
    let mut control = server.connect();
    control.call(&["CONFIG", "SET", "lua-time-limit", "100"]);
    let mut writer = server.connect();
    // Writes, then spins for a bounded time so the test ends on its own.
    writer.send_raw(
        b"EVAL \"redis.call('set', 'w', '1') local t = 0 for i = 1, 300000000 do t = t + i end return 'done'\" 0\r\n",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let reply = loop {
        let reply = control.call(&["SCRIPT", "KILL"]);
        let unkillable = matches!(&reply, Frame::Error(t) if t.starts_with("UNKILLABLE"));
        if unkillable || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(error_text(&reply)
        .starts_with("UNKILLABLE Sorry the script already executed write commands"));
    assert_eq!(writer.read(), Frame::bulk("done"));
    assert_eq!(
        until_not_busy(&mut control, &["GET", "w"]),
        Frame::bulk("1")
    );
}

#[test]
fn scripts_are_atomic_and_errors_name_their_line() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    // Four clients move units between two keys by script; the total never changes.
    conn.call(&["MSET", "a", "1000", "b", "0"]);
    let mover = "local n = tonumber(ARGV[1]) redis.call('decrby', KEYS[1], n) redis.call('incrby', KEYS[2], n) return redis.call('get', KEYS[1]) + redis.call('get', KEYS[2])";
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let port = server.port;
            let script = mover.to_string();
            std::thread::spawn(move || {
                let mut conn = redis_tests::Conn::connect(port);
                let (from, to) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
                for _ in 0..250 {
                    let total = conn.call(&["EVAL", &script, "2", from, to, "3"]);
                    assert_eq!(total, Frame::Int(1000));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("mover thread");
    }
    let reply = conn.call(&[
        "EVAL",
        "local a = 1\nlocal b = 2\nreturn redis.call('incr', 'a', 'extra')",
        "0",
    ]);
    assert!(
        error_text(&reply).ends_with("on @user_script:3."),
        "{reply:?}"
    );
    let reply = conn.call(&["EVAL", "\n\nerror('third line')", "0"]);
    assert!(
        error_text(&reply).starts_with("ERR user_script:3: third line script: "),
        "{reply:?}"
    );
}

#[test]
fn the_redis_crate_script_helper_loads_on_noscript() {
    let server = start_slotcache(&[]);
    let client =
        redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).expect("client");
    let mut conn = client.get_connection().expect("connection");
    let script = redis::Script::new("return redis.call('incrby', KEYS[1], ARGV[1])");
    let first: i64 = script
        .key("hits")
        .arg(5)
        .invoke(&mut conn)
        .expect("first run");
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut conn)
        .expect("flush");
    let second: i64 = script
        .key("hits")
        .arg(2)
        .invoke(&mut conn)
        .expect("after a flush");
    assert_eq!((first, second), (5, 7));
}

/// A library loaded through a proxy reaches every shard server leading a partition, so FCALL
/// runs wherever its keys live; FUNCTION KILL stops a runaway function on a server, and SCRIPT
/// KILL does not (as in Redis).
#[test]
fn functions_through_a_proxy_and_function_kill() {
    let running = redis_tests::cluster::running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let mut conn = proxy.connect();
    let library = "#!lua name=counters\nredis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\nredis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
    assert_eq!(
        conn.call(&["FUNCTION", "LOAD", library]),
        Frame::bulk("counters")
    );
    // Keys over every partition.
    for i in 0..64 {
        let key = format!("counter:{i}");
        assert_eq!(conn.call(&["FCALL", "bump", "1", &key, "5"]), Frame::Int(5));
        assert_eq!(
            conn.call(&["FCALL_RO", "peek", "1", &key]),
            Frame::bulk("5")
        );
    }
    assert!(error_text(&conn.call(&["FCALL_RO", "bump", "1", "k", "1"]))
        .contains("Can not execute a script with write flag"));
    // Every shard server holds the library: running_script, engines.
    for server in &running.servers {
        let Frame::Array(stats) = server.connect().call(&["FUNCTION", "STATS"]) else {
            panic!("FUNCTION STATS")
        };
        let Frame::Array(engines) = &stats[3] else {
            panic!("engines: {stats:?}")
        };
        assert_eq!(
            engines[1],
            Frame::Array(vec![
                Frame::bulk("libraries_count"),
                Frame::Int(1),
                Frame::bulk("functions_count"),
                Frame::Int(2)
            ])
        );
    }
    assert_eq!(
        conn.call(&["FUNCTION", "DELETE", "counters"]),
        Frame::Simple("OK".into())
    );
    assert!(
        error_text(&conn.call(&["FCALL", "bump", "1", "counter:1", "1"]))
            .contains("Function not found")
    );

    let server = start_slotcache(&[]);
    let mut admin = server.connect();
    admin.call(&["CONFIG", "SET", "busy-reply-threshold", "50"]);
    admin.call(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=spin\nredis.register_function('spin', function() local a = 1 while true do a = a + 1 end end)",
    ]);
    let mut runner = server.connect();
    runner.send_raw(&redis_tests::encode(&[
        b"FCALL".to_vec(),
        b"spin".to_vec(),
        b"0".to_vec(),
    ]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match admin.call(&["SCRIPT", "KILL"]) {
            Frame::Error(e) if e.starts_with("BUSY") => break,
            Frame::Error(e) if e.starts_with("NOTBUSY") => {}
            other => panic!("SCRIPT KILL during a function: {other:?}"),
        }
        assert!(Instant::now() < deadline, "the function never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        admin.call(&["FUNCTION", "KILL"]),
        Frame::Simple("OK".into())
    );
    assert!(error_text(&runner.read()).contains("Script killed by user"));
    assert_eq!(admin.call(&["PING"]), Frame::Simple("PONG".into()));
}
