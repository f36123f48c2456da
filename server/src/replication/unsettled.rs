//! The keys a leader wrote in records its counted followers may not have yet, so that a read
//! under the lease waits only for the writes it may see.
//!
//! A reply in `sync` mode must not show a write that a failover could still lose. A read that
//! waited for every record before it (the partition's head) was safe, but then one sparse
//! write in flight held every read of its partition for a round trip to the follower, and a
//! pipelined connection (a proxy's lane) held every reply after them: with memtier 1:10 most
//! requests waited on writes to other keys. Linearizability is local (a history is
//! linearizable when each key's history is), so a read of keys no unsettled record wrote may
//! answer at once: what it shows is on the followers already. A read of a written key waits
//! for that key's last record; a call whose keys are not all named (KEYS, SCAN, a script)
//! waits for the head, as before. Keys are told apart by a hash, and databases not at all: a
//! collision only makes a read wait.

use ahash::{AHashMap, RandomState};
use slotcache_protocol::command::CommandSpec;
use std::collections::VecDeque;

/// Writes remembered at most: past that the partition counts as written whole up to its
/// head, which bounds memory whatever the followers' pace. Writes settle within a round trip
/// to the followers, a few hundred of them at full speed.
const KEPT: usize = 16 * 1024;

/// Room the maps keep once every write settled.
const KEPT_IDLE: usize = 1024;

/// The records a leader sealed that its counted followers may still lack, by key.
pub struct Unsettled {
    hasher: RandomState,
    /// For each key hash, the log offset after the last record that wrote it.
    by_key: AHashMap<u64, u64>,
    /// The same entries as they were written, to drop them once settled.
    order: VecDeque<(u64, u64)>,
    /// Every read waits for the records before this offset: those of writes whose keys are
    /// not all named, and those this copy had when it started leading.
    everything_until: u64,
    /// The keys of the running command's effects; None once one of them named not all.
    unit: Option<Vec<u64>>,
}

