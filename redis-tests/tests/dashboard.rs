//! The controller's web dashboard in a real browser: headless Chromium (Debian's), driven over
//! the DevTools protocol by `redis-tests/browser/cdp.py`, loads the page of a real cluster's
//! controller. What the page shows must match `slotcache status --json`; then a leader is
//! killed and the open page, live, shows the new leaders, the lost node and the failover
//! event. Hot keys, the slow log and p99 latency show what was run through a proxy; an operator
//! action (a planned failover) goes through the page's confirmation step and happens, and a
//! refused one shows why. A screenshot is saved to `target/dashboard.png`.

use redis_tests::cluster::{partition_records, Cluster};
use redis_tests::{free_port, Frame};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A page open in headless Chromium.
struct Browser {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Browser {
    fn open(url: &str) -> Browser {
        let mut child = Command::new(workspace().join("target/pyenv/bin/python"))
            .arg(workspace().join("redis-tests/browser/cdp.py"))
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the DevTools driver starts (scripts/deps.sh installs it)");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut browser = Browser {
            child,
            input: Some(input),
            output,
        };
        assert_eq!(browser.line(), "ready", "the page loads in Chromium");
        browser
    }

    fn stdin(&mut self) -> &mut ChildStdin {
        self.input
            .as_mut()
            .expect("the driver's stdin is open until drop")
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.output
            .read_line(&mut line)
            .expect("reading the driver");
        line.trim_end().to_string()
    }

    fn eval(&mut self, js: &str) -> Value {
        writeln!(self.stdin(), "eval {js}").expect("writing to the driver");
        serde_json::from_str(&self.line()).expect("a JSON value")
    }

    fn screenshot(&mut self, path: &std::path::Path) {
        writeln!(self.stdin(), "shot {}", path.display()).expect("writing to the driver");
        assert_eq!(self.line(), "ok");
    }

    /// Partition → leader, as the page's partition table shows them.
    fn leaders(&mut self) -> Vec<(String, String)> {
        let rows = self.eval(
            "Array.from(document.querySelectorAll('#partitions tr[data-partition]')).map(r => [r.dataset.partition, r.dataset.leader])",
        );
        serde_json::from_value(rows).unwrap_or_default()
    }

