//! The cluster's internal credential. With a password on the cluster's default user, proxies,
//! controllers, the CLI and followers still reach the shard servers, and nobody else does: not
//! the client port without a password, not the replication port without the cluster's secret.
//!
//! The secret is kept in a file here: this binary's one test sets the variable that every
//! process it starts inherits. Every other test cluster keeps it in etcd, where `cluster init`
//! puts a generated one, so the rest of the suite exercises that path.

use redis_tests::cluster::{names, partition_records, Cluster};
use redis_tests::{Conn, Frame};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const SECRET: &str = "a-secret-for-this-test";

fn ok(conn: &mut Conn, args: &[&str]) {
    assert_eq!(conn.call(args), Frame::Simple("OK".into()), "{args:?}");
}

/// Retries `attempt` for up to `limit`; whether it succeeded.
fn within(limit: Duration, mut attempt: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if attempt() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// What the replication port at `addr` answers to `messages`, sent on one stream of a link
/// (see `server/src/replication/mux.rs`: a kind byte, the stream's id and the payload's length,
/// then the payload), before it ends that stream (bounded by a timeout, so a port that waits
/// for more fails the test).
fn replication_answer(addr: &str, messages: &[u8]) -> String {
    const OPEN: u8 = 0;
    const DATA: u8 = 1;
    let frame = |kind: u8, payload: &[u8]| {
        let mut out = vec![kind];
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    };
    let mut stream = TcpStream::connect(addr).expect("connecting to the replication port");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&frame(OPEN, &[])).unwrap();
    stream.write_all(&frame(DATA, messages)).unwrap();
    let mut answer = Vec::new();
    loop {
        let mut header = [0u8; 9];
        let read = stream.read_exact(&mut header);
        assert!(
            read.is_ok(),
            "the replication port kept the stream open: {read:?}"
        );
        let len = u32::from_be_bytes(header[5..].try_into().unwrap()) as usize;
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).unwrap();
        match header[0] {
            DATA => answer.extend_from_slice(&payload),
            _ => return String::from_utf8_lossy(&answer).into_owned(),
        }
    }
}

fn resp(parts: &[&str]) -> Vec<u8> {
    redis_tests::encode(
        &parts
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect::<Vec<_>>(),
    )
}

#[test]
fn only_the_cluster_credential_reaches_shard_servers() {
    let dir = std::env::temp_dir().join(format!("slotcache-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    std::env::set_var("SLOTCACHE_CLUSTER_SECRET_FILE", &file);

    let cluster = Cluster::new(4, 2);
    let lfu = ["--maxmemory-policy", "allkeys-lfu"];
    let mut servers: Vec<_> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| cluster.server_with(n, &cluster.endpoint, &lfu))
        .collect();
    let _controller = cluster.controller("c1");
    cluster.wait_in_sync(4, 2);
    let proxy = cluster.proxy(&[]);
    let mut admin = proxy.connect();
    ok(
        &mut admin,
        &["ACL", "SETUSER", "default", "resetpass", ">s3cret"],
    );

    // The servers follow the cluster's default user: their client ports now want it (from
    // new connections: one open before the change stays logged in, as in Redis).
    let asks = within(Duration::from_secs(5), || {
        let mut direct = servers[0].connect();
        matches!(direct.call(&["GET", "k"]), Frame::Error(e) if e.starts_with("NOAUTH"))
    });
    let mut direct = servers[0].connect();
    assert!(asks, "a shard server serves without the cluster's password");
    let wrongpass = "WRONGPASS invalid username-password pair or user is disabled.";
    let refused = direct.call(&["AUTH", "slotcache-internal", "not-the-secret"]);
    assert_eq!(refused, Frame::Error(wrongpass.into()));
    ok(&mut direct, &["AUTH", "slotcache-internal", SECRET]);
    assert!(matches!(
        direct.call(&["CLIENT", "INFO"]),
        Frame::Bulk(info) if String::from_utf8_lossy(&info).contains(" user=slotcache-internal ")
    ));
    let reserved = admin.call(&["ACL", "SETUSER", "slotcache-internal", "on"]);
    assert!(
        matches!(&reserved, Frame::Error(e) if e.contains("reserved")),
        "{reserved:?}"
    );

    // A proxy started now opens its lanes with the credential, not a user's password.
    let late = cluster.proxy(&[]);
    let mut client = late.connect();
    assert!(matches!(client.call(&["GET", "k"]), Frame::Error(e) if e.starts_with("NOAUTH")));
    ok(&mut client, &["AUTH", "s3cret"]);
    let keys: Vec<String> = (0..200).map(|i| format!("key:{i}")).collect();
    for key in &keys {
        ok(&mut client, &["SET", key, key]);
    }
    for _ in 0..20 {
        assert_eq!(client.call(&["GET", "key:7"]), Frame::bulk("key:7"));
    }

    // The replication port serves nobody without the secret.
    let status = cluster.status();
    let replication_addr = status["nodes"][0]["replication_addr"]
        .as_str()
        .expect("a replication address")
        .to_string();
    let sync = resp(&["sync", "0", "1", "0", "0", "intruder"]);
    let answer = replication_answer(&replication_addr, &sync);
    assert!(answer.contains("NOAUTH"), "{answer:?}");
    let mut wrong = resp(&["auth", "not-the-secret"]);
    wrong.extend_from_slice(&sync);
    let answer = replication_answer(&replication_addr, &wrong);
    assert!(answer.contains("NOAUTH"), "{answer:?}");

    // The CLI asks the servers with the credential: hot keys come back, not NOAUTH.
    let (done, out, err) = cluster.cli(&["hotkeys", "--json"]);
    assert!(done, "hotkeys: {err}");
    let hot: serde_json::Value = serde_json::from_str(&out).expect("hotkeys JSON");
    assert!(hot["error"].is_null(), "{hot}");
    assert!(out.contains("key:7"), "{hot}");

    // kill -9 of a server: the controller asks the survivors for their offsets and elects
    // leaders, and the restarted server's follower streams attach with the secret.
    drop(servers.remove(1));
    cluster.wait_led_elsewhere("n2");
    servers.push(cluster.server_with("n2", &cluster.endpoint, &lfu));
    cluster.wait_for("n2 in sync again", Duration::from_secs(30), |state| {
        let records = partition_records(state);
        records.iter().all(|p| names(&p["isr"]).len() == 2)
            && records
                .iter()
                .any(|p| names(&p["isr"]).contains(&"n2".to_string()))
    });
    for key in &keys {
        assert_eq!(
            client.call(&["GET", key]),
            Frame::bulk(key),
            "{key} was lost"
        );
    }
    std::env::remove_var("SLOTCACHE_CLUSTER_SECRET_FILE");
    std::fs::remove_dir_all(&dir).ok();
}
