//! A cluster for end-to-end tests: its own etcd and cluster record; servers, controllers and
//! proxies started on demand, each killed when dropped.

use crate::{
    binary, free_port, run_binary, spawn_binary, start_etcd_cluster, start_listener_on,
    start_slotcache, Conn, Frame, Process,
};
use serde_json::Value;
use std::ffi::OsStr;
use std::process::Command;
use std::time::{Duration, Instant};

/// Seconds a lease lives (the cluster's `--lease-ttl`).
pub const TTL: u64 = 2;

pub struct Cluster {
    /// The (first) etcd member.
    pub etcd: Process,
    /// The other members of a multi-member etcd.
    pub other_members: Vec<Process>,
    /// Every member's client URL, comma separated (what `--etcd` takes).
    pub endpoint: String,
    pub name: String,
}

impl Cluster {
    pub fn new(partitions: u32, rf: u32) -> Cluster {
        Cluster::with(partitions, rf, &[])
    }

    /// A cluster created with extra `cluster init` flags (`--replication-mode async`,
    /// `--min-isr 2`).
    pub fn with(partitions: u32, rf: u32, extra: &[&str]) -> Cluster {
        Cluster::on_etcd(1, partitions, rf, extra)
    }

    /// [`Cluster::with`] on an etcd cluster of `members` members.
    pub fn on_etcd(members: usize, partitions: u32, rf: u32, extra: &[&str]) -> Cluster {
        let mut other_members = start_etcd_cluster(members);
        let etcd = other_members.remove(0);
        let endpoint = std::iter::once(&etcd)
            .chain(&other_members)
            .map(|member| format!("http://127.0.0.1:{}", member.port))
            .collect::<Vec<_>>()
            .join(",");
        let name = "test".to_string();
        let (partitions, rf, ttl) = (partitions.to_string(), rf.to_string(), TTL.to_string());
        let mut args = vec![
            "cluster",
            "init",
            "--etcd",
            &endpoint,
            "--cluster",
            &name,
            "--partitions",
            &partitions,
            "--replication-factor",
            &rf,
        ];
        if !extra.contains(&"--lease-ttl") {
            args.extend(["--lease-ttl", &ttl]);
        }
        args.extend_from_slice(extra);
        let (ok, _, err) = run_binary("slotcache", &args);
        assert!(ok, "cluster init: {err}");
        Cluster {
            etcd,
            other_members,
            endpoint,
            name,
        }
    }

    /// A cluster of 4 partitions at RF 2 on the etcd member `etcd`, reached at `endpoint`
    /// with what the environment gives (an etcd user, certificates): created (`cluster init`
    /// is retried while etcd starts), with two servers and a controller, every partition in
    /// sync, and 100 keys written through a proxy. The processes are returned to be kept.
    pub fn serving_on(etcd: Process, endpoint: String) -> (Cluster, Vec<Process>) {
        let cluster = Cluster {
            etcd,
            other_members: Vec::new(),
            endpoint,
            name: "test".into(),
        };
        let init = [
            "cluster",
            "init",
            "--partitions",
            "4",
            "--replication-factor",
            "2",
        ];
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (ok, _, err) = cluster.cli(&[&init[..], &["--lease-ttl", "2"]].concat());
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "cluster init: {err}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut processes = vec![cluster.server("n1"), cluster.server("n2")];
        processes.push(cluster.controller("c1"));
        cluster.wait_in_sync(4, 2);
        let proxy = cluster.proxy(&[]);
        let mut conn = Conn::connect(proxy.port);
        for i in 0..100 {
            let key = format!("key:{i}");
            assert_eq!(conn.call(&["SET", &key, "v"]), Frame::Simple("OK".into()));
        }
        assert_eq!(conn.call(&["DBSIZE"]), Frame::Int(100));
        processes.push(proxy);
        (cluster, processes)
    }

