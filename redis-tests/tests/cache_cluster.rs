//! A cache in a cluster: 3 shard servers at RF 2 with `maxmemory` 64 MB and allkeys-lru each,
//! behind a proxy, and a Redis Cluster of 3 masters and 3 replicas with the same limit, get
//! the same load: keys over every slot, 5 times what the masters may hold, then a skewed,
//! read-mostly load with a hot set. No write is refused (eviction reaches every partition a
//! server leads), the hit rate is compared, INFO counts the evictions and keys through the
//! proxy, and every partition's copies are identical afterwards.

use redis_tests::cluster::{names, partition_records, Cluster};
use redis_tests::{info_field, pipelined_hits, redis_cli, start_redis, Conn, Frame, Process};
use slotcache_cluster::key_slot;
use std::time::{Duration, Instant};

const LIMIT: usize = 64 * 1024 * 1024;
const VALUE: usize = 1000;
const MASTERS: usize = 3;
const PARTITIONS: usize = 16;
const NODES: [&str; 3] = ["n1", "n2", "n3"];

type Request = Vec<Vec<u8>>;

fn set(key: &str) -> Request {
    let mut value = key.as_bytes().to_vec();
    value.resize(VALUE, b'v');
    vec![b"SET".to_vec(), key.as_bytes().to_vec(), value]
}

fn get(key: &str) -> Request {
    vec![b"GET".to_vec(), key.as_bytes().to_vec()]
}

/// Where requests go: one proxy, or the Redis Cluster's masters by slot.
enum Target {
    Proxy(Conn),
    RedisCluster {
        masters: Vec<Conn>,
        owner: Vec<usize>,
    },
}

impl Target {
    /// Runs the requests; how many reads hit.
    fn run(&mut self, requests: &[Request]) -> usize {
        match self {
            Target::Proxy(conn) => pipelined_hits(conn, &requests.iter().collect::<Vec<_>>()),
            Target::RedisCluster { masters, owner } => {
                let mut groups: Vec<Vec<&Request>> = vec![Vec::new(); masters.len()];
                for request in requests {
                    groups[owner[key_slot(&request[1]) as usize]].push(request);
                }
                masters
                    .iter_mut()
                    .zip(groups)
                    .map(|(conn, group)| pipelined_hits(conn, &group))
                    .sum()
            }
        }
    }
}

/// Fills 5 times the masters' memory over every slot, then runs a read-mostly load with a
/// hot set (90% of reads; a fifth of requests write fresh keys); returns the hit rate.
fn run_load(target: &mut Target) -> f64 {
    let total_keys = 5 * MASTERS * LIMIT / VALUE;
    let hot_keys = 20_000;
    for start in (0..total_keys).step_by(10_000) {
        let fill: Vec<Request> = (start..(start + 10_000).min(total_keys))
            .map(|i| set(&format!("cold:{i}")))
            .collect();
        target.run(&fill);
    }
    let hot: Vec<Request> = (0..hot_keys).map(|i| set(&format!("hot:{i}"))).collect();
    target.run(&hot);
    // A fixed pseudo-random sequence, the same for both targets.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    let (mut reads, mut hits) = (0, 0);
    for round in 0..3 {
        // LRU clocks tick in seconds: each round starts in a fresh one, for both targets.
        std::thread::sleep(Duration::from_millis(1100));
        let requests: Vec<Request> = (0..60_000)
            .map(|i| match next(10) {
                0 | 1 => set(&format!("fresh:{round}:{i}")),
                _ => {
                    reads += 1;
                    match next(10) {
                        0 => get(&format!("cold:{}", next(total_keys))),
                        _ => get(&format!("hot:{}", next(hot_keys))),
                    }
                }
            })
            .collect();
        hits += target.run(&requests);
    }
    hits as f64 / reads as f64
}

