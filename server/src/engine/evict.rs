//! `maxmemory` eviction with Redis's policies and its sampled approximation: each round samples
//! `maxmemory-samples` keys per database into a pool of the best candidates seen so far, and
//! evicts the best one still present.

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

/// Pool size, as Redis's EVPOOL_SIZE.
const POOL: usize = 16;

/// How good a victim an entry is under `policy`: the higher, the sooner it goes.
fn score(policy: Policy, entry: &super::Entry, deadline: Option<i64>, now: i64) -> u64 {
    match policy {
        Policy::AllKeysLfu | Policy::VolatileLfu => 255 - entry.frequency(now) as u64,
        Policy::VolatileTtl => u64::MAX - deadline.unwrap_or(i64::MAX) as u64,
        _ => entry.idle_ticks(now),
    }
}

/// Evicts until `used` (memory in use, given the keyspace) is at most `limit`. Returns false
/// when it had to stop over the limit (nothing left that the policy may evict). The pool of
/// candidates lives in the keyspace across calls, as Redis's does, and is re-scored at every
/// pick so a key touched since it was sampled is not evicted on a stale score.
pub fn evict(
    ks: &mut Keyspace,
    policy: Policy,
    samples: usize,
    limit: usize,
    now: i64,
    used: impl Fn(&Keyspace) -> usize,
) -> bool {
    if policy == Policy::NoEviction {
        return used(ks) <= limit;
    }
    let mut rng = rand::rng();
    let volatile = policy.volatile_only();
    while used(ks) > limit {
        let victim = if matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom) {
            random_victim(ks, volatile, &mut rng)
        } else {
            let mut pool = std::mem::take(&mut ks.evict_pool);
            for (index, db) in ks.dbs.iter().enumerate() {
                for (key, _, _) in db.sample_for_eviction(&mut rng, samples, volatile) {
                    if !pool.iter().any(|(d, k)| *d == index && *k == key) {
                        pool.push((index, key));
                    }
                }
            }
            let mut scored: Vec<(u64, usize, Vec<u8>)> = pool
                .into_iter()
                .filter_map(|(db, key)| {
                    let deadline = ks.dbs[db].deadline(&key);
                    if volatile && deadline.is_none() {
                        return None;
                    }
                    let entry = ks.dbs[db].peek_entry(&key)?;
                    Some((score(policy, entry, deadline, now), db, key))
                })
                .collect();
            scored.sort_by_key(|candidate| std::cmp::Reverse(candidate.0));
            scored.truncate(POOL);
            let best = (!scored.is_empty()).then(|| scored.remove(0));
            ks.evict_pool = scored.into_iter().map(|(_, db, key)| (db, key)).collect();
            best.map(|(_, db, key)| (db, key))
        };
        let Some((db, key)) = victim else {
            return false;
        };
        if ks.dbs[db].remove(&key).is_some() {
            ks.dbs[db].stats.evicted_keys += 1;
            let effect = vec![Bytes::from_static(b"DEL"), Bytes::from(key)];
            ks.log.record(now, db, effect);
        }
    }
    true
}

fn random_victim(ks: &Keyspace, volatile: bool, rng: &mut impl Rng) -> Option<(usize, Vec<u8>)> {
    let candidates: Vec<usize> = (0..ks.dbs.len())
        .filter(|&i| {
            if volatile {
                ks.dbs[i].volatile_len() > 0
            } else {
                !ks.dbs[i].is_empty()
            }
        })
        .collect();
    let db = *candidates.get(rng.random_range(0..candidates.len().max(1)))?;
    let (key, _, _) = ks.dbs[db]
        .sample_for_eviction(rng, 1, volatile)
        .into_iter()
        .next()?;
    Some((db, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Value;

    #[test]
    fn evicts_idle_keys_first_and_respects_volatile() {
        let mut ks = Keyspace::new(1);
        let db = &mut ks.dbs[0];
        for i in 0..1000 {
            db.set(format!("old{i}").as_bytes(), Value::Int(i), 0);
        }
        for i in 0..1000 {
            db.set(format!("new{i}").as_bytes(), Value::Int(i), 3_600_000);
        }
        let before = ks.dbs[0].len();
        // "Memory" here is the key count; evict 500 keys under LRU.
        let used = |ks: &Keyspace| ks.dbs[0].len();
        assert!(evict(
            &mut ks,
            Policy::AllKeysLru,
            5,
            before - 500,
            3_600_000,
            used
        ));
        let recent_left = (0..1000)
            .filter(|i| ks.dbs[0].contains(format!("new{i}").as_bytes(), 3_600_000))
            .count();
        assert!(
            recent_left > 900,
            "LRU should evict idle keys, {recent_left} recent left"
        );
        // No key has a TTL: a volatile policy cannot make room.
        assert!(!evict(&mut ks, Policy::VolatileLru, 5, 0, 3_600_000, used));
        assert_eq!(ks.dbs[0].stats.evicted_keys, 500);
    }
}
