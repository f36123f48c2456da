//! The admin endpoints of a real cluster (etcd, two shard servers, a controller, a proxy):
//! each publishes its address in etcd, serves `/healthz` and `/readyz`, and serves `/metrics`
//! that Prometheus's own checker (`promtool check metrics`) accepts; writes through the proxy
//! and a failover move the counters they should. Scraped with curl.

use redis_tests::cluster::{partition_records, Cluster};
use redis_tests::frame::Frame;
use redis_tests::{free_port, redis_cli, Process};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An HTTP GET with curl: (status code, body).
fn get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// `/metrics` of `admin`, checked by promtool.
fn scrape(admin: &str) -> String {
    let (code, body) = get(&format!("http://{admin}/metrics"));
    assert_eq!(code, 200, "GET {admin}/metrics: {body}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) runs");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feeding promtool");
    let checked = promtool.wait_with_output().expect("promtool finishes");
    assert!(
        checked.status.success(),
        "promtool rejects the metrics of {admin}: {}{}\n{body}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    body
}

/// Every sample of `metric` whose labels include each of `labels` (`name="value"`), summed.
fn sum(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let name = series.split('{').next()?;
            let matched = name == metric && labels.iter().all(|l| series.contains(l));
            matched.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

fn ready(admin: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (health, _) = get(&format!("http://{admin}/healthz"));
        let (readiness, why) = get(&format!("http://{admin}/readyz"));
        if health == 200 && readiness == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{admin} not ready: /healthz {health}, /readyz {readiness} {why}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Parts {
    cluster: Cluster,
    servers: BTreeMap<String, (Process, String)>,
    _controller: Process,
    controller_admin: String,
    proxy: Process,
    proxy_admin: String,
}

/// A TOML file in the temp dir holding `text`; its path.
fn config_file(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("slotcache-{name}-{}.toml", free_port()));
    std::fs::write(&path, text).expect("writing a config file");
    path.display().to_string()
}

fn start() -> Parts {
    let cluster = Cluster::new(4, 2);
    let mut servers = BTreeMap::new();
    for node in ["n1", "n2"] {
        let admin_port = free_port().to_string();
        let server = cluster.server_with(node, &cluster.endpoint, &["--admin-port", &admin_port]);
        servers.insert(
            node.to_string(),
            (server, format!("127.0.0.1:{admin_port}")),
        );
    }
    // The controller and the proxy take their admin port from a config file.
    let controller_port = free_port();
    let controller_config = config_file("controller", &format!("admin-port = {controller_port}\n"));
    let controller = cluster.controller_with("c1", &["--config", &controller_config]);
    cluster.wait_in_sync(4, 2);
    let proxy_port = free_port();
    let proxy_config = config_file(
        "proxy",
        &format!("admin_port = {proxy_port}\nthreads = 1\n"),
    );
    let proxy = cluster.proxy(&["--config", &proxy_config]);
    // Both read their files as they started.
    for file in [controller_config, proxy_config] {
        let _ = std::fs::remove_file(file);
    }
    Parts {
        cluster,
        servers,
        _controller: controller,
        controller_admin: format!("127.0.0.1:{controller_port}"),
        proxy,
        proxy_admin: format!("127.0.0.1:{proxy_port}"),
    }
}

#[test]
fn every_process_serves_metrics_promtool_accepts_and_the_counters_follow_the_data() {
    let parts = start();
    let status = parts.cluster.status();
    for (node, (_, admin)) in &parts.servers {
        let record = status["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["id"] == node.as_str()))
            .unwrap_or_else(|| panic!("{node} registered: {status:#}"));
        assert_eq!(
            record["admin_addr"],
            admin.as_str(),
            "{node}'s published admin address"
        );
        ready(admin);
    }
    assert_eq!(
        status["controller"]["admin_addr"],
        parts.controller_admin.as_str(),
        "the elected controller's published admin address"
    );
    ready(&parts.controller_admin);
    ready(&parts.proxy_admin);

    let before: Vec<String> = parts.servers.values().map(|(_, a)| scrape(a)).collect();
    let proxy_before = scrape(&parts.proxy_admin);
    let keys = 200;
    let mut client = parts.proxy.connect();
    for i in 0..keys {
        let reply = client.call(&["SET", &format!("key:{i}"), "v"]);
        assert_eq!(reply, Frame::Simple("OK".into()));
    }
    assert_eq!(redis_cli(parts.proxy.port, &["GET", "key:7"]).trim(), "v");
    let wrong = client.call(&["LPUSH", "key:7", "x"]);
    assert!(
        matches!(&wrong, Frame::Error(e) if e.starts_with("WRONGTYPE")),
        "{wrong:?}"
    );

    let after: Vec<String> = parts.servers.values().map(|(_, a)| scrape(a)).collect();
    let sets = |texts: &[String]| -> f64 {
        texts
            .iter()
            .map(|t| sum(t, "redis_commands_total", &["cmd=\"set\""]))
            .sum()
    };
    assert_eq!(
        sets(&after) - sets(&before),
        keys as f64,
        "SETs the servers ran"
    );
    let stored: f64 = after
        .iter()
        .map(|t| sum(t, "redis_db_keys", &["db=\"db0\""]))
        .sum();
    assert_eq!(stored, keys as f64, "keys the leaders hold");
    let copies: f64 = after
        .iter()
        .map(|t| sum(t, "slotcache_partition_keys", &[]))
        .sum();
    assert_eq!(copies, 2.0 * keys as f64, "keys every copy holds (RF 2)");
    let leaders: f64 = after
        .iter()
        .map(|t| sum(t, "slotcache_partition_leader", &[]))
        .sum();
    assert_eq!(leaders, 4.0, "each partition led once");
    for text in &after {
        assert!(sum(text, "redis_memory_used_bytes", &[]) > 0.0);
        assert!(
            text.contains("slotcache_partition_follower_lag_records{"),
            "{text}"
        );
        assert!(
            text.contains("slotcache_partition_follower_lag_bytes{"),
            "{text}"
        );
        assert!(sum(text, "slotcache_partition_memory_bytes", &[]) > 0.0);
    }

    let proxy_after = scrape(&parts.proxy_admin);
    let proxied = |text: &str, cmd: &str| sum(text, "redis_commands_total", &[cmd]);
    assert_eq!(
        proxied(&proxy_after, "cmd=\"set\"") - proxied(&proxy_before, "cmd=\"set\""),
        keys as f64,
        "SETs through the proxy"
    );
    assert_eq!(
        sum(
            &proxy_after,
            "redis_commands_duration_seconds_count",
            &["cmd=\"set\""]
        ),
        proxied(&proxy_after, "cmd=\"set\""),
        "every SET timed"
    );
    assert_eq!(
        sum(&proxy_after, "redis_errors_total", &["err=\"WRONGTYPE\""]),
        1.0
    );
    let forwarded = sum(&proxy_after, "slotcache_proxy_backend_commands_total", &[])
        - sum(&proxy_before, "slotcache_proxy_backend_commands_total", &[]);
    assert!(
        forwarded >= keys as f64 + 2.0,
        "commands sent to the servers: {forwarded}"
    );

    let controller = scrape(&parts.controller_admin);
    assert_eq!(sum(&controller, "slotcache_controller_leading", &[]), 1.0);
    assert!(sum(&controller, "slotcache_controller_placements_total", &[]) >= 4.0);
}

#[test]
fn a_failover_shows_in_the_controllers_metrics() {
    let mut parts = start();
    let status = parts.cluster.status();
    let led_by_n1 = partition_records(&status)
        .iter()
        .filter(|p| p["leader"] == "n1")
        .count();
    assert!(led_by_n1 > 0, "n1 leads a partition: {status:#}");
    let before = scrape(&parts.controller_admin);
    assert_eq!(
        sum(&before, "slotcache_controller_failovers_total", &[]),
        0.0
    );
    drop(parts.servers.remove("n1"));
    parts
        .cluster
        .wait_for("n2 leading everything", Duration::from_secs(20), |s| {
            partition_records(s).iter().all(|p| p["leader"] == "n2")
        });
    let after = scrape(&parts.controller_admin);
    assert_eq!(
        sum(&after, "slotcache_controller_failovers_total", &[]),
        led_by_n1 as f64
    );
    assert_eq!(
        sum(
            &after,
            "slotcache_controller_failover_duration_seconds_count",
            &[]
        ),
        led_by_n1 as f64
    );
    assert_eq!(
        redis_cli(parts.proxy.port, &["SET", "after", "failover"]).trim(),
        "OK"
    );
}

/// The shipped Grafana dashboard's queries are valid PromQL over metrics the processes serve:
/// promtool parses each as a recording rule, and each names a family this build exports.
#[test]
fn the_grafana_dashboard_queries_parse_and_name_exported_metrics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("conf/grafana/slotcache-dashboard.json"))
            .expect("the dashboard"),
    )
    .expect("dashboard JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(String::from))
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let dir = std::env::temp_dir().join(format!("slotcache-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let quoted = serde_json::to_string(expr).expect("quoting");
        rules.push_str(&format!(
            "      - record: dashboard:q{i}\n        expr: {quoted}\n"
        ));
    }
    let file = dir.join("rules.yml");
    std::fs::write(&file, rules).expect("writing the rules");
    let checked = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        checked.status.success(),
        "promtool rejects a dashboard query: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let sources = [
        "server/src/metrics.rs",
        "proxy/src/metrics.rs",
        "cluster/src/admin.rs",
        "cluster/src/controller_stats.rs",
    ]
    .map(|f| std::fs::read_to_string(root.join(f)).expect("a metrics source"))
    .concat();
    for expr in &exprs {
        let named = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("redis_") || w.starts_with("slotcache_"))
            .map(|w| w.trim_end_matches("_bucket"));
        for family in named {
            assert!(
                sources.contains(&format!("\"{family}\"")),
                "the dashboard queries {family}, which no process exports"
            );
        }
    }
}
