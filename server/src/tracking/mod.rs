//! Client-side caching (CLIENT TRACKING): which connections may hold which keys, and the
//! invalidation messages they are sent when those keys change, with Redis 7.0's semantics.
//!
//! * In the default mode the server remembers, per key, the connections that read it; a change
//!   sends each of them one message and forgets the key (the next read remembers it again).
//! * In BCAST mode a connection follows key prefixes instead; changed keys are gathered per
//!   prefix and sent once per command, as one message per prefix.
//! * Keys are tracked by name across databases, as in Redis.
//!
//! This module only keeps the tables and decides who is sent what; the connections format and
//! write the messages (see [`write_push`]).

pub mod hooks;

use ahash::{AHashMap, AHashSet};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub use slotcache_protocol::command::tracking::{
    write_push, Mode, Push, TrackingInfo, INVALIDATE_CHANNEL,
};

/// One tracking connection.
struct Tracker {
    mode: Mode,
    prefixes: BTreeSet<Bytes>,
    broken_redirect: bool,
}

/// A followed prefix: its connections, and the keys changed since the last broadcast with the
/// connection that changed each last (for NOLOOP; `None`: the server).
#[derive(Default)]
struct Broadcast {
    clients: BTreeSet<u64>,
    keys: BTreeMap<Bytes, Option<u64>>,
}

/// Messages decided, by the connection they go to.
pub type Pushes = Vec<(u64, Push)>;

#[derive(Default)]
pub struct Tracking {
    trackers: AHashMap<u64, Tracker>,
    /// Key -> the connections that read it (default mode).
    table: AHashMap<Bytes, AHashSet<u64>>,
    /// Sum of the table's connection sets (INFO tracking_total_items).
    items: usize,
    prefixes: BTreeMap<Bytes, Broadcast>,
    /// Rounds in a row the table stayed over `tracking-table-max-keys`: each evicts more.
    rounds_over_limit: usize,
}

/// Redis's "overlap" test: one prefix starts the other.
fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

impl Tracking {
    /// CLIENT TRACKING ON: checks the options against each other and the connection's current
    /// mode, then applies them. Errors are Redis's texts.
    pub fn enable(&mut self, id: u64, mode: Mode, prefixes: &[Bytes]) -> Result<(), String> {
        if !mode.bcast && !prefixes.is_empty() {
            return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
        }
        let current = self.trackers.get(&id);
        if current.is_some_and(|t| t.mode.bcast != mode.bcast) {
            return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".into());
        }
        if mode.bcast && (mode.optin || mode.optout) {
            return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
        }
        if mode.optin && mode.optout {
            return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
        }
        if current.is_some_and(|t| (mode.optin && t.mode.optout) || (mode.optout && t.mode.optin)) {
            return Err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".into());
        }
        if mode.bcast {
            self.check_prefixes(id, prefixes)?;
        }
        let tracker = self.trackers.entry(id).or_insert_with(|| Tracker {
            mode,
            prefixes: BTreeSet::new(),
            broken_redirect: false,
        });
        tracker.mode = mode;
        tracker.broken_redirect = false;
        if mode.bcast {
            let empty = [Bytes::new()];
            let wanted = if prefixes.is_empty() {
                &empty
            } else {
                prefixes
            };
            for prefix in wanted {
                if tracker.prefixes.insert(prefix.clone()) {
                    let broadcast = self.prefixes.entry(prefix.clone()).or_default();
                    broadcast.clients.insert(id);
                }
            }
        }
        Ok(())
    }

