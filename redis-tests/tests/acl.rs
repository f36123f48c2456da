//! ACL on a shard server across connections, which the one-connection differential cases
//! cannot show: users deleted or losing channels are cut off, CLIENT LIST and KILL see users,
//! `requirepass` and `aclfile` at start, ACL SAVE and LOAD. Side by side with redis-server
//! where Redis has the same behaviour.

use redis_tests::{start_redis, start_slotcache, Conn, Frame, Process};
use std::time::Duration;

fn ok(conn: &mut Conn, args: &[&str]) {
    assert_eq!(conn.call(args), Frame::Simple("OK".into()), "{args:?}");
}

fn logged_in(server: &Process, user: &str, pass: &str) -> Conn {
    let mut conn = server.connect();
    ok(&mut conn, &["AUTH", user, pass]);
    conn
}

/// Whether the server closed the connection (a read gets EOF rather than a reply).
fn closed(conn: &mut Conn) -> bool {
    conn.set_read_timeout(Duration::from_secs(10));
    conn.try_read_reply(&["PING"]).is_none()
}

fn both(test: impl Fn(&Process)) {
    test(&start_slotcache(&[]));
    test(&start_redis(&[]));
}

#[test]
fn deleting_a_user_closes_its_connections() {
    both(|server| {
        let mut admin = server.connect();
        ok(
            &mut admin,
            &["ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*"],
        );
        ok(
            &mut admin,
            &["ACL", "SETUSER", "carl", "on", ">pw", "+@all", "~*"],
        );
        let mut bob = logged_in(server, "bob", "pw");
        let mut carl = logged_in(server, "carl", "pw");
        assert_eq!(admin.call(&["ACL", "DELUSER", "bob"]), Frame::Int(1));
        assert!(closed(&mut bob), "bob's connection stays open");
        assert_eq!(carl.call(&["PING"]), Frame::Simple("PONG".into()));
        // Changing a user's rules applies to its open connections at once.
        ok(&mut admin, &["ACL", "SETUSER", "carl", "-ping"]);
        let Frame::Error(refused) = carl.call(&["PING"]) else {
            panic!("carl may no longer PING")
        };
        assert!(refused.starts_with("NOPERM"), "{refused}");
    });
}

#[test]
fn taking_channels_away_closes_subscribers() {
    both(|server| {
        let mut admin = server.connect();
        ok(
            &mut admin,
            &[
                "ACL", "SETUSER", "sub", "on", ">pw", "+@all", "~*", "&news*",
            ],
        );
        let mut subscriber = logged_in(server, "sub", "pw");
        let reply = subscriber.call(&["SUBSCRIBE", "news1"]);
        assert!(matches!(reply, Frame::Array(_)), "{reply:?}");
        // Adding channels leaves it subscribed; taking its channel closes it.
        ok(&mut admin, &["ACL", "SETUSER", "sub", "&other"]);
        assert_eq!(admin.call(&["PUBLISH", "news1", "hi"]), Frame::Int(1));
        let Some(Frame::Array(message)) = subscriber.try_read() else {
            panic!("the subscriber gets the message")
        };
        assert_eq!(message[2], Frame::bulk("hi"));
        ok(
            &mut admin,
            &["ACL", "SETUSER", "sub", "resetchannels", "&other"],
        );
        assert!(closed(&mut subscriber), "the subscriber stays connected");
    });
}

#[test]
fn clients_show_and_match_their_user() {
    both(|server| {
        let mut admin = server.connect();
        ok(
            &mut admin,
            &["ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*"],
        );
        let mut bob = logged_in(server, "bob", "pw");
        let Frame::Bulk(info) = bob.call(&["CLIENT", "INFO"]) else {
            panic!("CLIENT INFO")
        };
        assert!(String::from_utf8_lossy(&info).contains(" user=bob "));
        let refused = admin.call(&["CLIENT", "KILL", "USER", "nobody"]);
        assert_eq!(refused, Frame::Error("ERR No such user 'nobody'".into()));
        assert_eq!(
            admin.call(&["CLIENT", "KILL", "USER", "bob"]),
            Frame::Int(1)
        );
        assert!(closed(&mut bob));
    });
}

