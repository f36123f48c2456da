//! The harness of the failover tests: a stack of etcd, servers reaching etcd through fault
//! links, controllers and a proxy; writers that record every acknowledged write, and the read
//! back that counts what a fault lost.

use crate::cluster::{names, partition_records, Cluster, TTL};
use crate::fault::FaultProxy;
use crate::linearizability::{Event, Op};
use crate::{Conn, Frame, Process};
use redis::Commands;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// Every partition led, with its full replica set in sync.
pub fn all_in_sync(state: &Value, partitions: usize, rf: usize) -> bool {
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
pub struct Outcome {
    pub acked: Vec<(String, String)>,
    /// Every write in the order it was sent, with whether it was acknowledged: a write that
    /// failed (a connection lost mid-request) may still have taken effect.
    pub attempts: Vec<(String, String, bool)>,
    pub errors: Vec<String>,
    /// The longest time a writer went from a failed write to its next acknowledged one.
    pub longest_outage: Duration,
    /// The longest a single write took to be acknowledged (a write waiting out a failover).
    pub longest_wait: Duration,
    /// The longest a writer went without an acknowledged write, whatever held it up (a write
    /// stuck at a paused leader, errors).
    pub longest_pause: Duration,
}

/// What a fault cost, over every writer.
pub struct Summary {
    /// From the fault until every partition had a leader other than the victim.
    pub took_over: Duration,
    pub acked: Vec<(String, String)>,
    pub lost: usize,
    pub errors: Vec<String>,
    pub outage: Duration,
    pub wait: Duration,
    /// The longest any writer went without an acknowledged write.
    pub pause: Duration,
}

impl Summary {
    /// Stops the writers and reads back every acknowledged write.
    pub fn collect(
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
            pause: outcomes
                .iter()
                .map(|o| o.longest_pause)
                .max()
                .unwrap_or_default(),
            acked,
        }
    }

    /// The load ran, and clients saw neither an error nor a lost write.
    pub fn assert_unseen_by_clients(&self) {
        assert!(self.acked.len() > 1000, "the load ran");
        assert_eq!(self.lost, 0, "acknowledged writes lost");
        assert!(
            self.errors.is_empty(),
            "clients saw errors: {:?}",
            self.errors
        );
    }

    pub fn report(&self, fault: &str) {
        eprintln!(
            "{fault}: {} writes acknowledged, {} lost; new leaders {:.2} s after the fault; \
             longest write outage {:.2} s, longest acknowledged write {:.2} s, longest pause \
             of a writer {:.2} s; {} client errors {:?}",
            self.acked.len(),
            self.lost,
            self.took_over.as_secs_f64(),
            self.outage.as_secs_f64(),
            self.wait.as_secs_f64(),
            self.pause.as_secs_f64(),
            self.errors.len(),
            self.errors.iter().take(3).collect::<Vec<_>>(),
        );
    }
}

/// A client connection that gives up on a reply after 10 s (a request stuck on a server that
/// stopped answering); None when the proxy does not accept it within 2 s.
pub fn connect(client: &redis::Client) -> Option<redis::Connection> {
    let conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    Some(conn)
}

