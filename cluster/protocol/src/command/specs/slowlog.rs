//! The slowlog family's command specs: what COMMAND reports and routing reads.

use crate::command::{CommandSpec, Flags};

const ADMIN: Flags = Flags::of("admin loading stale");

const ADMIN_ACL: &str = "@admin @slow @dangerous";

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "slowlog",
    arity: -2,
    flags: Flags::of(""),
    acl: "@slow",
    keys: (0, 0, 0),
    summary: "A container for slow log commands",
    since: "2.2.12",
    group: "server",
    complexity: "Depends on subcommand.",
    subcommands: &[
        CommandSpec {
            name: "slowlog|get",
            arity: -2,
            flags: ADMIN,
            acl: ADMIN_ACL,
            keys: (0, 0, 0),
            tips: "request_policy:all_nodes nondeterministic_output",
            summary: "Get the slow log's entries",
            since: "2.2.12",
            group: "server",
            complexity: "O(N) where N is the number of entries returned",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "slowlog|len",
            arity: 2,
            flags: ADMIN,
            acl: ADMIN_ACL,
            keys: (0, 0, 0),
            tips: "request_policy:all_nodes response_policy:agg_sum nondeterministic_output",
            summary: "Get the slow log's length",
            since: "2.2.12",
            group: "server",
            complexity: "O(1)",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "slowlog|reset",
            arity: 2,
            flags: ADMIN,
            acl: ADMIN_ACL,
            keys: (0, 0, 0),
            tips: "request_policy:all_nodes response_policy:all_succeeded",
            summary: "Clear all entries from the slow log",
            since: "2.2.12",
            group: "server",
            complexity: "O(N) where N is the number of entries in the slowlog",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "slowlog|help",
            arity: 2,
            flags: Flags::of("loading stale"),
            acl: "@slow",
            keys: (0, 0, 0),
            summary: "Show helpful text about the different subcommands",
            since: "6.2.0",
            group: "server",
            complexity: "O(1)",
            ..CommandSpec::DEFAULT
        },
    ],
    ..CommandSpec::DEFAULT
}];