#[test]
fn requirepass_is_the_default_users_password() {
    both(|server| {
        let mut admin = server.connect();
        ok(&mut admin, &["CONFIG", "SET", "requirepass", "s3cret"]);
        let list = admin.call(&["ACL", "LIST"]);
        assert!(
            list.display().contains("user default on #"),
            "{}",
            list.display()
        );
        let mut other = server.connect();
        let Frame::Error(noauth) = other.call(&["GET", "x"]) else {
            panic!("a new connection must authenticate")
        };
        assert!(noauth.starts_with("NOAUTH"), "{noauth}");
        ok(&mut other, &["AUTH", "s3cret"]);
        assert_eq!(other.call(&["GET", "x"]), Frame::Null);
        ok(&mut admin, &["CONFIG", "SET", "requirepass", ""]);
        assert_eq!(server.connect().call(&["GET", "x"]), Frame::Null);
    });
}

#[test]
fn users_load_from_and_save_to_the_acl_file() {
    let dir = std::env::temp_dir().join(format!("slotcache-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.acl");
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser ann on >annpw ~ann:* +get +set\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let ours = start_slotcache(&["--aclfile", path]);
    let mut ann = logged_in(&ours, "ann", "annpw");
    assert_eq!(ann.call(&["GET", "ann:1"]), Frame::Null);
    let Frame::Error(refused) = ann.call(&["GET", "bob:1"]) else {
        panic!("ann reaches only ann:*")
    };
    assert!(refused.starts_with("NOPERM"), "{refused}");
    let mut admin = ours.connect();
    ok(&mut admin, &["ACL", "SETUSER", "zed", "on", ">z", "+ping"]);
    ok(&mut admin, &["ACL", "SAVE"]);
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("user zed on #"), "{saved}");
    // LOAD replaces the users with the file's; a bad file changes nothing.
    assert_eq!(admin.call(&["ACL", "DELUSER", "zed"]), Frame::Int(1));
    ok(&mut admin, &["ACL", "LOAD"]);
    let users = admin.call(&["ACL", "USERS"]);
    let names = ["ann", "default", "zed"].map(Frame::bulk).to_vec();
    assert_eq!(users, Frame::Array(names.clone()));
    std::fs::write(&file, "user broken +nosuchcommand\n").unwrap();
    let Frame::Error(error) = admin.call(&["ACL", "LOAD"]) else {
        panic!("a bad ACL file must be refused")
    };
    assert!(
        error.contains("Unknown command or category name in ACL"),
        "{error}"
    );
    assert_eq!(admin.call(&["ACL", "USERS"]), Frame::Array(names));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_proxy_authenticates_and_refuses_before_routing() {
    let running = redis_tests::cluster::running_cluster();
    let proxy = running.cluster.proxy(&["--requirepass", "s3cret"]);
    let mut admin = proxy.connect();
    let Frame::Error(noauth) = admin.call(&["GET", "a1"]) else {
        panic!("the proxy must ask for the password")
    };
    assert_eq!(noauth, "NOAUTH Authentication required.");
    let wrong = admin.call(&["AUTH", "nope"]);
    assert_eq!(
        wrong,
        Frame::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    ok(&mut admin, &["AUTH", "s3cret"]);
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "bob",
            "on",
            ">pw",
            "~a*",
            "+get",
            "+acl|whoami",
        ],
    );
    let mut bob = logged_in(&proxy, "bob", "pw");
    assert_eq!(bob.call(&["ACL", "WHOAMI"]), Frame::bulk("bob"));
    assert_eq!(bob.call(&["GET", "a1"]), Frame::Null);
    let refused = bob.call(&["GET", "b1"]);
    let no_key = "NOPERM this user has no permissions to access one of the keys used as arguments";
    assert_eq!(refused, Frame::Error(no_key.into()));
    let refused = bob.call(&["SET", "a1", "x"]);
    let no_set = "NOPERM this user has no permissions to run the 'set' command";
    assert_eq!(refused, Frame::Error(no_set.into()));
    // Refused at the proxy: the shard servers never saw the write.
    assert_eq!(admin.call(&["GET", "a1"]), Frame::Null);
    let Frame::Array(log) = admin.call(&["ACL", "LOG"]) else {
        panic!("ACL LOG")
    };
    assert_eq!(log.len(), 3, "two refusals and a failed AUTH: {log:?}");
    let Frame::Bulk(list) = admin.call(&["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST")
    };
    assert!(String::from_utf8_lossy(&list).contains(" user=bob "));
    assert_eq!(admin.call(&["ACL", "DELUSER", "bob"]), Frame::Int(1));
    assert!(closed(&mut bob), "a deleted user's client stays connected");
}

