//! The pubsub family's command specs: what COMMAND reports and routing reads.

use crate::command::{ks, Begin, CommandSpec, Find, Flags};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "subscribe",
        arity: -2,
        flags: Flags::of("pubsub noscript loading stale"),
        acl: "@pubsub @slow",
        keys: (0, 0, 0),
        summary: "Listen for messages published to the given channels",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of channels to subscribe to.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "unsubscribe",
        arity: -1,
        flags: Flags::of("pubsub noscript loading stale"),
        acl: "@pubsub @slow",
        keys: (0, 0, 0),
        summary: "Stop listening for messages posted to the given channels",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of clients already subscribed to a channel.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "psubscribe",
        arity: -2,
        flags: Flags::of("pubsub noscript loading stale"),
        acl: "@pubsub @slow",
        keys: (0, 0, 0),
        summary: "Listen for messages published to channels matching the given patterns",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of patterns the client is already subscribed to.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "punsubscribe",
        arity: -1,
        flags: Flags::of("pubsub noscript loading stale"),
        acl: "@pubsub @slow",
        keys: (0, 0, 0),
        summary: "Stop listening for messages posted to channels matching the given patterns",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "publish",
        arity: 3,
        flags: Flags::of("pubsub loading stale fast may_replicate"),
        acl: "@pubsub @fast",
        keys: (0, 0, 0),
        summary: "Post a message to a channel",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pubsub",
        arity: -2,
        flags: Flags::of(""),
        acl: "@slow",
        keys: (0, 0, 0),
        summary: "A container for Pub/Sub commands",
        since: "2.8.0",
        group: "pubsub",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                name: "pubsub|numsub",
                arity: -2,
                flags: Flags::of("pubsub loading stale"),
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "Get the count of subscribers for channels",
                since: "2.8.0",
                group: "pubsub",
                complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|numpat",
                arity: 2,
                flags: Flags::of("pubsub loading stale"),
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "Get the count of unique patterns pattern subscriptions",
                since: "2.8.0",
                group: "pubsub",
                complexity: "O(1)",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|help",
                arity: 2,
                flags: Flags::of("loading stale"),
                acl: "@slow",
                keys: (0, 0, 0),
                summary: "Show helpful text about the different subcommands",
                since: "6.2.0",
                group: "pubsub",
                complexity: "O(1)",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|channels",
                arity: -2,
                flags: Flags::of("pubsub loading stale"),
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "List active channels",
                since: "2.8.0",
                group: "pubsub",
                complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|shardnumsub",
                arity: -2,
                flags: Flags::of("pubsub loading stale"),
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "Get the count of subscribers for shard channels",
                since: "7.0.0",
                group: "pubsub",
                complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|shardchannels",
                arity: -2,
                flags: Flags::of("pubsub loading stale"),
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "List active shard channels",
                since: "7.0.0",
                group: "pubsub",
                complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
                ..CommandSpec::DEFAULT
            },
        ],
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "ssubscribe",
        arity: -2,
        flags: Flags::of("pubsub noscript loading stale"),
        acl: "@pubsub @slow",
        keys: (1, -1, 1),
        key_specs: &[ks("not_key", Begin::Index(1), Find::Range(-1, 1, 0))],
        summary: "Listen for messages published to the given shard channels",
        since: "7.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of shard channels to subscribe to.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sunsubscribe",
        arity: -1,
        flags: Flags::of("pubsub noscript loading stale"),
        acl: "@pubsub @slow",
        keys: (1, -1, 1),
        key_specs: &[ks("not_key", Begin::Index(1), Find::Range(-1, 1, 0))],
        summary: "Stop listening for messages posted to the given shard channels",
        since: "7.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of clients already subscribed to a shard channel.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "spublish",
        arity: 3,
        flags: Flags::of("pubsub loading stale fast may_replicate"),
        acl: "@pubsub @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("not_key", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Post a message to a shard channel",
        since: "7.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
        ..CommandSpec::DEFAULT
    },

];
