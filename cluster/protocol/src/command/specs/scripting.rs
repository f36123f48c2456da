//! The scripting family's command specs: what COMMAND reports and routing reads.

use crate::command::{ks, ks_noted, Begin, CommandSpec, Find, Flags};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "eval",
        arity: -3,
        flags: Flags::of("noscript stale skip_monitor no_mandatory_keys movablekeys may_replicate"),
        acl: "@slow @scripting",
        keys: (0, 0, 0),
        key_specs: &[ks_noted("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE", "RW access update", Begin::Index(2), Find::Keynum(0, 1, 1))],
        summary: "Execute a Lua script server side",
        since: "2.6.0",
        group: "scripting",
        complexity: "Depends on the script that is executed.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "evalsha",
        arity: -3,
        flags: Flags::of("noscript stale skip_monitor no_mandatory_keys movablekeys may_replicate"),
        acl: "@slow @scripting",
        keys: (0, 0, 0),
        key_specs: &[ks("RW access update", Begin::Index(2), Find::Keynum(0, 1, 1))],
        summary: "Execute a Lua script server side",
        since: "2.6.0",
        group: "scripting",
        complexity: "Depends on the script that is executed.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "eval_ro",
        arity: -3,
        flags: Flags::of("readonly noscript stale skip_monitor no_mandatory_keys movablekeys"),
        acl: "@slow @scripting",
        keys: (0, 0, 0),
        key_specs: &[ks_noted("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS", "RO access", Begin::Index(2), Find::Keynum(0, 1, 1))],
        summary: "Execute a read-only Lua script server side",
        since: "7.0.0",
        group: "scripting",
        complexity: "Depends on the script that is executed.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "evalsha_ro",
        arity: -3,
        flags: Flags::of("readonly noscript stale skip_monitor no_mandatory_keys movablekeys"),
        acl: "@slow @scripting",
        keys: (0, 0, 0),
        key_specs: &[ks("RO access", Begin::Index(2), Find::Keynum(0, 1, 1))],
        summary: "Execute a read-only Lua script server side",
        since: "7.0.0",
        group: "scripting",
        complexity: "Depends on the script that is executed.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "script",
        arity: -2,
        flags: Flags::of(""),
        acl: "@slow",
        keys: (0, 0, 0),
        summary: "A container for Lua scripts management commands",
        since: "2.6.0",
        group: "scripting",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                name: "script|flush",
                arity: -2,
                flags: Flags::of("noscript"),
                acl: "@slow @scripting",
                keys: (0, 0, 0),
                tips: "request_policy:all_nodes response_policy:all_succeeded",
                summary: "Remove all the scripts from the script cache.",
                since: "2.6.0",
                group: "scripting",
                complexity: "O(N) with N being the number of scripts in cache",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "script|help",
                arity: 2,
                flags: Flags::of("loading stale"),
                acl: "@slow @scripting",
                keys: (0, 0, 0),
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                group: "scripting",
                complexity: "O(1)",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "script|exists",
                arity: -3,
                flags: Flags::of("noscript"),
                acl: "@slow @scripting",
                keys: (0, 0, 0),
                tips: "request_policy:all_shards response_policy:agg_logical_and",
                summary: "Check existence of scripts in the script cache.",
                since: "2.6.0",
                group: "scripting",
                complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "script|load",
                arity: 3,
                flags: Flags::of("noscript stale"),
                acl: "@slow @scripting",
                keys: (0, 0, 0),
                tips: "request_policy:all_nodes response_policy:all_succeeded",
                summary: "Load the specified Lua script into the script cache.",
                since: "2.6.0",
                group: "scripting",
                complexity: "O(N) with N being the length in bytes of the script body.",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "script|kill",
                arity: 2,
                flags: Flags::of("noscript allow_busy"),
                acl: "@slow @scripting",
                keys: (0, 0, 0),
                tips: "request_policy:all_shards response_policy:one_succeeded",
                summary: "Kill the script currently in execution.",
                since: "2.6.0",
                group: "scripting",
                complexity: "O(1)",
                ..CommandSpec::DEFAULT
            },
        ],
        ..CommandSpec::DEFAULT
    },
];