/// Retries `attempt` for up to `limit`; how long it took to succeed.
fn within(limit: Duration, mut attempt: impl FnMut() -> bool) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if attempt() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn users_made_through_one_proxy_hold_at_every_proxy() {
    let running = redis_tests::cluster::running_cluster();
    let (a, b) = (running.cluster.proxy(&[]), running.cluster.proxy(&[]));
    let mut admin_a = a.connect();
    ok(
        &mut admin_a,
        &["ACL", "SETUSER", "dora", "on", ">pw", "~d:*", "+get"],
    );
    let mut dora_b = b.connect();
    let took = within(Duration::from_secs(5), || {
        dora_b.call(&["AUTH", "dora", "pw"]) == Frame::Simple("OK".into())
    });
    let took = took.expect("a user made at proxy A logs in at proxy B");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(dora_b.call(&["GET", "d:1"]), Frame::Null);
    // The shard servers follow the same users, for clients that reach them directly.
    let mut direct = running.servers[0].connect();
    let at_server = within(Duration::from_secs(5), || {
        direct.call(&["AUTH", "dora", "pw"]) == Frame::Simple("OK".into())
    });
    assert!(at_server.is_some(), "the user never reached a shard server");
    let Frame::Error(refused) = dora_b.call(&["GET", "e:1"]) else {
        panic!("B applies A's key patterns")
    };
    assert!(refused.starts_with("NOPERM"), "{refused}");
    // A change of rules and a deletion made at B reach A.
    let mut dora_a = logged_in(&a, "dora", "pw");
    let mut admin_b = b.connect();
    ok(&mut admin_b, &["ACL", "SETUSER", "dora", "~e:*"]);
    let widened = within(Duration::from_secs(5), || {
        dora_a.call(&["GET", "e:1"]) == Frame::Null
    });
    assert!(widened.is_some(), "A never saw B's change");
    assert_eq!(admin_b.call(&["ACL", "DELUSER", "dora"]), Frame::Int(1));
    // Other tests share the cluster and its users: only dora is looked for.
    let gone = within(Duration::from_secs(5), || {
        let Frame::Array(users) = admin_a.call(&["ACL", "USERS"]) else {
            return false;
        };
        !users.contains(&Frame::bulk("dora"))
    });
    assert!(gone.expect("A never saw the deletion") < Duration::from_secs(1));
    assert!(closed(&mut dora_a), "A keeps a deleted user's client");
    assert!(closed(&mut dora_b), "B keeps a deleted user's client");
    assert!(
        closed(&mut direct),
        "a shard server keeps a deleted user's client"
    );
}

/// Rules changed between MULTI and EXEC: EXEC checks each queued command again, answers the
/// ones the user may no longer run with NOPERM in its array, runs the rest, and logs the
/// refusal with context `multi`. A server, a proxy (which checks before routing, so the
/// refused command never reaches a shard server) and redis-server answer alike.
#[test]
fn exec_checks_queued_commands_again() {
    let running = redis_tests::cluster::running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let run = |target: &Process| {
        let mut admin = target.connect();
        ok(&mut admin, &["ACL", "LOG", "RESET"]);
        ok(
            &mut admin,
            &["ACL", "SETUSER", "eve", "on", ">pw", "+@all", "~*"],
        );
        let mut eve = logged_in(target, "eve", "pw");
        ok(&mut eve, &["MULTI"]);
        for queued in [
            &["SET", "exec{t}", "v"][..],
            &["GET", "exec{t}"],
            &["INCR", "count{t}"],
        ] {
            assert_eq!(eve.call(queued), Frame::Simple("QUEUED".into()));
        }
        ok(&mut admin, &["ACL", "SETUSER", "eve", "-set"]);
        let exec = eve.call(&["EXEC"]);
        let Frame::Array(log) = admin.call(&["ACL", "LOG", "1"]) else {
            panic!("ACL LOG")
        };
        let Some(Frame::Array(entry)) = log.first() else {
            panic!("no ACL LOG entry: {log:?}")
        };
        let field = |name: &str| {
            let at = entry.iter().position(|f| *f == Frame::bulk(name)).unwrap();
            entry[at + 1].clone()
        };
        let logged = [field("reason"), field("context"), field("object")];
        (exec, logged, admin.call(&["GET", "exec{t}"]))
    };
    let expected = run(&start_redis(&[]));
    let refusal = "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand";
    assert_eq!(
        expected.0,
        Frame::Array(vec![
            Frame::Error(refusal.into()),
            Frame::Null,
            Frame::Int(1)
        ])
    );
    assert_eq!(run(&start_slotcache(&[])), expected, "a shard server");
    assert_eq!(run(&proxy), expected, "a proxy");
}

