//! The functions family's command specs: what COMMAND reports and routing reads.

use crate::command::{ks_noted, Begin, CommandSpec, Find, Flags};

const ALL_SHARDS: &str = "request_policy:all_shards response_policy:all_succeeded";

const READ_ACL: &str = "@slow @scripting";

const WRITE_ACL: &str = "@write @slow @scripting";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "fcall",
        arity: -3,
        flags: Flags::of("noscript stale skip_monitor no_mandatory_keys movablekeys may_replicate"),
        acl: "@slow @scripting",
        keys: (0, 0, 0),
        key_specs: &[ks_noted("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE", "RW access update", Begin::Index(2), Find::Keynum(0, 1, 1))],
        summary: "Invoke a function",
        since: "7.0.0",
        group: "scripting",
        complexity: "Depends on the function that is executed.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "fcall_ro",
        arity: -3,
        flags: Flags::of("readonly noscript stale skip_monitor no_mandatory_keys movablekeys"),
        acl: "@slow @scripting",
        keys: (0, 0, 0),
        key_specs: &[ks_noted("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS", "RO access", Begin::Index(2), Find::Keynum(0, 1, 1))],
        summary: "Invoke a read-only function",
        since: "7.0.0",
        group: "scripting",
        complexity: "Depends on the function that is executed.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "function",
        arity: -2,
        flags: Flags::of(""),
        acl: "@slow",
        keys: (0, 0, 0),
        summary: "A container for function commands",
        since: "7.0.0",
        group: "scripting",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                name: "function|load",
                arity: -3,
                flags: Flags::of("write denyoom noscript"),
                acl: WRITE_ACL,
                keys: (0, 0, 0),
                tips: ALL_SHARDS,
                summary: "Create a function with the given arguments (name, code, description)",
                since: "7.0.0",
                group: "scripting",
                complexity: "O(1) (considering compilation time is redundant)",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "function|restore",
                arity: -3,
                flags: Flags::of("write denyoom noscript"),
                acl: WRITE_ACL,
                keys: (0, 0, 0),
                tips: ALL_SHARDS,
                summary: "Restore all the functions on the given payload",
                since: "7.0.0",
                group: "scripting",
                complexity: "O(N) where N is the number of functions on the payload",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "function|delete",
                arity: 3,
                flags: Flags::of("write noscript"),
                acl: WRITE_ACL,
                keys: (0, 0, 0),
                tips: ALL_SHARDS,
                summary: "Delete a function by name",
                since: "7.0.0",
                group: "scripting",
                complexity: "O(1)",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "function|flush",
                arity: -2,
                flags: Flags::of("write noscript"),
                acl: WRITE_ACL,
                keys: (0, 0, 0),
                tips: ALL_SHARDS,
                summary: "Deleting all functions",
                since: "7.0.0",
                group: "scripting",
                complexity: "O(N) where N is the number of functions deleted",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "function|list",
                arity: -2,
                flags: Flags::of("noscript"),
                acl: READ_ACL,
                keys: (0, 0, 0),
                tips: "nondeterministic_output_order",
                summary: "List information about all the functions",
                since: "7.0.0",
                group: "scripting",
                complexity: "O(N) where N is the number of functions",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "function|dump",
                arity: 2,
                flags: Flags::of("noscript"),
                acl: READ_ACL,
                keys: (0, 0, 0),
                summary: "Dump all functions into a serialized binary payload",
                since: "7.0.0",
                group: "scripting",
                complexity: "O(N) where N is the number of functions",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "function|stats",
                arity: 2,
                flags: Flags::of("noscript allow_busy"),
                acl: READ_ACL,
                keys: (0, 0, 0),
                tips: "nondeterministic_output request_policy:all_shards response_policy:special",
                summary: "Return information about the function currently running (name, description, duration)",
                since: "7.0.0",
                group: "scripting",
                complexity: "O(1)",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "function|kill",
                arity: 2,
                flags: Flags::of("noscript allow_busy"),
                acl: READ_ACL,
                keys: (0, 0, 0),
                tips: "request_policy:all_shards response_policy:one_succeeded",
                summary: "Kill the function currently in execution.",
                since: "7.0.0",
                group: "scripting",
                complexity: "O(1)",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "function|help",
                arity: 2,
                flags: Flags::of("loading stale"),
                acl: READ_ACL,
                keys: (0, 0, 0),
                summary: "Show helpful text about the different subcommands",
                since: "7.0.0",
                group: "scripting",
                complexity: "O(1)",
                ..CommandSpec::DEFAULT
            },
        ],
        ..CommandSpec::DEFAULT
    },
];
