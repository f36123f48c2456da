//! The memory family's command specs: what COMMAND reports and routing reads.

use crate::command::{ks, Begin, CommandSpec, Find, Flags};

const DIAGNOSTIC: &str =
    "nondeterministic_output request_policy:all_shards response_policy:special";

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "memory",
    arity: -2,
    flags: Flags::of(""),
    acl: "@slow",
    keys: (0, 0, 0),
    summary: "A container for memory diagnostics commands",
    since: "4.0.0",
    group: "server",
    complexity: "Depends on subcommand.",
    subcommands: &[
        CommandSpec {
            name: "memory|usage",
            arity: -3,
            flags: Flags::of("readonly"),
            acl: "@read @slow",
            keys: (2, 2, 1),
            key_specs: &[ks("RO", Begin::Index(2), Find::Range(0, 1, 0))],
            summary: "Estimate the memory usage of a key",
            since: "4.0.0",
            group: "server",
            complexity: "O(N) where N is the number of samples.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "memory|stats",
            arity: 2,
            flags: Flags::of(""),
            acl: "@slow",
            keys: (0, 0, 0),
            tips: DIAGNOSTIC,
            summary: "Show memory usage details",
            since: "4.0.0",
            group: "server",
            complexity: "O(1)",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "memory|doctor",
            arity: 2,
            flags: Flags::of(""),
            acl: "@slow",
            keys: (0, 0, 0),
            tips: DIAGNOSTIC,
            summary: "Outputs memory problems report",
            since: "4.0.0",
            group: "server",
            complexity: "O(1)",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "memory|purge",
            arity: 2,
            flags: Flags::of(""),
            acl: "@slow",
            keys: (0, 0, 0),
            tips: "request_policy:all_shards response_policy:all_succeeded",
            summary: "Ask the allocator to release memory",
            since: "4.0.0",
            group: "server",
            complexity: "Depends on how much memory is allocated, could be slow",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "memory|malloc-stats",
            arity: 2,
            flags: Flags::of(""),
            acl: "@slow",
            keys: (0, 0, 0),
            tips: DIAGNOSTIC,
            summary: "Show allocator internal stats",
            since: "4.0.0",
            group: "server",
            complexity: "Depends on how much memory is allocated, could be slow",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "memory|help",
            arity: 2,
            flags: Flags::of("loading stale"),
            acl: "@slow",
            keys: (0, 0, 0),
            summary: "Show helpful text about the different subcommands",
            since: "4.0.0",
            group: "server",
            complexity: "O(1)",
            ..CommandSpec::DEFAULT
        },
    ],
    ..CommandSpec::DEFAULT
}];
