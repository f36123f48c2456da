//! One logical database: the main dict, the dict of deadlines for keys with a TTL, lazy expiry
//! on access and the bounded active expiry sweep.

use super::capture::{Capture, Copy, StepBudget};
use super::dict::Dict;
use super::hot::{decayed, HotKeys};
use super::value::Value;
use rand::Rng;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A stored key's value and its access record: 24 bits as Redis's `lru` field, either an LRU
/// clock in seconds or, under an LFU policy, 16 bits of minutes since the last decay and an
/// 8-bit logarithmic access counter.
pub struct Entry {
    pub value: Value,
    lru: u32,
    /// The snapshot capture that copied this entry, or during which it was written (see
    /// [`super::capture`]); it fits in the padding `lru` leaves.
    pub(super) capture_mark: u32,
}

/// Whether access records are LFU counters (an LFU maxmemory policy is in force).
static LFU_MODE: AtomicBool = AtomicBool::new(false);

/// Redis's defaults: a new key's counter, `lfu-log-factor` and `lfu-decay-time` (minutes).
const LFU_INIT: u32 = 5;
const LFU_LOG_FACTOR: f64 = 10.0;
const LFU_DECAY_MINUTES: u32 = 1;

pub fn set_lfu_mode(lfu: bool) {
    LFU_MODE.store(lfu, Ordering::Relaxed);
}

fn lfu_mode() -> bool {
    LFU_MODE.load(Ordering::Relaxed)
}

/// How many users of this process want changed keys recorded (client-side caching). Zero,
/// a write pays one relaxed load for it.
static CHANGE_RECORDERS: AtomicUsize = AtomicUsize::new(0);

/// Until when (Unix ms) keys past their deadline stay: they look expired but nothing deletes
/// them, so a paused server writes nothing (CLIENT PAUSE). Zero: no hold.
static DELETIONS_HELD_UNTIL: AtomicI64 = AtomicI64::new(0);

/// Holds expiry until `until_ms` (the later of this and any hold in force), or lifts every
/// hold (`None`).
pub fn hold_deletions(until_ms: Option<i64>) {
    match until_ms {
        Some(until) => DELETIONS_HELD_UNTIL.fetch_max(until, Ordering::Relaxed),
        None => DELETIONS_HELD_UNTIL.swap(0, Ordering::Relaxed),
    };
}

/// Whether expiry (and eviction) must leave keys in place at `now`.
pub fn deletions_held(now: i64) -> bool {
    now < DELETIONS_HELD_UNTIL.load(Ordering::Relaxed)
}

thread_local! {
    /// Set while a command of a CLIENT NO-TOUCH connection runs on this thread.
    static UNTOUCHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `run` with the keys it looks up keeping their access records (LRU clock or LFU
/// counter) as they were: CLIENT NO-TOUCH, so an inspecting client does not change what
/// eviction picks.
pub fn untouched<R>(run: impl FnOnce() -> R) -> R {
    UNTOUCHED.set(true);
    let result = run();
    UNTOUCHED.set(false);
    result
}

/// Whether expiries, evictions and new keys are recorded too (keyspace notifications).
static RECORD_EVENTS: AtomicBool = AtomicBool::new(false);

/// Most changes a database keeps for its reader: past it (nobody reads them), the oldest are
/// dropped rather than let memory grow.
const MAX_RECORDED_CHANGES: usize = 1 << 16;

/// Starts (`true`) or stops recording, for one user, the keys every database changes.
pub fn record_changes(on: bool) {
    match on {
        true => CHANGE_RECORDERS.fetch_add(1, Ordering::Relaxed),
        false => CHANGE_RECORDERS.fetch_sub(1, Ordering::Relaxed),
    };
}

/// Starts or stops recording expiries, evictions and new keys.
pub fn record_events(on: bool) {
    RECORD_EVENTS.store(on, Ordering::Relaxed);
}

fn recording_events() -> bool {
    RECORD_EVENTS.load(Ordering::Relaxed)
}

/// Whether anything is being recorded.
pub fn recording_changes() -> bool {
    CHANGE_RECORDERS.load(Ordering::Relaxed) > 0 || recording_events()
}

/// Why a key changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A command wrote it.
    Command,
    /// Its deadline passed.
    Expired,
    /// Eviction took it to make room.
    Evicted,
    /// A command created it (recorded besides its `Command` change, for events only).
    Created,
}

/// A key that changed, while changes are recorded.
pub struct Change {
    pub key: Box<[u8]>,
    pub cause: Cause,
}

/// LRU records count tenths of a second (Redis counts seconds): keys touched within the same
/// second are still ordered, so sampled eviction picks the older one instead of a coin toss.
const LRU_TICK_MS: i64 = 100;

fn lru_tick(now_ms: i64) -> u32 {
    (now_ms / LRU_TICK_MS) as u32
}

fn minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) as u32) & 0xffff
}