/// A script runs with its caller's rules: a call to a key outside the user's patterns is
/// refused inside the script, and `redis.acl_check_cmd` answers for the user. Through a proxy
/// too, where only the shard server sees what the script calls: the proxy runs a restricted
/// user's scripts on lanes that log in on behalf of the user (also inside MULTI, and on a
/// connection holding WATCH). Side by side with redis-server.
#[test]
fn scripts_through_a_proxy_keep_the_callers_key_rules() {
    let running = redis_tests::cluster::running_cluster();
    let proxy = running.cluster.proxy(&[]);
    let run = |target: &Process, servers: &[Process]| {
        let mut admin = target.connect();
        ok(
            &mut admin,
            &["ACL", "SETUSER", "sam", "on", ">pw", "+@all", "~s:*"],
        );
        // Users a proxy makes reach the shard servers through etcd: wait for sam there.
        for server in servers {
            let mut direct = server.connect();
            let arrived = within(Duration::from_secs(5), || {
                direct.call(&["AUTH", "sam", "pw"]) == Frame::Simple("OK".into())
            });
            assert!(arrived.is_some(), "sam never reached a shard server");
        }
        let mut sam = logged_in(target, "sam", "pw");
        let outside = "return redis.call('SET', 'o:{t}1', 'x')";
        let checks = "return {redis.acl_check_cmd('GET', 's:{t}1') and 1 or 0, \
                      redis.acl_check_cmd('SET', 'o:{t}1', 'x') and 1 or 0}";
        let mut replies = vec![
            sam.call(&[
                "EVAL",
                "return redis.call('SET', KEYS[1], 'v')",
                "1",
                "s:{t}1",
            ]),
            sam.call(&["EVAL", outside, "1", "s:{t}1"]),
            sam.call(&["EVAL", checks, "1", "s:{t}1"]),
        ];
        ok(&mut sam, &["MULTI"]);
        sam.call(&["EVAL", outside, "1", "s:{t}1"]);
        replies.push(sam.call(&["EXEC"]));
        ok(&mut sam, &["WATCH", "s:{t}1"]);
        ok(&mut sam, &["MULTI"]);
        sam.call(&["EVAL", outside, "1", "s:{t}1"]);
        replies.push(sam.call(&["EXEC"]));
        replies.push(admin.call(&["GET", "o:{t}1"]));
        replies.push(admin.call(&["GET", "s:{t}1"]));
        assert_eq!(admin.call(&["ACL", "DELUSER", "sam"]), Frame::Int(1));
        admin.call(&["DEL", "s:{t}1"]);
        replies
    };
    let expected = run(&start_redis(&[]), &[]);
    let Frame::Error(refusal) = &expected[1] else {
        panic!("redis-server let the script out of sam's keys: {expected:?}")
    };
    assert!(refusal.contains("can't access"), "{refusal}");
    assert_eq!(
        expected[2],
        Frame::Array(vec![Frame::Int(1), Frame::Int(0)])
    );
    assert_eq!(
        expected[5],
        Frame::Null,
        "nothing outside sam's keys was written"
    );
    assert_eq!(run(&start_slotcache(&[]), &[]), expected, "a shard server");
    assert_eq!(run(&proxy, &running.servers), expected, "a proxy");
}
