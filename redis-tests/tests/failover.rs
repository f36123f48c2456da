//! Replication and failover under load, through the proxy, on a real etcd with real processes.
//! Writers record every acknowledged write (a unique value per key); after the fault the test
//! reads everything back and reports acknowledged writes lost, the longest stretch during which
//! writes failed, and the errors clients saw.

use redis::Commands;
use redis_tests::cluster::{names, partition_records, Cluster, TTL};
use redis_tests::fault::FaultProxy;
use redis_tests::linearizability::{self, Event, Op};
use redis_tests::{Conn, Frame, Process};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// Every partition led, with its full replica set in sync.
fn all_in_sync(state: &Value, partitions: usize, rf: usize) -> bool {
    let all = partition_records(state);
    all.len() == partitions
        && all.iter().all(|p| {
            let (mut replicas, mut isr) = (names(&p["replicas"]), names(&p["isr"]));
            replicas.sort();
            isr.sort();
            p["leader"].is_string() && replicas.len() == rf && isr == replicas
        })
}

/// What the writers saw.
#[derive(Default)]
struct Outcome {
    acked: Vec<(String, String)>,
    /// Every write in the order it was sent, with whether it was acknowledged: a write that
    /// failed (a connection lost mid-request) may still have taken effect.
    attempts: Vec<(String, String, bool)>,
    errors: Vec<String>,
    /// The longest time a writer went from a failed write to its next acknowledged one.
    longest_outage: Duration,
    /// The longest a single write took to be acknowledged (a write waiting out a failover).
    longest_wait: Duration,
}

/// What a fault cost, over every writer.
struct Summary {
    /// From the fault until every partition had a leader other than the victim.
    took_over: Duration,
    acked: Vec<(String, String)>,
    lost: usize,
    errors: Vec<String>,
    outage: Duration,
    wait: Duration,
}

impl Summary {
    /// Stops the writers and reads back every acknowledged write.
    fn collect(
        stop: &AtomicBool,
        writers: Vec<std::thread::JoinHandle<Outcome>>,
        url: &str,
        took_over: Duration,
    ) -> Summary {
        stop.store(true, Ordering::Relaxed);
        let outcomes: Vec<Outcome> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        let acked: Vec<(String, String)> = outcomes.iter().flat_map(|o| o.acked.clone()).collect();
        let attempts: Vec<(String, String, bool)> =
            outcomes.iter().flat_map(|o| o.attempts.clone()).collect();
        let lost = lost_writes(url, &attempts);
        if !lost.is_empty() {
            eprintln!("lost, first ones: {:?}", &lost[..lost.len().min(5)]);
        }
        Summary {
            took_over,
            lost: lost.len(),
            errors: outcomes.iter().flat_map(|o| o.errors.clone()).collect(),
            outage: outcomes
                .iter()
                .map(|o| o.longest_outage)
                .max()
                .unwrap_or_default(),
            wait: outcomes
                .iter()
                .map(|o| o.longest_wait)
                .max()
                .unwrap_or_default(),
            acked,
        }
    }

    /// The load ran, and clients saw neither an error nor a lost write.
    fn assert_unseen_by_clients(&self) {
        assert!(self.acked.len() > 1000, "the load ran");
        assert_eq!(self.lost, 0, "acknowledged writes lost");
        assert!(
            self.errors.is_empty(),
            "clients saw errors: {:?}",
            self.errors
        );
    }

    fn report(&self, fault: &str) {
        eprintln!(
            "{fault}: {} writes acknowledged, {} lost; new leaders {:.2} s after the fault; \
             longest write outage {:.2} s, longest acknowledged write {:.2} s; {} client \
             errors {:?}",
            self.acked.len(),
            self.lost,
            self.took_over.as_secs_f64(),
            self.outage.as_secs_f64(),
            self.wait.as_secs_f64(),
            self.errors.len(),
            self.errors.iter().take(3).collect::<Vec<_>>(),
        );
    }
}

/// A client connection that gives up on a reply after 10 s (a request stuck on a server that
/// stopped answering); None when the proxy does not accept it within 2 s.
fn connect(client: &redis::Client) -> Option<redis::Connection> {
    let conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    Some(conn)
}

/// The connection, made again if it was lost; None (after a pause) when it cannot be.
fn reconnected<'a>(
    client: &redis::Client,
    conn: &'a mut Option<redis::Connection>,
) -> Option<&'a mut redis::Connection> {
    if conn.is_none() {
        *conn = connect(client);
    }
    if conn.is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    conn.as_mut()
}

