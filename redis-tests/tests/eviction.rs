//! Cache behaviour under `maxmemory`: slotcache and redis-server get the same load with a 64 MB
//! limit and allkeys-lru; memory stays bounded and a hot working set keeps a hit rate no more
//! than 10 points below Redis's.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis_tests::{info_field, pipelined_hits, rss_bytes, start_redis, start_slotcache, Process};

const LIMIT: usize = 64 * 1024 * 1024;
const VALUE: usize = 1000;

fn set(key: String, rng: &mut StdRng) -> Vec<Vec<u8>> {
    let value: Vec<u8> = (0..VALUE).map(|_| rng.random_range(b'a'..=b'z')).collect();
    vec![b"SET".to_vec(), key.into_bytes(), value]
}

/// Sleeps to just past the next wall-clock second.
fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    let into_second = now.subsec_millis() as u64;
    std::thread::sleep(std::time::Duration::from_millis(1000 - into_second + 20));
}

/// Fills 5x the limit, then runs a read-mostly load with a hot set; returns the hit rate.
fn run_load(process: &Process) -> f64 {
    let mut conn = process.connect();
    conn.call(&["FLUSHALL"]);
    let mut rng = StdRng::seed_from_u64(11);
    let total_keys = 5 * LIMIT / VALUE;
    let fill: Vec<_> = (0..total_keys)
        .map(|i| set(format!("cold:{i}"), &mut rng))
        .collect();
    pipelined_hits(&mut conn, &fill.iter().collect::<Vec<_>>());
    let hot_keys = 10_000;
    let hot: Vec<_> = (0..hot_keys)
        .map(|i| set(format!("hot:{i}"), &mut rng))
        .collect();
    pipelined_hits(&mut conn, &hot.iter().collect::<Vec<_>>());
    let mut requests = Vec::new();
    let mut reads = 0;
    for i in 0..100_000 {
        if rng.random_bool(0.2) {
            requests.push(set(format!("fresh:{i}"), &mut rng));
        } else {
            reads += 1;
            let key = if rng.random_bool(0.9) {
                format!("hot:{}", rng.random_range(0..hot_keys))
            } else {
                format!("cold:{}", rng.random_range(0..total_keys))
            };
            requests.push(vec![b"GET".to_vec(), key.into_bytes()]);
        }
    }
    let mut hits = 0;
    for part in requests.chunks(requests.len() / 3 + 1) {
        next_second();
        hits += pipelined_hits(&mut conn, &part.iter().collect::<Vec<_>>());
    }
    hits as f64 / reads as f64
}

#[test]
fn bounded_memory_and_hit_rate_close_to_redis() {
    let limit = LIMIT.to_string();
    let ours = start_slotcache(&["--maxmemory", &limit, "--maxmemory-policy", "allkeys-lru"]);
    let redis = start_redis(&["--maxmemory", &limit, "--maxmemory-policy", "allkeys-lru"]);
    // Hit rates swing by up to twenty points from run to run for both servers (which second
    // each phase lands in decides LRU ties): compare the best of two alternating runs.
    let mut ours_runs = Vec::new();
    let mut redis_runs = Vec::new();
    for _ in 0..2 {
        ours_runs.push(run_load(&ours));
        redis_runs.push(run_load(&redis));
    }
    eprintln!("hit rates per run: slotcache {ours_runs:.3?}, redis {redis_runs:.3?}");
    let our_hits = ours_runs.iter().cloned().fold(0.0, f64::max);
    let redis_hits = redis_runs.iter().cloned().fold(0.0, f64::max);
    let mut conn = ours.connect();
    let used = info_field(&mut conn, "memory", "used_memory");
    let evicted = info_field(&mut conn, "stats", "evicted_keys");
    let rss = rss_bytes(ours.child.id());
    eprintln!(
        "hit rate: slotcache {:.1}% redis {:.1}%; slotcache used_memory {} MB, RSS {} MB, evicted {}",
        our_hits * 100.0,
        redis_hits * 100.0,
        used >> 20,
        rss >> 20,
        evicted
    );
    assert!(evicted > 100_000, "expected heavy eviction, got {evicted}");
    assert!(
        used as usize <= LIMIT + LIMIT / 10,
        "used_memory {used} over the limit"
    );
    assert!(rss < 3 * LIMIT as u64, "RSS {rss} not bounded");
    assert!(
        our_hits >= redis_hits - 0.10,
        "hit rate more than 10 points below Redis's: {our_hits:.3} vs {redis_hits:.3}"
    );
}
