//! A linearizability checker for histories of single-key registers (GET, SET, compare-and-set),
//! after Wing & Gong's search with Lowe's memoization, as Porcupine does it. Keys are
//! independent (P-compositionality), so each key's history is checked on its own.
//!
//! An operation whose outcome the client never learnt (a connection lost mid-request) has no
//! return time: it may take effect at any point after its call, or never (linearized after
//! every other operation).

use std::collections::{BTreeMap, HashSet};

/// Values are unique per write; 0 stands for "no value" (the key does not exist).
pub type Value = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A read that returned this value.
    Read(Value),
    Write(Value),
    /// Set to `new` if the value is `expected`; `swapped` is what the client was told, None
    /// when it was told nothing.
    Cas {
        expected: Value,
        new: Value,
        swapped: Option<bool>,
    },
}

#[derive(Clone, Debug)]
pub struct Event {
    pub key: String,
    pub op: Op,
    /// When the request was sent (any monotonic unit).
    pub call: u64,
    /// When its reply came; None when no reply came.
    pub ret: Option<u64>,
}

/// The register: what `op` does to `state`, if it can happen there.
fn step(state: Value, op: Op) -> Option<Value> {
    match op {
        Op::Read(seen) => (seen == state).then_some(state),
        Op::Write(value) => Some(value),
        Op::Cas {
            expected,
            new,
            swapped,
        } => match (state == expected, swapped) {
            (true, Some(true) | None) => Some(new),
            (false, Some(false) | None) => Some(state),
            _ => None,
        },
    }
}

/// A key whose history is not linearizable.
#[derive(Debug, PartialEq, Eq)]
pub struct Violation {
    pub key: String,
    pub operations: usize,
}

/// Checks every key's history; returns the keys that fail.
pub fn check(history: &[Event]) -> Vec<Violation> {
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for event in history {
        // A read without a reply says nothing.
        if event.ret.is_none() && matches!(event.op, Op::Read(_)) {
            continue;
        }
        by_key.entry(event.key.as_str()).or_default().push(event);
    }
    by_key
        .into_iter()
        .filter(|(_, events)| !linearizable(events))
        .map(|(key, events)| Violation {
            key: key.to_string(),
            operations: events.len(),
        })
        .collect()
}

/// The last `count` operations on `key` called before the history stops being linearizable,
/// for reports. The history cut at time T (operations called by T, replies after T erased)
/// fails from some T on; that T is found by bisection over the history's instants.
pub fn leading_to_violation(history: &[Event], key: &str, count: usize) -> Vec<Event> {
    let mut ops: Vec<&Event> = history.iter().filter(|e| e.key == key).collect();
    ops.sort_by_key(|e| e.call);
    let mut instants: Vec<u64> = ops
        .iter()
        .flat_map(|e| [Some(e.call), e.ret])
        .flatten()
        .collect();
    instants.sort_unstable();
    instants.dedup();
    if instants.is_empty() {
        return Vec::new();
    }
    let cut = |time: u64| -> Vec<Event> {
        ops.iter()
            .take_while(|e| e.call <= time)
            .map(|e| Event {
                ret: e.ret.filter(|ret| *ret <= time),
                ..(*e).clone()
            })
            .collect()
    };
    let (mut good, mut bad) = (0, instants.len().saturating_sub(1));
    if check(&cut(instants[good.min(bad)])).is_empty() {
        while good + 1 < bad {
            let mid = (good + bad) / 2;
            match check(&cut(instants[mid])).is_empty() {
                true => good = mid,
                false => bad = mid,
            }
        }
    } else {
        bad = 0;
    }
    let called = cut(instants.get(bad).copied().unwrap_or(0)).len();
    ops[called.saturating_sub(count)..called]
        .iter()
        .map(|e| (*e).clone())
        .collect()
}

/// For a report: the operations on `key` up to the first that cannot be placed, and where
/// the value the last of them saw came from (how stale it is).
pub fn explain(history: &[Event], key: &str) -> String {
    let leading = leading_to_violation(history, key, 20);
    let mut lines = vec![format!(
        "{key} is not linearizable; the operations up to the first that cannot be placed:"
    )];
    lines.extend(leading.iter().map(|event| format!("  {event:?}")));
    if let Some(Op::Read(seen) | Op::Cas { expected: seen, .. }) = leading.last().map(|e| e.op) {
        lines.extend(
            history
                .iter()
                .filter(|e| {
                    e.key == key
                        && matches!(e.op, Op::Write(v) | Op::Cas { new: v, .. } if v == seen)
                })
                .map(|event| format!("  which was written by {event:?}")),
        );
    }
    lines.join("\n")
}

