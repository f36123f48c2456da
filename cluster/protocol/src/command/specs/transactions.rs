//! The transactions family's command specs: what COMMAND reports and routing reads.

use crate::command::{ks, Begin, CommandSpec, Find, Flags};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "multi",
        arity: 1,
        flags: Flags::of("noscript loading stale fast allow_busy"),
        acl: "@fast @transaction",
        keys: (0, 0, 0),
        summary: "Mark the start of a transaction block",
        since: "1.2.0",
        group: "transactions",
        complexity: "O(1)",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "exec",
        arity: 1,
        flags: Flags::of("noscript loading stale skip_slowlog"),
        acl: "@slow @transaction",
        keys: (0, 0, 0),
        summary: "Execute all commands issued after MULTI",
        since: "1.2.0",
        group: "transactions",
        complexity: "Depends on commands in the transaction",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "discard",
        arity: 1,
        flags: Flags::of("noscript loading stale fast allow_busy"),
        acl: "@fast @transaction",
        keys: (0, 0, 0),
        summary: "Discard all commands issued after MULTI",
        since: "2.0.0",
        group: "transactions",
        complexity: "O(N), when N is the number of queued commands",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "watch",
        arity: -2,
        flags: Flags::of("noscript loading stale fast allow_busy"),
        acl: "@fast @transaction",
        keys: (1, -1, 1),
        key_specs: &[ks("RO", Begin::Index(1), Find::Range(-1, 1, 0))],
        summary: "Watch the given keys to determine execution of the MULTI/EXEC block",
        since: "2.2.0",
        group: "transactions",
        complexity: "O(1) for every key.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "unwatch",
        arity: 1,
        flags: Flags::of("noscript loading stale fast allow_busy"),
        acl: "@fast @transaction",
        keys: (0, 0, 0),
        summary: "Forget about all watched keys",
        since: "2.2.0",
        group: "transactions",
        complexity: "O(1)",
        ..CommandSpec::DEFAULT
    },
];
