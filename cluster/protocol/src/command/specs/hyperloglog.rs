//! The hyperloglog family's command specs: what COMMAND reports and routing reads.

use crate::command::{ks, ks_noted, Begin, CommandSpec, Find, Flags};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "pfadd",
        arity: -2,
        flags: Flags::of("write denyoom fast"),
        acl: "@write @hyperloglog @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RW insert", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Adds the specified elements to the specified HyperLogLog.",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: "O(1) to add every element.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pfcount",
        arity: -2,
        flags: Flags::of("readonly may_replicate"),
        acl: "@read @hyperloglog @slow",
        keys: (1, -1, 1),
        key_specs: &[ks_noted("RW because it may change the internal representation of the key, and propagate to replicas", "RW access", Begin::Index(1), Find::Range(-1, 1, 0))],
        summary: "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pfmerge",
        arity: -2,
        flags: Flags::of("write denyoom"),
        acl: "@write @hyperloglog @slow",
        keys: (1, -1, 1),
        key_specs: &[ks("RW access insert", Begin::Index(1), Find::Range(0, 1, 0)), ks("RO access", Begin::Index(2), Find::Range(-1, 1, 0))],
        summary: "Merge N different HyperLogLogs into a single one.",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: "O(N) to merge N HyperLogLogs, but with high constant times.",
        ..CommandSpec::DEFAULT
    },
];
