//! The ACL family's command specs: what COMMAND reports (the rules live in `crate::acl`).

use crate::command::{CommandSpec, Flags};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "acl",
    arity: -2,
    flags: Flags::of(""),
    acl: "@slow",
    keys: (0, 0, 0),
    summary: "A container for Access List Control commands",
    since: "6.0.0",
    group: "server",
    complexity: "Depends on subcommand.",
    subcommands: &[
        CommandSpec {
            name: "acl|cat",
            arity: -2,
            flags: Flags::of("noscript loading stale"),
            acl: "@slow",
            keys: (0, 0, 0),
            summary: "List the ACL categories or the commands inside a category",
            since: "6.0.0",
            group: "server",
            complexity: "O(1) since the categories and commands are a fixed set.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|deluser",
            arity: -3,
            flags: Flags::of("admin noscript loading stale"),
            acl: "@admin @slow @dangerous",
            keys: (0, 0, 0),
            summary: "Remove the specified ACL users and the associated rules",
            since: "6.0.0",
            group: "server",
            complexity: "O(1) amortized time considering the typical user.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|dryrun",
            arity: -4,
            flags: Flags::of("admin noscript loading stale"),
            acl: "@admin @slow @dangerous",
            keys: (0, 0, 0),
            summary: "Returns whether the user can execute the given command without executing the command.",
            since: "7.0.0",
            group: "server",
            complexity: "O(1).",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|genpass",
            arity: -2,
            flags: Flags::of("noscript loading stale"),
            acl: "@slow",
            keys: (0, 0, 0),
            summary: "Generate a pseudorandom secure password to use for ACL users",
            since: "6.0.0",
            group: "server",
            complexity: "O(1)",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|getuser",
            arity: 3,
            flags: Flags::of("admin noscript loading stale"),
            acl: "@admin @slow @dangerous",
            keys: (0, 0, 0),
            summary: "Get the rules for a specific ACL user",
            since: "6.0.0",
            group: "server",
            complexity: "O(N). Where N is the number of password, command and pattern rules that the user has.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|help",
            arity: 2,
            flags: Flags::of("loading stale"),
            acl: "@slow",
            keys: (0, 0, 0),
            summary: "Show helpful text about the different subcommands",
            since: "6.0.0",
            group: "server",
            complexity: "O(1)",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|list",
            arity: 2,
            flags: Flags::of("admin noscript loading stale"),
            acl: "@admin @slow @dangerous",
            keys: (0, 0, 0),
            summary: "List the current ACL rules in ACL config file format",
            since: "6.0.0",
            group: "server",
            complexity: "O(N). Where N is the number of configured users.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|load",
            arity: 2,
            flags: Flags::of("admin noscript loading stale"),
            acl: "@admin @slow @dangerous",
            keys: (0, 0, 0),
            summary: "Reload the ACLs from the configured ACL file",
            since: "6.0.0",
            group: "server",
            complexity: "O(N). Where N is the number of configured users.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|log",
            arity: -2,
            flags: Flags::of("admin noscript loading stale"),
            acl: "@admin @slow @dangerous",
            keys: (0, 0, 0),
            summary: "List latest events denied because of ACLs in place",
            since: "6.0.0",
            group: "server",
            complexity: "O(N) with N being the number of entries shown.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|save",
            arity: 2,
            flags: Flags::of("admin noscript loading stale"),
            acl: "@admin @slow @dangerous",
            keys: (0, 0, 0),
            summary: "Save the current ACL rules in the configured ACL file",
            since: "6.0.0",
            group: "server",
            complexity: "O(N). Where N is the number of configured users.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|setuser",
            arity: -3,
            flags: Flags::of("admin noscript loading stale"),
            acl: "@admin @slow @dangerous",
            keys: (0, 0, 0),
            summary: "Modify or create the rules for a specific ACL user",
            since: "6.0.0",
            group: "server",
            complexity: "O(N). Where N is the number of rules provided.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|users",
            arity: 2,
            flags: Flags::of("admin noscript loading stale"),
            acl: "@admin @slow @dangerous",
            keys: (0, 0, 0),
            summary: "List the username of all the configured ACL rules",
            since: "6.0.0",
            group: "server",
            complexity: "O(N). Where N is the number of configured users.",
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "acl|whoami",
            arity: 2,
            flags: Flags::of("noscript loading stale"),
            acl: "@slow",
            keys: (0, 0, 0),
            summary: "Return the name of the user associated to the current connection",
            since: "6.0.0",
            group: "server",
            complexity: "O(1)",
            ..CommandSpec::DEFAULT
        },
    ],
    ..CommandSpec::DEFAULT
}];
