//! Saving, as a cache without a disk does it. slotcache keeps no snapshot on disk: a
//! partition's copies live in its replicas. SAVE and BGSAVE still answer as Redis does and
//! move LASTSAVE, so clients, tools and scripts that save, or read INFO's Persistence
//! section, keep working; nothing is written.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub struct Saves {
    /// When the last save was asked for (at start, the start), in Unix seconds.
    last: AtomicI64,
    count: AtomicU64,
    /// The changes counted when it was: INFO reports the changes since.
    changes_then: AtomicU64,
}

impl Saves {
    pub fn new(now_secs: i64) -> Saves {
        Saves {
            last: AtomicI64::new(now_secs),
            count: AtomicU64::new(0),
            changes_then: AtomicU64::new(0),
        }
    }

    /// A save at `now_secs`, when `changes` changes were counted so far.
    pub fn record(&self, now_secs: i64, changes: u64) {
        self.last.store(now_secs, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.changes_then.store(changes, Ordering::Relaxed);
    }

    /// LASTSAVE's Unix time.
    pub fn last(&self) -> i64 {
        self.last.load(Ordering::Relaxed)
    }

    /// INFO's `rdb_saves`.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// INFO's `rdb_changes_since_last_save`, out of the `changes` counted so far.
    pub fn changes_since(&self, changes: u64) -> u64 {
        changes.saturating_sub(self.changes_then.load(Ordering::Relaxed))
    }
}
