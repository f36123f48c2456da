//! `maxmemory` over everything a server leads. A write that finds the server over its limit
//! evicts until it is not: candidates are sampled from the partition the write addresses and
//! from a few other led partitions chosen at random, into one pool of the best victims seen so
//! far (Redis's eviction pool, across partitions as Redis's is across databases), and the best
//! one still there is evicted, whichever partition holds it. So a cache refuses a write under
//! an `allkeys-*` policy only when no partition it leads has anything left to evict.
//!
//! What counts against `maxmemory` is what the process holds, less the replication backlogs
//! and less the follower copies' share of the data: a follower mirrors its leader and evicts
//! only through the leader's deletes (Redis's `replica-ignore-maxmemory`), so it leaves this
//! server's own budget to the partitions it leads, as a Redis Cluster replica is a process
//! with a budget of its own. A server at RF r therefore holds up to about r times
//! `maxmemory` of data in all.

use crate::engine::evict::{rescore, sample, Candidate, Policy};
use crate::memory::used_memory;
use crate::partition::{Keyspace, SharedKeyspace, STANDALONE_PARTITION};
use crate::replication::log::{backlogs_bytes, Role};
use crate::state::Server;
use parking_lot::Mutex;
use rand::seq::IndexedRandom;
use std::sync::atomic::{AtomicU64, Ordering};

/// Pool size, as Redis's EVPOOL_SIZE.
const POOL: usize = 16;
/// Led partitions sampled per round besides the one the write addresses.
const OTHERS_PER_ROUND: usize = 3;
/// Rounds that evict nothing (every candidate gone by the time it was picked) before giving up.
const FRUITLESS_ROUNDS: usize = 64;
const MILLION: u64 = 1_000_000;

#[derive(Clone)]
struct Pooled {
    partition: u32,
    candidate: Candidate,
}

/// The server's eviction state.
pub struct Evictor {
    pool: Mutex<Vec<Pooled>>,
    /// The share of the keys held as follower copies, in millionths, as last measured.
    follower_share: AtomicU64,
    /// Memory in use before any data: not part of what followers hold.
    baseline: usize,
}

/// Whether eviction may delete from this copy: only a leader writes (a follower's keys go
/// with its leader's deletes), and not while it hands its partition over.
fn evictable(ks: &Keyspace) -> bool {
    match ks.log.role() {
        Role::Standalone => true,
        Role::Leader => !ks.log.handing_over(),
        _ => false,
    }
}

/// What picking a candidate came to.
enum Pick {
    Evicted,
    /// Gone, or its partition busy or no longer led.
    Dropped,
    /// Touched since it was sampled: back into the pool with this score.
    Demoted(u64),
}

fn pick(ks: &mut Keyspace, policy: Policy, entry: &Pooled, runner_up: u64, now: i64) -> Pick {
    if !evictable(ks) {
        return Pick::Dropped;
    }
    match rescore(&ks.dbs, policy, &entry.candidate, now) {
        None => Pick::Dropped,
        Some(score) if score < runner_up => Pick::Demoted(score),
        Some(_) => match ks.evict(entry.candidate.db, entry.candidate.key.clone(), now) {
            true => Pick::Evicted,
            false => Pick::Dropped,
        },
    }
}

impl Evictor {
    pub fn new() -> Evictor {
        Evictor {
            pool: Mutex::new(Vec::new()),
            follower_share: AtomicU64::new(0),
            baseline: used_memory(),
        }
    }

    /// The memory `maxmemory` bounds: see the module's comment.
    pub fn counted_memory(&self) -> usize {
        let used = used_memory();
        used - self.not_counted(used)
    }

    /// INFO's `mem_not_counted_for_evict`: the backlogs and the follower copies' share.
    pub fn not_counted(&self, used: usize) -> usize {
        let backlogs = backlogs_bytes().min(used);
        let data = used.saturating_sub(backlogs + self.baseline) as u64;
        let followers = data * self.follower_share.load(Ordering::Relaxed) / MILLION;
        backlogs + followers as usize
    }