    fn check_prefixes(&self, id: u64, prefixes: &[Bytes]) -> Result<(), String> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let existing = self.trackers.get(&id).map(|t| &t.prefixes);
        for (i, prefix) in prefixes.iter().enumerate() {
            if let Some(old) = existing
                .into_iter()
                .flatten()
                .find(|old| overlaps(old, prefix))
            {
                return Err(format!("ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.", text(prefix), text(old)));
            }
            if let Some(other) = prefixes[i + 1..].iter().find(|o| overlaps(prefix, o)) {
                return Err(format!("ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.", text(prefix), text(other)));
            }
        }
        Ok(())
    }

    /// CLIENT TRACKING OFF, or the connection closed. Its entries in the key table go lazily,
    /// when their keys change, as in Redis.
    pub fn disable(&mut self, id: u64) -> bool {
        let Some(tracker) = self.trackers.remove(&id) else {
            return false;
        };
        for prefix in tracker.prefixes {
            if let Some(broadcast) = self.prefixes.get_mut(&prefix) {
                broadcast.clients.remove(&id);
                if broadcast.clients.is_empty() {
                    self.prefixes.remove(&prefix);
                }
            }
        }
        true
    }

    pub fn info(&self, id: u64) -> Option<TrackingInfo> {
        self.trackers.get(&id).map(|t| TrackingInfo {
            mode: t.mode,
            prefixes: t.prefixes.iter().cloned().collect(),
            broken_redirect: t.broken_redirect,
            caching: false,
        })
    }

    /// A connection in default mode read these keys.
    pub fn remember<'a>(&mut self, id: u64, keys: impl Iterator<Item = &'a [u8]>) {
        for key in keys {
            let readers = match self.table.get_mut(key) {
                Some(readers) => readers,
                None => self.table.entry(Bytes::copy_from_slice(key)).or_default(),
            };
            if readers.insert(id) {
                self.items += 1;
            }
        }
    }

    /// Where a message for `id` goes: the connection it redirects to, or back to itself as a
    /// broken-redirect notice when that connection is gone.
    fn route(
        &mut self,
        id: u64,
        keys: Option<Arc<[Bytes]>>,
        exists: &dyn Fn(u64) -> bool,
        pushes: &mut Pushes,
    ) {
        let Some(tracker) = self.trackers.get_mut(&id) else {
            return;
        };
        match tracker.mode.redirect {
            0 => pushes.push((
                id,
                Push::Invalidate {
                    keys,
                    redirected: false,
                },
            )),
            target if exists(target) => pushes.push((
                target,
                Push::Invalidate {
                    keys,
                    redirected: true,
                },
            )),
            target => {
                tracker.broken_redirect = true;
                pushes.push((id, Push::RedirectBroken(target)));
            }
        }
    }

    /// A key changed. `by`: the connection that changed it (`None`: the server, by expiry or
    /// eviction); `current`: the connection whose command is running, which NOLOOP spares.
    pub fn invalidate(
        &mut self,
        key: &[u8],
        by: Option<u64>,
        current: Option<u64>,
        exists: &dyn Fn(u64) -> bool,
        pushes: &mut Pushes,
    ) {
        for (prefix, broadcast) in self.prefixes.iter_mut() {
            if key.starts_with(prefix) {
                broadcast.keys.insert(Bytes::copy_from_slice(key), by);
            }
        }
        self.forget(key, current, exists, pushes);
    }

    /// Sends the default-mode readers of `key` their invalidation and drops the key's entry.
    fn forget(
        &mut self,
        key: &[u8],
        current: Option<u64>,
        exists: &dyn Fn(u64) -> bool,
        pushes: &mut Pushes,
    ) {
        let Some(readers) = self.table.remove(key) else {
            return;
        };
        self.items -= readers.len();
        let keys: Arc<[Bytes]> = Arc::new([Bytes::copy_from_slice(key)]);
        for id in readers {
            let Some(tracker) = self.trackers.get(&id) else {
                continue;
            };
            if tracker.mode.bcast || (tracker.mode.noloop && current == Some(id)) {
                continue;
            }
            self.route(id, Some(keys.clone()), exists, pushes);
        }
    }

    /// FLUSHDB / FLUSHALL: every tracking connection drops its whole cache, and the table
    /// starts empty.
    pub fn flush(&mut self, exists: &dyn Fn(u64) -> bool, pushes: &mut Pushes) {
        let ids: Vec<u64> = self.trackers.keys().copied().collect();
        for id in ids {
            self.route(id, None, exists, pushes);
        }
        self.table.clear();
        self.items = 0;
    }

    /// Sends each prefix's changed keys to its connections (once per command, as Redis does
    /// before returning to its event loop).
    pub fn broadcast(&mut self, exists: &dyn Fn(u64) -> bool, pushes: &mut Pushes) {
        let mut sends = Vec::new();
        for broadcast in self.prefixes.values_mut() {
            if broadcast.keys.is_empty() {
                continue;
            }
            let changed = std::mem::take(&mut broadcast.keys);
            let all: Arc<[Bytes]> = changed.keys().cloned().collect();
            for &id in &broadcast.clients {
                let noloop = self.trackers.get(&id).is_some_and(|t| t.mode.noloop);
                if !noloop {
                    sends.push((id, all.clone()));
                    continue;
                }
                let others: Arc<[Bytes]> = changed
                    .iter()
                    .filter(|(_, by)| **by != Some(id))
                    .map(|(key, _)| key.clone())
                    .collect();
                if !others.is_empty() {
                    sends.push((id, others));
                }
            }
        }
        for (id, keys) in sends {
            self.route(id, Some(keys), exists, pushes);
        }
    }

    /// Keeps the key table within `max_keys` (`tracking-table-max-keys`, 0: no limit) by
    /// invalidating keys as if they changed; the effort grows while it stays over. NOLOOP
    /// spares no one here: nobody changed these keys.
    pub fn enforce_limit(
        &mut self,
        max_keys: usize,
        exists: &dyn Fn(u64) -> bool,
        pushes: &mut Pushes,
    ) {
        if max_keys == 0 || self.table.len() <= max_keys {
            self.rounds_over_limit = 0;
            return;
        }
        let effort = 100 * (self.rounds_over_limit + 1);
        for _ in 0..effort {
            let Some(key) = self.table.keys().next().cloned() else {
                break;
            };
            self.forget(&key, None, exists, pushes);
            if self.table.len() <= max_keys {
                self.rounds_over_limit = 0;
                return;
            }
        }
        self.rounds_over_limit += 1;
    }

    /// INFO's tracking_total_keys, tracking_total_items, tracking_total_prefixes and
    /// tracking_clients.
    pub fn totals(&self) -> (usize, usize, usize, usize) {
        (
            self.table.len(),
            self.items,
            self.prefixes.len(),
            self.trackers.len(),
        )
    }
}

