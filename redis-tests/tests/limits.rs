//! Who a shard server or a proxy lets in, and what a client can make it hold, as Redis has it:
//! protected mode refuses clients beyond 127.0.0.1 while no password is set; a bulk's memory is
//! taken as its bytes arrive, never on the strength of its header; a client that reads no
//! replies or messages is cut off at its output limit; a query buffer past its limit closes its
//! connection. Other clients are served all along.

use redis_tests::cluster::running_cluster;
use redis_tests::{encode, rss_bytes, start_redis, start_slotcache, Conn, Frame, Process};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 10_000;
const HALF_SENT: &[u8] = b"*1\r\n$536870912\r\n";

/// The test opens thousands of sockets, and the processes it starts inherit its limit.
fn raise_fd_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        assert!(
            limit.rlim_max >= needed,
            "this test needs {needed} descriptors; the hard limit is {}",
            limit.rlim_max
        );
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

fn connected_clients(port: u16) -> u64 {
    let Frame::Bulk(info) = Conn::connect(port).call(&["INFO", "clients"]) else {
        panic!("INFO clients")
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("connected_clients")
}

/// Opens `CONNECTIONS` clients that each declare a 512 MB argument and send none of it, and
/// returns how much the process's resident memory grew.
fn growth_from_half_sent_bulks(process: &Process) -> u64 {
    let pid = process.child.id();
    assert_eq!(
        process.connect().call(&["PING"]),
        Frame::Simple("PONG".into())
    );
    let at_rest = rss_bytes(pid);
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut stream = TcpStream::connect(("127.0.0.1", process.port)).expect("connecting");
        stream.write_all(HALF_SENT).expect("sending a header");
        clients.push(stream);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while connected_clients(process.port) < CONNECTIONS as u64 {
        assert!(
            Instant::now() < deadline,
            "the clients were never all accepted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every header has been read once the last client was accepted and a moment passed.
    std::thread::sleep(Duration::from_secs(1));
    let grown = rss_bytes(pid).saturating_sub(at_rest);
    assert_eq!(
        process.connect().call(&["PING"]),
        Frame::Simple("PONG".into())
    );
    drop(clients);
    grown
}

#[test]
fn ten_thousand_half_sent_bulks_leave_the_server_and_the_proxy_small() {
    raise_fd_limit(CONNECTIONS as u64 + 2_000);
    let maxclients = (CONNECTIONS + 100).to_string();
    let server = start_slotcache(&["--maxclients", &maxclients]);
    let server_growth = growth_from_half_sent_bulks(&server);
    let running = running_cluster();
    let proxy = running.cluster.proxy(&["--maxclients", &maxclients]);
    let proxy_growth = growth_from_half_sent_bulks(&proxy);
    eprintln!(
        "{CONNECTIONS} clients each sending {:?}: server RSS +{} MB, proxy RSS +{} MB",
        String::from_utf8_lossy(HALF_SENT),
        server_growth >> 20,
        proxy_growth >> 20
    );
    assert!(
        server_growth < 100 << 20,
        "server grew {} MB",
        server_growth >> 20
    );
    assert!(
        proxy_growth < 100 << 20,
        "proxy grew {} MB",
        proxy_growth >> 20
    );
}

/// Reads what the server sends until it closes the connection; the bytes read.
fn read_until_closed(stream: &mut TcpStream) -> usize {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return total,
            Err(err) => panic!("the connection was never closed: {err}"),
        }
    }
}

fn config_set(port: u16, name: &str, value: &str) {
    let reply = Conn::connect(port).call(&["CONFIG", "SET", name, value]);
    assert_eq!(
        reply,
        Frame::Simple("OK".into()),
        "CONFIG SET {name} {value}"
    );
}

/// A client pipelines 20 MB of replies and reads none: it is cut off at the 1 MB limit while
/// another client's commands all succeed.
fn a_client_that_reads_nothing_is_cut_off(port: u16) {
    config_set(port, "client-output-buffer-limit", "normal 1mb 0 0");
    let value = "v".repeat(100 * 1024);
    let mut other = Conn::connect(port);
    assert_eq!(
        other.call(&["SET", "big", &value]),
        Frame::Simple("OK".into())
    );
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    let get: Vec<Vec<u8>> = vec![b"GET".to_vec(), b"big".to_vec()];
    slow.write_all(&encode(&get).repeat(200))
        .expect("pipelining");
    for i in 0..100 {
        let key = format!("other:{i}");
        assert_eq!(other.call(&["SET", &key, "x"]), Frame::Simple("OK".into()));
        assert_eq!(other.call(&["GET", &key]), Frame::bulk("x"));
    }
    let received = read_until_closed(&mut slow);
    assert!(received < 20 * 100 * 1024, "received {received} bytes");
    config_set(port, "client-output-buffer-limit", "normal 0 0 0");
    assert_eq!(other.call(&["GET", "other:99"]), Frame::bulk("x"));
}

/// A request that grows past `client-query-buffer-limit` closes its connection and is not run.
fn a_query_buffer_past_its_limit_closes_the_connection(port: u16) {
    config_set(port, "client-query-buffer-limit", "1mb");
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    // Writes may fail once the far side has closed: the read below is what counts.
    let _ = client.write_all(b"*3\r\n$3\r\nSET\r\n$8\r\noversize\r\n$4000000\r\n");
    let _ = client.write_all(&vec![b'x'; 2 * 1024 * 1024]);
    read_until_closed(&mut client);
    config_set(port, "client-query-buffer-limit", "1gb");
    assert_eq!(
        Conn::connect(port).call(&["EXISTS", "oversize"]),
        Frame::Int(0)
    );
}

/// A subscriber that reads nothing is cut off at the pubsub limit: publishing to it soon
/// reaches nobody, and the process's memory stays bounded.
fn a_subscriber_that_reads_nothing_is_cut_off(process: &Process) {
    let port = process.port;
    config_set(port, "client-output-buffer-limit", "pubsub 1mb 0 0");
    let mut slow = Conn::connect(port);
    slow.call(&["SUBSCRIBE", "firehose"]);
    let mut publisher = Conn::connect(port);
    let payload = "x".repeat(64 * 1024);
    // Up to 200 MB published to a subscriber that reads nothing.
    let reached_nobody =
        (0..3200).any(|_| publisher.call(&["PUBLISH", "firehose", &payload]) == Frame::Int(0));
    assert!(reached_nobody, "the slow subscriber was never cut off");
    let rss = rss_bytes(process.child.id()) >> 20;
    assert!(rss < 200, "RSS grew to {rss} MB");
    config_set(port, "client-output-buffer-limit", "pubsub 32mb 8mb 60");
}

#[test]
fn a_shard_server_cuts_off_clients_past_their_limits() {
    let server = start_slotcache(&[]);
    a_client_that_reads_nothing_is_cut_off(server.port);
    a_query_buffer_past_its_limit_closes_the_connection(server.port);
    a_subscriber_that_reads_nothing_is_cut_off(&server);
}

#[test]
fn a_proxy_cuts_off_clients_past_their_limits() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    a_client_that_reads_nothing_is_cut_off(proxy.port);
    a_query_buffer_past_its_limit_closes_the_connection(proxy.port);
    a_subscriber_that_reads_nothing_is_cut_off(&proxy);
}

