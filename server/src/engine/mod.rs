//! The in-memory engine: independent keyspaces addressed by partition id, each a set of
//! databases. Standalone mode hosts one partition with 16 databases; behind the proxy every
//! partition has database 0 only, as a Redis Cluster node.

pub mod capture;
pub mod db;
pub mod dict;
pub mod dump;
pub mod evict;
pub mod hash;
pub mod hll;
pub mod limits;
pub mod list;
pub mod listpack;
pub mod longdouble;
pub mod rank_tree;
pub mod set;
pub mod stream;
pub mod value;
pub mod zset;

use ahash::AHashMap;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

pub use capture::StepBudget;
pub use db::{Db, DbStats, Entry, WatchMark};
pub use value::{Value, ValueType};

/// The id of the keyspace client connections use directly (standalone mode's only one); outside
/// the range of cluster partition ids (below 16384), so the two never meet.
pub const STANDALONE_PARTITION: u32 = u32::MAX;

/// The databases of one partition. Locked as a whole: a command (or a pipelined batch of them)
/// sees a consistent partition, and MOVE/SWAPDB can span its databases.
pub struct Keyspace {
    pub dbs: Vec<Db>,
    /// Clients blocked on keys of this keyspace.
    pub waiters: crate::blocking::Waiters,
    /// The partition's replication log (writes are recorded while this copy leads).
    pub log: crate::replication::log::Log,
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        Keyspace {
            dbs: (0..databases.max(1)).map(|_| Db::new()).collect(),
            waiters: Default::default(),
            log: Default::default(),
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

    pub fn stats(&self) -> DbStats {
        self.dbs.iter().fold(DbStats::default(), |mut acc, db| {
            acc.expired_keys += db.stats.expired_keys;
            acc.evicted_keys += db.stats.evicted_keys;
            acc.keyspace_hits += db.stats.keyspace_hits;
            acc.keyspace_misses += db.stats.keyspace_misses;
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

/// Every keyspace this server hosts, by partition id.
pub struct Engine {
    partitions: Mutex<AHashMap<u32, SharedKeyspace>>,
    databases: usize,
}

impl Engine {
    pub fn new(databases: usize) -> Self {
        Engine {
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
