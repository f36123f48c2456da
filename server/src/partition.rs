//! A partition as this server hosts it: its databases (the engine's), the clients blocked on
//! its keys, and its replication log, locked together so that a command, the waiters it wakes
//! and the writes it records are one step. Standalone mode hosts one partition with 16
//! databases; in a cluster every partition has database 0 only, as a Redis Cluster node.

use crate::blocking::Waiters;
use crate::engine::capture::{self, StepBudget};
use crate::engine::{Db, DbStats};
use crate::replication::log::Log;
use ahash::AHashMap;
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// The id of the keyspace client connections use directly (standalone mode's only one); outside
/// the range of cluster partition ids (below 16384), so the two never meet.
pub const STANDALONE_PARTITION: u32 = u32::MAX;

/// The databases of one partition. Locked as a whole: a command (or a pipelined batch of them)
/// sees a consistent partition, and MOVE/SWAPDB can span its databases.
pub struct Keyspace {
    pub dbs: Vec<Db>,
    /// Clients blocked on keys of this keyspace.
    pub waiters: Waiters,
    /// The partition's replication log (writes are recorded while this copy leads).
    pub log: Log,
    /// Commands run on this copy, for its metrics.
    pub commands_run: u64,
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        Keyspace {
            dbs: (0..databases.max(1)).map(|_| Db::new()).collect(),
            waiters: Default::default(),
            log: Default::default(),
            commands_run: 0,
        }
    }

    /// SWAPDB: the contents trade places; watches stay with their index, all broken.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let first = self.dbs[a].take();
        let second = self.dbs[b].take();
        self.dbs[a].restore(second);
        self.dbs[b].restore(first);
    }

    /// Starts a snapshot of every database as it is now, taken by [`Keyspace::capture_step`]
    /// while writes go on. Returns its id, or None while another one is being taken (entries
    /// have room to mark one).
    pub fn begin_capture(&mut self) -> Option<u32> {
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        if self.dbs.iter().any(Db::capturing) {
            return None;
        }
        // 0 marks entries no capture saw.
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed).max(1);
        for db in &mut self.dbs {
            db.begin_capture(id);
        }
        Some(id)
    }

    /// One step of snapshot `id`, within `budget`: the copies made, per database, and
    /// whether the snapshot is complete (it then ends). None when it no longer runs.
    pub fn capture_step(&mut self, id: u32, mut budget: StepBudget) -> Option<CaptureStep> {
        let mut step = CaptureStep::default();
        let mut complete = true;
        for (index, db) in self.dbs.iter_mut().enumerate() {
            let mut copies = Vec::new();
            complete &= db.capture_step(id, &mut budget, &mut copies)?;
            if !copies.is_empty() {
                step.copies.push((index, copies));
            }
        }
        if complete {
            self.end_capture(id);
        }
        step.complete = complete;
        Some(step)
    }

    pub fn end_capture(&mut self, id: u32) {
        for db in &mut self.dbs {
            db.end_capture(id);
        }
    }

    /// Evicts one key: deleted, counted, and recorded as a DEL for the copies that follow.
    pub fn evict(&mut self, db: usize, key: Vec<u8>, now: i64) -> bool {
        if self.dbs[db]
            .expel(&key, crate::engine::db::Cause::Evicted)
            .is_none()
        {
            return false;
        }
        self.dbs[db].stats.evicted_keys += 1;
        let effect = vec![Bytes::from_static(b"DEL"), Bytes::from(key)];
        self.log.record(now, db, effect);
        true
    }

    /// Clears the counters, as a follower becomes leader: INFO counts what copies did as
    /// leaders, since a follower's own expirations repeat its leader's.
    pub fn reset_stats(&mut self) {
        self.dbs.iter_mut().for_each(|db| db.stats.reset());
    }

    pub fn stats(&self) -> DbStats {
        self.dbs.iter().fold(DbStats::default(), |mut acc, db| {
            acc.add(&db.stats);
            acc
        })
    }
}

/// What one step of a snapshot copied.
#[derive(Default, Debug)]
pub struct CaptureStep {
    /// Commands recreating keys, per database index.
    pub copies: Vec<(usize, Vec<capture::Copy>)>,
    /// Every key of the snapshot's moment is copied.
    pub complete: bool,
}

