//! COMMAND through the proxy: the shard servers' table as the proxy serves it. CLUSTER is the
//! proxy's emulation of Redis Cluster, ASKING is answered here, only the CLIENT subcommands
//! the proxy answers are listed, and the commands it refuses are not.

use crate::refusals::refusal;
use slotcache_protocol::command::catalog::Catalog;
use slotcache_protocol::command::help::CLIENT_HELP;
use slotcache_protocol::command::specs::cluster::{
    CONTAINER, COUNTKEYSINSLOT, GETKEYSINSLOT, HOTKEYS, INFO, KEYSLOT, MYID, NODES, SHARDS, SLOTS,
};
use slotcache_protocol::command::{CommandSpec, Flags, Table};
use std::sync::OnceLock;

static CLUSTER: CommandSpec = CommandSpec {
    subcommands: &[
        COUNTKEYSINSLOT,
        GETKEYSINSLOT,
        HOTKEYS,
        INFO,
        KEYSLOT,
        MYID,
        NODES,
        SHARDS,
        SLOTS,
    ],
    ..CONTAINER
};

static ASKING: CommandSpec = CommandSpec {
    name: "asking",
    arity: 1,
    flags: Flags::of("fast"),
    acl: "@fast @connection",
    summary: "Sent by cluster clients after an -ASK redirect",
    since: "3.0.0",
    group: "cluster",
    complexity: "O(1)",
    ..CommandSpec::DEFAULT
};

/// The CLIENT subcommands [`crate::session::Session`] answers.
const CLIENT_SUBCOMMANDS: &[&str] = &[
    "client|id",
    "client|setname",
    "client|getname",
    "client|setinfo",
    "client|reply",
    "client|help",
    "client|tracking",
    "client|caching",
    "client|getredir",
    "client|trackinginfo",
    "client|pause",
    "client|unpause",
    "client|list",
    "client|info",
    "client|kill",
];

/// CLIENT HELP through the proxy: the shard servers' text for the subcommands it answers (a
/// usage line and the indented lines under it).
pub fn client_help() -> Vec<&'static str> {
    let mut shown = false;
    CLIENT_HELP
        .iter()
        .filter(|line| {
            if !line.starts_with(' ') {
                let usage = line.split(' ').next().unwrap_or_default();
                let name = format!("client|{}", usage.to_ascii_lowercase());
                shown = CLIENT_SUBCOMMANDS.contains(&name.as_str());
            }
            shown
        })
        .copied()
        .collect()
}

/// Whether the proxy serves a command, by its name or `container|sub` name.
fn serves(name: &str) -> bool {
    let container = name.split('|').next().unwrap_or_default();
    if container == "client" && name != container {
        return CLIENT_SUBCOMMANDS.contains(&name);
    }
    refusal(container).is_none()
}

/// What COMMAND answers through the proxy.
pub fn catalog() -> &'static Catalog {
    static PROXY: OnceLock<Catalog> = OnceLock::new();
    PROXY.get_or_init(|| {
        let top_level = Table::get()
            .top_level
            .iter()
            .copied()
            .filter(|spec| spec.name != "cluster" && serves(spec.name))
            .chain([&CLUSTER, &ASKING])
            .collect();
        Catalog::new(top_level, serves)
    })
}