    /// Measures the share of keys held as follower copies (the expiry cycle calls it; a copy
    /// whose lock is busy is left out of this measure).
    pub fn measure_followers(&self, copies: &[(u32, SharedKeyspace)]) {
        let (mut followers, mut all) = (0u64, 0u64);
        for (_, keyspace) in copies {
            let Some(ks) = keyspace.try_lock() else {
                continue;
            };
            let keys: u64 = ks.dbs.iter().map(|db| db.len() as u64).sum();
            all += keys;
            if !matches!(ks.log.role(), Role::Standalone | Role::Leader) {
                followers += keys;
            }
        }
        let share = (followers * MILLION).checked_div(all).unwrap_or(0);
        self.follower_share.store(share, Ordering::Relaxed);
    }

    /// Evicts until the counted memory is at most `limit`; false when it had to stop over it
    /// (nothing left that `policy` may evict). `ks` is the locked keyspace of `current`;
    /// other partitions are only ever tried, never waited for, so two writers evicting at
    /// once cannot deadlock.
    #[allow(clippy::too_many_arguments)]
    pub fn make_room(
        &self,
        server: &Server,
        current: u32,
        ks: &mut Keyspace,
        policy: Policy,
        samples: usize,
        limit: usize,
        now: i64,
    ) -> bool {
        if policy == Policy::NoEviction {
            return self.counted_memory() <= limit;
        }
        let others: Vec<(u32, SharedKeyspace)> = server
            .engine
            .all()
            .into_iter()
            .filter(|(pid, _)| *pid != current && *pid != STANDALONE_PARTITION)
            .collect();
        let mut rng = rand::rng();
        let mut fruitless = 0;
        while self.counted_memory() > limit {
            let mut pool = self.pool.lock();
            let mut add = |partition: u32, found: Vec<Candidate>| {
                for candidate in found {
                    let known = pool.iter().any(|p| {
                        p.partition == partition
                            && p.candidate.db == candidate.db
                            && p.candidate.key == candidate.key
                    });
                    if !known {
                        pool.push(Pooled {
                            partition,
                            candidate,
                        });
                    }
                }
            };
            if evictable(ks) {
                add(current, sample(&ks.dbs, policy, samples, now, &mut rng));
            }
            for (pid, keyspace) in others.choose_multiple(&mut rng, OTHERS_PER_ROUND) {
                if let Some(other) = keyspace.try_lock() {
                    if evictable(&other) {
                        add(*pid, sample(&other.dbs, policy, samples, now, &mut rng));
                    }
                }
            }
            pool.sort_by_key(|p| std::cmp::Reverse(p.candidate.score));
            pool.truncate(POOL);
            if pool.is_empty() {
                return false;
            }
            let mut evicted = false;
            while !evicted && !pool.is_empty() {
                let best = pool.remove(0);
                let runner_up = pool.first().map_or(0, |p| p.candidate.score);
                let outcome = if best.partition == current {
                    pick(ks, policy, &best, runner_up, now)
                } else {
                    match others.iter().find(|(pid, _)| *pid == best.partition) {
                        Some((_, keyspace)) => match keyspace.try_lock() {
                            Some(mut other) => pick(&mut other, policy, &best, runner_up, now),
                            None => Pick::Dropped,
                        },
                        None => Pick::Dropped,
                    }
                };
                match outcome {
                    Pick::Evicted => evicted = true,
                    Pick::Dropped => {}
                    Pick::Demoted(score) => {
                        let mut demoted = best;
                        demoted.candidate.score = score;
                        let at = pool.partition_point(|p| p.candidate.score >= score);
                        pool.insert(at, demoted);
                    }
                }
            }
            if evicted {
                fruitless = 0;
            } else {
                fruitless += 1;
                if fruitless >= FRUITLESS_ROUNDS {
                    return false;
                }
            }
        }
        true
    }
}

impl Default for Evictor {
    fn default() -> Self {
        Self::new()
    }
}