    /// Polls the page until `done` holds for `read`'s value.
    fn wait_for<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        mut read: impl FnMut(&mut Browser) -> T,
        done: impl Fn(&T) -> bool,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = read(self);
            if done(&value) {
                return value;
            }
            assert!(Instant::now() < deadline, "{what} never shown: {value:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Browser {
    /// Closing the driver's stdin stops it and its browser (the driver kills Chromium's whole
    /// process group); killing the driver is the last resort.
    fn drop(&mut self) {
        drop(self.input.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads through the proxy make a hot key, a busy script a slow log entry, and every command
/// a latency: the page shows all three.
fn shows_hot_keys_slow_commands_and_latency(browser: &mut Browser, proxy: &redis_tests::Process) {
    let mut conn = proxy.connect();
    let lfu = ["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"];
    assert_eq!(conn.call(&lfu), Frame::Simple("OK".into()));
    assert_eq!(
        conn.call(&["SET", "hot-key", "v"]),
        Frame::Simple("OK".into())
    );
    for _ in 0..3000 {
        conn.call(&["GET", "hot-key"]);
    }
    let busy = "local i = 0 while i < 5000000 do i = i + 1 end return i";
    assert_eq!(conn.call(&["EVAL", busy, "0"]), Frame::Int(5_000_000));
    browser.wait_for(
        "the hot key",
        |b| b.eval("Array.from(document.querySelectorAll('#hotkeys tr[data-key]')).map(r => r.dataset.key)"),
        |keys| keys.get(0) == Some(&Value::from("hot-key")),
    );
    browser.wait_for(
        "the busy script in the slow log",
        |b| b.eval("document.querySelector('#slowlog tbody').textContent"),
        |text| text.as_str().is_some_and(|t| t.contains("5000000")),
    );
    browser.wait_for(
        "a p99 latency",
        |b| b.eval("document.getElementById('p99').textContent"),
        |text| text.as_str().is_some_and(|t| t.starts_with('≤')),
    );
}

/// Sets the action form's fields and asks for a review.
fn prepare(browser: &mut Browser, kind: &str, partition: &str, fields: &[(&str, &str)]) {
    let mut js = format!(
        "document.getElementById('action-kind').value = '{kind}'; document.getElementById('action-partition').value = '{partition}';"
    );
    for (id, value) in fields {
        js.push_str(&format!(
            "document.getElementById('{id}').value = '{value}';"
        ));
    }
    js.push_str("document.getElementById('action-result').textContent = ''; document.getElementById('action-prepare').click(); true");
    assert_eq!(browser.eval(&js), Value::Bool(true));
}

/// A planned failover through the page: reviewed, confirmed, and carried out; then a move
/// the cluster refuses, with the reason shown and nothing to confirm.
fn carries_out_a_confirmed_action_and_explains_a_refused_one(
    browser: &mut Browser,
    cluster: &Cluster,
) {
    let leaders = status_leaders(&cluster.status());
    let (pid, leader) = leaders
        .iter()
        .find(|(_, leader)| leader == "n2")
        .cloned()
        .expect("n2 leads a partition");
    prepare(browser, "failover", &pid, &[("action-to", "")]);
    let text = browser.wait_for(
        "the confirmation step",
        |b| b.eval("document.getElementById('confirm').className === 'open' && document.getElementById('confirm-text').textContent"),
        |text| text.is_string(),
    );
    assert!(
        text.as_str()
            .is_some_and(|t| t.contains(&format!("partition {pid}'s leadership"))),
        "{text}"
    );
    // Nothing happens before the confirmation.
    assert_eq!(status_leaders(&cluster.status()), leaders);
    browser.eval("document.getElementById('confirm-yes').click(); true");
    browser.wait_for(
        "the action done",
        |b| b.eval("document.getElementById('action-result').textContent"),
        |text| text.as_str().is_some_and(|t| t.starts_with("done")),
    );
    cluster.wait_for("the partition's new leader", Duration::from_secs(20), |s| {
        let pid: usize = pid.parse().unwrap_or(0);
        partition_records(s)[pid]["leader"]
            .as_str()
            .is_some_and(|l| l != leader)
    });

    prepare(
        browser,
        "move",
        "0",
        &[("action-from", "n1"), ("action-to", "n1")],
    );
    let refusal = browser.wait_for(
        "the refusal",
        |b| b.eval("document.getElementById('action-result').className === 'error' && document.getElementById('action-result').textContent"),
        |text| text.is_string(),
    );
    assert!(
        refusal
            .as_str()
            .is_some_and(|t| t.contains("already holds a replica")),
        "{refusal}"
    );
    assert_eq!(
        browser.eval("document.getElementById('confirm').className"),
        ""
    );
}

fn status_leaders(status: &Value) -> Vec<(String, String)> {
    partition_records(status)
        .iter()
        .enumerate()
        .map(|(pid, p)| {
            (
                pid.to_string(),
                p["leader"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn the_dashboard_shows_the_cluster_and_a_failover_live_in_a_real_browser() {
    let cluster = Cluster::new(8, 2);
    let _n1 = cluster.server("n1");
    let n2 = cluster.server("n2");
    let admin_port = free_port();
    let _controller = cluster.controller_with("c1", &["--admin-port", &admin_port.to_string()]);
    let proxy = cluster.proxy(&[]);
    cluster.wait_in_sync(8, 2);
    let mut browser = Browser::open(&format!("http://127.0.0.1:{admin_port}/"));

    let status = cluster.status();
    let expected = status_leaders(&status);
    let shown = browser.wait_for("the status's leaders", Browser::leaders, |l| *l == expected);
    assert_eq!(shown.len(), 8);
    let nodes = browser.eval(
        "Array.from(document.querySelectorAll('#nodes tr[data-node]')).map(r => [r.dataset.node, r.dataset.health])",
    );
    assert_eq!(nodes, serde_json::json!([["n1", "up"], ["n2", "up"]]));
    // A proxy registers in etcd on a task of its own, which may finish after it answers.
    let count =
        |b: &mut Browser| b.eval("document.querySelectorAll('#proxies tr[data-proxy]').length");
    browser.wait_for("the proxy", count, |n| *n == 1);
    let controller = browser.eval("document.getElementById('controller').textContent");
    assert_eq!(controller, "c1");

    shows_hot_keys_slow_commands_and_latency(&mut browser, &proxy);
    carries_out_a_confirmed_action_and_explains_a_refused_one(&mut browser, &cluster);

    // n2 leads some partitions; it dies and the open page follows.
    let expected = status_leaders(&cluster.status());
    assert!(
        expected.iter().any(|(_, leader)| leader == "n2"),
        "{expected:?}"
    );
    drop(n2);
    let moved = cluster.wait_for("n1 leading everything", Duration::from_secs(20), |s| {
        partition_records(s).iter().all(|p| p["leader"] == "n1")
    });
    assert!(moved < Duration::from_secs(20));
    let expected = status_leaders(&cluster.status());
    browser.wait_for("the new leaders", Browser::leaders, |l| *l == expected);
    browser.wait_for(
        "n2 down",
        |b| b.eval("document.querySelector('#nodes tr[data-node=\"n2\"]').dataset.health"),
        |health| health == "down",
    );
    let kinds = browser.wait_for(
        "the failover and the lost node in the events",
        |b| b.eval("Array.from(document.querySelectorAll('#events li[data-kind]')).map(e => e.dataset.kind)"),
        |kinds| {
            let kinds = kinds.as_array().cloned().unwrap_or_default();
            kinds.contains(&"failover".into()) && kinds.contains(&"node-lost".into())
        },
    );
    assert!(kinds.as_array().is_some_and(|k| k.len() <= 100));
    let shot = workspace().join("target/dashboard.png");
    browser.screenshot(&shot);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
}
