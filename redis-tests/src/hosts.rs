//! Hosts on this one machine, as a cluster across real hosts sees them: every process in a
//! network namespace of its own, with its own address on a private bridge, so that the link
//! between any two can be cut (nftables, one way or both) or made lossy, and a cut-off process
//! hears nothing at all rather than a reset. Needs root, `ip` and `nft`; the test's own process
//! reaches every host through the bridge.

use crate::{binary, Conn, Frame, Process};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A private network: a bridge in the test's namespace (the first address of a /24 of
/// 10.0.0.0/8), and one namespace per host on it.
pub struct Network {
    tag: String,
    subnet: [u8; 3],
    next: AtomicU8,
    namespaces: Mutex<Vec<String>>,
}

/// A host of a [`Network`]: a namespace and its address.
#[derive(Clone, Debug)]
pub struct Host {
    pub namespace: String,
    pub ip: Ipv4Addr,
}

/// A process started on a host, killed when dropped.
pub struct Remote {
    pub process: Process,
    pub host: Host,
    /// The port it serves RESP on (0: none).
    pub port: u16,
}

impl Remote {
    /// `host:port`, as other hosts reach it.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host.ip, self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr())
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// Runs a command to success, or panics with what it printed.
fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("running {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `nft` inside a host's namespace with `script` on its standard input (the cuts' and
/// losses' rules, or a test's own).
pub fn nft(host: &Host, script: &str) {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &host.namespace, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running nft");
    child
        .stdin
        .take()
        .expect("nft's input")
        .write_all(script.as_bytes())
        .expect("writing nft's script");
    let output = child.wait_with_output().expect("nft");
    assert!(
        output.status.success(),
        "nft in {}: {}\n{script}",
        host.namespace,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Adds (or deletes) `to` to the addresses `from` does not send to, and `from` to those `to`
/// does not hear from.
fn mark(from: &Host, to: &Host, verb: &str) {
    nft(
        from,
        &format!("{verb} element inet cuts mute_to {{ {} }}\n", to.ip),
    );
    nft(
        to,
        &format!("{verb} element inet cuts deaf_to {{ {} }}\n", from.ip),
    );
}

impl Network {
    /// A new network with no host yet. Panics without root or without `ip`, `nft` and `tc`.
    pub fn new() -> Network {
        use rand::Rng;
        let mut rng = rand::rng();
        // Names must fit an interface's 15 characters: "sc" + 6 hex digits + a suffix.
        let tag = format!("sc{:06x}", rng.random_range(0..0xff_ffffu32));
        let subnet = [10, rng.random_range(64..250), rng.random_range(1..250)];
        let network = Network {
            tag,
            subnet,
            next: AtomicU8::new(2),
            namespaces: Mutex::new(Vec::new()),
        };
        let bridge = network.bridge();
        run("ip", &["link", "add", &bridge, "type", "bridge"]);
        let gateway = format!("{}/24", network.ip(1));
        run("ip", &["addr", "add", &gateway, "dev", &bridge]);
        run("ip", &["link", "set", &bridge, "up"]);
        // With br_netfilter loaded (Docker loads it and sets FORWARD's policy to DROP),
        // frames between two ports of a bridge go through iptables' FORWARD chain.
        let _ = iptables_forward("-I", &bridge);
        network
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn ip(&self, last: u8) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, last)
    }

    /// A new host: a namespace whose `eth0` is on the bridge, with loopback up and an
    /// nftables table whose sets say which addresses it neither sends to nor hears from.
    pub fn host(&self) -> Host {
        let last = self.next.fetch_add(1, Ordering::Relaxed);
        assert!(last < 250, "too many hosts");
        let namespace = format!("{}h{last}", self.tag);
        let (outside, inside) = (format!("{namespace}o"), format!("{namespace}i"));
        run("ip", &["netns", "add", &namespace]);
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(namespace.clone());
        run(
            "ip",
            &[
                "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ],
        );
        run("ip", &["link", "set", &outside, "master", &self.bridge()]);
        run("ip", &["link", "set", &outside, "up"]);
        run("ip", &["link", "set", &inside, "netns", &namespace]);
        let ip = self.ip(last);
        let exec = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &namespace];
            all.extend_from_slice(args);
            run("ip", &all);
        };
        exec(&["ip", "link", "set", &inside, "name", "eth0"]);
        exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        exec(&["ip", "link", "set", "eth0", "up"]);
        exec(&["ip", "link", "set", "lo", "up"]);
        let host = Host { namespace, ip };
        nft(
            &host,
            "table inet cuts {\n\
             set deaf_to { type ipv4_addr; }\n\
             set mute_to { type ipv4_addr; }\n\
             chain input { type filter hook input priority 0; ip saddr @deaf_to drop; }\n\
             chain output { type filter hook output priority 0; ip daddr @mute_to drop; }\n\
             chain lossy { type filter hook output priority 1; }\n\
             }\n",
        );
        host
    }

    /// Packets from `from` to `to` are dropped (silently: no reset, no refusal).
    pub fn cut_one_way(&self, from: &Host, to: &Host) {
        mark(from, to, "add");
    }

    /// No packet passes between `a` and `b`, either way.
    pub fn cut(&self, a: &Host, b: &Host) {
        self.cut_one_way(a, b);
        self.cut_one_way(b, a);
    }

    /// Undoes [`Network::cut`].
    pub fn heal(&self, a: &Host, b: &Host) {
        mark(a, b, "delete");
        mark(b, a, "delete");
    }

    /// Drops `percent` % of the packets `from` sends to any of `to`, at random (this machine's
    /// kernel has no netem to delay them as well).
    pub fn lose(&self, from: &Host, to: &[&Host], percent: u8) {
        let targets: Vec<String> = to.iter().map(|host| host.ip.to_string()).collect();
        nft(
            from,
            &format!(
                "flush chain inet cuts lossy\n\
                 add rule inet cuts lossy ip daddr {{ {} }} numgen random mod 100 < {percent} drop\n",
                targets.join(", ")
            ),
        );
    }

    /// Undoes [`Network::lose`].
    pub fn stop_losing(&self, from: &Host) {
        nft(from, "flush chain inet cuts lossy\n");
    }

    /// Starts workspace binary `name` on `host` with `args`; when `port` is not 0, waits until
    /// it answers PING there.
    pub fn start(&self, host: &Host, name: &str, port: u16, args: &[&str]) -> Remote {
        let program = binary(name);
        self.start_program(host, &program.to_string_lossy(), port, args)
    }

    /// [`Network::start`] for any program; `port` 0 waits for nothing.
    pub fn start_program(&self, host: &Host, program: &str, port: u16, args: &[&str]) -> Remote {
        let dir = crate::temp_dir(&host.namespace);
        start_in(dir, host, program, port, args)
    }

    /// An etcd cluster of one member on each of `hosts`, healthy, each member's data in its
    /// temp dir.
    pub fn etcd(&self, hosts: &[Host]) -> Vec<Remote> {
        let peer = |host: &Host| format!("http://{}:2380", host.ip);
        let initial: Vec<String> = hosts
            .iter()
            .enumerate()
            .map(|(index, host)| format!("m{index}={}", peer(host)))
            .collect();
        let members: Vec<Remote> = hosts
            .iter()
            .enumerate()
            .map(|(index, host)| {
                let dir = crate::temp_dir(&host.namespace);
                let client = format!("http://{}:2379", host.ip);
                let data_dir = dir.join("data");
                let remote = start_in(
                    dir.clone(),
                    host,
                    "etcd",
                    0,
                    &[
                        "--name",
                        &format!("m{index}"),
                        "--data-dir",
                        &data_dir.to_string_lossy(),
                        "--listen-client-urls",
                        &client,
                        "--advertise-client-urls",
                        &client,
                        "--listen-peer-urls",
                        &peer(host),
                        "--initial-advertise-peer-urls",
                        &peer(host),
                        "--initial-cluster",
                        &initial.join(","),
                    ],
                );
                Remote {
                    port: 2379,
                    ..remote
                }
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        for member in &members {
            while !crate::etcd_healthy_at(&member.host.ip.to_string(), 2379) {
                assert!(Instant::now() < deadline, "etcd never became healthy");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        members
    }
}

/// Starts `program` in `host`'s namespace, logging in `dir`.
fn start_in(dir: PathBuf, host: &Host, program: &str, port: u16, args: &[&str]) -> Remote {
    let stderr = std::fs::File::create(dir.join("stderr.log")).expect("creating a log file");
    let child = Command::new("ip")
        .args(["netns", "exec", &host.namespace, program])
        .args(args)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|err| panic!("spawning {program}: {err}"));
    let process = Process {
        child,
        port,
        dir: dir.clone(),
    };
    let remote = Remote {
        process,
        host: host.clone(),
        port,
    };
    if port != 0 {
        wait_answering(&remote, &dir);
    }
    remote
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

fn wait_answering(remote: &Remote, dir: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stream = TcpStream::connect_timeout(
            &std::net::SocketAddr::from((remote.host.ip, remote.port)),
            Duration::from_millis(500),
        );
        if let Ok(stream) = stream {
            let mut conn = Conn::from_stream(stream);
            let reply = conn.try_read_reply(&["PING"]);
            if matches!(reply, Some(Frame::Simple(_) | Frame::Error(_))) {
                return;
            }
        }
        let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "{} never answered on {}:\n{log}",
            remote.host.namespace,
            remote.port
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let namespaces = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        for namespace in namespaces.iter() {
            // Deleting the namespace deletes its end of the veth pair, and so the other end.
            let _ = Command::new("ip")
                .args(["netns", "delete", namespace])
                .status();
        }
        let _ = iptables_forward("-D", &self.bridge());
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge()])
            .status();
    }
}

/// Inserts (`-I`) or deletes (`-D`) the rule that lets frames between two ports of `bridge`
/// through iptables' FORWARD chain.
fn iptables_forward(action: &str, bridge: &str) -> std::io::Result<std::process::ExitStatus> {
    Command::new("iptables")
        .args([
            action, "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT",
        ])
        .stderr(Stdio::null())
        .status()
}
