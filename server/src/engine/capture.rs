//! Snapshots taken while writes go on. A capture copies every key of a database as it was at
//! the moment the capture began: a scan copies keys a step at a time, and a write that comes
//! first copies the key just before it changes it (copy before write). Each entry records the
//! capture that copied it, or during which it was written, so neither the scan nor a second
//! write copies it again; a key created after the moment starts marked, with nothing to copy.
//! The copies are RESTORE commands, so a follower rebuilds the database with the code it
//! replays writes with.

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
    /// The mark of the entries this capture has copied, or need no copy (never 0, the mark
    /// of entries no capture saw).
    pub(super) mark: u32,
    /// Where the scan goes on from.
    pub(super) cursor: u64,
    /// Every key of the moment is copied: the scan went round, or the database was emptied.
    pub(super) complete: bool,
    /// Copies made by writes, not taken yet.
    pending: Vec<Copy>,
}

impl Capture {
    pub fn new(mark: u32) -> Self {
        Capture {
            mark,
            cursor: 0,
            complete: false,
            pending: Vec::new(),
        }
    }

    /// The mark new entries get: while the capture runs, a key written anew needs no copy
    /// (its value at the moment was copied when it was replaced or deleted, or it had none).
    pub fn mark_for_new(&self) -> u32 {
        if self.complete {
            0
        } else {
            self.mark
        }
    }

    /// The copy of an entry met by the scan or about to change, unless it has one.
    pub fn copy(&self, key: &[u8], entry: &mut Entry, deadline: Option<i64>) -> Option<Copy> {
        if self.complete || entry.capture_mark == self.mark {
            return None;
        }
        entry.capture_mark = self.mark;
        Some(restore_command(key, entry, deadline))
    }

    /// Called before `entry` changes.
    pub fn before_write(&mut self, key: &[u8], entry: &mut Entry, deadline: Option<i64>) {
        if let Some(copy) = self.copy(key, entry, deadline) {
            self.pending.push(copy);
        }
    }

    /// The database is about to be emptied or swapped: copies every entry not copied yet,
    /// which completes the capture.
    pub fn copy_rest<'a>(
        &mut self,
        entries: impl Iterator<Item = (&'a [u8], &'a Entry)>,
        deadline: impl Fn(&[u8]) -> Option<i64>,
    ) {
        if self.complete {
            return;
        }
        for (key, entry) in entries {
            if entry.capture_mark != self.mark {
                self.pending
                    .push(restore_command(key, entry, deadline(key)));
            }
        }
        self.complete = true;
    }

    /// Hands over the copies writes made.
    pub fn take_pending(&mut self, out: &mut Vec<Copy>) {
        out.append(&mut self.pending);
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