/// The connection, made again if it was lost; None (after a pause) when it cannot be.
pub fn reconnected<'a>(
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
pub fn start_writers(
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
                let mut last_ack = Instant::now();
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
                            outcome.longest_pause = outcome.longest_pause.max(last_ack.elapsed());
                            last_ack = Instant::now();
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

/// The last acknowledged value of every key must be what the cluster holds, unless a write
/// of the key failed in a way that leaves its outcome unknown and that write's value is held.
/// Such a write may take effect at any time after it was sent, even after a later write was
/// acknowledged (a request released from a server cut off from the proxy reaches it once the
/// link heals, behind one sent later on a new connection). `attempts` are in the order each
/// writer sent them (a key has one writer).
pub fn lost_writes(
    proxy_url: &str,
    attempts: &[(String, String, bool)],
) -> Vec<(String, String, Option<String>)> {
    let mut written: BTreeMap<&str, (Option<&str>, Vec<&str>)> = BTreeMap::new();
    for (key, value, acked) in attempts {
        let (last, maybe) = written.entry(key.as_str()).or_default();
        match acked {
            true => *last = Some(value),
            false => maybe.push(value),
        }
    }
    let expected: BTreeMap<&str, (&str, Vec<&str>)> = written
        .into_iter()
        .filter_map(|(key, (last, maybe))| Some((key, (last?, maybe))))
        .collect();
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
pub fn digest(server: &Process, pid: usize) -> Option<(i64, i64, String)> {
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
pub fn replicas_converge(stack: &Stack, partitions: usize, rf: usize) -> usize {
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

pub struct Stack {
    pub cluster: Cluster,
    /// Each server reaches etcd through its own link, so one can be cut off from etcd alone.
    pub links: Vec<FaultProxy>,
    pub servers: Vec<Option<Process>>,
    pub server_flags: Vec<String>,
    /// c1 and c2.
    pub controllers: Vec<Option<Process>>,
    pub proxy: Process,
}

pub fn stack(partitions: u32, rf: u32, mode: &str) -> Stack {
    stack_with(partitions, rf, mode, &[])
}

/// A [`stack`] whose servers run with extra flags.
pub fn stack_with(partitions: u32, rf: u32, mode: &str, server_flags: &[&str]) -> Stack {
    let cluster = Cluster::with(partitions, rf, &["--replication-mode", mode]);
    let etcd = format!("127.0.0.1:{}", cluster.etcd.port);
    let links = NODES.iter().map(|_| FaultProxy::start(&etcd)).collect();
    Stack::start_all(cluster, links, server_flags, partitions, rf)
}

impl Stack {
    /// Servers (reaching etcd through `links`, or directly without), then two controllers
    /// (so the first placement sees every server), and once every partition is in sync, a
    /// proxy.
    pub fn start_all(
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
    pub fn start(&mut self, index: usize) {
        let flags: Vec<&str> = self.server_flags.iter().map(String::as_str).collect();
        self.servers[index] = Some(start_server(&self.cluster, &self.links, &flags, index));
    }
}

/// The server NODES[index], reaching etcd through its link when it has one.
pub fn start_server(
    cluster: &Cluster,
    links: &[FaultProxy],
    flags: &[&str],
    index: usize,
) -> Process {
    let endpoint = match links.get(index) {
        Some(link) => link.endpoint(),
        None => cluster.endpoint.clone(),
    };
    cluster.server_with(NODES[index], &endpoint, flags)
}

/// A leader fault under load: writers run, `fault` hits the leader of partition 0 (given its
/// index in NODES), and once its partitions have new leaders `recover` runs; writing goes on
/// for a while after. Returns what the writers saw and how long the takeover took.
pub fn leader_fault(
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
pub fn new_leaders(cluster: &Cluster, victim: &str) -> Duration {
    cluster.wait_for("new leaders", Duration::from_secs(TTL + 8), |s| {
        partition_records(s)
            .iter()
            .all(|p| p["leader"].is_string() && p["leader"] != victim)
    })
}

/// Sends `args` until it answers OK, for at most `within` (writes waiting out a change).
pub fn until_ok(conn: &mut Conn, args: &[&str], within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while conn.call(args) != Frame::Simple("OK".into()) {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes 30 MB (300 values of 100 KB) under `keys`: more than a replication stream's socket
/// buffers and a small backlog hold.
pub fn write_bulk(conn: &mut Conn, keys: impl Iterator<Item = String>) {
    let value = "x".repeat(100_000);
    for key in keys.take(300) {
        assert_eq!(
            conn.call(&["SET", &key, &value]),
            Frame::Simple("OK".into())
        );
    }
}

/// Two servers, n1 and n2, under one controller, every partition in sync, and a proxy.
pub struct Pair {
    pub cluster: Cluster,
    pub servers: Vec<Option<Process>>,
    pub _controller: Process,
    pub proxy: Process,
}

pub fn pair(partitions: u32, init_flags: &[&str]) -> Pair {
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
pub fn signal(server: &Process, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

/// Keys of partition `pid`, found by its slot range.
pub fn keys_of_partition(cluster: &Cluster, pid: usize) -> impl Iterator<Item = String> {
    let state = cluster.status();
    let slots = &partition_records(&state)[pid]["slots"][0];
    let (low, high) = (slots[0].as_u64(), slots[1].as_u64());
    (0..).map(|i| format!("probe:{i}")).filter(move |key| {
        let slot = Some(u64::from(slotcache_protocol::slot::key_slot(
            key.as_bytes(),
        )));
        low <= slot && slot <= high
    })
}

/// The rest of the line of `INFO <section>` that starts with `prefix`.
pub fn info_line(server: &Process, section: &str, prefix: &str) -> Option<String> {
    let Frame::Bulk(info) = server.connect().call(&["INFO", section]) else {
        panic!("INFO {section}")
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|line| line.strip_prefix(prefix).map(str::to_string))
}

/// A compare-and-set in Lua: 1 when the key held ARGV[1] and now holds ARGV[2], else 0.
const CAS: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                   redis.call('set', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// A client reading, writing and compare-and-setting `keys` through `url` until stopped,
/// recording each operation's call and return times (ns since `base`).
pub fn register_client(
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
