//! Rotating the cluster's internal secret without a restart (`slotcache cluster rotate-secret`):
//! every part takes the new secret from etcd at once and still accepts the old one until the
//! rotation is finished, so writes through a proxy see no error meanwhile; after `--finish`
//! the old secret is refused everywhere, and links made since (a restarted server's streams, a
//! new proxy's lanes) log in with the new one.

use redis_tests::cluster::Cluster;
use redis_tests::{Conn, Frame, Process};
use slotcache_cluster::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The secret the cluster keeps in etcd now.
fn secret(cluster: &Cluster) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut store = Store::connect(&cluster.endpoint, &cluster.name, Duration::from_secs(10))
            .await
            .expect("etcd");
        let key = store.keys.secret();
        store.get::<String>(&key).await.unwrap().expect("a secret")
    })
}

/// Whether every server answers AUTH with the internal user and `secret` with `expected`,
/// within a few seconds (the servers follow etcd).
fn servers_answer(servers: &[Process], secret: &str, expected: &Frame) -> bool {
    servers.iter().all(|server| {
        let mut conn = server.connect();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            if conn.call(&["AUTH", "slotcache-internal", secret]) == *expected {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

#[test]
fn the_secret_rotates_without_a_restart_or_an_error() {
    let cluster = Cluster::new(4, 2);
    let mut servers: Vec<Process> = ["n1", "n2", "n3"].map(|n| cluster.server(n)).into();
    let _controller = cluster.controller("c1");
    cluster.wait_in_sync(4, 2);
    let proxy = cluster.proxy(&[]);
    let old = secret(&cluster);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (stop, acked, errors, port) = (stop.clone(), acked.clone(), errors.clone(), proxy.port);
        std::thread::spawn(move || {
            // New connections now and then, so new lanes are made during the rotation too.
            let mut conn = Conn::connect(port);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if n % 200 == 0 {
                    conn = Conn::connect(port);
                }
                let key = format!("rot:{n}");
                match conn.call(&["SET", &key, &key]) {
                    Frame::Simple(ok) if ok == "OK" => acked.lock().unwrap().push(key),
                    other => errors.lock().unwrap().push(format!("{key}: {other:?}")),
                }
                n += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let (ok, out, err) = cluster.cli(&["cluster", "rotate-secret"]);
    assert!(ok, "rotate-secret: {out}{err}");
    let new = secret(&cluster);
    assert_ne!(new, old);
    let accepted = Frame::Simple("OK".into());
    assert!(servers_answer(&servers, &new, &accepted), "the new secret");
    assert!(
        servers_answer(&servers, &old, &accepted),
        "the old one, mid-rotation"
    );
    let (ok, _, err) = cluster.cli(&["cluster", "rotate-secret"]);
    assert!(!ok && err.contains("rotation is under way"), "{err}");
    std::thread::sleep(Duration::from_secs(1));
    let (ok, out, err) = cluster.cli(&["cluster", "rotate-secret", "--finish"]);
    assert!(ok, "rotate-secret --finish: {out}{err}");
    let wrongpass =
        Frame::Error("WRONGPASS invalid username-password pair or user is disabled.".into());
    assert!(servers_answer(&servers, &old, &wrongpass), "old refused");
    assert!(servers_answer(&servers, &new, &accepted), "new accepted");
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let errors = errors.lock().unwrap().clone();
    let acked = acked.lock().unwrap().clone();
    assert!(errors.is_empty(), "errors during the rotation: {errors:?}");
    assert!(acked.len() > 100, "only {} writes", acked.len());

    // Links made after the rotation: a restarted server streams from its leaders and to its
    // followers with the new secret, and a new proxy's lanes reach every server.
    drop(servers.remove(0));
    cluster.wait_led_elsewhere("n1");
    servers.push(cluster.server("n1"));
    cluster.wait_in_sync(4, 2);
    let fresh = cluster.proxy(&[]);
    let mut conn = fresh.connect();
    for key in &acked {
        assert_eq!(conn.call(&["GET", key]), Frame::bulk(key), "{key}");
    }
    println!(
        "{} writes during the rotation, 0 errors, every one read back through a new proxy",
        acked.len()
    );
}