/// 6 cluster-enabled redis-servers, joined by `redis-cli --cluster create` as 3 masters with
/// a replica each; the masters' connections and which master owns each slot.
fn redis_cluster(limit: &str) -> (Vec<Process>, Target) {
    let nodes: Vec<Process> = (0..2 * MASTERS)
        .map(|_| {
            start_redis(&[
                "--cluster-enabled",
                "yes",
                "--maxmemory",
                limit,
                "--maxmemory-policy",
                "allkeys-lru",
            ])
        })
        .collect();
    let addrs: Vec<String> = nodes.iter().map(Process::addr).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    redis_cli(nodes[0].port, &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !nodes
        .iter()
        .all(|n| redis_cli(n.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    {
        assert!(Instant::now() < deadline, "the Redis Cluster never formed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let Frame::Array(ranges) = nodes[0].connect().call(&["CLUSTER", "SLOTS"]) else {
        panic!("CLUSTER SLOTS")
    };
    let mut owner = vec![0; 16384];
    let mut ports = Vec::new();
    for range in ranges {
        let Frame::Array(fields) = range else {
            panic!("slot range")
        };
        let (Some(Frame::Int(from)), Some(Frame::Int(to)), Some(Frame::Array(master))) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            panic!("slot range {fields:?}")
        };
        let Some(Frame::Int(port)) = master.get(1) else {
            panic!("master {master:?}")
        };
        let index = ports.iter().position(|p| p == port).unwrap_or_else(|| {
            ports.push(*port);
            ports.len() - 1
        });
        owner[*from as usize..=*to as usize].fill(index);
    }
    let masters = ports.iter().map(|p| Conn::connect(*p as u16)).collect();
    (nodes, Target::RedisCluster { masters, owner })
}

/// Every partition's copies, leader and follower, have the same CLUSTER DIGEST.
fn copies_identical(cluster: &Cluster, servers: &[Process]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    'again: loop {
        assert!(Instant::now() < deadline, "copies never converged");
        let state = cluster.status();
        for (pid, record) in partition_records(&state).iter().enumerate() {
            let digests: Vec<Frame> = names(&record["replicas"])
                .iter()
                .filter_map(|node| NODES.iter().position(|n| n == node))
                .map(|i| {
                    servers[i]
                        .connect()
                        .call(&["CLUSTER", "DIGEST", &pid.to_string()])
                })
                .collect();
            if digests.len() != 2 || digests[0] != digests[1] {
                std::thread::sleep(Duration::from_millis(200));
                continue 'again;
            }
        }
        return;
    }
}

/// Keys with a TTL over every slot expire, and INFO counts each once, on the server leading
/// its partition (a follower's own expirations repeat its leader's) and through the proxy.
fn expirations_count_once(proxy: &Process, servers: &[Process]) {
    const VOLATILE: usize = 3000;
    let mut conn = proxy.connect();
    let requests: Vec<Request> = (0..VOLATILE)
        .map(|i| {
            let mut request = set(&format!("volatile:{i}"));
            request.extend([b"PX".to_vec(), b"200".to_vec()]);
            request
        })
        .collect();
    pipelined_hits(&mut conn, &requests.iter().collect::<Vec<_>>());
    assert_eq!(info_field(&mut conn, "keyspace", "db0"), VOLATILE as u64);
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut conn, "stats", "expired_keys") < VOLATILE as u64 {
        assert!(Instant::now() < deadline, "the keys never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Followers finish their own sweep by the leader's clock, which must not count.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        info_field(&mut conn, "stats", "expired_keys"),
        VOLATILE as u64
    );
    let by_server: u64 = servers
        .iter()
        .map(|s| info_field(&mut s.connect(), "stats", "expired_keys"))
        .sum();
    assert_eq!(by_server, VOLATILE as u64);
    let Frame::Bulk(keyspace) = conn.call(&["INFO", "keyspace"]) else {
        panic!("INFO keyspace")
    };
    assert_eq!(String::from_utf8_lossy(&keyspace), "# Keyspace\r\n");
}

#[test]
fn evicts_across_partitions_with_a_hit_rate_like_redis_clusters() {
    let limit = LIMIT.to_string();
    let cluster = Cluster::new(PARTITIONS as u32, 2);
    let extra = ["--maxmemory", &limit, "--maxmemory-policy", "allkeys-lru"];
    let servers: Vec<Process> = NODES
        .iter()
        .map(|n| cluster.server_with(n, &cluster.endpoint, &extra))
        .collect();
    let _controller = cluster.controller("c1");
    cluster.wait_in_sync(PARTITIONS, 2);
    let proxy = cluster.proxy(&[]);
    expirations_count_once(&proxy, &servers);
    let mut ours = Target::Proxy(proxy.connect());
    let started = Instant::now();
    let our_hits = run_load(&mut ours);
    let ours_took = started.elapsed();
    let (_redis_nodes, mut theirs) = redis_cluster(&limit);
    let started = Instant::now();
    let redis_hits = run_load(&mut theirs);
    let redis_took = started.elapsed();
    let Target::RedisCluster { masters, .. } = &mut theirs else {
        unreachable!()
    };
    let redis_keys: u64 = masters
        .iter_mut()
        .map(|m| info_field(m, "keyspace", "db0"))
        .sum();
    let mut conn = proxy.connect();
    let evicted = info_field(&mut conn, "stats", "evicted_keys");
    let keys = info_field(&mut conn, "keyspace", "db0");
    eprintln!(
        "hit rate: slotcache {:.2}% ({ours_took:.1?}), Redis Cluster {:.2}% ({redis_took:.1?}); keys held: slotcache {keys}, Redis Cluster {redis_keys}; through the proxy: evicted_keys {evicted}",
        our_hits * 100.0,
        redis_hits * 100.0,
    );
    for server in &servers {
        let mut conn = server.connect();
        let used = info_field(&mut conn, "memory", "used_memory");
        let not_counted = info_field(&mut conn, "memory", "mem_not_counted_for_evict");
        let evicted_here = info_field(&mut conn, "stats", "evicted_keys");
        eprintln!(
            "server {}: used_memory {} MB, not counted {} MB, evicted {evicted_here}",
            server.port,
            used >> 20,
            not_counted >> 20
        );
        assert!(
            evicted_here > 10_000,
            "server {} evicted {evicted_here}",
            server.port
        );
        assert!(
            (used - not_counted) as usize <= LIMIT + LIMIT / 10,
            "server {} holds {used} - {not_counted} counted bytes",
            server.port
        );
    }
    // About 36,000 fresh keys join the fill and the hot set: every key is either held once
    // or was evicted once.
    let written = (5 * MASTERS * LIMIT / VALUE + 20_000 + 36_000) as u64;
    assert!(evicted > written / 2, "evicted_keys {evicted} of {written}");
    assert!(keys > 50_000, "keys {keys}");
    assert!(
        (keys + evicted).abs_diff(written) < written / 100,
        "keys {keys} + evicted {evicted} against {written} written"
    );
    copies_identical(&cluster, &servers);
    // The same memory holds at least as many keys as Redis Cluster's masters do, so the hit
    // rate is at least theirs, but for the sampling noise of approximate LRU on both sides.
    assert!(
        keys >= redis_keys,
        "slotcache holds {keys} keys in the memory where Redis Cluster holds {redis_keys}"
    );
    assert!(
        our_hits >= redis_hits - 0.005,
        "hit rate below Redis Cluster's: {our_hits:.4} vs {redis_hits:.4}"
    );
}
