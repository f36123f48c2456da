//! Test harness: starts real `slotcache-server` and `redis-server` processes on free ports in
//! temp dirs, kills them on drop, and talks raw RESP so replies can be compared byte for byte.

pub mod capture;
pub mod cluster;
pub mod cluster_hosts;
pub mod failover;
pub mod fault;
pub mod frame;
pub mod hosts;
pub mod linearizability;

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use frame::Frame;

/// A port nobody listens on right now, and no other call in this process handed out.
pub fn free_port() -> u16 {
    use rand::Rng;
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let (low, _) = ephemeral_range();
    let mut rng = rand::rng();
    loop {
        // Below the kernel's ephemeral range: a port picked by binding port 0 can be taken
        // by any outgoing connection before the test's process binds it.
        let port = match low > 12_000 {
            true => rng.random_range(10_000..low),
            false => TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("binding an ephemeral port"),
        };
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
}

/// The kernel's range for ports bound to port 0 and for outgoing connections.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(|b| b.parse().ok());
            Some((bounds.next()??, bounds.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

/// The first of `count` consecutive free ports (for programs that take a base port).
pub fn free_port_block(count: u16) -> u16 {
    use rand::Rng;
    let mut rng = rand::rng();
    loop {
        let (low, _) = ephemeral_range();
        let base: u16 = rng.random_range(10_000..low.max(10_000 + 2 * count) - count);
        let free = (base..base + count).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
}

/// The workspace's built binary `name` (`SLOTCACHE_BIN_DIR` overrides where to look).
pub fn binary(name: &str) -> PathBuf {
    let dirs: Vec<PathBuf> = match std::env::var_os("SLOTCACHE_BIN_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target");
            vec![root.join("release"), root.join("debug")]
        }
    };
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} not built: run `cargo build --release --bins` first"))
}

/// A child process killed when dropped.
pub struct Process {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Process {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn connect(&self) -> Conn {
        Conn::connect(self.port)
    }

    /// What the process wrote to stderr so far (slotcache logs there).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test keeps its processes' logs for the post-mortem.
        if std::thread::panicking() {
            eprintln!(
                "kept the logs of port {}: {}",
                self.port,
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "slotcache-test-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("creating a temp dir");
    dir
}

fn wait_ready(mut child: Child, port: u16, dir: PathBuf) -> Process {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            panic!("process on port {port} exited early: {status}; its log ends:\n{tail}");
        }
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            let mut conn = Conn::from_stream(stream);
            // PONG, or NOAUTH from a server with a password: either way it is serving.
            if matches!(conn.call(&["PING"]), Frame::Simple(_) | Frame::Error(_)) {
                return Process { child, port, dir };
            }
        }
        assert!(
            Instant::now() < deadline,
            "process on port {port} never became ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `slotcache-server` standalone with extra flags.
pub fn start_slotcache(extra: &[&str]) -> Process {
    start_listener("slotcache-server", extra)
}

/// Starts a workspace binary that serves RESP on 127.0.0.1 and the free port it is given,
/// with extra flags, and waits until it answers PING.
pub fn start_listener(name: &str, extra: &[&str]) -> Process {
    start_listener_on(name, free_port(), extra)
}

/// [`start_listener`] on a given port: to restart a process where clients expect it.
pub fn start_listener_on(name: &str, port: u16, extra: &[&str]) -> Process {
    let dir = temp_dir(name);
    let stderr = std::fs::File::create(dir.join("stderr.log")).expect("creating a log file");
    let child = Command::new(binary(name))
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(extra)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|err| panic!("spawning {name}: {err}"));
    wait_ready(child, port, dir)
}

/// Starts Debian's `redis-server` with persistence off, as the reference.
///
/// With `--cluster-enabled` Redis also binds its cluster bus at port + 10000, so the port is
/// picked where that one is free too; Redis's log goes to the process's `stderr.log`.
pub fn start_redis(extra: &[&str]) -> Process {
    let cluster = extra.contains(&"--cluster-enabled");
    let port = loop {
        let port = free_port();
        let low = u32::from(ephemeral_range().0);
        let bus = port.checked_add(10_000);
        let bus_free = || bus.is_some_and(|bus| TcpListener::bind(("127.0.0.1", bus)).is_ok());
        // The bus port below the ephemeral range, where outgoing connections cannot take it.
        if !cluster || ((u32::from(port) + 10_000 < low || low <= 21_000) && bus_free()) {
            break port;
        }
    };
    let dir = temp_dir("redis");
    let log = dir.join("stderr.log");
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(&dir)
        .arg("--logfile")
        .arg(&log)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning redis-server (apt-get install redis-server)");
    wait_ready(child, port, dir)
}

/// Starts a single-member etcd (Debian's etcd-server) on free ports with its data in a temp dir.
pub fn start_etcd() -> Process {
    start_etcd_cluster(1).remove(0)
}

/// Starts an etcd cluster of `members` members, each on free ports with its data in a temp
/// dir, and waits until every member is healthy.
pub fn start_etcd_cluster(members: usize) -> Vec<Process> {
    let ports: Vec<(u16, u16)> = (0..members).map(|_| (free_port(), free_port())).collect();
    let initial_cluster = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut started: Vec<Process> = ports
        .iter()
        .enumerate()
        .map(|(i, (client_port, peer_port))| {
            let dir = temp_dir("etcd");
            let member = format!("m{i}\n{peer_port}\n{initial_cluster}\n");
            std::fs::write(dir.join("member"), member).expect("writing the member's settings");
            Process {
                child: spawn_etcd(&dir, *client_port),
                port: *client_port,
                dir,
            }
        })
        .collect();
    for process in &mut started {
        wait_etcd(process);
    }
    started
}

/// Kills etcd hard and starts it again on the same ports and data.
pub fn restart_etcd(process: &mut Process) {
    stop_etcd(process);
    resume_etcd(process);
}

/// Kills etcd hard; [`resume_etcd`] brings it back.
pub fn stop_etcd(process: &mut Process) {
    let _ = process.child.kill();
    let _ = process.child.wait();
}

/// Starts a stopped etcd member again on the same ports and data.
pub fn resume_etcd(process: &mut Process) {
    process.child = spawn_etcd(&process.dir, process.port);
    wait_etcd(process);
}

/// Starts the etcd member whose settings (name, peer port, initial cluster) are in `dir`.
fn spawn_etcd(dir: &std::path::Path, client_port: u16) -> Child {
    let settings = std::fs::read_to_string(dir.join("member")).expect("the member's settings");
    let [name, peer_port, initial_cluster] = settings.lines().collect::<Vec<_>>()[..] else {
        panic!("malformed member settings in {}", dir.display());
    };
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stderr.log"))
        .expect("creating a log file");
    Command::new("etcd")
        .args(["--name", name, "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", initial_cluster])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawning etcd (apt-get install etcd-server)")
}

fn wait_etcd(process: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!("etcd exited early: {status}\n{}", process.log());
        }
        if etcd_healthy(process.port) {
            return;
        }
        assert!(Instant::now() < deadline, "etcd never became healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a workspace binary that serves no port of its own (a controller, `slotcache
/// watch`), its stderr logged in its temp dir and its stdout piped to the test when
/// `read_stdout` (else discarded: an unread pipe would fill up and stall it); killed when
/// dropped.
pub fn spawn_binary(name: &str, args: &[&str], read_stdout: bool) -> Process {
    let dir = temp_dir(name);
    let stderr = std::fs::File::create(dir.join("stderr.log")).expect("creating a log file");
    let child = Command::new(binary(name))
        .args(args)
        .current_dir(&dir)
        .stdout(if read_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|err| panic!("spawning {name}: {err}"));
    Process {
        child,
        port: 0,
        dir,
    }
}

fn etcd_healthy(port: u16) -> bool {
    etcd_healthy_at("127.0.0.1", port)
}

/// Whether the etcd member at `host:port` reports itself healthy.
pub(crate) fn etcd_healthy_at(host: &str, port: u16) -> bool {
    use std::io::Read;
    let Ok(mut stream) = TcpStream::connect((host, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}

/// Runs a workspace binary to completion: (exit success, stdout, stderr).
pub fn run_binary(name: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(binary(name))
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("running {name}: {err}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A process's resident memory, in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmRSS")
}

/// A blocking raw RESP connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    /// Waits until the server reports `n` blocked clients.
    pub fn wait_blocked(&mut self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let Frame::Bulk(info) = self.call(&["INFO", "clients"]) else {
                panic!("INFO clients")
            };
            if String::from_utf8_lossy(&info).contains(&format!("blocked_clients:{n}\r")) {
                return;
            }
            assert!(Instant::now() < deadline, "never saw {n} blocked clients");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
        Conn::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Conn {
        // Generous limits so a hung server fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("setting a read timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .expect("setting a write timeout");
        let writer = stream.try_clone().expect("cloning the stream");
        Conn {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// How long a read waits before [`Conn::try_read`] gives up (30 s by default).
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .expect("setting a read timeout");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("writing");
    }

    pub fn read(&mut self) -> Frame {
        frame::read_frame(&mut self.reader).expect("reading a reply")
    }

    /// Reads one reply, or None if the server closed the connection.
    pub fn try_read(&mut self) -> Option<Frame> {
        frame::read_frame(&mut self.reader).ok()
    }

    /// Sends a command and reads its reply, None if the connection failed.
    pub fn try_read_reply(&mut self, args: &[&str]) -> Option<Frame> {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.writer.write_all(&encode(&args)).ok()?;
        self.try_read()
    }

    pub fn call_bytes(&mut self, args: &[Vec<u8>]) -> Frame {
        self.send_raw(&encode(args));
        self.read()
    }

    pub fn call(&mut self, args: &[&str]) -> Frame {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.call_bytes(&args)
    }
}

/// Encodes a request as a RESP multibulk.
pub fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Runs redis-cli with arguments against a port and returns its stdout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("running redis-cli (apt-get install redis-tools)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A numeric INFO field (for keyspace lines such as `db0:keys=N,...`, the key count).
pub fn info_field(conn: &mut Conn, section: &str, field: &str) -> u64 {
    let text = match conn.call(&["INFO", section]) {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO: {other:?}"),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| {
            v.split(',')
                .next()?
                .trim_start_matches("keys=")
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {field} in INFO {section}:\n{text}"))
}

/// Sends requests pipelined in chunks on one connection; how many replies carried a value
/// (neither nil nor a status such as OK). An error reply fails the test.
pub fn pipelined_hits(conn: &mut Conn, requests: &[&Vec<Vec<u8>>]) -> usize {
    let mut hits = 0;
    for chunk in requests.chunks(256) {
        let mut bytes = Vec::new();
        for request in chunk {
            bytes.extend_from_slice(&encode(request));
        }
        conn.send_raw(&bytes);
        for _ in chunk {
            match conn.read() {
                Frame::Null | Frame::Simple(_) => {}
                Frame::Error(e) => panic!("error reply: {e}"),
                _ => hits += 1,
            }
        }
    }
    hits
}