/// A fresh access record.
fn new_record(now_ms: i64) -> u32 {
    if lfu_mode() {
        (minutes(now_ms) << 8) | LFU_INIT
    } else {
        lru_tick(now_ms)
    }
}

impl Entry {
    fn new(value: Value, now_ms: i64) -> Entry {
        Entry {
            value,
            lru: new_record(now_ms),
            capture_mark: 0,
        }
    }

    /// Tenths of a second since the last access, for LRU eviction.
    pub fn idle_ticks(&self, now_ms: i64) -> u64 {
        lru_tick(now_ms).wrapping_sub(self.lru) as u64
    }

    /// Whole seconds since the last access as Redis's OBJECT IDLETIME counts them: the
    /// difference of the two clock seconds.
    pub fn idle_seconds(&self, now_ms: i64) -> u64 {
        let now_ticks = (now_ms / LRU_TICK_MS) as u64;
        let touched_ticks = now_ticks.saturating_sub(self.idle_ticks(now_ms));
        let ticks_per_second = (1000 / LRU_TICK_MS) as u64;
        now_ticks / ticks_per_second - touched_ticks / ticks_per_second
    }

    /// The LFU counter with the decay since its last update applied, for OBJECT FREQ and LFU
    /// eviction.
    pub fn frequency(&self, now_ms: i64) -> u32 {
        let counter = (self.lru & 0xff) as u8;
        u32::from(decayed(
            counter,
            self.lru >> 8,
            minutes(now_ms),
            LFU_DECAY_MINUTES,
        ))
    }

    /// RESTORE's IDLETIME and FREQ, as Redis's `objectSetLRUOrLFU`: under an LFU policy the
    /// counter is set to `frequency`, otherwise the key reads as last touched `idle_seconds`
    /// ago; the one the policy does not use is ignored.
    pub fn set_access(&mut self, now_ms: i64, idle_seconds: Option<u64>, frequency: Option<u8>) {
        match (lfu_mode(), idle_seconds, frequency) {
            (true, _, Some(frequency)) => self.lru = (minutes(now_ms) << 8) | u32::from(frequency),
            (false, Some(idle), _) => {
                let idle_ms = i64::try_from(idle.saturating_mul(1000)).unwrap_or(i64::MAX);
                self.lru = lru_tick(now_ms.saturating_sub(idle_ms).max(0));
            }
            _ => {}
        }
    }

    /// Records an access: refreshes the LRU clock, or decays then probabilistically bumps the
    /// LFU counter as Redis's `updateLFU`. The counter when it grew, for the hot keys.
    fn touch(&mut self, now_ms: i64) -> Option<u8> {
        if UNTOUCHED.get() {
            return None;
        }
        if !lfu_mode() {
            self.lru = lru_tick(now_ms);
            return None;
        }
        let mut counter = self.frequency(now_ms);
        let mut grew = None;
        if counter < 255 {
            let base = counter.saturating_sub(LFU_INIT) as f64;
            if rand::random::<f64>() < 1.0 / (base * LFU_LOG_FACTOR + 1.0) {
                counter += 1;
                grew = Some(counter as u8);
            }
        }
        self.lru = (minutes(now_ms) << 8) | counter;
        grew
    }
}

