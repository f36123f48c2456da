//! Snapshots taken while writes go on. A capture copies every key of a database as it was at
//! the moment the capture began: a scan copies keys a step at a time, and a write that comes
//! first copies the key just before it changes it (copy before write). Keys created after
//! the moment are marked copied with nothing to copy. The copies are RESTORE commands, so a
//! follower rebuilds the database with the same code it replays writes with.

use super::db::Entry;
use super::dump::serialize;
use bytes::Bytes;

/// A command recreating one key.
pub type Copy = Vec<Bytes>;

/// How much one step of a snapshot may do while it holds the partition.
#[derive(Debug, Clone, Copy)]
pub struct StepBudget {
    pub keys: usize,
    pub bytes: usize,
}

impl StepBudget {
    pub fn spent(&self) -> bool {
        self.keys == 0 || self.bytes == 0
    }
}

/// One database's part of a snapshot in progress.
pub struct Capture {
    pub(super) id: u64,
    /// Keys whose value at the moment is copied already, or which did not exist then.
    copied: ahash::AHashSet<Box<[u8]>>,
    /// Where the scan goes on from.
    pub(super) cursor: u64,
    /// Every key of the moment is copied: the scan went round, or the database was emptied.
    pub(super) complete: bool,
    /// Copies made by writes, not taken yet.
    pending: Vec<Copy>,
}

impl Capture {
    /// A capture of a database holding `keys` keys.
    pub fn new(id: u64, keys: usize) -> Self {
        Capture {
            id,
            // Sized up front: growing a set of every key would stall the step it happens in.
            copied: ahash::AHashSet::with_capacity(keys + keys / 8),
            cursor: 0,
            complete: false,
            pending: Vec::new(),
        }
    }

    /// Called before `key` changes: copies it (`current` is its value and deadline, if it
    /// exists) unless that was done already.
    pub fn before_write(&mut self, key: &[u8], current: Option<(&Entry, Option<i64>)>) {
        if self.complete || !self.copied.insert(key.into()) {
            return;
        }
        if let Some((entry, deadline)) = current {
            self.pending.push(restore_command(key, entry, deadline));
        }
    }

    /// The scan met `key`: its copy, unless a write made it already.
    pub fn scanned(&mut self, key: &[u8], entry: &Entry, deadline: Option<i64>) -> Option<Copy> {
        self.copied
            .insert(key.into())
            .then(|| restore_command(key, entry, deadline))
    }

    /// The database is about to be emptied or swapped: copies every key left, which
    /// completes the capture.
    pub fn copy_rest<'a>(
        &mut self,
        keys: impl Iterator<Item = (&'a [u8], &'a Entry, Option<i64>)>,
    ) {
        if self.complete {
            return;
        }
        for (key, entry, deadline) in keys {
            if let Some(copy) = self.scanned(key, entry, deadline) {
                self.pending.push(copy);
            }
        }
        self.finish();
    }

    /// Hands over the copies writes made.
    pub fn take_pending(&mut self, out: &mut Vec<Copy>) {
        out.append(&mut self.pending);
    }

    /// Every key is copied: nothing needs remembering any more. A set of many keys is
    /// freed on another thread, as FLUSHALL ASYNC frees a database.
    pub fn finish(&mut self) {
        self.complete = true;
        let copied = std::mem::take(&mut self.copied);
        if copied.len() > 4096 {
            std::thread::spawn(move || drop(copied));
        }
    }
}

/// `RESTORE key <absolute deadline or 0> <payload> ABSTTL REPLACE`.
pub fn restore_command(key: &[u8], entry: &Entry, deadline: Option<i64>) -> Copy {
    vec![
        Bytes::from_static(b"RESTORE"),
        Bytes::copy_from_slice(key),
        Bytes::from(deadline.unwrap_or(0).to_string()),
        Bytes::from(serialize(&entry.value)),
        Bytes::from_static(b"ABSTTL"),
        Bytes::from_static(b"REPLACE"),
    ]
}

#[cfg(test)]
mod tests {
    use super::StepBudget;
    use crate::engine::{Keyspace, Value};
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
                        let payload = super::serialize(&entry.value);
                        (key.to_vec(), (payload, db.deadline(key).unwrap_or(0)))
                    })
                    .collect()
            })
            .collect()
    }

    /// What the copies recreate; a key copied twice is an error.
    fn rebuilt(databases: usize, copies: &[(usize, Vec<super::Copy>)]) -> Contents {
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
            let moment = contents(&ks);
            let id = ks.begin_capture();
            let other = ks.begin_capture();
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
            assert_eq!(rebuilt(2, &copies), moment, "seed {seed}");
            let budget = StepBudget {
                keys: 8,
                bytes: 100,
            };
            assert!(
                ks.capture_step(id, budget).is_none(),
                "a complete snapshot ends"
            );
            assert!(ks.capture_step(other, budget).is_some());
            ks.end_capture(other);
            assert!(ks.dbs.iter().all(|db| db.captures.is_empty()));
        }
        assert!(total_steps > 40 * 20, "writes met few steps: {total_steps}");
    }
}
