//! The thresholds that decide when a small collection leaves its packed encoding, as Redis's
//! `*-max-listpack-*` settings. Process-wide (as Redis's config) and read on every insert.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

static HASH_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static HASH_VALUE: AtomicUsize = AtomicUsize::new(64);
static SET_INTSET_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static SET_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static SET_VALUE: AtomicUsize = AtomicUsize::new(64);
static ZSET_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static ZSET_VALUE: AtomicUsize = AtomicUsize::new(64);
/// Positive: items per packed list; -1..-5: 4, 8, 16, 32 or 64 KiB.
static LIST_SIZE: AtomicI64 = AtomicI64::new(-2);

/// The values as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub set_entries: usize,
    pub set_value: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
    pub list_size: i64,
}

pub fn apply(limits: Limits) {
    HASH_ENTRIES.store(limits.hash_entries, Ordering::Relaxed);
    HASH_VALUE.store(limits.hash_value, Ordering::Relaxed);
    SET_INTSET_ENTRIES.store(limits.set_intset_entries, Ordering::Relaxed);
    SET_ENTRIES.store(limits.set_entries, Ordering::Relaxed);
    SET_VALUE.store(limits.set_value, Ordering::Relaxed);
    ZSET_ENTRIES.store(limits.zset_entries, Ordering::Relaxed);
    ZSET_VALUE.store(limits.zset_value, Ordering::Relaxed);
    LIST_SIZE.store(limits.list_size, Ordering::Relaxed);
}

pub fn hash_entries() -> usize {
    HASH_ENTRIES.load(Ordering::Relaxed)
}

pub fn hash_value() -> usize {
    HASH_VALUE.load(Ordering::Relaxed)
}

pub fn set_intset_entries() -> usize {
    SET_INTSET_ENTRIES.load(Ordering::Relaxed)
}

pub fn set_entries() -> usize {
    SET_ENTRIES.load(Ordering::Relaxed)
}

pub fn set_value() -> usize {
    SET_VALUE.load(Ordering::Relaxed)
}

pub fn zset_entries() -> usize {
    ZSET_ENTRIES.load(Ordering::Relaxed)
}

pub fn zset_value() -> usize {
    ZSET_VALUE.load(Ordering::Relaxed)
}

/// (maximum items, maximum encoded bytes) of a packed list.
pub fn list_bounds() -> (usize, usize) {
    match LIST_SIZE.load(Ordering::Relaxed) {
        size if size > 0 => (size as usize, usize::MAX),
        size => {
            let kib = 4usize << (size.unsigned_abs().clamp(1, 5) - 1);
            (usize::MAX, kib * 1024)
        }
    }
}