/// One call or return in the time-ordered list the search walks.
#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// Neighbours in the list (usize::MAX: none); the list's head is `entries[0]`'s next.
    prev: usize,
    next: usize,
    /// For a call: its return's index.
    matching: usize,
}

const NONE: usize = usize::MAX;

/// Whether one key's operations (starting from a missing key) have a linearization.
fn linearizable(events: &[&Event]) -> bool {
    let n = events.len();
    // Returns come before calls at the same instant; unanswered operations return last.
    let mut points: Vec<(u64, u8, usize, bool)> = Vec::with_capacity(2 * n);
    for (i, event) in events.iter().enumerate() {
        points.push((event.call, 1, i, true));
        points.push((event.ret.unwrap_or(u64::MAX), 0, i, false));
    }
    points.sort_unstable();
    // entries[0] is a sentinel head.
    let mut entries = vec![Entry {
        op: NONE,
        is_call: false,
        prev: NONE,
        next: 1,
        matching: NONE,
    }];
    let mut return_at = vec![NONE; n];
    for (index, &(_, _, op, is_call)) in points.iter().enumerate() {
        let at = index + 1;
        entries.push(Entry {
            op,
            is_call,
            prev: at - 1,
            next: if at == points.len() { NONE } else { at + 1 },
            matching: NONE,
        });
        if !is_call {
            return_at[op] = at;
        }
    }
    for entry in entries.iter_mut().skip(1) {
        if entry.is_call {
            entry.matching = return_at[entry.op];
        }
    }
    let lift = |entries: &mut Vec<Entry>, at: usize| {
        for index in [at, entries[at].matching] {
            let Entry { prev, next, .. } = entries[index];
            entries[prev].next = next;
            if next != NONE {
                entries[next].prev = prev;
            }
        }
    };
    let unlift = |entries: &mut Vec<Entry>, at: usize| {
        for index in [entries[at].matching, at] {
            let Entry { prev, next, .. } = entries[index];
            entries[prev].next = index;
            if next != NONE {
                entries[next].prev = index;
            }
        }
    };
    // The set of operations linearized so far, as a Zobrist hash (the XOR of a random 128-bit
    // code per operation) rather than a bit set: the memo then takes 24 bytes a state where
    // a bit set took n/8, which a 30-minute nemesis's history (hundreds of thousands of
    // operations a key) made gigabytes. Two sets sharing a hash, which would skip a search
    // branch, is a chance of about states² / 2¹²⁹.
    let codes: Vec<u128> = (0..n as u64).map(zobrist_code).collect();
    let mut linearized: u128 = 0;
    let mut seen: HashSet<(u128, Value)> = HashSet::new();
    let mut stack: Vec<(usize, Value)> = Vec::new();
    let mut state: Value = 0;
    let mut at = entries[0].next;
    while entries[0].next != NONE {
        if at == NONE {
            return false;
        }
        let entry = entries[at];
        if entry.is_call {
            if let Some(after) = step(state, events[entry.op].op) {
                linearized ^= codes[entry.op];
                if seen.insert((linearized, after)) {
                    stack.push((at, state));
                    state = after;
                    lift(&mut entries, at);
                    at = entries[0].next;
                    continue;
                }
                linearized ^= codes[entry.op];
            }
            at = entry.next;
        } else {
            // An operation returned before any order placed it: undo the last choice.
            let Some((call, before)) = stack.pop() else {
                return false;
            };
            linearized ^= codes[entries[call].op];
            state = before;
            unlift(&mut entries, call);
            at = entries[call].next;
        }
    }
    true
}