pub type SharedKeyspace = Arc<Mutex<Keyspace>>;

/// A keyspace's lock, as async code must take it: without parking the worker thread. A
/// script holds its keyspace's lock for as long as it runs, and workers parked on that lock
/// (a replication stream and its in-sync check did, on a 2-core server) leave none to answer
/// SCRIPT KILL, so the server hangs for good. Brief contention is waited out by yielding,
/// a long hold by looking again every millisecond.
pub async fn lock_yielding(
    keyspace: &SharedKeyspace,
) -> parking_lot::ArcMutexGuard<parking_lot::RawMutex, Keyspace> {
    let mut tries = 0u32;
    loop {
        if let Some(guard) = keyspace.try_lock_arc() {
            return guard;
        }
        tries += 1;
        match tries < 64 {
            true => tokio::task::yield_now().await,
            false => tokio::time::sleep(std::time::Duration::from_millis(1)).await,
        }
    }
}

/// Every keyspace this server hosts, by partition id.
pub struct Partitions {
    partitions: Mutex<AHashMap<u32, SharedKeyspace>>,
    databases: usize,
}

impl Partitions {
    pub fn new(databases: usize) -> Self {
        Partitions {
            partitions: Mutex::new(AHashMap::new()),
            databases,
        }
    }

    /// The keyspace of a partition, created empty on first use.
    pub fn open(&self, partition: u32) -> SharedKeyspace {
        self.partitions
            .lock()
            .entry(partition)
            .or_insert_with(|| Arc::new(Mutex::new(Keyspace::new(self.databases))))
            .clone()
    }

    /// The keyspace of a hosted partition.
    pub fn get(&self, partition: u32) -> Option<SharedKeyspace> {
        self.partitions.lock().get(&partition).cloned()
    }

    /// Stops hosting a partition (its data goes with it); the keyspace is returned so that
    /// whoever still holds it can be told.
    pub fn close(&self, partition: u32) -> Option<SharedKeyspace> {
        self.partitions.lock().remove(&partition)
    }

    /// Whether a partition is hosted here.
    pub fn hosts(&self, partition: u32) -> bool {
        self.partitions.lock().contains_key(&partition)
    }

    /// Every hosted keyspace, for INFO, the expiry cycle and FLUSHALL.
    pub fn all(&self) -> Vec<(u32, SharedKeyspace)> {
        let mut all: Vec<_> = self
            .partitions
            .lock()
            .iter()
            .map(|(id, ks)| (*id, ks.clone()))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }
}

#[cfg(test)]
mod capture_tests {
    use super::Keyspace;
    use crate::engine::capture::{Copy, StepBudget};
    use crate::engine::dump::serialize;
    use crate::engine::Value;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    /// Per database: key → (DUMP payload, deadline or 0).
    type Contents = Vec<BTreeMap<Vec<u8>, (Vec<u8>, i64)>>;

    fn contents(ks: &Keyspace) -> Contents {
        ks.dbs
            .iter()
            .map(|db| {
                db.keys()
                    .map(|(key, entry)| {
                        let payload = serialize(&entry.value);
                        (key.to_vec(), (payload, db.deadline(key).unwrap_or(0)))
                    })
                    .collect()
            })
            .collect()
    }

    /// What the copies recreate; a key copied twice is an error.
    fn rebuilt(databases: usize, copies: &[(usize, Vec<Copy>)]) -> Contents {
        let mut out: Contents = vec![BTreeMap::new(); databases];
        for (db, commands) in copies {
            for command in commands {
                assert_eq!(&command[0][..], b"RESTORE");
                let deadline = std::str::from_utf8(&command[2]).unwrap().parse().unwrap();
                let previous =
                    out[*db].insert(command[1].to_vec(), (command[3].to_vec(), deadline));
                assert!(previous.is_none(), "{:?} copied twice", command[1]);
            }
        }
        out
    }

    fn key(rng: &mut StdRng) -> Vec<u8> {
        format!("key:{}", rng.random_range(0..600)).into_bytes()
    }

