//! Hot keys: the keys with the highest LFU counters a database has seen, kept as they are
//! touched, so that naming them (`CLUSTER HOTKEYS`, `slotcache hotkeys`, the dashboard) needs no
//! scan of the keyspace. A key is offered only when its counter grows, which for a key with
//! counter `c` happens about once in `10 c` accesses, so the hottest keys pay next to nothing.

/// How many keys a database keeps track of.
pub const TRACKED: usize = 32;

/// An LFU counter as it reads `now_minute`, having been `counter` at `minute` (decay of one per
/// `decay_minutes`, on 16-bit minute clocks that wrap).
pub fn decayed(counter: u8, minute: u32, now_minute: u32, decay_minutes: u32) -> u8 {
    let elapsed = now_minute.wrapping_sub(minute) & 0xffff;
    let periods = (elapsed / decay_minutes.max(1)).min(255) as u8;
    counter.saturating_sub(periods)
}

struct Tracked {
    key: Box<[u8]>,
    counter: u8,
    minute: u32,
}

#[derive(Default)]
pub struct HotKeys {
    keys: Vec<Tracked>,
    /// What a counter must beat to enter a full table, as of `floor_minute` (the table's
    /// lowest counter, decayed); 0 while there is room.
    floor: u8,
    floor_minute: u32,
}

impl HotKeys {
    /// Whether a counter that just grew to `counter` is worth offering: it beats the floor, or
    /// the floor is from an earlier minute and has decayed since.
    #[inline]
    pub fn wants(&self, counter: u8, now_minute: u32) -> bool {
        counter > self.floor || now_minute != self.floor_minute
    }

    /// `key`'s counter grew to `counter`: it takes the place of the coldest tracked key if it
    /// is hotter.
    pub fn offer(&mut self, key: &[u8], counter: u8, now_minute: u32, decay_minutes: u32) {
        let now = |t: &Tracked| decayed(t.counter, t.minute, now_minute, decay_minutes);
        let coldest = self
            .keys
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| now(t))
            .map(|(index, t)| (index, now(t)));
        let fresh = || Tracked {
            key: key.into(),
            counter,
            minute: now_minute,
        };
        if let Some(known) = self.keys.iter_mut().find(|t| *t.key == *key) {
            known.counter = counter;
            known.minute = now_minute;
        } else if self.keys.len() < TRACKED {
            self.keys.push(fresh());
        } else if let Some((index, _)) = coldest.filter(|(_, lowest)| counter > *lowest) {
            self.keys[index] = fresh();
        }
        self.floor = match self.keys.len() < TRACKED {
            true => 0,
            false => self.keys.iter().map(now).min().unwrap_or(0),
        };
        self.floor_minute = now_minute;
    }

    /// The tracked keys hottest first, with their counters as `current` reads them now; keys
    /// it finds gone (`None`) are forgotten.
    pub fn ranked(&mut self, current: impl Fn(&[u8]) -> Option<u8>) -> Vec<(Box<[u8]>, u8)> {
        self.keys.retain(|t| current(&t.key).is_some());
        let mut ranked: Vec<(Box<[u8]>, u8)> = self
            .keys
            .iter()
            .filter_map(|t| Some((t.key.clone(), current(&t.key)?)))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hottest_keys_stay_and_a_colder_one_cannot_push_them_out() {
        let mut hot = HotKeys::default();
        for i in 0..TRACKED as u8 {
            hot.offer(format!("k{i}").as_bytes(), 10 + i, 0, 1);
        }
        assert!(
            !hot.wants(10, 0),
            "the floor is the coldest tracked counter"
        );
        hot.offer(b"cold", 9, 0, 1);
        hot.offer(b"hot", 200, 0, 1);
        let ranked = hot.ranked(|key| match key {
            b"hot" => Some(200),
            _ => Some(1),
        });
        assert_eq!(&*ranked[0].0, b"hot");
        assert!(ranked.iter().all(|(key, _)| &**key != b"cold"));
        assert!(ranked.iter().all(|(key, _)| &**key != b"k0"));
    }

    #[test]
    fn decayed_counters_let_new_keys_in_and_deleted_keys_drop_out() {
        let mut hot = HotKeys::default();
        for i in 0..TRACKED as u8 {
            hot.offer(format!("k{i}").as_bytes(), 100, 0, 1);
        }
        assert!(!hot.wants(50, 0));
        // Sixty minutes later every tracked counter has lost 60.
        assert!(hot.wants(50, 60));
        hot.offer(b"new", 50, 60, 1);
        let ranked = hot.ranked(|key| (key != b"k1").then_some(7));
        assert!(ranked.iter().any(|(key, _)| &**key == b"new"));
        assert!(ranked.iter().all(|(key, _)| &**key != b"k1"));
        assert_eq!(ranked.len(), TRACKED - 1);
    }
}