/// Operation `index`'s Zobrist code: two rounds of splitmix64, a fixed function of the index.
fn zobrist_code(index: u64) -> u128 {
    let mix = |seed: u64| {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let low = mix(2 * index);
    (u128::from(mix(low ^ (2 * index + 1))) << 64) | u128::from(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(op: Op, call: u64, ret: Option<u64>) -> Event {
        Event {
            key: "k".into(),
            op,
            call,
            ret,
        }
    }

    fn ok(history: &[Event]) -> bool {
        check(history).is_empty()
    }

    #[test]
    fn sequential_and_overlapping_histories_pass() {
        assert!(ok(&[
            event(Op::Read(0), 0, Some(1)),
            event(Op::Write(1), 2, Some(3)),
            event(Op::Read(1), 4, Some(5)),
        ]));
        // A read overlapping a write may see either value.
        for seen in [0, 1] {
            assert!(ok(&[
                event(Op::Write(1), 0, Some(10)),
                event(Op::Read(seen), 5, Some(6)),
            ]));
        }
        // Reads that overlap the write see it switch once, in order.
        assert!(ok(&[
            event(Op::Write(1), 0, Some(10)),
            event(Op::Read(1), 1, Some(2)),
            event(Op::Read(1), 3, Some(4)),
        ]));
        assert!(ok(&[
            event(Op::Write(1), 0, Some(1)),
            event(
                Op::Cas {
                    expected: 1,
                    new: 2,
                    swapped: Some(true)
                },
                2,
                Some(3)
            ),
            event(
                Op::Cas {
                    expected: 1,
                    new: 3,
                    swapped: Some(false)
                },
                4,
                Some(5)
            ),
            event(Op::Read(2), 6, Some(7)),
        ]));
    }

    #[test]
    fn a_stale_read_fails() {
        assert!(!ok(&[
            event(Op::Write(1), 0, Some(1)),
            event(Op::Read(0), 2, Some(3)),
        ]));
        assert!(!ok(&[
            event(Op::Write(1), 0, Some(1)),
            event(Op::Write(2), 2, Some(3)),
            event(Op::Read(1), 4, Some(5)),
        ]));
    }

    #[test]
    fn a_value_never_written_fails() {
        assert!(!ok(&[event(Op::Read(7), 0, Some(1))]));
    }

    #[test]
    fn reads_that_go_back_in_time_fail() {
        // Both overlap the write, but once a read saw 1 a later read cannot see 0.
        assert!(!ok(&[
            event(Op::Write(1), 0, Some(10)),
            event(Op::Read(1), 1, Some(2)),
            event(Op::Read(0), 3, Some(4)),
        ]));
    }

    #[test]
    fn a_lost_update_fails() {
        // Two compare-and-sets from the same value cannot both succeed.
        let cas = |new| Op::Cas {
            expected: 1,
            new,
            swapped: Some(true),
        };
        assert!(!ok(&[
            event(Op::Write(1), 0, Some(1)),
            event(cas(2), 2, Some(5)),
            event(cas(3), 3, Some(6)),
        ]));
        // A swap reported done whose value never matched.
        assert!(!ok(&[event(cas(2), 0, Some(1))]));
    }

    #[test]
    fn an_unanswered_write_may_or_may_not_have_happened() {
        for seen in [0, 1] {
            assert!(ok(&[
                event(Op::Write(1), 0, None),
                event(Op::Read(seen), 5, Some(6)),
            ]));
        }
        // But not before it was sent.
        assert!(!ok(&[
            event(Op::Read(1), 0, Some(1)),
            event(Op::Write(1), 2, None),
        ]));
        // Nor undone once seen.
        assert!(!ok(&[
            event(Op::Write(1), 0, None),
            event(Op::Read(1), 5, Some(6)),
            event(Op::Read(0), 7, Some(8)),
        ]));
    }

    #[test]
    fn keys_are_checked_apart() {
        let mut other = event(Op::Read(9), 0, Some(1));
        other.key = "j".into();
        let found = check(&[event(Op::Write(9), 0, Some(1)), other]);
        assert_eq!(
            found,
            vec![Violation {
                key: "j".into(),
                operations: 1
            }]
        );
    }

    #[test]
    fn a_violation_is_shown_with_what_led_to_it() {
        let history = [
            event(Op::Write(1), 0, Some(1)),
            event(Op::Write(2), 2, Some(3)),
            event(Op::Read(2), 4, Some(5)),
            event(Op::Read(1), 6, Some(7)),
            event(Op::Read(1), 8, Some(9)),
        ];
        let shown: Vec<Op> = leading_to_violation(&history, "k", 2)
            .iter()
            .map(|e| e.op)
            .collect();
        assert_eq!(shown, vec![Op::Read(2), Op::Read(1)]);
    }

    #[test]
    fn a_long_concurrent_history_is_checked_quickly() {
        // Four clients, each writing then reading back its own values on one key while the
        // others do the same: linearizable, and found so without exploring every order.
        let mut history = Vec::new();
        let mut last = 0;
        for round in 0..2_000u64 {
            let t = round * 10;
            for client in 0..4u64 {
                let value = round * 4 + client + 1;
                history.push(event(Op::Write(value), t + client, Some(t + 5)));
                last = value;
            }
            history.push(event(Op::Read(last), t + 6, Some(t + 7)));
        }
        assert!(ok(&history));
    }
}