    /// Writes of every kind, flushes and swaps between steps of a snapshot taken a few keys at
    /// a time: the copies are the databases as they were when it began, each key once.
    #[test]
    fn a_snapshot_taken_while_written_is_the_moment_it_began() {
        let mut total_steps = 0;
        for seed in 0..40 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut ks = Keyspace::new(2);
            for i in 0..300 {
                let db = &mut ks.dbs[i % 2];
                db.set(format!("key:{i}").as_bytes(), Value::Int(i as i64), 0);
                if i % 3 == 0 {
                    db.set_deadline(format!("key:{i}").as_bytes(), 1_000 + i as i64);
                }
            }
            // A second snapshot of the same keyspace meets entries the first one marked.
            for round in 0..2 {
                let moment = contents(&ks);
                let id = ks.begin_capture().expect("no other capture runs");
                assert!(ks.begin_capture().is_none(), "one capture at a time");
                let mut copies = Vec::new();
                let mut steps = 0;
                loop {
                    for _ in 0..rng.random_range(0..20) {
                        let key = key(&mut rng);
                        let db = &mut ks.dbs[rng.random_range(0..2)];
                        match rng.random_range(0..500) {
                            0..30 => db.set(&key, Value::from_bytes(&rng.random::<[u8; 4]>()), 0),
                            30..50 => drop(db.remove(&key)),
                            50..60 => db.set_deadline(&key, rng.random_range(1..5_000)),
                            60..70 => drop(db.persist(&key)),
                            70..90 => {
                                if let Some(entry) = db.get_mut(&key, 0) {
                                    entry.value = Value::Int(rng.random());
                                }
                            }
                            90..100 => drop(db.expire_if_needed(&key, 2_000)),
                            100..498 => drop(db.get(&key, 0)),
                            498 => drop(db.take()),
                            _ => ks.swap_dbs(0, 1),
                        }
                    }
                    let budget = StepBudget {
                        keys: rng.random_range(1..8),
                        bytes: rng.random_range(1..200),
                    };
                    let step = ks.capture_step(id, budget).unwrap();
                    steps += 1;
                    copies.extend(step.copies);
                    if step.complete {
                        break;
                    }
                }
                total_steps += steps;
                assert_eq!(rebuilt(2, &copies), moment, "seed {seed}, round {round}");
                let budget = StepBudget {
                    keys: 8,
                    bytes: 100,
                };
                assert!(
                    ks.capture_step(id, budget).is_none(),
                    "a complete snapshot ends"
                );
                assert!(ks.dbs.iter().all(|db| !db.capturing()));
            }
        }
        assert!(total_steps > 80 * 20, "writes met few steps: {total_steps}");
    }
}

#[cfg(test)]
mod evict_tests {
    use super::Keyspace;
    use crate::engine::evict::{rescore, sample, Policy};
    use crate::engine::Value;

    #[test]
    fn scores_idle_keys_higher_and_volatile_policies_see_only_keys_with_a_ttl() {
        let mut ks = Keyspace::new(1);
        ks.dbs[0].set(b"old", Value::Int(1), 0);
        ks.dbs[0].set(b"new", Value::Int(2), 3_600_000);
        let mut rng = rand::rng();
        let found = sample(&ks.dbs, Policy::AllKeysLru, 5, 3_600_000, &mut rng);
        let score_of = |key: &[u8]| found.iter().find(|c| c.key == key).map(|c| c.score);
        assert!(score_of(b"old") > score_of(b"new"), "{found:?}");
        assert!(sample(&ks.dbs, Policy::VolatileLru, 5, 3_600_000, &mut rng).is_empty());
        assert!(sample(&ks.dbs, Policy::NoEviction, 5, 3_600_000, &mut rng).is_empty());
        let old = found
            .iter()
            .find(|c| c.key == b"old")
            .cloned()
            .expect("sampled");
        assert!(rescore(&ks.dbs, Policy::VolatileLru, &old, 3_600_000).is_none());
        assert!(ks.evict(0, b"old".to_vec(), 3_600_000));
        assert!(rescore(&ks.dbs, Policy::AllKeysLru, &old, 3_600_000).is_none());
        assert!(!ks.evict(0, b"old".to_vec(), 3_600_000));
        assert_eq!(ks.dbs[0].stats.evicted_keys, 1);
    }
}
