//! TLS on the client ports of shard servers and proxies (rustls, Redis's setting names):
//! redis-cli `--tls`, redis-py `ssl=True` and the `redis` crate with rustls get through, to a
//! server and through a proxy; a plain-TCP client, a client without a certificate, one with
//! a certificate of another CA and one with an expired certificate are refused; certificates
//! replaced on disk are used without a restart; with `tls-cluster` and `tls-replication` the
//! cluster's own links are TLS too.

use redis::{ClientTlsConfig, TlsCertificates};
use redis_tests::capture::Capture;
use redis_tests::cluster::{running_cluster, Cluster};
use redis_tests::{free_port, start_slotcache, Process};
use slotcache_cluster::throwaway_tls::{Authority, Validity};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// One directory of PEM files: a CA, a server certificate for localhost and 127.0.0.1, and
/// client certificates: valid, expired, and issued by another CA.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn new() -> Certificates {
        let dir = std::env::temp_dir().join(format!(
            "slotcache-tls-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let certificates = Certificates { dir };
        let ca = Authority::new("slotcache test CA").unwrap();
        let other = Authority::new("another CA").unwrap();
        certificates.write("ca.crt", ca.pem());
        certificates.write("other-ca.crt", other.pem());
        certificates.issue(
            &ca,
            "server",
            &["localhost", "127.0.0.1"],
            Validity::Current,
        );
        certificates.issue(&ca, "client", &[], Validity::Current);
        certificates.issue(&ca, "expired", &[], Validity::Expired);
        certificates.issue(&other, "stranger", &[], Validity::Current);
        certificates
    }

    fn write(&self, name: &str, pem: &str) {
        std::fs::write(self.dir.join(name), pem).unwrap();
    }

    fn issue(&self, ca: &Authority, name: &str, hosts: &[&str], validity: Validity) {
        let issued = ca.issue(name, hosts, validity).unwrap();
        self.write(&format!("{name}.crt"), &issued.cert_pem);
        self.write(&format!("{name}.key"), &issued.key_pem);
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }

    /// The TLS flags of a server or proxy using these certificates, on `port`.
    fn flags(&self, port: u16) -> Vec<String> {
        let mut flags = vec!["--tls-port".to_string(), port.to_string()];
        flags.extend(self.identity());
        flags
    }

    /// The certificates a part shows and trusts, and `tls-cluster yes`: what any part needs
    /// to reach shard servers over TLS.
    fn link_flags(&self) -> Vec<String> {
        let mut flags = vec!["--tls-cluster".to_string(), "yes".to_string()];
        flags.extend(self.identity());
        flags
    }

    fn identity(&self) -> Vec<String> {
        [
            ("--tls-cert-file", self.path("server.crt")),
            ("--tls-key-file", self.path("server.key")),
            ("--tls-ca-cert-file", self.path("ca.crt")),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_string(), value])
        .collect()
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn strs(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

/// redis-cli over TLS to `port`, trusting `ca` and showing `client` (a name in the
/// certificates' directory, or none): (exit success, stdout + stderr).
fn tls_cli(
    certs: &Certificates,
    port: u16,
    ca: &str,
    client: Option<&str>,
    args: &[&str],
) -> (bool, String) {
    let mut command = Command::new("timeout");
    command.args([
        "20",
        "redis-cli",
        "-h",
        "localhost",
        "-p",
        &port.to_string(),
    ]);
    command.args(["--tls", "--cacert", &certs.path(ca)]);
    if let Some(client) = client {
        command.args([
            "--cert",
            &certs.path(&format!("{client}.crt")),
            "--key",
            &certs.path(&format!("{client}.key")),
        ]);
    }
    let output = command.args(args).output().expect("running redis-cli");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The `redis` crate over rustls, with the client certificate `client`.
fn rust_client(certs: &Certificates, port: u16, client: &str) -> redis::RedisResult<String> {
    let tls = TlsCertificates {
        client_tls: Some(ClientTlsConfig {
            client_cert: certs.read(&format!("{client}.crt")),
            client_key: certs.read(&format!("{client}.key")),
        }),
        root_cert: Some(certs.read("ca.crt")),
    };
    let url = format!("rediss://localhost:{port}/");
    let client = redis::Client::build_with_tls(url, tls)?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(10))?;
    redis::cmd("SET")
        .arg("rust:key")
        .arg("over rustls")
        .exec(&mut conn)?;
    redis::cmd("GET").arg("rust:key").query(&mut conn)
}

fn redis_py(certs: &Certificates, port: u16, key: &str) -> String {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = workspace.join("target/pyenv/bin/python");
    assert!(
        python.exists(),
        "redis-py's venv is missing: scripts/deps.sh creates it"
    );
    let output = Command::new(python)
        .arg(workspace.join("redis-tests/python/tls_client.py"))
        .args([&port.to_string(), &certs.path("ca.crt")])
        .args([&certs.path("client.crt"), &certs.path("client.key"), key])
        .output()
        .expect("running tls_client.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "redis-py over TLS: {text}");
    text
}

/// Every client a user would try, through one TLS port.
fn real_clients_work(certs: &Certificates, port: u16, key: &str) {
    let (ok, out) = tls_cli(certs, port, "ca.crt", Some("client"), &["SET", key, "cli"]);
    assert!(ok && out.trim() == "OK", "redis-cli --tls SET: {out}");
    let (ok, out) = tls_cli(certs, port, "ca.crt", Some("client"), &["GET", key]);
    assert!(ok && out.trim() == "cli", "redis-cli --tls GET: {out}");
    assert!(redis_py(certs, port, key).contains("ok redis-py ssl"));
    assert_eq!(rust_client(certs, port, "client").unwrap(), "over rustls");
}

/// What a plain-TCP client that sends PING reads from `port` before it closes or times out.
fn plain_ping(port: u16) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(b"*1\r\n$4\r\nPING\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

#[test]
fn tls_clients_reach_a_server_and_a_proxy() {
    let certs = Certificates::new();
    let server_tls = certs.flags(free_port());
    let server = start_slotcache(&strs(&server_tls));
    real_clients_work(&certs, tls_port(&server_tls), "direct");

    let running = running_cluster();
    let proxy_tls = certs.flags(free_port());
    let proxy = running.cluster.proxy(&strs(&proxy_tls));
    real_clients_work(&certs, tls_port(&proxy_tls), "via-proxy");
    // CONFIG GET shows each one's own TLS port.
    for (port, tls) in [(server.port, &server_tls), (proxy.port, &proxy_tls)] {
        let shown = redis_tests::redis_cli(port, &["CONFIG", "GET", "tls-port"]);
        assert_eq!(shown.trim(), format!("tls-port\n{}", tls_port(tls)));
    }
    // What went in over TLS is the cluster's data: the plain port sees it too.
    let mut plain = redis_tests::Conn::connect(proxy.port);
    assert_eq!(
        plain.call(&["GET", "via-proxy:42"]),
        redis_tests::Frame::bulk("42")
    );
    drop(server);
}

fn tls_port(flags: &[String]) -> u16 {
    flags[1].parse().unwrap()
}

/// A plain client, no certificate, another CA's certificate and an expired one are all
/// refused by a server and by a proxy; `tls-auth-clients no` and `optional` relax only what
/// they say.
#[test]
fn tls_ports_refuse_what_they_cannot_trust() {
    let certs = Certificates::new();
    let server_tls = certs.flags(free_port());
    let _server = start_slotcache(&strs(&server_tls));
    let running = running_cluster();
    let proxy_tls = certs.flags(free_port());
    let _proxy = running.cluster.proxy(&strs(&proxy_tls));
    for port in [tls_port(&server_tls), tls_port(&proxy_tls)] {
        let answer = plain_ping(port);
        assert!(
            !String::from_utf8_lossy(&answer).contains("PONG"),
            "a plain client got an answer on the TLS port {port}"
        );
        for client in [None, Some("stranger"), Some("expired")] {
            let (ok, out) = tls_cli(&certs, port, "ca.crt", client, &["PING"]);
            assert!(
                !out.contains("PONG"),
                "client certificate {client:?} was accepted on {port} ({ok}): {out}"
            );
        }
        // A client that does not trust the server's CA gives up itself.
        let (_, out) = tls_cli(&certs, port, "other-ca.crt", Some("client"), &["PING"]);
        assert!(!out.contains("PONG"), "{out}");
        let (ok, out) = tls_cli(&certs, port, "ca.crt", Some("client"), &["PING"]);
        assert!(ok && out.trim() == "PONG", "{out}");
    }

    let mut optional = certs.flags(free_port());
    optional.extend(["--tls-auth-clients".into(), "optional".into()]);
    let _optional = start_slotcache(&strs(&optional));
    let port = tls_port(&optional);
    let (_, out) = tls_cli(&certs, port, "ca.crt", None, &["PING"]);
    assert_eq!(out.trim(), "PONG", "optional: no certificate is fine");
    let (_, out) = tls_cli(&certs, port, "ca.crt", Some("stranger"), &["PING"]);
    assert!(
        !out.contains("PONG"),
        "optional: a certificate shown is checked: {out}"
    );

    let mut none = certs.flags(free_port());
    none.extend(["--tls-auth-clients".into(), "no".into()]);
    let _none = start_slotcache(&strs(&none));
    let (_, out) = tls_cli(&certs, tls_port(&none), "ca.crt", None, &["PING"]);
    assert_eq!(out.trim(), "PONG");
    let config = redis_tests::redis_cli(_none.port, &["CONFIG", "GET", "tls-auth-clients"]);
    assert_eq!(config.trim(), "tls-auth-clients\nno");
}

/// `--port 0` with a TLS port serves TLS clients only.
#[test]
fn port_zero_serves_tls_only() {
    let certs = Certificates::new();
    let flags = certs.flags(free_port());
    let mut args = vec!["--port".to_string(), "0".to_string()];
    args.extend(flags.iter().cloned());
    let _server = redis_tests::spawn_binary("slotcache-server", &strs(&args), false);
    let port = tls_port(&flags);
    let start = Instant::now();
    while !tls_cli(&certs, port, "ca.crt", Some("client"), &["PING"]).0 {
        assert!(start.elapsed() < Duration::from_secs(20), "no TLS port");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, out) = tls_cli(
        &certs,
        port,
        "ca.crt",
        Some("client"),
        &["CONFIG", "GET", "port"],
    );
    assert_eq!(out.trim(), "port\n0");
}

/// Certificates replaced on disk (by a CA the old ones had nothing to do with) are what new
/// connections get, without a restart; established connections keep going.
#[test]
fn replaced_certificates_are_used_without_a_restart() {
    let certs = Certificates::new();
    let flags = certs.flags(free_port());
    let server: Process = start_slotcache(&strs(&flags));
    let port = tls_port(&flags);
    let (ok, out) = tls_cli(&certs, port, "ca.crt", Some("client"), &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out}");

    let fresh = Certificates::new();
    // The files' modification times must move for the change to be seen at once.
    std::thread::sleep(Duration::from_millis(1100));
    for name in ["ca.crt", "server.crt", "server.key"] {
        std::fs::copy(fresh.dir.join(name), certs.dir.join(name)).unwrap();
    }
    let start = Instant::now();
    loop {
        let (ok, out) = tls_cli(&fresh, port, "ca.crt", Some("client"), &["PING"]);
        if ok && out.trim() == "PONG" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the new certificates were not taken: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A client certificate of the old CA is refused now: the old configuration is gone.
    let (_, out) = tls_cli(&certs, port, "ca.crt", Some("client"), &["PING"]);
    assert!(!out.contains("PONG"), "{out}");
    let log = std::fs::read_to_string(server.dir.join("stderr.log")).unwrap();
    assert!(log.contains("TLS certificates reloaded"), "{log}");
}

/// With `tls-cluster yes` and `tls-replication yes` the cluster's own links are TLS. Servers
/// publish their TLS port, which proxies, controllers and the CLI dial with the CA and their
/// own certificate; followers stream from leaders over TLS. A packet capture on loopback sees
/// the written keys in the clear only between the test and the proxy, never on the proxy's
/// lanes or the replication streams. Plaintext is refused on both: a
/// proxy without the TLS settings reaches no data, and a replication port answers a plaintext
/// follower with nothing it could read. Every write acknowledged through the proxy is read
/// back after its leader is killed, so the followers had it: replication ran, over TLS.
#[test]
fn cluster_links_run_over_tls() {
    let certs = Certificates::new();
    let links = certs.link_flags();
    let cluster = Cluster::new(4, 2);
    let mut servers = Vec::new();
    let mut tls_ports = Vec::new();
    for n in 1..=3 {
        let mut flags = certs.flags(free_port());
        flags.extend(links[..2].iter().cloned());
        flags.extend(["--tls-replication".to_string(), "yes".to_string()]);
        tls_ports.push(tls_port(&flags));
        servers.push(cluster.server_with(&format!("n{n}"), &cluster.endpoint, &strs(&flags)));
    }
    let _controller = cluster.controller_with("c1", &strs(&links));
    cluster.wait_in_sync(4, 2);
    let state = cluster.status();
    let nodes = state["nodes"].as_array().expect("nodes");
    let mut replication_ports = Vec::new();
    for (node, tls_port) in nodes.iter().zip(&tls_ports) {
        assert_eq!(node["client_addr"], format!("127.0.0.1:{tls_port}"));
        let replication = node["replication_addr"].as_str().unwrap();
        let port: u16 = replication.rsplit(':').next().unwrap().parse().unwrap();
        replication_ports.push(port);
        let answer = plain_ping(port);
        // A TLS alert record (content type 21) or nothing at all.
        assert!(
            answer.is_empty() || answer[0] == 21,
            "a plaintext follower got {answer:?} from {replication}"
        );
    }

    let proxy = cluster.proxy(&strs(&links));
    let mut conn = redis_tests::Conn::connect(proxy.port);
    let keys: Vec<String> = (0..200).map(|i| format!("tls-link:{i}")).collect();
    let capture = Capture::start().expect("a packet capture on loopback (needs root)");
    for key in &keys {
        assert_eq!(
            conn.call(&["SET", key, key]),
            redis_tests::Frame::Simple("OK".into())
        );
    }
    // RF 2, sync: each write reached its follower before it was acknowledged.
    let segments = capture.finish();
    let seen = |ports: &[u16]| {
        segments
            .iter()
            .filter(|s| ports.iter().any(|&port| s.touches(port)) && !s.payload.is_empty())
            .collect::<Vec<_>>()
    };
    let plain = seen(&[proxy.port]);
    assert!(
        plain.iter().any(|s| s.contains(b"tls-link:")),
        "the capture missed the plaintext client's keys ({} segments in all)",
        segments.len()
    );
    let lanes = seen(&tls_ports);
    let streams = seen(&replication_ports);
    assert!(
        !lanes.is_empty() && !streams.is_empty(),
        "lanes and streams carried the writes"
    );
    for segment in lanes.iter().chain(&streams) {
        assert!(
            !segment.contains(b"tls-link:"),
            "plaintext between ports {} and {}",
            segment.src_port,
            segment.dst_port
        );
    }
    println!(
        "captured: {} segments to or from the proxy's client port, {} on proxy lanes, {} on replication streams, none with a key in the clear",
        plain.len(),
        lanes.len(),
        streams.len()
    );
    // The CLI asks the servers for their offsets only when it can speak TLS to them.
    let status = |extra: &[String]| {
        let mut args = vec![
            "status",
            "--json",
            "--etcd",
            &cluster.endpoint,
            "--cluster",
            &cluster.name,
        ];
        args.extend(strs(extra));
        let (ok, out, err) = redis_tests::run_binary("slotcache", &args);
        assert!(ok, "status: {err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["offsets"].clone()
    };
    assert!(status(&links).as_object().is_some_and(|o| !o.is_empty()));
    assert!(status(&[]).as_object().is_none_or(|o| o.is_empty()));

    let plaintext = cluster.proxy(&[]);
    let reply = redis_tests::Conn::connect(plaintext.port).call(&["GET", &keys[0]]);
    assert!(
        matches!(reply, redis_tests::Frame::Error(_)),
        "a proxy without TLS links read {reply:?}"
    );

    drop(servers.remove(0));
    cluster.wait_led_elsewhere("n1");
    for key in &keys {
        let start = Instant::now();
        loop {
            match conn.call(&["GET", key]) {
                redis_tests::Frame::Bulk(value) => {
                    assert_eq!(value, key.as_bytes(), "{key}");
                    break;
                }
                other => assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "{key} after the failover: {other:?}"
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// CONFIG SET changes the TLS settings of a running server, and of a proxy, at once, as in
/// Redis: clients without a certificate get in after `tls-auth-clients no`, and a certificate
/// file that cannot be read fails the whole CONFIG SET with Redis's error, leaving TLS as it
/// was. A proxy's TLS settings are its own: the servers behind it keep theirs.
#[test]
fn config_set_changes_tls_settings_at_once() {
    let certs = Certificates::new();
    let flags = certs.flags(free_port());
    let server = start_slotcache(&strs(&flags));
    tls_settings_change_at_once(&certs, server.connect(), tls_port(&flags));

    let running = running_cluster();
    let flags = certs.flags(free_port());
    let proxy = running.cluster.proxy(&strs(&flags));
    tls_settings_change_at_once(&certs, proxy.connect(), tls_port(&flags));
    let mut admin = proxy.connect();
    let immutable = admin.call(&["CONFIG", "SET", "tls-port", "0"]);
    let expected = "ERR CONFIG SET failed (possibly related to argument 'tls-port') - can't set immutable config";
    assert_eq!(immutable, redis_tests::Frame::Error(expected.into()));
    let mixed = admin.call(&[
        "CONFIG",
        "SET",
        "tls-auth-clients",
        "no",
        "maxmemory-policy",
        "allkeys-lru",
    ]);
    assert_eq!(mixed, redis_tests::Frame::Simple("OK".into()));
    let (_, out) = tls_cli(&certs, tls_port(&flags), "ca.crt", None, &["PING"]);
    assert_eq!(out.trim(), "PONG", "the proxy took its part of the request");
    for node in running.servers.iter().map(|server| server.port) {
        let shown = redis_tests::redis_cli(node, &["CONFIG", "GET", "tls-auth-clients"]);
        assert_eq!(
            shown.trim(),
            "tls-auth-clients\nyes",
            "a server took the proxy's setting"
        );
        let shown = redis_tests::redis_cli(node, &["CONFIG", "GET", "maxmemory-policy"]);
        assert_eq!(
            shown.trim(),
            "maxmemory-policy\nallkeys-lru",
            "the servers took theirs"
        );
    }
    drop(server);
}

/// Changes the TLS settings of the server or proxy `admin` is connected to, checking each
/// step through its TLS port.
fn tls_settings_change_at_once(certs: &Certificates, mut admin: redis_tests::Conn, port: u16) {
    let (_, out) = tls_cli(certs, port, "ca.crt", None, &["PING"]);
    assert!(!out.contains("PONG"), "no certificate yet: {out}");
    let set = |admin: &mut redis_tests::Conn, args: &[&str]| {
        let mut all = vec!["CONFIG", "SET"];
        all.extend_from_slice(args);
        admin.call(&all)
    };
    let ok = redis_tests::Frame::Simple("OK".into());
    let wrong = set(&mut admin, &["tls-auth-clients", "maybe"]);
    let expected = "ERR CONFIG SET failed (possibly related to argument 'tls-auth-clients') - argument(s) must be one of the following: no, yes, optional";
    assert_eq!(wrong, redis_tests::Frame::Error(expected.into()));
    assert_eq!(set(&mut admin, &["tls-auth-clients", "no"]), ok);
    let (_, out) = tls_cli(certs, port, "ca.crt", None, &["PING"]);
    assert_eq!(out.trim(), "PONG");
    let refused = set(
        &mut admin,
        &[
            "tls-auth-clients",
            "yes",
            "tls-cert-file",
            "/nonexistent.crt",
        ],
    );
    let expected = "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs.";
    assert_eq!(refused, redis_tests::Frame::Error(expected.into()));
    let shown = admin.call(&["CONFIG", "GET", "tls-cert-file"]);
    assert_eq!(
        shown,
        redis_tests::Frame::Array(vec![
            redis_tests::Frame::bulk("tls-cert-file"),
            redis_tests::Frame::bulk(&certs.path("server.crt")),
        ])
    );
    let (_, out) = tls_cli(certs, port, "ca.crt", None, &["PING"]);
    assert_eq!(out.trim(), "PONG", "the failed CONFIG SET changed nothing");
    assert_eq!(set(&mut admin, &["tls-auth-clients", "yes"]), ok);
    let (_, out) = tls_cli(certs, port, "ca.crt", None, &["PING"]);
    assert!(
        !out.contains("PONG"),
        "a certificate is needed again: {out}"
    );
    let (ok_cli, out) = tls_cli(certs, port, "ca.crt", Some("client"), &["PING"]);
    assert!(ok_cli && out.trim() == "PONG", "{out}");
}