    /// `slotcache status` with each variable of `env` set, or removed when None: (success,
    /// stdout and stderr).
    pub fn status_with_env(&self, env: &[(&str, Option<&OsStr>)]) -> (bool, String) {
        let mut command = Command::new(binary("slotcache"));
        command.args(["status", "--etcd", &self.endpoint, "--cluster", &self.name]);
        command.args(["--connect-timeout", "3"]);
        for (name, value) in env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let output = command.output().expect("running slotcache status");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    pub fn server(&self, node: &str) -> Process {
        self.server_via(node, &self.endpoint)
    }

    /// A server that reaches etcd at `endpoint` (a [`crate::fault::FaultProxy`] in front of
    /// the cluster's etcd).
    pub fn server_via(&self, node: &str, endpoint: &str) -> Process {
        self.server_with(node, endpoint, &[])
    }

    /// [`Cluster::server_via`] with extra server flags.
    pub fn server_with(&self, node: &str, endpoint: &str, extra: &[&str]) -> Process {
        let mut args = vec![
            "--etcd",
            endpoint,
            "--cluster",
            &self.name,
            "--node-id",
            node,
        ];
        args.extend_from_slice(extra);
        start_slotcache(&args)
    }

    pub fn controller(&self, id: &str) -> Process {
        self.controller_with(id, &[])
    }

    /// [`Cluster::controller`] with extra controller flags.
    pub fn controller_with(&self, id: &str, extra: &[&str]) -> Process {
        let mut args = vec![
            "--etcd",
            &self.endpoint,
            "--cluster",
            &self.name,
            "--id",
            id,
        ];
        args.extend_from_slice(extra);
        spawn_binary("slotcache-controller", &args, false)
    }

    /// A proxy of this cluster on a free port, ready to serve.
    pub fn proxy(&self, extra: &[&str]) -> Process {
        self.proxy_on(free_port(), extra)
    }

    /// A proxy of this cluster on `port`, ready to serve.
    pub fn proxy_on(&self, port: u16, extra: &[&str]) -> Process {
        let mut args = vec!["--etcd", &self.endpoint, "--cluster", &self.name];
        args.extend_from_slice(extra);
        start_listener_on("slotcache-proxy", port, &args)
    }

    /// Runs a `slotcache` subcommand against this cluster: (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--etcd", &self.endpoint, "--cluster", &self.name]);
        run_binary("slotcache", &all)
    }

    pub fn status(&self) -> Value {
        let (ok, out, err) = run_binary(
            "slotcache",
            &[
                "status",
                "--etcd",
                &self.endpoint,
                "--cluster",
                &self.name,
                "--json",
            ],
        );
        assert!(ok, "status: {err}");
        serde_json::from_str(&out).expect("status JSON")
    }

    /// Polls `status` until `done` holds; returns how long that took.
    /// Waits until `partitions` partitions each have a leader and `copies` in-sync copies.
    pub fn wait_in_sync(&self, partitions: usize, copies: usize) {
        self.wait_for(
            "every partition in sync",
            Duration::from_secs(30),
            |state| {
                let all = partition_records(state);
                all.len() == partitions
                    && all
                        .iter()
                        .all(|p| p["leader"].is_string() && names(&p["isr"]).len() == copies)
            },
        );
    }

    /// Waits until every partition has a leader other than `node` (after it was killed).
    pub fn wait_led_elsewhere(&self, node: &str) {
        let what = format!("{node}'s partitions led elsewhere");
        self.wait_for(&what, Duration::from_secs(30), |state| {
            partition_records(state)
                .iter()
                .all(|p| p["leader"].is_string() && p["leader"] != node)
        });
    }

    pub fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            let state = self.status();
            if done(&state) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "{what} not seen within {limit:?}: {state:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The partition records in a `status --json` document, in partition order.
pub fn partition_records(state: &Value) -> Vec<&Value> {
    state["partitions"]
        .as_array()
        .map(|all| all.iter().map(|p| &p[1]).collect())
        .unwrap_or_default()
}

/// The index of the partition owning `slot`, from a `status` document.
pub fn partition_of_slot(state: &Value, slot: u64) -> usize {
    partition_records(state)
        .iter()
        .position(|p| {
            p["slots"].as_array().is_some_and(|ranges| {
                ranges.iter().any(|r| {
                    r[0].as_u64().is_some_and(|low| low <= slot)
                        && r[1].as_u64().is_some_and(|high| slot <= high)
                })
            })
        })
        .expect("a partition owns every slot")
}

/// A JSON array of strings (node lists in records).
pub fn names(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A cluster with its shard servers and controller running.
pub struct Running {
    pub cluster: Cluster,
    pub servers: Vec<Process>,
    _controller: Process,
}

/// 8 partitions over 3 servers (n1, n2, n3), RF 1, once every partition has a leader.
pub fn running_cluster() -> Running {
    let cluster = Cluster::new(8, 1);
    let servers = ["n1", "n2", "n3"].map(|n| cluster.server(n)).into();
    let controller = cluster.controller("c1");
    cluster.wait_for("leaders", Duration::from_secs(20), |state| {
        let partitions = state["partitions"].as_array().cloned().unwrap_or_default();
        partitions.len() == 8 && partitions.iter().all(|p| p[1]["leader"].is_string())
    });
    Running {
        cluster,
        servers,
        _controller: controller,
    }
}