/// Writers that SET unique values through the proxy until stopped.
fn start_writers(
    proxy_url: &str,
    writers: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Outcome>> {
    (0..writers)
        .map(|w| {
            let url = proxy_url.to_string();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let client = redis::Client::open(url).expect("client");
                let mut outcome = Outcome::default();
                let mut conn = None;
                let mut failing_since: Option<Instant> = None;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let key = format!("w{w}:k{}", i % 2000);
                    let value = format!("w{w}-v{i}");
                    if conn.is_none() {
                        conn = connect(&client);
                    }
                    let sent = Instant::now();
                    let result: redis::RedisResult<()> = match conn.as_mut() {
                        Some(c) => c.set(&key, &value),
                        None => Err(redis::RedisError::from((
                            redis::ErrorKind::IoError,
                            "no connection",
                        ))),
                    };
                    match result {
                        Ok(()) => {
                            outcome.longest_wait = outcome.longest_wait.max(sent.elapsed());
                            if let Some(since) = failing_since.take() {
                                outcome.longest_outage =
                                    outcome.longest_outage.max(since.elapsed());
                            }
                            outcome.attempts.push((key.clone(), value.clone(), true));
                            outcome.acked.push((key, value));
                        }
                        Err(err) => {
                            outcome.attempts.push((key, value, false));
                            failing_since.get_or_insert_with(Instant::now);
                            if err.is_io_error() || err.is_connection_dropped() {
                                conn = None;
                            }
                            outcome.errors.push(err.to_string());
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                outcome
            })
        })
        .collect()
}

/// The last acknowledged value of every key must be what the cluster holds, unless a later
/// write of the key failed in a way that leaves its outcome unknown and that write's value is
/// held. `attempts` are in the order each writer sent them (a key has one writer).
fn lost_writes(
    proxy_url: &str,
    attempts: &[(String, String, bool)],
) -> Vec<(String, String, Option<String>)> {
    let mut expected: BTreeMap<&str, (&str, Vec<&str>)> = BTreeMap::new();
    for (key, value, acked) in attempts {
        match (acked, expected.get_mut(key.as_str())) {
            (true, _) => {
                expected.insert(key, (value, Vec::new()));
            }
            (false, Some((_, maybe))) => maybe.push(value),
            (false, None) => {}
        }
    }
    let mut conn = redis::Client::open(proxy_url)
        .and_then(|c| c.get_connection())
        .expect("reader");
    let keys: Vec<&str> = expected.keys().copied().collect();
    let mut lost = Vec::new();
    for chunk in keys.chunks(500) {
        let values: Vec<Option<String>> = conn.mget(chunk).expect("MGET");
        for (key, held) in chunk.iter().zip(values) {
            let (last, maybe) = &expected[key];
            let fine = held
                .as_deref()
                .is_some_and(|held| held == *last || maybe.contains(&held));
            if !fine {
                lost.push((key.to_string(), last.to_string(), held));
            }
        }
    }
    lost
}

/// A copy's (next offset, key count, fingerprint) from `CLUSTER DIGEST`; None when the
/// server holds no copy (a replica the controller just moved away).
fn digest(server: &Process, pid: usize) -> Option<(i64, i64, String)> {
    match server
        .connect()
        .call(&["CLUSTER", "DIGEST", &pid.to_string()])
    {
        Frame::Array(fields) => match &fields[..] {
            [Frame::Int(offset), Frame::Int(_), Frame::Int(keys), Frame::Bulk(print)] => {
                Some((*offset, *keys, String::from_utf8_lossy(print).into_owned()))
            }
            other => panic!("CLUSTER DIGEST {pid}: {other:?}"),
        },
        Frame::Error(_) => None,
        other => panic!("CLUSTER DIGEST {pid}: {other:?}"),
    }
}

/// Waits until every partition has its full in-sync set again and each partition's copies
/// are identical; returns how many copies were compared. Placement may still move replicas
/// meanwhile (onto a node that came back), so the comparison starts over from a fresh record
/// until it holds.
fn replicas_converge(stack: &Stack, partitions: usize, rf: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        stack.cluster.wait_for(
            "replicas restored and in sync",
            Duration::from_secs(30),
            |s| all_in_sync(s, partitions, rf),
        );
        let state = stack.cluster.status();
        let mut compared = 0;
        let mut differ = None;
        for (pid, record) in partition_records(&state).iter().enumerate() {
            let digests: Vec<_> = names(&record["replicas"])
                .iter()
                .filter_map(|node| NODES.iter().position(|n| n == node))
                .filter_map(|index| stack.servers[index].as_ref())
                .map(|server| digest(server, pid))
                .collect();
            if digests.iter().any(Option::is_none) || digests.windows(2).any(|p| p[0] != p[1]) {
                differ = Some((pid, digests));
                break;
            }
            compared += digests.len();
        }
        let Some((pid, digests)) = differ else {
            return compared;
        };
        assert!(
            Instant::now() < deadline,
            "partition {pid} copies differ: {digests:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Stack {
    cluster: Cluster,
    /// Each server reaches etcd through its own link, so one can be cut off from etcd alone.
    links: Vec<FaultProxy>,
    servers: Vec<Option<Process>>,
    server_flags: Vec<String>,
    /// c1 and c2.
    controllers: Vec<Option<Process>>,
    proxy: Process,
}

fn stack(partitions: u32, rf: u32, mode: &str) -> Stack {
    stack_with(partitions, rf, mode, &[])
}

/// A [`stack`] whose servers run with extra flags.
fn stack_with(partitions: u32, rf: u32, mode: &str, server_flags: &[&str]) -> Stack {
    let cluster = Cluster::with(partitions, rf, &["--replication-mode", mode]);
    let etcd = format!("127.0.0.1:{}", cluster.etcd.port);
    let links = NODES.iter().map(|_| FaultProxy::start(&etcd)).collect();
    Stack::start_all(cluster, links, server_flags, partitions, rf)
}

impl Stack {
    /// Servers (reaching etcd through `links`, or directly without), then two controllers
    /// (so the first placement sees every server), and once every partition is in sync, a
    /// proxy.
    fn start_all(
        cluster: Cluster,
        links: Vec<FaultProxy>,
        server_flags: &[&str],
        partitions: u32,
        rf: u32,
    ) -> Stack {
        let servers = (0..NODES.len())
            .map(|index| Some(start_server(&cluster, &links, server_flags, index)))
            .collect();
        let controllers = vec![
            Some(cluster.controller("c1")),
            Some(cluster.controller("c2")),
        ];
        cluster.wait_for("every partition in sync", Duration::from_secs(30), |s| {
            all_in_sync(s, partitions as usize, rf as usize)
        });
        Stack {
            proxy: cluster.proxy(&[]),
            cluster,
            links,
            servers,
            server_flags: server_flags.iter().map(|f| f.to_string()).collect(),
            controllers,
        }
    }

    /// Starts (again) the server NODES[index], as a new empty process.
    fn start(&mut self, index: usize) {
        let flags: Vec<&str> = self.server_flags.iter().map(String::as_str).collect();
        self.servers[index] = Some(start_server(&self.cluster, &self.links, &flags, index));
    }
}

/// The server NODES[index], reaching etcd through its link when it has one.
fn start_server(cluster: &Cluster, links: &[FaultProxy], flags: &[&str], index: usize) -> Process {
    let endpoint = match links.get(index) {
        Some(link) => link.endpoint(),
        None => cluster.endpoint.clone(),
    };
    cluster.server_with(NODES[index], &endpoint, flags)
}

/// A leader fault under load: writers run, `fault` hits the leader of partition 0 (given its
/// index in NODES), and once its partitions have new leaders `recover` runs; writing goes on
/// for a while after. Returns what the writers saw and how long the takeover took.
fn leader_fault(
    stack: &mut Stack,
    name: &str,
    fault: impl FnOnce(&mut Stack, usize),
    recover: impl FnOnce(&mut Stack, usize),
) -> Summary {
    let url = stack.proxy.url();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&url, 4, &stop);
    std::thread::sleep(Duration::from_secs(2));
    let state = stack.cluster.status();
    let victim = partition_records(&state)[0]["leader"]
        .as_str()
        .expect("partition 0 has a leader")
        .to_string();
    let index = NODES.iter().position(|n| *n == victim).expect("known node");
    let started = Instant::now();
    fault(stack, index);
    // Its partitions get new leaders from their in-sync sets.
    new_leaders(&stack.cluster, &victim);
    let took_over = started.elapsed();
    recover(stack, index);
    std::thread::sleep(Duration::from_secs(3));
    let summary = Summary::collect(&stop, writers, &url, took_over);
    summary.report(&format!("{name} of leader {victim}"));
    assert!(summary.acked.len() > 1000, "the load ran");
    assert!(
        took_over < Duration::from_secs(TTL + 1) + Duration::from_millis(500),
        "took over after {took_over:?}"
    );
    summary
}

/// Waits until every partition has a leader other than `victim`; returns how long that took.
fn new_leaders(cluster: &Cluster, victim: &str) -> Duration {
    cluster.wait_for("new leaders", Duration::from_secs(TTL + 8), |s| {
        partition_records(s)
            .iter()
            .all(|p| p["leader"].is_string() && p["leader"] != victim)
    })
}

/// Sends `args` until it answers OK, for at most `within` (writes waiting out a change).
fn until_ok(conn: &mut Conn, args: &[&str], within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while conn.call(args) != Frame::Simple("OK".into()) {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes 30 MB (300 values of 100 KB) under `keys`: more than a replication stream's socket
/// buffers and a small backlog hold.
fn write_bulk(conn: &mut Conn, keys: impl Iterator<Item = String>) {
    let value = "x".repeat(100_000);
    for key in keys.take(300) {
        assert_eq!(
            conn.call(&["SET", &key, &value]),
            Frame::Simple("OK".into())
        );
    }
}

/// Two servers, n1 and n2, under one controller, every partition in sync, and a proxy.
struct Pair {
    cluster: Cluster,
    servers: Vec<Option<Process>>,
    _controller: Process,
    proxy: Process,
}

fn pair(partitions: u32, init_flags: &[&str]) -> Pair {
    let cluster = Cluster::with(partitions, 2, init_flags);
    let servers = vec![Some(cluster.server("n1")), Some(cluster.server("n2"))];
    let controller = cluster.controller("c1");
    cluster.wait_for("every partition in sync", Duration::from_secs(30), |s| {
        all_in_sync(s, partitions as usize, 2)
    });
    Pair {
        proxy: cluster.proxy(&[]),
        cluster,
        servers,
        _controller: controller,
    }
}

/// Sends a signal to a server process.
fn signal(server: &Process, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

#[test]
fn killing_a_leader_under_load_loses_no_acknowledged_write() {
    let mut stack = stack(8, 2, "sync");
    let mut takeovers = Vec::new();
    for _ in 0..5 {
        let kill = |stack: &mut Stack, index: usize| drop(stack.servers[index].take());
        // The killed node comes back as a new, empty process: it rejoins as a follower.
        let restart = |stack: &mut Stack, index: usize| stack.start(index);
        let summary = leader_fault(&mut stack, "kill -9 (sync)", kill, restart);
        assert_eq!(summary.lost, 0, "acknowledged writes lost");
        let bound = Duration::from_secs(TTL + 1);
        assert!(
            summary.outage < bound && summary.wait < bound,
            "writes stalled too long"
        );
        takeovers.push(summary.took_over);
        // Every copy matches its leader before the next round.
        replicas_converge(&stack, 8, 2);
    }
    takeovers.sort();
    let median = takeovers[takeovers.len() / 2];
    eprintln!("kill -9 (sync): median takeover {median:?} over {takeovers:?}");
    assert!(
        median < Duration::from_secs(1),
        "median takeover {median:?}"
    );
}

#[test]
fn killing_a_leader_in_async_mode_reports_the_loss() {
    let mut stack = stack(8, 2, "async");
    let kill = |stack: &mut Stack, index: usize| drop(stack.servers[index].take());
    let summary = leader_fault(&mut stack, "kill -9 (async)", kill, |_, _| {});
    // Acknowledged at once, like Redis: what the leader had not streamed yet is gone. The
    // figure is reported, not asserted.
    eprintln!(
        "async mode lost {} of {} acknowledged writes",
        summary.lost,
        summary.acked.len()
    );
    replicas_converge(&stack, 8, 2);
}

#[test]
fn a_paused_leader_is_replaced_and_rejoins_as_a_follower() {
    let mut stack = stack(8, 2, "sync");
    let paused = Instant::now();
    let pause = |stack: &mut Stack, index: usize| {
        signal(stack.servers[index].as_ref().expect("running"), "STOP")
    };
    let resume = |stack: &mut Stack, index: usize| {
        std::thread::sleep(Duration::from_secs(2 * TTL).saturating_sub(paused.elapsed()));
        signal(stack.servers[index].as_ref().expect("running"), "CONT");
    };
    let summary = leader_fault(&mut stack, "SIGSTOP for 2 x TTL", pause, resume);
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    // Back from the pause, the old leader follows: every partition regains its full in-sync
    // set on all three nodes, with identical copies.
    let compared = replicas_converge(&stack, 8, 2);
    eprintln!("{compared} copies identical after the paused leader rejoined");
}

#[test]
fn a_standby_controller_completes_a_failover_its_leader_died_in() {
    let mut stack = stack(8, 2, "sync");
    let both = |stack: &mut Stack, index: usize| {
        let leading = stack.cluster.status()["controller"]
            .as_str()
            .map(String::from)
            .expect("a leading controller");
        let at = ["c1", "c2"]
            .iter()
            .position(|c| *c == leading)
            .expect("known controller");
        drop(stack.servers[index].take());
        drop(stack.controllers[at].take());
    };
    let summary = leader_fault(&mut stack, "kill -9 with its controller", both, |_, _| {});
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    replicas_converge(&stack, 8, 2);
}

/// The leader of partition 0 and its epoch.
fn leader_of_partition_0(cluster: &Cluster) -> (String, u64) {
    let state = cluster.status();
    let record = partition_records(&state)[0].clone();
    let leader = record["leader"].as_str().expect("a leader").to_string();
    (leader, record["epoch"].as_u64().expect("an epoch"))
}

#[test]
fn planned_failovers_and_a_drain_under_load_lose_nothing_and_fail_no_request() {
    let stack = stack(8, 2, "sync");
    let url = stack.proxy.url();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&url, 4, &stop);
    let counter = keys_of_partition(&stack.cluster, 0).next().expect("a key");
    let transactions = count_in_transactions(&url, &counter, &stop);
    std::thread::sleep(Duration::from_secs(1));
    // `slotcache failover` returns once the successor leads: the old leader handed over.
    for _ in 0..5 {
        let (leader, epoch) = leader_of_partition_0(&stack.cluster);
        let (ok, out, err) = stack.cluster.cli(&["failover", "0"]);
        assert!(ok, "{out}{err}");
        let (now, now_epoch) = leader_of_partition_0(&stack.cluster);
        assert!(now != leader && now_epoch > epoch, "{out}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // A drained node hands over every partition it leads, then its replicas move away.
    let (drained, _) = leader_of_partition_0(&stack.cluster);
    let (ok, _, err) = stack.cluster.cli(&["node", "drain", &drained]);
    assert!(ok, "{err}");
    stack
        .cluster
        .wait_for("the drain", Duration::from_secs(30), |s| {
            all_in_sync(s, 8, 2)
                && partition_records(s)
                    .iter()
                    .all(|p| !names(&p["replicas"]).contains(&drained))
        });
    std::thread::sleep(Duration::from_millis(500));
    let summary = Summary::collect(&stop, writers, &url, Duration::ZERO);
    summary.report("5 planned failovers and a drain");
    eprintln!(
        "planned failover: the longest write took {:.1} ms (the pause, with the proxy's retry)",
        summary.wait.as_secs_f64() * 1000.0
    );
    summary.assert_unseen_by_clients();
    assert!(
        summary.wait < Duration::from_secs(1),
        "a write waited {:?}",
        summary.wait
    );
    let (counted, errors) = transactions.join().expect("transactions");
    eprintln!("{counted} transactions, {} errors", errors.len());
    assert!(counted > 100 && errors.is_empty(), "{errors:?}");
}

/// INCRs `key` in MULTI/EXEC until stopped; every EXEC must answer the count of those before
/// it plus one (none lost, none run twice). Returns the count and the errors seen.
fn count_in_transactions(
    url: &str,
    key: &str,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<(i64, Vec<String>)> {
    let (url, key, stop) = (url.to_string(), key.to_string(), stop.clone());
    std::thread::spawn(move || {
        let client = redis::Client::open(url).expect("client");
        let mut conn = connect(&client).expect("a connection");
        let (mut counted, mut errors) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let exec: redis::RedisResult<(i64,)> =
                redis::pipe().atomic().incr(&key, 1).query(&mut conn);
            match exec {
                Ok((count,)) => {
                    assert_eq!(count, counted + 1, "a transaction lost or run twice");
                    counted = count;
                }
                Err(err) => errors.push(err.to_string()),
            }
        }
        (counted, errors)
    })
}

#[test]
fn the_data_plane_serves_through_an_etcd_outage() {
    let mut stack = stack(8, 2, "sync");
    let url = stack.proxy.url();
    redis_tests::stop_etcd(&mut stack.cluster.etcd);
    let outage = Instant::now();
    // Reads and writes through the proxy while etcd is down: every acknowledged write is read
    // back, still during the outage.
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&url, 4, &stop);
    std::thread::sleep(Duration::from_secs(8));
    let summary = Summary::collect(&stop, writers, &url, Duration::ZERO);
    let during = outage.elapsed();
    summary.report("etcd stopped");
    assert!(
        during < Duration::from_secs(10),
        "the checks ran during the outage"
    );
    summary.assert_unseen_by_clients();
    std::thread::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed()));
    redis_tests::resume_etcd(&mut stack.cluster.etcd);
    // Placement resumes: a leader killed now is replaced as usual.
    let kill = |stack: &mut Stack, index: usize| drop(stack.servers[index].take());
    let summary = leader_fault(&mut stack, "kill -9 after the outage", kill, |_, _| {});
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
}

#[test]
fn wait_counts_the_replicas_that_have_every_write() {
    let stack = stack(4, 2, "sync");
    let mut conn = stack.proxy.connect();
    assert_eq!(conn.call(&["SET", "w", "1"]), Frame::Simple("OK".into()));
    // Every partition has one follower, in sync: one replica, at once.
    assert_eq!(conn.call(&["WAIT", "1", "2000"]), Frame::Int(1));
    // Two are never reached: the answer comes at the timeout, with the one there is.
    let asked = Instant::now();
    assert_eq!(conn.call(&["WAIT", "2", "300"]), Frame::Int(1));
    assert!(asked.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        conn.call(&["WAIT", "1", "soon"]),
        Frame::Error("ERR timeout is not an integer or out of range".into())
    );
    // On a shard server, WAIT counts the followers of the partition the connection addressed.
    let server = stack.servers[0].as_ref().expect("running");
    let mut direct = server.connect();
    assert_eq!(direct.call(&["WAIT", "0", "0"]), Frame::Int(0));
}

#[test]
fn below_min_isr_writes_answer_noreplicas_and_reads_go_on() {
    // Two servers, RF 2, min-isr 2: losing either leaves every partition one copy short.
    let mut pair = pair(4, &["--min-isr", "2"]);
    let mut conn = pair.proxy.connect();
    assert_eq!(conn.call(&["SET", "k", "1"]), Frame::Simple("OK".into()));
    drop(pair.servers[1].take());
    let refused = Frame::Error("NOREPLICAS Not enough good replicas to write.".into());
    let deadline = Instant::now() + Duration::from_secs(TTL + 5);
    while conn.call(&["SET", "k", "2"]) != refused {
        assert!(
            Instant::now() < deadline,
            "writes never refused below min-isr"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(conn.call(&["GET", "k"]), Frame::Bulk(b"1".to_vec()));
    // The node comes back, catches up, rejoins the in-sync set: writes are accepted again.
    pair.servers[1] = Some(pair.cluster.server("n2"));
    let resumed = "writes never resumed";
    until_ok(
        &mut conn,
        &["SET", "k", "3"],
        Duration::from_secs(20),
        resumed,
    );
    assert_eq!(conn.call(&["GET", "k"]), Frame::Bulk(b"3".to_vec()));
}

/// Keys of partition `pid`, found by its slot range.
fn keys_of_partition(cluster: &Cluster, pid: usize) -> impl Iterator<Item = String> {
    let state = cluster.status();
    let slots = &partition_records(&state)[pid]["slots"][0];
    let (low, high) = (slots[0].as_u64(), slots[1].as_u64());
    (0..).map(|i| format!("probe:{i}")).filter(move |key| {
        let slot = Some(u64::from(slotcache_cluster::slot::key_slot(key.as_bytes())));
        low <= slot && slot <= high
    })
}

#[test]
fn a_proxy_reports_a_crashed_server_and_its_lease_is_revoked_early() {
    // One copy per partition, so no follower can notice the crash, and a 30 s lease.
    let cluster = Cluster::with(2, 1, &["--lease-ttl", "30"]);
    let mut servers = [Some(cluster.server("n1")), Some(cluster.server("n2"))];
    let _controller = cluster.controller("c1");
    cluster.wait_for("placement", Duration::from_secs(30), |s| {
        all_in_sync(s, 2, 1)
    });
    let proxy = cluster.proxy(&[]);
    let (victim, _) = leader_of_partition_0(&cluster);
    let index = NODES.iter().position(|n| *n == victim).expect("known node");
    let key = keys_of_partition(&cluster, 0).next().expect("a key");
    drop(servers[index].take());
    // The proxy finds the victim's port refusing connections while it routes a request there.
    let mut conn = proxy.connect();
    let reply = conn.call(&["GET", &key]);
    assert!(
        matches!(&reply, Frame::Error(e) if e.starts_with("TRYAGAIN")),
        "{reply:?}"
    );
    let gone = cluster.wait_for("the lease revoked", Duration::from_secs(15), |s| {
        !names(&s["active_nodes"]).contains(&victim)
    });
    eprintln!(
        "a crash reported by the proxy alone: lease revoked within {gone:?} of the reply \
         (lease TTL 30 s)"
    );
}

/// Cuts the leader of partition 0 off from etcd while its peers, the proxy and clients still
/// reach it. Once a new leader is elected, the old one must not acknowledge a write of the
/// partition it led (no split brain); healed, it rejoins as a follower.
fn cut_off_leader(mode: &str) -> Summary {
    let mut stack = stack(8, 2, mode);
    let probe = keys_of_partition(&stack.cluster, 0)
        .next()
        .expect("a key of partition 0");
    let cut = Instant::now();
    let isolate = |stack: &mut Stack, index: usize| stack.links[index].cut();
    let probe_then_heal = |stack: &mut Stack, index: usize| {
        let old_leader = stack.servers[index].as_ref().expect("running");
        let mut conn = old_leader.connect();
        conn.set_read_timeout(Duration::from_secs(1));
        let reply = conn.try_read_reply(&["SET", &probe, "split-brain"]);
        eprintln!("{mode}: the cut-off old leader answered a write with {reply:?}");
        assert_ne!(reply, Some(Frame::Simple("OK".into())), "two leaders wrote");
        if mode == "async" {
            assert_eq!(
                reply,
                Some(Frame::Error(
                    "CLUSTERDOWN The partition's leader cannot renew its lease; retry".into()
                )),
                "an async leader unsure of its lease refuses writes"
            );
        }
        std::thread::sleep(Duration::from_secs(2 * TTL).saturating_sub(cut.elapsed()));
        stack.links[index].heal();
    };
    let summary = leader_fault(
        &mut stack,
        &format!("cut off from etcd ({mode})"),
        isolate,
        probe_then_heal,
    );
    let mut conn = stack.proxy.connect();
    assert_ne!(
        conn.call(&["GET", &probe]),
        Frame::Bulk(b"split-brain".to_vec()),
        "the old leader's refused write surfaced"
    );
    let compared = replicas_converge(&stack, 8, 2);
    eprintln!("{mode}: {compared} copies identical after the cut-off leader rejoined");
    summary
}

#[test]
fn a_leader_cut_off_from_etcd_is_fenced_and_loses_nothing() {
    let summary = cut_off_leader("sync");
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
}

#[test]
fn an_async_leader_cut_off_from_etcd_stops_writing_before_its_lease_expires() {
    let summary = cut_off_leader("async");
    // The old leader refused writes before its lease could expire; what it acknowledged
    // before that reached its follower unless the stream lagged. Reported, not asserted.
    eprintln!(
        "async cut-off lost {} of {} acknowledged writes",
        summary.lost,
        summary.acked.len()
    );
}

/// The rest of the line of `INFO <section>` that starts with `prefix`.
fn info_line(server: &Process, section: &str, prefix: &str) -> Option<String> {
    let Frame::Bulk(info) = server.connect().call(&["INFO", section]) else {
        panic!("INFO {section}")
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|line| line.strip_prefix(prefix).map(str::to_string))
}

/// A server's `INFO stats` counter.
fn stat(server: &Process, field: &str) -> u64 {
    info_line(server, "stats", &format!("{field}:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO stats"))
}

/// A counter summed over the running servers.
fn total(stack: &Stack, field: &str) -> u64 {
    stack.servers.iter().flatten().map(|s| stat(s, field)).sum()
}

#[test]
fn a_broken_link_resyncs_partially_and_an_overflowed_backlog_fully() {
    // A small backlog, so a follower paused for a moment falls out of it; a short lag timeout,
    // so writes go on without the paused follower and overflow the backlog meanwhile.
    let flags = [
        "--repl-backlog-size",
        "64kb",
        "--replica-lag-timeout",
        "300",
    ];
    let stack = stack_with(8, 2, "sync", &flags);
    let url = stack.proxy.url();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&url, 4, &stop);
    std::thread::sleep(Duration::from_secs(1));
    let state = stack.cluster.status();
    let record = partition_records(&state)[0];
    let follower = names(&record["replicas"])
        .into_iter()
        .find(|n| record["leader"] != n.as_str())
        .expect("partition 0 has a follower");
    let index = NODES
        .iter()
        .position(|n| *n == follower)
        .expect("known node");

    // 1. The follower's links to its leaders break (as a network blip would): it attaches
    //    again from its offsets, and every leader continues from its backlog.
    let (full, partial) = (total(&stack, "sync_full"), total(&stack, "sync_partial_ok"));
    let server = stack.servers[index].as_ref().expect("running");
    let Frame::Int(cut) = server.connect().call(&["CLIENT", "KILL", "TYPE", "master"]) else {
        panic!("CLIENT KILL TYPE master")
    };
    assert!(cut > 0, "{follower} followed no leader");
    let deadline = Instant::now() + Duration::from_secs(10);
    while total(&stack, "sync_partial_ok") < partial + cut as u64 {
        assert!(Instant::now() < deadline, "the links never resumed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        total(&stack, "sync_full"),
        full,
        "a link break forced a full resync"
    );
    eprintln!("{cut} links of {follower} cut: all resumed by partial resync");

    // 2. Paused while the writes it misses overflow the 64 KB backlog, and the socket
    //    buffers of the stream (30 MB to partition 0): full resync. Partition 0 holds
    //    200,000 more keys, which a client keeps changing, deleting and expiring while the
    //    leader takes its snapshot.
    let preloaded: Vec<String> = keys_of_partition(&stack.cluster, 0)
        .take(PRELOADED)
        .collect();
    let mut conn = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("loader");
    for chunk in preloaded.chunks(1000) {
        let mut load = redis::pipe();
        for key in chunk {
            load.set(key, "preloaded").ignore();
        }
        let () = load.query(&mut conn).expect("preloading partition 0");
    }
    let churn = start_churn(&url, preloaded, &stop);
    let full = total(&stack, "sync_full");
    let server = stack.servers[index].as_ref().expect("running");
    let mut bulk = stack.proxy.connect();
    signal(server, "STOP");
    write_bulk(&mut bulk, keys_of_partition(&stack.cluster, 0));
    signal(server, "CONT");
    let deadline = Instant::now() + Duration::from_secs(10);
    while total(&stack, "sync_full") == full {
        assert!(
            Instant::now() < deadline,
            "no full resync after the overflow"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let summary = Summary::collect(&stop, writers, &url, Duration::ZERO);
    summary.report("link cut, then backlog overflow");
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    let churned = churn.join().expect("churn");
    let compared = replicas_converge(&stack, 8, 2);
    eprintln!(
        "{} full resyncs after the pause; {compared} copies identical; {churned} changes \
         to preloaded keys",
        total(&stack, "sync_full") - full
    );
    let leader = NODES
        .iter()
        .position(|n| record["leader"] == *n)
        .and_then(|i| stack.servers[i].as_ref())
        .expect("partition 0's leader runs");
    let snapshot = last_snapshot(leader, 0).expect("the leader logged partition 0's snapshot");
    eprintln!("partition 0's snapshot: {snapshot:?}");
    assert!(snapshot["keys"] >= PRELOADED as f64 / 2.0, "{snapshot:?}");
    assert!(
        snapshot["steps"] > 100.0,
        "the snapshot was not taken in steps beside the writes: {snapshot:?}"
    );
}

/// Keys partition 0 holds before its follower falls out of the backlog.
const PRELOADED: usize = 200_000;

/// A client changing, deleting and expiring `keys` in pipelines until stopped; returns how
/// many changes were acknowledged.
fn start_churn(
    url: &str,
    keys: Vec<String>,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    let client = redis::Client::open(url).expect("client");
    let stop = stop.clone();
    std::thread::spawn(move || {
        let mut changes = 0;
        let mut conn = None;
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let Some(c) = reconnected(&client, &mut conn) else {
                continue;
            };
            let mut batch = redis::pipe();
            for _ in 0..100 {
                i += 1;
                let key = &keys[i.wrapping_mul(7919) % keys.len()];
                match i % 4 {
                    0 => batch.set(key, i).ignore(),
                    1 => batch.del(key).ignore(),
                    2 => batch.append(key, "+").ignore(),
                    _ => batch.expire(key, 3600).ignore(),
                };
            }
            match batch.query::<()>(c) {
                Ok(()) => changes += 100,
                Err(_) => conn = None,
            }
        }
        changes
    })
}

/// The figures of the last snapshot `server` logged for `pid` (keys, steps, longest_hold_ms,
/// took_ms).
fn last_snapshot(server: &Process, pid: u32) -> Option<BTreeMap<String, f64>> {
    let log = server.log();
    let line = log.lines().rev().find(|line| {
        line.contains("snapshot sent") && line.contains(&format!("partition={pid} "))
    })?;
    Some(
        line.split_whitespace()
            .filter_map(|field| field.split_once('='))
            .filter_map(|(name, value)| Some((name.to_string(), value.parse().ok()?)))
            .collect(),
    )
}

/// A compare-and-set in Lua: 1 when the key held ARGV[1] and now holds ARGV[2], else 0.
const CAS: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                   redis.call('set', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// A client reading, writing and compare-and-setting `keys` through `url` until stopped,
/// recording each operation's call and return times (ns since `base`).
fn register_client(
    id: u64,
    url: String,
    keys: Vec<String>,
    stop: Arc<AtomicBool>,
    base: Instant,
) -> Vec<Event> {
    use rand::Rng;
    let mut rng = rand::rng();
    let client = redis::Client::open(url).expect("client");
    let mut conn: Option<redis::Connection> = None;
    let mut history = Vec::new();
    let mut last_seen: BTreeMap<String, u64> = BTreeMap::new();
    let script = redis::Script::new(CAS);
    let mut written = 0u64;
    let clock = || base.elapsed().as_nanos() as u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = reconnected(&client, &mut conn) else {
            continue;
        };
        let key = keys[rng.random_range(0..keys.len())].clone();
        written += 1;
        let value = id * 1_000_000_000 + written;
        let expected = last_seen.get(&key).copied().unwrap_or(0);
        let call = clock();
        // A key that does not exist cannot be compared with: write it instead.
        let choice = match rng.random_range(0..10) {
            7.. if expected == 0 => 4,
            choice => choice,
        };
        let (op, outcome) = match choice {
            0..4 => {
                let read: redis::RedisResult<Option<u64>> = c.get(&key);
                match read {
                    Ok(seen) => {
                        let seen = seen.unwrap_or(0);
                        last_seen.insert(key.clone(), seen);
                        (Op::Read(seen), Ok(()))
                    }
                    Err(err) => (Op::Read(0), Err(err)),
                }
            }
            4..7 => (Op::Write(value), c.set::<_, _, ()>(&key, value)),
            _ => {
                let swapped: redis::RedisResult<i64> =
                    script.key(&key).arg(expected).arg(value).invoke(c);
                let told = swapped.as_ref().ok().map(|s| *s == 1);
                let op = Op::Cas {
                    expected,
                    new: value,
                    swapped: told,
                };
                (op, swapped.map(|_| ()))
            }
        };
        let ret = match outcome {
            Ok(()) => Some(clock()),
            Err(err) => {
                if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
                    conn = None;
                }
                None
            }
        };
        history.push(Event { key, op, call, ret });
        std::thread::sleep(Duration::from_millis(1));
    }
    history
}

/// The partition holding `key`, from a `status` document.
fn partition_of_key(state: &Value, key: &str) -> usize {
    let slot = u64::from(slotcache_cluster::slot::key_slot(key.as_bytes()));
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

/// The node index of the current leader of `key`'s partition.
fn leader_of_key(stack: &Stack, key: &str) -> usize {
    let state = stack.cluster.status();
    let pid = partition_of_key(&state, key);
    let leader = partition_records(&state)[pid]["leader"]
        .as_str()
        .map(String::from)
        .expect("a leader");
    NODES.iter().position(|n| *n == leader).expect("known node")
}

#[test]
fn reads_writes_and_compare_and_set_stay_linearizable_through_failovers() {
    let mut stack = stack(8, 2, "sync");
    let second = stack.cluster.proxy(&[]);
    let urls = [stack.proxy.url(), second.url()];
    let keys: Vec<String> = (0..6).map(|i| format!("lin:{i}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let base = Instant::now();
    let clients: Vec<_> = (1..=6u64)
        .map(|id| {
            let (url, keys, stop) = (urls[id as usize % 2].clone(), keys.clone(), stop.clone());
            std::thread::spawn(move || register_client(id, url, keys, stop, base))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    // kill -9 the leader of the first key's partition, then bring the node back.
    let victim = leader_of_key(&stack, &keys[0]);
    let killed_at = base.elapsed();
    drop(stack.servers[victim].take());
    let killed = new_leaders(&stack.cluster, NODES[victim]);
    stack.start(victim);
    replicas_converge(&stack, 8, 2);
    // SIGSTOP the (new) leader of that partition for 2 x TTL.
    let victim = leader_of_key(&stack, &keys[0]);
    let paused = stack.servers[victim].as_ref().expect("running");
    signal(paused, "STOP");
    let stopped = Instant::now();
    let stopped_at = base.elapsed();
    let replaced = new_leaders(&stack.cluster, NODES[victim]);
    std::thread::sleep(Duration::from_secs(2 * TTL).saturating_sub(stopped.elapsed()));
    signal(stack.servers[victim].as_ref().expect("running"), "CONT");
    replicas_converge(&stack, 8, 2);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let history: Vec<Event> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    let answered = history.iter().filter(|e| e.ret.is_some()).count();
    let checking = Instant::now();
    let violations = linearizability::check(&history);
    eprintln!(
        "linearizability: {} operations ({answered} answered, {} without a reply) on {} keys \
         through 2 proxies; kill -9 at {killed_at:?} took over in {killed:?}, SIGSTOP at \
         {stopped_at:?} in {replaced:?}; \
         checked in {:?}: {} violations",
        history.len(),
        history.len() - answered,
        keys.len(),
        checking.elapsed(),
        violations.len()
    );
    for violation in &violations {
        eprintln!(
            "{} is not linearizable; the operations up to the first that cannot be placed:",
            violation.key
        );
        let leading = linearizability::leading_to_violation(&history, &violation.key, 20);
        for event in &leading {
            eprintln!("  {event:?}");
        }
        // Where the value the last operation saw came from: how stale it is.
        if let Some(Op::Read(seen) | Op::Cas { expected: seen, .. }) = leading.last().map(|e| &e.op)
        {
            for event in history.iter().filter(|e| {
                e.key == violation.key
                    && matches!(e.op, Op::Write(v) | Op::Cas { new: v, .. } if v == *seen)
            }) {
                eprintln!("  which was written by {event:?}");
            }
        }
    }
    assert!(answered > 1000, "the clients ran");
    assert_eq!(violations, vec![], "histories that are not linearizable");
}

/// A sync stack of 4 partitions with `rf` copies, and a key of partition 0 set to `value`
/// through the proxy (with the proxy connection).
fn stack_with_key(rf: u32, value: &str) -> (Stack, String, Conn) {
    let stack = stack(4, rf, "sync");
    let key = keys_of_partition(&stack.cluster, 0)
        .next()
        .expect("a key of partition 0");
    let mut conn = stack.proxy.connect();
    assert_eq!(conn.call(&["SET", &key, value]), Frame::Simple("OK".into()));
    (stack, key, conn)
}

#[test]
fn a_deposed_leader_answers_no_stale_read() {
    let (stack, key, mut conn) = stack_with_key(2, "old");
    let victim = leader_of_key(&stack, &key);
    let mut direct = stack.servers[victim].as_ref().expect("running").connect();
    assert_eq!(direct.call(&["GET", &key]), Frame::Bulk(b"old".to_vec()));
    // Cut off from etcd, the old leader never learns that it was replaced.
    stack.links[victim].cut();
    new_leaders(&stack.cluster, NODES[victim]);
    // Straight to the new leader: nothing written reaches the old one.
    let successor = leader_of_key(&stack, &key);
    let mut at_successor = stack.servers[successor]
        .as_ref()
        .expect("running")
        .connect();
    until_ok(
        &mut at_successor,
        &["SET", &key, "new"],
        Duration::from_secs(10),
        "writes resume at the new leader",
    );
    direct.set_read_timeout(Duration::from_secs(2));
    let reply = direct.try_read_reply(&["GET", &key]);
    assert_ne!(
        reply,
        Some(Frame::Bulk(b"old".to_vec())),
        "a read sent after a write was acknowledged saw the value before it"
    );
    eprintln!("the replaced leader answered {reply:?} (None: no answer)");
    stack.links[victim].heal();
    replicas_converge(&stack, 4, 2);
    assert_eq!(conn.call(&["GET", &key]), Frame::Bulk(b"new".to_vec()));
}

#[test]
fn a_connection_never_serves_from_a_copy_its_server_dropped() {
    // Three copies of each partition on three servers: a server that comes back hosts them all.
    let (stack, key, mut conn) = stack_with_key(3, "old");
    let victim = leader_of_key(&stack, &key);
    let paused = stack.servers[victim].as_ref().expect("running");
    // This connection addresses the partition's keyspace on its leader.
    let mut direct = paused.connect();
    assert_eq!(direct.call(&["GET", &key]), Frame::Bulk(b"old".to_vec()));
    // Paused past its lease, the server loses its copies; woken up, it gets new ones.
    signal(paused, "STOP");
    new_leaders(&stack.cluster, NODES[victim]);
    until_ok(
        &mut conn,
        &["SET", &key, "new"],
        Duration::from_secs(10),
        "writes resume at the new leader",
    );
    std::thread::sleep(Duration::from_secs(TTL));
    signal(stack.servers[victim].as_ref().expect("running"), "CONT");
    replicas_converge(&stack, 4, 3);
    if leader_of_key(&stack, &key) != victim {
        let (ok, _, err) = stack.cluster.cli(&["failover", "0", "--to", NODES[victim]]);
        assert!(ok, "failover: {err}");
        stack.cluster.wait_for(
            "the woken server leads again",
            Duration::from_secs(10),
            |s| partition_records(s)[0]["leader"] == NODES[victim],
        );
    }
    // The connection goes on with the new copy: it reads what the cluster holds, and what it
    // writes is what everyone reads.
    assert_eq!(direct.call(&["GET", &key]), Frame::Bulk(b"new".to_vec()));
    until_ok(
        &mut direct,
        &["SET", &key, "newer"],
        Duration::from_secs(10),
        "the woken server takes writes",
    );
    assert_eq!(conn.call(&["GET", &key]), Frame::Bulk(b"newer".to_vec()));
}

#[test]
fn a_follower_answers_reads_only_to_readonly_connections_direct_or_through_the_proxy() {
    let (stack, key, _) = stack_with_key(2, "v");
    let state = stack.cluster.status();
    let record = partition_records(&state)[0];
    let follower = names(&record["replicas"])
        .into_iter()
        .find(|n| record["leader"] != n.as_str())
        .and_then(|n| NODES.iter().position(|node| *node == n))
        .and_then(|index| stack.servers[index].as_ref())
        .expect("partition 0 has a follower");
    let mut direct = follower.connect();
    let redirected = |reply: Frame| matches!(reply, Frame::Error(e) if e.starts_with("MOVED "));
    // Without READONLY a follower copy answers nothing about its data, as a Redis Cluster
    // replica: the read could be stale, and a script could write.
    assert!(redirected(direct.call(&["GET", &key])));
    let script = "return redis.call('get', KEYS[1])";
    assert!(redirected(direct.call(&["EVAL", script, "1", &key])));
    assert_eq!(direct.call(&["READONLY"]), Frame::Simple("OK".into()));
    // The write was acknowledged in sync mode, so this follower has it.
    assert_eq!(direct.call(&["GET", &key]), Frame::Bulk(b"v".to_vec()));
    assert!(redirected(direct.call(&["SET", &key, "w"])));
    assert!(redirected(direct.call(&["EVAL", script, "1", &key])));
    assert_eq!(direct.call(&["READWRITE"]), Frame::Simple("OK".into()));
    assert!(redirected(direct.call(&["GET", &key])));

    // Through the proxy: a READONLY client's reads take turns over the in-sync copies, its
    // writes still go to the leader; READWRITE brings its reads back to the leader.
    let ok = Frame::Simple("OK".into());
    let mut client = stack.proxy.connect();
    assert_eq!(client.call(&["READONLY"]), ok);
    let before = command_calls(follower, "get");
    for _ in 0..20 {
        assert_eq!(client.call(&["GET", &key]), Frame::Bulk(b"v".to_vec()));
    }
    let served = command_calls(follower, "get") - before;
    assert!(
        (5..=15).contains(&served),
        "the follower served {served} of 20"
    );
    assert_eq!(client.call(&["SET", &key, "w"]), ok);
    assert_eq!(client.call(&["READWRITE"]), ok);
    let before = command_calls(follower, "get");
    for _ in 0..10 {
        assert_eq!(client.call(&["GET", &key]), Frame::Bulk(b"w".to_vec()));
    }
    assert_eq!(command_calls(follower, "get"), before);
}

/// How many times `server` ran `command` (INFO commandstats).
fn command_calls(server: &Process, command: &str) -> u64 {
    info_line(server, "commandstats", &format!("cmdstat_{command}:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn status_shows_each_copys_offset() {
    let stack = stack(4, 2, "sync");
    let mut conn = stack.proxy.connect();
    for i in 0..100 {
        assert_eq!(
            conn.call(&["SET", &format!("k{i}"), "v"]),
            Frame::Simple("OK".into())
        );
    }
    // Acknowledged in sync mode: both copies of every partition are at the same offset.
    let state = stack.cluster.status();
    for (pid, record) in partition_records(&state).iter().enumerate() {
        let offsets = &state["offsets"][pid.to_string()];
        let copies: Vec<u64> = names(&record["replicas"])
            .iter()
            .map(|node| offsets[node].as_u64().expect("an offset per copy"))
            .collect();
        assert_eq!(copies.len(), 2, "partition {pid}: {offsets}");
        assert_eq!(copies[0], copies[1], "partition {pid}: {offsets}");
    }
    assert!(
        state["offsets"]
            .as_object()
            .is_some_and(|all| all.values().any(|o| o
                .as_object()
                .is_some_and(|copies| copies.values().any(|v| v.as_u64() > Some(0))))),
        "the writes moved offsets: {}",
        state["offsets"]
    );
    let (ok, table, err) = stack.cluster.cli(&["status"]);
    assert!(ok, "status: {err}");
    assert!(table.contains("copies at offset"), "{table}");
}

#[test]
fn losing_one_etcd_member_of_three_is_invisible_to_clients() {
    let cluster = Cluster::on_etcd(3, 8, 2, &["--replication-mode", "sync"]);
    let mut stack = Stack::start_all(cluster, Vec::new(), &[], 8, 2);
    let epochs = |stack: &Stack| -> Vec<u64> {
        partition_records(&stack.cluster.status())
            .iter()
            .map(|p| p["epoch"].as_u64().unwrap_or(0))
            .collect()
    };
    let before = epochs(&stack);
    let url = stack.proxy.url();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&url, 4, &stop);
    std::thread::sleep(Duration::from_secs(1));
    // The first member: every process's client starts there.
    redis_tests::stop_etcd(&mut stack.cluster.etcd);
    // Longer than the lease TTL: leases renewed through the other members hold.
    std::thread::sleep(Duration::from_secs(3 * TTL));
    let summary = Summary::collect(&stop, writers, &url, Duration::ZERO);
    summary.report("one etcd member of three killed");
    assert!(summary.acked.len() > 1000, "the load ran");
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    assert!(
        summary.errors.is_empty(),
        "clients saw errors: {:?}",
        summary.errors
    );
    assert_eq!(epochs(&stack), before, "a partition changed leader");
    // Placement goes on with two members: a leader killed now is replaced.
    let kill = |stack: &mut Stack, index: usize| drop(stack.servers[index].take());
    let summary = leader_fault(&mut stack, "kill -9 on two etcd members", kill, |_, _| {});
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
}

#[test]
fn unclean_failover_elects_a_stale_copy_and_loses_what_it_lacked() {
    // Leases outlive the follower's pause: a follower whose lease expired would come back as
    // a new, empty replica, with nothing of the partition left to elect.
    const LEASE: u64 = 10;
    // Every field bound: a field left to `..` would be dropped here, killing its process.
    let Pair {
        cluster,
        mut servers,
        proxy,
        _controller: _controller_running,
    } = pair(
        1,
        &["--unclean-failover", "--lease-ttl", &LEASE.to_string()],
    );
    let mut conn = proxy.connect();
    assert_eq!(conn.call(&["SET", "kept", "1"]), Frame::Simple("OK".into()));
    let state = cluster.status();
    let leader = partition_records(&state)[0]["leader"]
        .as_str()
        .map(String::from)
        .expect("a leader");
    let (l, f) = if leader == "n1" { (0, 1) } else { (1, 0) };
    // The follower stalls and leaves the in-sync set; the leader acknowledges writes alone,
    // more than the stream's socket buffers hold, so the last one never reaches the follower.
    signal(servers[f].as_ref().expect("running"), "STOP");
    write_bulk(&mut conn, (0..).map(|i| format!("bulk{i}")));
    assert_eq!(conn.call(&["SET", "lost", "1"]), Frame::Simple("OK".into()));
    cluster.wait_for("the follower out of sync", Duration::from_secs(10), |s| {
        names(&partition_records(s)[0]["isr"]) == vec![leader.clone()]
    });
    drop(servers[l].take());
    signal(servers[f].as_ref().expect("running"), "CONT");
    let follower = if f == 0 { "n1" } else { "n2" };
    cluster.wait_for(
        "the stale copy elected",
        Duration::from_secs(LEASE + 8),
        |s| partition_records(s)[0]["leader"] == follower,
    );
    // Writes go on at the new leader; the write only the dead leader had is gone, as the
    // setting says it may be.
    let resumed = "writes never resumed";
    until_ok(
        &mut conn,
        &["SET", "after", "1"],
        Duration::from_secs(10),
        resumed,
    );
    assert_eq!(conn.call(&["GET", "kept"]), Frame::Bulk(b"1".to_vec()));
    assert_eq!(conn.call(&["GET", "lost"]), Frame::Null);
}