/// Offers a key whose LFU counter grew to the hot keys, when it may enter them.
#[inline]
fn offer_hot(hot: &mut HotKeys, key: &[u8], counter: u8, now_ms: i64) {
    let minute = minutes(now_ms);
    if hot.wants(counter, minute) {
        hot.offer(key, counter, minute, LFU_DECAY_MINUTES);
    }
}

/// Counters INFO reports, kept per database and summed.
#[derive(Default, Debug, Clone, Copy)]
pub struct DbStats {
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    /// Changes commands made to keys, one per keyspace event they raise (Redis's `dirty`,
    /// which INFO reports as `rdb_changes_since_last_save`).
    pub changes: u64,
}

impl DbStats {
    /// Clears the statistics (CONFIG RESETSTAT); the changes count on, as Redis's `dirty`,
    /// which is no statistic, so the changes since the last save never go back.
    pub fn reset(&mut self) {
        *self = DbStats {
            changes: self.changes,
            ..DbStats::default()
        };
    }

    pub fn add(&mut self, other: &DbStats) {
        self.expired_keys += other.expired_keys;
        self.evicted_keys += other.evicted_keys;
        self.keyspace_hits += other.keyspace_hits;
        self.keyspace_misses += other.keyspace_misses;
        self.changes += other.changes;
    }
}

/// What WATCH remembers of a key, to tell at EXEC whether it changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchMark {
    version: u64,
    existed: bool,
}

/// Versions of the keys some client watches, bumped by every change to them (a flush or
/// SWAPDB changes the keys it empties or replaces). Empty, it costs one branch per write.
#[derive(Default)]
struct Watches {
    versions: ahash::AHashMap<Box<[u8]>, (u64, usize)>,
}

/// Most keys [`Db::prefetch`] loads ahead: a pipeline of 16 (what benchmarks and proxies
/// send) and some more; past a few dozen the first would leave the cache before their turn.
pub const PREFETCHED_KEYS: usize = 32;

#[derive(Default)]
pub struct Db {
    dict: Dict<Entry>,
    expires: Dict<i64>,
    expire_cursor: u64,
    watches: Watches,
    /// Keys that blocked clients wait on, with how many wait.
    blocked_keys: ahash::AHashMap<Box<[u8]>, usize>,
    /// Keys with waiters that were written since the last look.
    ready_keys: Vec<Box<[u8]>>,
    /// The snapshot being taken of this database while it is written, if any.
    capture: Option<Capture>,
    /// Keys changed since the last look, while [`recording_changes`].
    changes: Vec<Change>,
    /// The keys with the highest LFU counters (under an LFU policy).
    hot: HotKeys,
    pub stats: DbStats,
}

impl Db {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    pub fn volatile_len(&self) -> usize {
        self.expires.len()
    }

    /// Called before a key changes: copies it for the snapshots being taken, and marks it
    /// changed for the clients watching it, blocked on it or caching it.
    fn touched(&mut self, key: &[u8]) {
        self.touched_by(key, Cause::Command);
    }

    fn record(&mut self, key: &[u8], cause: Cause) {
        if self.changes.len() >= MAX_RECORDED_CHANGES {
            self.changes.drain(..MAX_RECORDED_CHANGES / 2);
        }
        self.changes.push(Change {
            key: key.into(),
            cause,
        });
    }

    fn touched_by(&mut self, key: &[u8], cause: Cause) {
        // A command's own writes matter to client-side caching only; expiry and eviction to
        // keyspace events as well.
        let wanted = match cause {
            Cause::Command => CHANGE_RECORDERS.load(Ordering::Relaxed) > 0,
            _ => recording_changes(),
        };
        if wanted {
            self.record(key, cause);
        }
        if let Some(capture) = &mut self.capture {
            if let Some(entry) = self.dict.get_mut(key) {
                capture.before_write(key, entry, self.expires.get(key).copied());
            }
        }
        if !self.watches.versions.is_empty() {
            if let Some((version, _)) = self.watches.versions.get_mut(key) {
                *version += 1;
            }
        }
        if !self.blocked_keys.is_empty() && self.blocked_keys.contains_key(key) {
            self.ready_keys.push(key.into());
        }
    }

