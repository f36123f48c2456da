//! `maxmemory` eviction's parts that work on one keyspace: Redis's policies, sampling scored
//! candidates, re-scoring one, and evicting it. The pool of the best candidates across every
//! keyspace a server leads, and when to evict, are the server's (`crate::eviction`).

use super::Db;
use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// From the `maxmemory-policy` name (validated by CONFIG).
    pub fn from_name(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

/// How good a victim an entry is under `policy`: the higher, the sooner it goes.
fn score(policy: Policy, entry: &super::Entry, deadline: Option<i64>, now: i64) -> u64 {
    match policy {
        Policy::AllKeysLfu | Policy::VolatileLfu => 255 - entry.frequency(now) as u64,
        Policy::VolatileTtl => u64::MAX - deadline.unwrap_or(i64::MAX) as u64,
        _ => entry.idle_ticks(now),
    }
}

/// A key that may be evicted, with how good a victim it was when looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub score: u64,
    pub db: usize,
    pub key: Vec<u8>,
}

/// Samples `samples` keys of every database of `dbs` that `policy` may evict, scored (Redis's
/// `evictionPoolPopulate` for one partition). Under the random policies the score is random.
pub fn sample(
    dbs: &[Db],
    policy: Policy,
    samples: usize,
    now: i64,
    rng: &mut impl Rng,
) -> Vec<Candidate> {
    if policy == Policy::NoEviction {
        return Vec::new();
    }
    let volatile = policy.volatile_only();
    let random = matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom);
    let mut found = Vec::new();
    for (db, keys) in dbs.iter().enumerate() {
        for (key, entry, deadline) in keys.sample_for_eviction(rng, samples, volatile) {
            let score = match random {
                true => rng.random(),
                false => score(policy, entry, deadline, now),
            };
            found.push(Candidate { score, db, key });
        }
    }
    found
}

/// A candidate's score now: None once it is gone (or lost the TTL a volatile policy needs).
/// Re-scoring at the pick keeps a key touched since it was sampled from being evicted on a
/// stale score.
pub fn rescore(dbs: &[Db], policy: Policy, candidate: &Candidate, now: i64) -> Option<u64> {
    let db = dbs.get(candidate.db)?;
    let deadline = db.deadline(&candidate.key);
    if policy.volatile_only() && deadline.is_none() {
        return None;
    }
    let entry = db.peek_entry(&candidate.key)?;
    Some(match policy {
        Policy::AllKeysRandom | Policy::VolatileRandom => candidate.score,
        _ => score(policy, entry, deadline, now),
    })
}
