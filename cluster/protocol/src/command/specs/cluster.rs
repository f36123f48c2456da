//! The cluster family's command specs. A proxy serves COUNTKEYSINSLOT, GETKEYSINSLOT and
//! KEYSLOT as a shard server does, and answers INFO, MYID, NODES, SHARDS and SLOTS from its
//! own view.

use crate::command::{CommandSpec, Flags};

const fn sub(
    name: &'static str,
    arity: i64,
    tips: &'static str,
    summary: &'static str,
    since: &'static str,
    complexity: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: Flags::of("stale"),
        acl: "@slow",
        tips,
        summary,
        since,
        group: "cluster",
        complexity,
        ..CommandSpec::DEFAULT
    }
}

/// The CLUSTER subcommands a proxy serves as a shard server does.
pub const COUNTKEYSINSLOT: CommandSpec = sub(
    "cluster|countkeysinslot",
    3,
    "",
    "Returns the number of keys in a hash slot",
    "3.0.0",
    "O(N) where N is the number of keys in the partition",
);
pub const GETKEYSINSLOT: CommandSpec = sub(
    "cluster|getkeysinslot",
    4,
    "nondeterministic_output",
    "Returns the key names in a hash slot",
    "3.0.0",
    "O(N) where N is the number of keys in the partition",
);
pub const KEYSLOT: CommandSpec = sub(
    "cluster|keyslot",
    3,
    "",
    "Returns the hash slot of the specified key",
    "3.0.0",
    "O(N) where N is the number of bytes in the key",
);

pub const HOTKEYS: CommandSpec = sub(
    "cluster|hotkeys",
    -2,
    "nondeterministic_output",
    "Returns the keys with the highest LFU counters, hottest first",
    "slotcache",
    "O(1)",
);

/// A CLUSTER subcommand describing the cluster: a proxy answers from its view of the
/// proxies, a shard server from the placement it watches.
const fn view(name: &'static str, tips: &'static str, summary: &'static str) -> CommandSpec {
    CommandSpec {
        name,
        arity: 2,
        flags: Flags::of("stale"),
        acl: "@slow",
        tips,
        summary,
        since: "3.0.0",
        group: "cluster",
        complexity: "O(N) where N is the total number of Cluster nodes",
        ..CommandSpec::DEFAULT
    }
}

pub const INFO: CommandSpec = CommandSpec {
    complexity: "O(1)",
    ..view(
        "cluster|info",
        "nondeterministic_output",
        "Provides info about Redis Cluster node state",
    )
};
pub const MYID: CommandSpec = CommandSpec {
    complexity: "O(1)",
    ..view("cluster|myid", "", "Return the node id")
};
pub const NODES: CommandSpec = view(
    "cluster|nodes",
    "nondeterministic_output",
    "Get Cluster config for the node",
);
pub const SHARDS: CommandSpec = CommandSpec {
    since: "7.0.0",
    ..view(
        "cluster|shards",
        "nondeterministic_output",
        "Get array of cluster slots to node mappings",
    )
};
pub const SLOTS: CommandSpec = view(
    "cluster|slots",
    "nondeterministic_output",
    "Get array of Cluster slot to node mappings",
);

/// CLUSTER without its subcommands: a proxy serves others.
pub const CONTAINER: CommandSpec = CommandSpec {
    name: "cluster",
    arity: -2,
    acl: "@slow",
    summary: "A container for Redis Cluster commands",
    since: "3.0.0",
    group: "cluster",
    complexity: "Depends on subcommand.",
    ..CommandSpec::DEFAULT
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        subcommands: &[
            COUNTKEYSINSLOT,
            sub(
                "cluster|digest",
                3,
                "",
                "Fingerprints this server's copy of a partition (offset, epoch, keys, digest)",
                "slotcache",
                "O(N) where N is the number of keys in the partition",
            ),
            GETKEYSINSLOT,
            HOTKEYS,
            INFO,
            KEYSLOT,
            MYID,
            NODES,
            sub(
                "cluster|partition",
                3,
                "",
                "Points the connection's keyless commands at a partition this server leads",
                "slotcache",
                "O(1)",
            ),
            SHARDS,
            SLOTS,
        ],
        ..CONTAINER
    },
    CommandSpec {
        name: "readonly",
        arity: 1,
        flags: Flags::of("loading stale fast"),
        acl: "@fast @connection",
        summary: "Enables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(1)",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "readwrite",
        arity: 1,
        flags: Flags::of("loading stale fast"),
        acl: "@fast @connection",
        summary: "Disables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(1)",
        ..CommandSpec::DEFAULT
    },
];
