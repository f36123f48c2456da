//! The deployment in `conf/docker/` across hosts: the image `conf/docker/build.sh` makes from
//! this build's binaries, and `compose.yml`'s cluster of 3 etcd members, 3 shard servers, 2
//! controllers and 2 proxies, each container a host with its own address. Servers announce
//! their service names, so routing and replication cross hosts; a leader host killed with
//! SIGKILL fails over and no acknowledged write is lost.

use redis_tests::frame::Frame;
use redis_tests::{binary, free_port, Conn};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// A compose project of its own, taken down (with its image) when dropped.
struct Deployment {
    project: String,
    image: String,
    proxies: [u16; 2],
}

fn compose_file() -> String {
    format!("{}/../conf/docker/compose.yml", env!("CARGO_MANIFEST_DIR"))
}

impl Deployment {
    fn compose(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .args(["-p", &self.project, "-f", &compose_file()])
            .args(args)
            .env("SLOTCACHE_IMAGE", &self.image)
            .env("PROXY1_PORT", self.proxies[0].to_string())
            .env("PROXY2_PORT", self.proxies[1].to_string())
            .env("ADMIN_PORT", free_port().to_string())
            .output()
            .expect("docker-compose runs")
    }

    fn start() -> Deployment {
        let id = std::process::id();
        let deployment = Deployment {
            project: format!("slotcachetest{id}"),
            image: format!("slotcache-test:{id}"),
            proxies: [free_port(), free_port()],
        };
        let bin = binary("slotcache-server");
        let built = Command::new("bash")
            .arg(format!(
                "{}/../conf/docker/build.sh",
                env!("CARGO_MANIFEST_DIR")
            ))
            .env("TAG", &deployment.image)
            .env("BIN", bin.parent().expect("the binaries' directory"))
            .output()
            .expect("build.sh runs");
        assert!(
            built.status.success(),
            "building the image: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        let up = deployment.compose(&["up", "-d"]);
        assert!(
            up.status.success(),
            "docker-compose up: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        deployment
    }

    /// `slotcache status --json`, run on the controller-1 host.
    fn status(&self) -> Option<Value> {
        let out = self.compose(&[
            "exec",
            "-T",
            "controller-2",
            "slotcache",
            "status",
            "--etcd",
            "http://etcd-1:2379,http://etcd-2:2379,http://etcd-3:2379",
            "--cluster",
            "demo",
            "--json",
        ]);
        serde_json::from_slice(&out.stdout).ok()
    }

    fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.status();
            if let Some(status) = status.as_ref().filter(|s| done(s)) {
                return status.clone();
            }
            if Instant::now() > deadline {
                let logs = self.compose(&["logs", "--tail", "20"]);
                panic!(
                    "{what} not seen within {limit:?}: {status:#?}\n{}",
                    String::from_utf8_lossy(&logs.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = self.compose(&["logs", "--tail", "40"]);
            eprintln!("{}", String::from_utf8_lossy(&logs.stdout));
        }
        self.compose(&["down", "-v", "-t", "1"]);
        let _ = Command::new("docker").args(["rmi", &self.image]).output();
    }
}

fn partitions(status: &Value) -> Vec<Value> {
    status["partitions"]
        .as_array()
        .map(|all| all.iter().map(|p| p[1].clone()).collect())
        .unwrap_or_default()
}

fn connect(port: u16) -> Conn {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let mut conn = Conn::from_stream(stream);
            conn.set_read_timeout(Duration::from_secs(10));
            if conn.try_read_reply(&["SET", "ready", "1"]) == Some(Frame::Simple("OK".into())) {
                return conn;
            }
        }
        assert!(Instant::now() < deadline, "proxy on {port} never served");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_cluster_across_hosts_fails_over_a_killed_leader_host_without_losing_writes() {
    let deployment = Deployment::start();
    // Placement is steady only once all three hosts registered and hold replicas: a host that
    // registers late moves partitions onto itself, which would make the victim's pick stale.
    let status = deployment.wait_for(
        "every host placed and every partition in sync",
        Duration::from_secs(90),
        |s| {
            let all = partitions(s);
            let hosts = s["nodes"].as_array().map_or(0, Vec::len);
            let placed = ["server-1", "server-2", "server-3"]
                .iter()
                .all(|id| all.iter().any(|p| p["leader"] == *id));
            hosts == 3
                && placed
                && all.len() == 16
                && all.iter().all(|p| {
                    p["handover"].is_null() && p["isr"].as_array().is_some_and(|i| i.len() == 2)
                })
        },
    );
    // Servers publish the addresses other hosts reach them at, never a wildcard bind.
    let nodes = status["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3, "{status:#}");
    for node in nodes {
        let id = node["id"].as_str().expect("id");
        assert_eq!(node["client_addr"], format!("{id}:6379"), "{node}");
        assert_eq!(node["replication_addr"], format!("{id}:6380"), "{node}");
        assert_eq!(node["admin_addr"], format!("{id}:9121"), "{node}");
    }
    let mut writer = connect(deployment.proxies[0]);
    let keys = 300;
    for i in 0..keys {
        let reply = writer.call(&["SET", &format!("key:{i}"), &format!("value:{i}")]);
        assert_eq!(reply, Frame::Simple("OK".into()), "SET key:{i}");
    }
    // The leader host with most partitions is killed outright.
    let mut led: Vec<(usize, String)> = ["server-1", "server-2", "server-3"]
        .iter()
        .map(|s| {
            let count = partitions(&status)
                .iter()
                .filter(|p| p["leader"] == *s)
                .count();
            (count, s.to_string())
        })
        .collect();
    led.sort();
    let (count, victim) = led.pop().expect("a leader");
    assert!(count > 0, "{victim} leads a partition");
    eprintln!("killing {victim}, the leader of {count} partitions");
    let killed = deployment.compose(&["kill", "-s", "SIGKILL", &victim]);
    assert!(
        killed.status.success(),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    deployment.wait_for(
        "the killed host's partitions led elsewhere",
        Duration::from_secs(30),
        |s| {
            let all = partitions(s);
            all.len() == 16
                && all
                    .iter()
                    .all(|p| p["leader"].is_string() && p["leader"] != victim.as_str())
        },
    );
    // Every acknowledged write survived, read through the other proxy.
    let mut reader = connect(deployment.proxies[1]);
    for i in 0..keys {
        let reply = reader.call(&["GET", &format!("key:{i}")]);
        assert_eq!(
            reply,
            Frame::Bulk(format!("value:{i}").into_bytes()),
            "GET key:{i}"
        );
    }
    assert_eq!(
        writer.call(&["SET", "after", "failover"]),
        Frame::Simple("OK".into())
    );
}