impl Unsettled {
    /// Tracking starts at log offset `next`: every record before it may be unsettled.
    pub fn new(next: u64) -> Unsettled {
        Unsettled {
            hasher: RandomState::new(),
            by_key: AHashMap::new(),
            order: VecDeque::new(),
            everything_until: next,
            unit: Some(Vec::new()),
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// An effect of the running command: the call `args` of `spec` (None: not a command).
    pub fn effect(&mut self, spec: Option<&CommandSpec>, args: &[bytes::Bytes]) {
        let Some(mut keys) = self.unit.take() else {
            return;
        };
        let named = spec.is_some_and(|spec| {
            spec.each_named_key(args, |key| keys.push(self.hasher.hash_one(key)))
        });
        self.unit = named.then_some(keys);
    }

    /// The running command's effects were sealed as the record before `next`.
    pub fn sealed(&mut self, next: u64) {
        match self.unit.as_mut() {
            Some(keys) => {
                for hash in keys.drain(..) {
                    self.by_key.insert(hash, next);
                    self.order.push_back((hash, next));
                }
            }
            None => {
                self.everything_until = next;
                self.unit = Some(Vec::new());
            }
        }
        if self.order.len() > KEPT {
            self.everything_until = next;
            self.by_key.clear();
            self.order.clear();
        }
    }

    /// The offset a read by the call `args` of `spec` (None: unresolved, it reads nothing)
    /// must see committed before its reply leaves; `head` is the log's next offset.
    pub fn needed_by(&self, spec: Option<&CommandSpec>, args: &[bytes::Bytes], head: u64) -> u64 {
        let Some(spec) = spec else {
            return 0;
        };
        let mut needed = self.everything_until;
        let named = spec.each_named_key(args, |key| {
            if let Some(&until) = self.by_key.get(&self.hash(key)) {
                needed = needed.max(until);
            }
        });
        match named {
            true => needed,
            false => head,
        }
    }

    /// Every record before `committed` is on the counted followers: forgets what it wrote.
    pub fn settle(&mut self, committed: u64) {
        while let Some(&(hash, until)) = self.order.front() {
            if until > committed {
                break;
            }
            self.order.pop_front();
            if self.by_key.get(&hash) == Some(&until) {
                self.by_key.remove(&hash);
            }
        }
        // Settled after a burst, the maps give their room back: eviction counts it as data.
        if self.order.is_empty() && self.order.capacity() > KEPT_IDLE {
            self.by_key = AHashMap::new();
            self.order = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::log::tests::args as call;
    use bytes::Bytes;
    use slotcache_protocol::command::Table;

    fn spec(args: &[Bytes]) -> Option<&'static CommandSpec> {
        Table::get()
            .resolve(args)
            .ok()
            .map(|resolved| resolved.spec)
    }

    fn write(unsettled: &mut Unsettled, line: &str, next: u64) {
        let args = call(line);
        unsettled.effect(spec(&args), &args);
        unsettled.sealed(next);
    }

    fn needed(unsettled: &Unsettled, line: &str, head: u64) -> u64 {
        let args = call(line);
        unsettled.needed_by(spec(&args), &args, head)
    }

    #[test]
    fn a_read_waits_for_the_last_record_that_wrote_its_keys() {
        let mut unsettled = Unsettled::new(10);
        assert_eq!(needed(&unsettled, "GET a", 10), 10, "what it led with");
        write(&mut unsettled, "SET a 1", 11);
        write(&mut unsettled, "SET b 1", 12);
        write(&mut unsettled, "SET a 2", 13);
        assert_eq!(needed(&unsettled, "GET a", 13), 13);
        assert_eq!(needed(&unsettled, "GET b", 13), 12);
        assert_eq!(needed(&unsettled, "GET c", 13), 10);
        assert_eq!(needed(&unsettled, "MGET c b", 13), 12);
        assert_eq!(needed(&unsettled, "KEYS *", 13), 13, "keyless: the head");
        assert_eq!(
            needed(&unsettled, "EVAL_RO x 1 c", 13),
            13,
            "a script: the head"
        );
        assert_eq!(needed(&unsettled, "NOSUCH c", 13), 0, "reads nothing");
        unsettled.settle(12);
        assert_eq!(needed(&unsettled, "GET b", 13), 10, "settled");
        assert_eq!(
            needed(&unsettled, "GET a", 13),
            13,
            "its newer record is not"
        );
        unsettled.settle(13);
        assert_eq!(needed(&unsettled, "GET a", 13), 10);
        assert!(unsettled.by_key.is_empty() && unsettled.order.is_empty());
    }

    #[test]
    fn a_burst_settled_leaves_no_room_behind() {
        let mut unsettled = Unsettled::new(0);
        for next in 1..=5000 {
            write(&mut unsettled, &format!("SET k{next} v"), next);
        }
        assert_eq!(needed(&unsettled, "GET k4000", 5000), 4000);
        unsettled.settle(4999);
        assert!(
            unsettled.order.capacity() > KEPT_IDLE,
            "one left: room kept"
        );
        unsettled.settle(5000);
        assert_eq!(unsettled.order.capacity(), 0);
        assert_eq!(unsettled.by_key.capacity(), 0);
        assert_eq!(needed(&unsettled, "GET k4000", 5000), 0);
    }

    #[test]
    fn a_write_whose_keys_are_not_all_named_holds_every_read() {
        let mut unsettled = Unsettled::new(0);
        let (flush, set) = (call("FLUSHALL"), call("SET a 1"));
        unsettled.effect(spec(&set), &set);
        unsettled.effect(spec(&flush), &flush);
        unsettled.sealed(5);
        assert_eq!(needed(&unsettled, "GET z", 5), 5);
        write(&mut unsettled, "SET b 1", 6);
        assert_eq!(needed(&unsettled, "GET b", 6), 6);
        assert_eq!(needed(&unsettled, "GET z", 6), 5, "named again afterwards");
    }
}
