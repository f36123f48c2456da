//! The latency family's command specs: what COMMAND reports and routing reads.

use crate::command::{CommandSpec, Flags};

const ADMIN: Flags = Flags::of("admin noscript loading stale");
const ADMIN_ACL: &str = "@admin @slow @dangerous";
const SPECIAL: &str = "nondeterministic_output request_policy:all_nodes response_policy:special";

/// What the reporting LATENCY subcommands share, as Redis 7.0 describes them.
const REPORT: CommandSpec = CommandSpec {
    flags: ADMIN,
    acl: ADMIN_ACL,
    tips: SPECIAL,
    since: "2.8.13",
    group: "server",
    complexity: "O(1)",
    ..CommandSpec::DEFAULT
};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "latency",
    arity: -2,
    acl: "@slow",
    summary: "A container for latency diagnostics commands",
    since: "2.8.13",
    group: "server",
    complexity: "Depends on subcommand.",
    subcommands: &[
        CommandSpec {
            name: "latency|doctor",
            arity: 2,
            summary: "Return a human readable latency analysis report.",
            ..REPORT
        },
        CommandSpec {
            name: "latency|graph",
            arity: 3,
            summary: "Return a latency graph for the event.",
            ..REPORT
        },
        CommandSpec {
            name: "latency|help",
            arity: 2,
            flags: Flags::of("loading stale"),
            acl: "@slow",
            summary: "Show helpful text about the different subcommands.",
            since: "2.8.13",
            group: "server",
            complexity: "O(1)",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "latency|histogram",
            arity: -2,
            summary:
                "Return the cumulative distribution of latencies of a subset of commands or all.",
            since: "7.0.0",
            complexity:
                "O(N) where N is the number of commands with latency information being retrieved.",
            ..REPORT
        },
        CommandSpec {
            name: "latency|history",
            arity: 3,
            summary: "Return timestamp-latency samples for the event.",
            ..REPORT
        },
        CommandSpec {
            name: "latency|latest",
            arity: 2,
            summary: "Return the latest latency samples for all events.",
            ..REPORT
        },
        CommandSpec {
            name: "latency|reset",
            arity: -2,
            tips: "request_policy:all_nodes response_policy:all_succeeded",
            summary: "Reset latency data for one or more events.",
            ..REPORT
        },
    ],
    ..CommandSpec::DEFAULT
}];
