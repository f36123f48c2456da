//! The admin CLI against a real etcd: creating a cluster, refusing to overwrite it, reading it
//! back, and clear errors when etcd is unreachable or the cluster does not exist.

use redis_tests::{free_port, run_binary, start_etcd};

#[test]
fn cluster_init_and_status_on_a_real_etcd() {
    let etcd = start_etcd();
    let endpoint = format!("http://127.0.0.1:{}", etcd.port);
    let init = |extra: &[&str]| {
        let mut args = vec!["cluster", "init", "--etcd", &endpoint, "--cluster", "demo"];
        args.extend_from_slice(extra);
        run_binary("slotcache", &args)
    };
    let (ok, out, err) = init(&[
        "--partitions",
        "4",
        "--replication-factor",
        "3",
        "--replication-mode",
        "async",
    ]);
    assert!(ok, "init failed: {err}");
    assert!(out.contains("created cluster 'demo'"), "{out}");
    // A second init is refused; --force overwrites.
    let (ok, _, err) = init(&["--partitions", "8"]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = init(&["--partitions", "8", "--force"]);
    assert!(ok, "{err}");

    let (ok, out, err) = run_binary(
        "slotcache",
        &["status", "--etcd", &endpoint, "--cluster", "demo", "--json"],
    );
    assert!(ok, "{err}");
    let state: serde_json::Value = serde_json::from_str(&out).expect("status --json is JSON");
    assert_eq!(state["config"]["partitions"], 8);
    assert_eq!(state["config"]["replication_mode"], "sync");
    let ranges = state["slots"]["ranges"].as_array().expect("slot ranges");
    assert_eq!(ranges.len(), 8);
    assert_eq!(ranges[0]["start"], 0);
    assert_eq!(ranges[7]["end"], 16383);
    assert_eq!(state["partitions"].as_array().map(Vec::len), Some(8));

    let (ok, out, _) = run_binary(
        "slotcache",
        &["status", "--etcd", &endpoint, "--cluster", "demo"],
    );
    assert!(ok);
    assert!(out.contains("8 partitions"), "{out}");

    let (ok, _, err) = run_binary(
        "slotcache",
        &["status", "--etcd", &endpoint, "--cluster", "nope"],
    );
    assert!(!ok);
    assert!(err.contains("cluster 'nope' does not exist"), "{err}");
}

#[test]
fn unreachable_etcd_is_a_clear_error() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let (ok, _, err) = run_binary(
        "slotcache",
        &["status", "--etcd", &endpoint, "--connect-timeout", "1"],
    );
    assert!(!ok);
    assert!(err.contains("cannot reach etcd at"), "{err}");
}