/// The server's tracking state, and a count of tracking connections read without its lock.
#[derive(Default)]
pub struct ClientSideCaching {
    pub state: parking_lot::Mutex<Tracking>,
    trackers: AtomicUsize,
}

impl ClientSideCaching {
    /// Whether any connection tracks: when none does, commands skip tracking entirely.
    pub fn active(&self) -> bool {
        self.trackers.load(Ordering::Relaxed) > 0
    }

    pub fn enable(&self, id: u64, mode: Mode, prefixes: &[Bytes]) -> Result<(), String> {
        let mut state = self.state.lock();
        let new = state.trackers.get(&id).is_none();
        state.enable(id, mode, prefixes)?;
        if new && self.trackers.fetch_add(1, Ordering::Relaxed) == 0 {
            crate::engine::db::record_changes(true);
        }
        Ok(())
    }

    pub fn disable(&self, id: u64) {
        if self.state.lock().disable(id) && self.trackers.fetch_sub(1, Ordering::Relaxed) == 1 {
            crate::engine::db::record_changes(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(push: &Push) -> Vec<Bytes> {
        match push {
            Push::Invalidate { keys: Some(k), .. } => k.to_vec(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_read_key_is_invalidated_once() {
        let mut t = Tracking::default();
        t.enable(1, Mode::default(), &[]).unwrap();
        t.remember(1, [&b"a"[..]].into_iter());
        let mut pushes = Vec::new();
        t.invalidate(b"a", Some(2), Some(2), &|_| true, &mut pushes);
        t.invalidate(b"a", Some(2), Some(2), &|_| true, &mut pushes);
        assert_eq!(pushes.len(), 1);
        assert_eq!(keys(&pushes[0].1), vec![Bytes::from_static(b"a")]);
        assert_eq!(t.totals(), (0, 0, 0, 1));
    }

    #[test]
    fn noloop_spares_the_writer_and_redirect_breaks() {
        let mut t = Tracking::default();
        let mode = Mode {
            noloop: true,
            redirect: 9,
            ..Mode::default()
        };
        t.enable(1, mode, &[]).unwrap();
        t.remember(1, [&b"a"[..], b"b"].into_iter());
        let mut pushes = Vec::new();
        t.invalidate(b"a", Some(1), Some(1), &|_| true, &mut pushes);
        assert!(pushes.is_empty());
        t.invalidate(b"b", Some(2), Some(2), &|_| false, &mut pushes);
        assert!(matches!(pushes[0], (1, Push::RedirectBroken(9))));
        assert!(t.info(1).unwrap().broken_redirect);
    }

    #[test]
    fn broadcasts_group_by_prefix() {
        let mut t = Tracking::default();
        let bcast = Mode {
            bcast: true,
            ..Mode::default()
        };
        let prefixes = [Bytes::from_static(b"a:"), Bytes::from_static(b"b:")];
        t.enable(1, bcast, &prefixes).unwrap();
        let overlap = t.enable(1, bcast, &[Bytes::from_static(b"a")]);
        assert!(overlap
            .unwrap_err()
            .contains("overlaps with an existing prefix 'a:'"));
        let mut pushes = Vec::new();
        for key in [&b"a:1"[..], b"a:2", b"b:1", b"c:1"] {
            t.invalidate(key, Some(2), Some(2), &|_| true, &mut pushes);
        }
        t.broadcast(&|_| true, &mut pushes);
        let sent: Vec<Vec<Bytes>> = pushes.iter().map(|(_, p)| keys(p)).collect();
        assert_eq!(sent, vec![vec!["a:1", "a:2"], vec!["b:1"]]);
    }

    #[test]
    fn the_limit_evicts_keys() {
        let mut t = Tracking::default();
        t.enable(1, Mode::default(), &[]).unwrap();
        let names: Vec<Vec<u8>> = (0..250).map(|i| format!("k{i}").into_bytes()).collect();
        t.remember(1, names.iter().map(|n| n.as_slice()));
        let mut pushes = Vec::new();
        t.enforce_limit(1, &|_| true, &mut pushes);
        t.enforce_limit(1, &|_| true, &mut pushes);
        assert_eq!(pushes.len(), 249);
        assert_eq!(t.totals().0, 1);
    }
}