#[test]
fn a_proxy_refuses_clients_past_maxclients_as_redis_does() {
    let running = running_cluster();
    let proxy = running.cluster.proxy(&["--maxclients", "3"]);
    let mut held: Vec<Conn> = (0..3).map(|_| proxy.connect()).collect();
    // The three are served before the next one comes.
    for conn in &mut held {
        assert_eq!(conn.call(&["PING"]), Frame::Simple("PONG".into()));
    }
    let mut refused = proxy.connect();
    assert_eq!(
        refused.read(),
        Frame::Error("ERR max number of clients reached".into())
    );
    assert!(
        refused.try_read().is_none(),
        "the refused client stays connected"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.connect().try_read_reply(&["PING"]) != Some(Frame::Simple("PONG".into())) {
        assert!(Instant::now() < deadline, "room was never made again");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a client connecting from 127.0.0.2 (a loopback address, but not 127.0.0.1, which is all
/// Redis counts as local) reads after a PING, until the connection closes or goes quiet.
fn ping_from_elsewhere(port: u16) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.2:0".parse().expect("an address"))
            .expect("binding 127.0.0.2");
        let addr = format!("127.0.0.1:{port}").parse().expect("an address");
        socket.connect(addr).await.expect("connecting")
    });
    let mut stream = stream.into_std().expect("a std stream");
    stream.set_nonblocking(false).expect("blocking mode");
    stream.write_all(b"PING\r\n").expect("sending PING");
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("a read timeout");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.ends_with(b"+PONG\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn protected_mode_refuses_clients_beyond_127_0_0_1_as_redis_does() {
    let redis = start_redis(&[]);
    let denial = ping_from_elsewhere(redis.port);
    assert!(denial.starts_with("-DENIED "), "{denial}");
    let server = start_slotcache(&[]);
    let running = running_cluster();
    let proxy = running.cluster.proxy(&[]);
    for port in [server.port, proxy.port] {
        assert_eq!(ping_from_elsewhere(port), denial, "port {port}");
        assert_eq!(
            Conn::connect(port).call(&["PING"]),
            Frame::Simple("PONG".into())
        );
        config_set(port, "protected-mode", "no");
        assert_eq!(ping_from_elsewhere(port), "+PONG\r\n", "port {port}");
    }
    // A password opens a server as well.
    config_set(server.port, "protected-mode", "yes");
    config_set(server.port, "requirepass", "secret");
    assert_eq!(
        ping_from_elsewhere(server.port),
        "-NOAUTH Authentication required.\r\n"
    );
    // Through the proxy the setting is the proxy's own: the servers behind it keep theirs.
    let Frame::Array(shown) = Conn::connect(proxy.port).call(&["CONFIG", "GET", "protected-mode"])
    else {
        panic!("CONFIG GET")
    };
    assert_eq!(
        shown,
        vec![Frame::bulk("protected-mode"), Frame::bulk("no")]
    );
    let behind = &running.servers[0];
    let Frame::Array(kept) = behind.connect().call(&["CONFIG", "GET", "protected-mode"]) else {
        panic!("CONFIG GET")
    };
    assert_eq!(
        kept,
        vec![Frame::bulk("protected-mode"), Frame::bulk("yes")]
    );
}
