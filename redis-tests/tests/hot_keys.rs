//! Hot keys and the operator's views of a running cluster: `redis-cli --hotkeys` against a
//! server and through a proxy, `CLUSTER HOTKEYS` merged by the proxy, `slotcache hotkeys`,
//! `cluster info`, `top` and `rebalance`, in text and with `--json`.

use redis_tests::cluster::Cluster;
use redis_tests::{redis_cli, start_slotcache, Conn, Frame};
use serde_json::Value;

/// The `keyname` lines of `redis-cli --hotkeys`' summary, hottest first.
fn hotkeys_summary(port: u16) -> Vec<String> {
    let output = redis_cli(port, &["--hotkeys"]);
    let (_, summary) = output
        .split_once("-------- summary -------")
        .unwrap_or_else(|| panic!("redis-cli --hotkeys printed no summary: {output}"));
    summary
        .lines()
        .filter_map(|line| {
            line.split_once("keyname: ")
                .map(|(_, key)| key.trim_matches('"').to_string())
        })
        .collect()
}

/// 40 keys, one read 3000 times and another 300 times.
fn heat(conn: &mut Conn) {
    for i in 0..40 {
        assert_eq!(
            conn.call(&["SET", &format!("key:{i}"), "v"]),
            Frame::Simple("OK".into())
        );
    }
    for _ in 0..3000 {
        conn.call(&["GET", "key:7"]);
    }
    for _ in 0..300 {
        conn.call(&["GET", "key:21"]);
    }
}

#[test]
fn redis_cli_finds_the_hot_keys_of_a_standalone_server() {
    let server = start_slotcache(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut conn = server.connect();
    heat(&mut conn);
    assert_eq!(hotkeys_summary(server.port)[..2], ["key:7", "key:21"]);
    let Frame::Array(ranked) = conn.call(&["CLUSTER", "HOTKEYS", "2"]) else {
        panic!("CLUSTER HOTKEYS is an array");
    };
    let keys: Vec<Frame> = ranked
        .into_iter()
        .map(|pair| match pair {
            Frame::Array(mut fields) => fields.remove(0),
            other => panic!("a [key, counter] pair, got {other:?}"),
        })
        .collect();
    assert_eq!(keys, [Frame::bulk("key:7"), Frame::bulk("key:21")]);
}

fn cli_json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = cluster.cli(&all);
    assert!(ok, "slotcache {args:?}: {err}");
    serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("slotcache {args:?} printed no JSON ({e}): {out}"))
}

#[test]
fn hot_keys_and_the_operators_views_through_a_cluster() {
    let cluster = Cluster::new(8, 2);
    let _n1 = cluster.server("n1");
    let _n2 = cluster.server("n2");
    let _controller = cluster.controller("c1");
    let proxy = cluster.proxy(&[]);
    cluster.wait_in_sync(8, 2);
    let mut conn = proxy.connect();

    // Without an LFU policy, the CLI says what to do.
    let (ok, _, err) = cluster.cli(&["hotkeys"]);
    assert!(!ok && err.contains("allkeys-lfu"), "{err}");

    let lfu = ["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"];
    assert_eq!(conn.call(&lfu), Frame::Simple("OK".into()));
    heat(&mut conn);

    // redis-cli scans every partition through the proxy and reads each key's counter.
    assert_eq!(hotkeys_summary(proxy.port)[..2], ["key:7", "key:21"]);
    // The proxy merges every partition's tracked keys.
    let Frame::Array(merged) = conn.call(&["CLUSTER", "HOTKEYS", "1"]) else {
        panic!("CLUSTER HOTKEYS through the proxy is an array");
    };
    assert!(matches!(&merged[..], [Frame::Array(pair)] if pair[0] == Frame::bulk("key:7")));

    let hot = cli_json(&cluster, &["hotkeys", "--count", "2"]);
    let keys: Vec<&str> = hot["hot_keys"]
        .as_array()
        .expect("hot_keys")
        .iter()
        .filter_map(|k| k["key"].as_str())
        .collect();
    assert_eq!(keys, ["key:7", "key:21"]);
    let (ok, text, _) = cluster.cli(&["hotkeys"]);
    assert!(
        ok && text.lines().nth(1).is_some_and(|l| l.ends_with("key:7")),
        "{text}"
    );

    let info = cli_json(&cluster, &["cluster", "info"]);
    assert_eq!(info["cluster_state"], "ok");
    assert_eq!(info["partitions_led"], 8);
    assert_eq!(info["nodes_up"], 2);
    assert_eq!(info["keys"], 40);
    assert_eq!(info["balanced"], true);
    let (ok, text, _) = cluster.cli(&["cluster", "info"]);
    assert!(ok && text.contains("cluster_state:ok"), "{text}");

    let top = cli_json(&cluster, &["top", "--iterations", "1", "--interval", "0.2"]);
    assert_eq!(top["hot_keys"][0]["key"], "key:7");
    assert!(top["nodes"]["n1"]["used_memory"].as_u64() > Some(0));
    let (ok, screen, _) = cluster.cli(&["top", "--iterations", "1", "--interval", "0.2"]);
    assert!(
        ok && screen.contains("HOT KEYS") && screen.contains("key:7"),
        "{screen}"
    );

    let rebalanced = cli_json(&cluster, &["rebalance", "--wait"]);
    assert_eq!(rebalanced["balanced"], true);
    assert_eq!(
        rebalanced["after"]["leaders"],
        serde_json::json!({"n1": 4, "n2": 4})
    );

    let undrained = cli_json(&cluster, &["node", "undrain", "n2"]);
    assert_eq!(undrained, serde_json::json!({"node": "n2", "state": "up"}));
    let (ok, _, err) = cluster.cli(&["node", "drain", "nobody"]);
    assert!(!ok && err.contains("no node 'nobody'"), "{err}");
}