    /// Marks a key changed without changing it (SORT ... STORE of nothing over no key still
    /// breaks a WATCH on it, as in Redis).
    pub fn touch(&mut self, key: &[u8]) {
        self.touched(key);
    }

    pub fn block_on(&mut self, key: &[u8]) {
        *self.blocked_keys.entry(key.into()).or_insert(0) += 1;
    }

    pub fn unblock(&mut self, key: &[u8]) {
        if let Some(count) = self.blocked_keys.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                self.blocked_keys.remove(key);
            }
        }
    }

    /// The keys created since the last look (`Cause::Created` records), taken out in order.
    pub fn take_created(&mut self) -> Vec<Box<[u8]>> {
        let mut created = Vec::new();
        self.changes.retain_mut(|change| match change.cause {
            Cause::Created => {
                created.push(std::mem::take(&mut change.key));
                false
            }
            _ => true,
        });
        created
    }

    /// The keys changed since the last call, while changes are recorded.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// One key that was written while clients wait on it.
    pub fn pop_ready_key(&mut self) -> Option<Box<[u8]>> {
        self.ready_keys.pop()
    }

    pub fn watch(&mut self, key: &[u8], now: i64) -> WatchMark {
        let existed = self.contains(key, now);
        let entry = self.watches.versions.entry(key.into()).or_insert((0, 0));
        entry.1 += 1;
        WatchMark {
            version: entry.0,
            existed,
        }
    }

    pub fn unwatch(&mut self, key: &[u8]) {
        if let Some((_, watchers)) = self.watches.versions.get_mut(key) {
            *watchers -= 1;
            if *watchers == 0 {
                self.watches.versions.remove(key);
            }
        }
    }

    /// Whether the key changed since `mark` was taken, expiry included.
    pub fn watch_broken(&self, key: &[u8], mark: &WatchMark, now: i64) -> bool {
        let version = self.watches.versions.get(key).map(|(v, _)| *v);
        version != Some(mark.version) || (mark.existed && self.is_expired(key, now))
    }

    /// Takes over another database's contents, keeping this one's watches and snapshots
    /// (SWAPDB).
    pub fn restore(&mut self, contents: Db) {
        self.touch_existing(Some(&contents.dict));
        let watches = std::mem::take(&mut self.watches);
        let blocked = std::mem::take(&mut self.blocked_keys);
        let capture = self.capture.take();
        *self = contents;
        self.capture = capture;
        self.watches = watches;
        self.ready_keys = blocked.keys().cloned().collect();
        self.blocked_keys = blocked;
    }

    /// Breaks the watches on the keys this database holds, or `replacement` holds, as Redis 7
    /// does when a database is emptied or swapped: a watched key that exists in neither did
    /// not change.
    fn touch_existing(&mut self, replacement: Option<&Dict<Entry>>) {
        for (key, (version, _)) in self.watches.versions.iter_mut() {
            if self.dict.get(key).is_some() || replacement.is_some_and(|d| d.get(key).is_some()) {
                *version += 1;
            }
        }
    }

    fn is_expired(&self, key: &[u8], now: i64) -> bool {
        !self.expires.is_empty() && matches!(self.expires.get(key), Some(&at) if at <= now)
    }

    /// Deletes the key if its deadline has passed; true when it did.
    pub fn expire_if_needed(&mut self, key: &[u8], now: i64) -> bool {
        if self.is_expired(key, now) {
            if deletions_held(now) {
                return true;
            }
            self.expel(key, Cause::Expired);
            self.stats.expired_keys += 1;
            true
        } else {
            false
        }
    }

    /// Looks a key up for reading: expires it lazily, refreshes its access clock and counts
    /// the hit or miss for INFO.
    pub fn get(&mut self, key: &[u8], now: i64) -> Option<&Entry> {
        if self.expire_if_needed(key, now) {
            self.stats.keyspace_misses += 1;
            return None;
        }
        match self.dict.get_mut(key) {
            Some(entry) => {
                self.stats.keyspace_hits += 1;
                if let Some(counter) = entry.touch(now) {
                    offer_hot(&mut self.hot, key, counter, now);
                }
                Some(entry)
            }
            None => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// Starts loading the entries of up to [`PREFETCHED_KEYS`] keys about to be looked up into
    /// the cache (see [`Dict::prefetch_bucket`]): all their buckets first, then their nodes.
    pub fn prefetch<'a>(&self, keys: impl Iterator<Item = &'a [u8]>) {
        let mut buckets = [0usize; PREFETCHED_KEYS];
        let mut count = 0;
        for key in keys.take(PREFETCHED_KEYS) {
            if let Some(bucket) = self.dict.prefetch_bucket(key) {
                buckets[count] = bucket;
                count += 1;
            }
        }
        for &bucket in &buckets[..count] {
            self.dict.prefetch_chain(bucket);
        }
    }

    /// Looks a key up for writing; same lazy expiry as [`Db::get`].
    pub fn get_mut(&mut self, key: &[u8], now: i64) -> Option<&mut Entry> {
        if self.expire_if_needed(key, now) {
            return None;
        }
        self.touched(key);
        let entry = self.dict.get_mut(key)?;
        if let Some(counter) = entry.touch(now) {
            offer_hot(&mut self.hot, key, counter, now);
        }
        Some(entry)
    }

    /// Up to [`super::hot::TRACKED`] keys with the highest LFU counters, hottest first, with
    /// their counters now (none unless an LFU policy is in force).
    pub fn hot_keys(&mut self, now: i64) -> Vec<(Box<[u8]>, u8)> {
        let Db {
            dict, expires, hot, ..
        } = self;
        hot.ranked(|key| {
            let expired = matches!(expires.get(key), Some(&at) if at <= now);
            let entry = dict.get(key).filter(|_| !expired)?;
            Some(entry.frequency(now) as u8)
        })
    }

    /// Reads without touching the access clock (OBJECT IDLETIME, TTL, TYPE).
    pub fn peek(&mut self, key: &[u8], now: i64) -> Option<&Entry> {
        if self.expire_if_needed(key, now) {
            return None;
        }
        self.dict.get(key)
    }

    pub fn contains(&mut self, key: &[u8], now: i64) -> bool {
        self.peek(key, now).is_some()
    }

    /// Stores a value, dropping any TTL the key had (SET without KEEPTTL).
    pub fn set(&mut self, key: &[u8], value: Value, now: i64) {
        self.touched(key);
        if recording_events() && !self.dict.contains_key(key) {
            self.record(key, Cause::Created);
        }
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
        let mut entry = Entry::new(value, now);
        entry.capture_mark = self.capture.as_ref().map_or(0, Capture::mark_for_new);
        self.dict.insert(key, entry);
    }

    /// Stores a value keeping the key's TTL, if any.
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value, now: i64) {
        self.touched(key);
        match self.dict.get_mut(key) {
            Some(entry) => {
                entry.value = value;
                if let Some(counter) = entry.touch(now) {
                    offer_hot(&mut self.hot, key, counter, now);
                }
            }
            None => self.set(key, value, now),
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        self.expel(key, Cause::Command)
    }

    /// Removes a key, for `cause` (the server lets keys go itself on expiry and eviction).
    pub fn expel(&mut self, key: &[u8], cause: Cause) -> Option<Value> {
        self.touched_by(key, cause);
        let entry = self.dict.remove(key)?;
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
        Some(entry.value)
    }

    /// The absolute deadline in ms, if the key has one.
    pub fn deadline(&self, key: &[u8]) -> Option<i64> {
        self.expires.get(key).copied()
    }

    /// Sets a deadline on an existing key.
    pub fn set_deadline(&mut self, key: &[u8], at_ms: i64) {
        self.touched(key);
        if self.dict.contains_key(key) {
            self.expires.insert(key, at_ms);
        }
    }

    /// Removes a key's deadline; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.touched(key);
        self.expires.remove(key).is_some()
    }

    /// One SCAN step over the keys (expired keys are skipped but not deleted here).
    pub fn scan(&self, cursor: u64, now: i64, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        self.dict.scan(cursor, |key, entry| {
            if !self.is_expired(key, now) {
                visit(key, entry)
            }
        })
    }

    /// Visits every key not yet expired, without deleting the expired ones.
    pub fn for_each_live_key(&self, now: i64, mut visit: impl FnMut(&[u8])) {
        for (key, _) in self.dict.iter() {
            if !self.is_expired(key, now) {
                visit(key);
            }
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.dict.iter()
    }

    /// A random live key, deleting expired ones met on the way (RANDOMKEY).
    pub fn random_key<R: Rng>(&mut self, rng: &mut R, now: i64) -> Option<Vec<u8>> {
        // Bounded: a database full of expired keys must not spin forever.
        for _ in 0..100 {
            let key = self.dict.random_entry(rng)?.0.to_vec();
            if !self.expire_if_needed(&key, now) {
                return Some(key);
            }
        }
        self.dict.random_entry(rng).map(|(k, _)| k.to_vec())
    }

    /// Sweeps the deadlines from where the last call stopped, deleting what is due, until the
    /// whole table was seen or `budget` is spent. Returns how many keys it expired. Sweeping by
    /// cursor (not sampling) bounds how long any due key can survive unread.
    pub fn expire_sweep(&mut self, now: i64, budget: Duration) -> usize {
        if self.expires.is_empty() || deletions_held(now) {
            return 0;
        }
        let start = Instant::now();
        let mut due: Vec<Box<[u8]>> = Vec::new();
        let mut visited = 0usize;
        let total = self.expires.len();
        loop {
            self.expire_cursor = self.expires.scan(self.expire_cursor, |key, &at| {
                visited += 1;
                if at <= now {
                    due.push(key.into());
                }
            });
            if self.expire_cursor == 0 || visited >= total {
                break;
            }
            if visited % 256 == 0 && start.elapsed() >= budget {
                break;
            }
        }
        for key in &due {
            self.expel(key, Cause::Expired);
        }
        self.stats.expired_keys += due.len() as u64;
        due.len()
    }

    /// An entry as stored, without expiring it or touching its access record (eviction).
    pub fn peek_entry(&self, key: &[u8]) -> Option<&Entry> {
        self.dict.get(key)
    }

    /// Up to `count` eviction candidates: keys with their entries and deadlines, sampled from
    /// every key or, when `volatile`, from keys with a TTL only.
    pub fn sample_for_eviction<R: Rng>(
        &self,
        rng: &mut R,
        count: usize,
        volatile: bool,
    ) -> Vec<(Vec<u8>, &Entry, Option<i64>)> {
        let keys: Vec<&[u8]> = if volatile {
            self.expires
                .sample(rng, count)
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        } else {
            self.dict
                .sample(rng, count)
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        keys.into_iter()
            .filter_map(|key| {
                let entry = self.dict.get(key)?;
                Some((key.to_vec(), entry, self.deadline(key)))
            })
            .collect()
    }

    /// Empties the database, handing back the old contents (FLUSHDB ASYNC frees them
    /// elsewhere). Watches stay, broken; snapshots being taken copy every key left first.
    pub fn take(&mut self) -> Db {
        if let Some(capture) = &mut self.capture {
            capture.copy_rest(self.dict.iter(), |key| self.expires.get(key).copied());
        }
        self.touch_existing(None);
        let watches = std::mem::take(&mut self.watches);
        let blocked = std::mem::take(&mut self.blocked_keys);
        let capture = self.capture.take();
        let stats = std::mem::take(&mut self.stats);
        let old = std::mem::take(self);
        self.stats = stats;
        self.watches = watches;
        self.ready_keys = blocked.keys().cloned().collect();
        self.blocked_keys = blocked;
        self.capture = capture;
        old
    }

    /// Frees a large database on another thread (Redis's lazyfree), so whoever empties it
    /// does not wait for every key to be freed.
    pub fn free_elsewhere(self) {
        if self.len() > 64 {
            std::thread::spawn(move || drop(self));
        }
    }

    /// Starts copying this database as it is now, entries copied getting `mark` (copy
    /// before write, see [`super::capture`]).
    pub fn begin_capture(&mut self, mark: u32) {
        self.capture = Some(Capture::new(mark));
    }

    pub fn capturing(&self) -> bool {
        self.capture.is_some()
    }

    /// One step of the snapshot marking `mark`: the copies writes made, then the scan's next
    /// keys until `budget` is spent. None when that snapshot is not being taken, else whether
    /// every key is copied.
    pub fn capture_step(
        &mut self,
        mark: u32,
        budget: &mut StepBudget,
        out: &mut Vec<Copy>,
    ) -> Option<bool> {
        let Db {
            dict,
            expires,
            capture,
            ..
        } = self;
        let capture = capture.as_mut().filter(|c| c.mark == mark)?;
        capture.take_pending(out);
        while !capture.complete && !budget.spent() {
            let cursor = dict.scan_mut(capture.cursor, |key, entry| {
                budget.keys = budget.keys.saturating_sub(1);
                if let Some(copy) = capture.copy(key, entry, expires.get(key).copied()) {
                    let bytes = copy.iter().map(|arg| arg.len()).sum();
                    budget.bytes = budget.bytes.saturating_sub(bytes);
                    out.push(copy);
                }
            });
            capture.cursor = cursor;
            capture.complete = cursor == 0;
        }
        Some(capture.complete)
    }

    pub fn end_capture(&mut self, mark: u32) {
        if self.capture.as_ref().is_some_and(|c| c.mark == mark) {
            self.capture = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_and_active_expiry() {
        let mut db = Db::new();
        db.set(b"a", Value::from_bytes(b"1"), 0);
        db.set(b"b", Value::from_bytes(b"2"), 0);
        db.set_deadline(b"a", 100);
        assert!(db.get(b"a", 99).is_some());
        assert!(db.get(b"a", 100).is_none());
        assert_eq!(db.len(), 1);
        for i in 0..1000 {
            let key = format!("k{i}");
            db.set(key.as_bytes(), Value::Int(i), 0);
            db.set_deadline(key.as_bytes(), 50);
        }
        assert_eq!(db.expire_sweep(60, Duration::from_secs(1)), 1000);
        assert_eq!(db.len(), 1);
        assert_eq!(db.volatile_len(), 0);
        assert_eq!(db.stats.expired_keys, 1001);
    }

    #[test]
    fn watches_see_writes_flushes_and_expiry() {
        let mut db = Db::new();
        db.set(b"a", Value::Int(1), 0);
        let mark = db.watch(b"a", 0);
        assert!(!db.watch_broken(b"a", &mark, 0));
        db.set(b"b", Value::Int(1), 0);
        assert!(!db.watch_broken(b"a", &mark, 0));
        db.set(b"a", Value::Int(2), 0);
        assert!(db.watch_broken(b"a", &mark, 0));
        let mark = db.watch(b"a", 0);
        let missing = db.watch(b"missing", 0);
        db.take();
        assert!(db.watch_broken(b"a", &mark, 0));
        assert!(
            !db.watch_broken(b"missing", &missing, 0),
            "a flush changes what it empties"
        );
        db.unwatch(b"missing");
        db.set(b"c", Value::Int(1), 0);
        db.set_deadline(b"c", 100);
        let mark = db.watch(b"c", 50);
        assert!(db.watch_broken(b"c", &mark, 150));
        db.unwatch(b"a");
        db.unwatch(b"a");
        db.unwatch(b"c");
        assert!(db.watches.versions.is_empty());
    }

    #[test]
    fn set_clears_ttl_unless_kept() {
        let mut db = Db::new();
        db.set(b"a", Value::Int(1), 0);
        db.set_deadline(b"a", 1000);
        db.set_keep_ttl(b"a", Value::Int(2), 0);
        assert_eq!(db.deadline(b"a"), Some(1000));
        db.set(b"a", Value::Int(3), 0);
        assert_eq!(db.deadline(b"a"), None);
    }
}
