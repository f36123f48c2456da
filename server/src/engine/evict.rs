//! `maxmemory` eviction's parts that work on one keyspace: Redis's policies, sampling scored
//! candidates, re-scoring one, and evicting it. The pool of the best candidates across every
//! keyspace a server leads, and when to evict, are the server's (`crate::eviction`).

use super::Keyspace;
use bytes::Bytes;
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

/// Samples `samples` keys of every database of `ks` that `policy` may evict, scored (Redis's
/// `evictionPoolPopulate` for one keyspace). Under the random policies the score is random.
pub fn sample(
    ks: &Keyspace,
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
    for (db, keys) in ks.dbs.iter().enumerate() {
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
pub fn rescore(ks: &Keyspace, policy: Policy, candidate: &Candidate, now: i64) -> Option<u64> {
    let db = ks.dbs.get(candidate.db)?;
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

/// Evicts one key: deleted, counted, and recorded as a DEL for the copies that follow.
pub fn evict_key(ks: &mut Keyspace, db: usize, key: Vec<u8>, now: i64) -> bool {
    if ks.dbs[db].remove(&key).is_none() {
        return false;
    }
    ks.dbs[db].stats.evicted_keys += 1;
    let effect = vec![Bytes::from_static(b"DEL"), Bytes::from(key)];
    ks.log.record(now, db, effect);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Value;

    #[test]
    fn scores_idle_keys_higher_and_volatile_policies_see_only_keys_with_a_ttl() {
        let mut ks = Keyspace::new(1);
        ks.dbs[0].set(b"old", Value::Int(1), 0);
        ks.dbs[0].set(b"new", Value::Int(2), 3_600_000);
        let mut rng = rand::rng();
        let found = sample(&ks, Policy::AllKeysLru, 5, 3_600_000, &mut rng);
        let score_of = |key: &[u8]| found.iter().find(|c| c.key == key).map(|c| c.score);
        assert!(score_of(b"old") > score_of(b"new"), "{found:?}");
        assert!(sample(&ks, Policy::VolatileLru, 5, 3_600_000, &mut rng).is_empty());
        assert!(sample(&ks, Policy::NoEviction, 5, 3_600_000, &mut rng).is_empty());
        let old = found
            .iter()
            .find(|c| c.key == b"old")
            .cloned()
            .expect("sampled");
        assert!(rescore(&ks, Policy::VolatileLru, &old, 3_600_000).is_none());
        assert!(evict_key(&mut ks, 0, b"old".to_vec(), 3_600_000));
        assert!(rescore(&ks, Policy::AllKeysLru, &old, 3_600_000).is_none());
        assert!(!evict_key(&mut ks, 0, b"old".to_vec(), 3_600_000));
        assert_eq!(ks.dbs[0].stats.evicted_keys, 1);
    }
}
