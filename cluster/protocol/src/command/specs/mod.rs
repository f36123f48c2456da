//! Each family's specs, as Redis keeps one file per type family.

pub mod acl;
pub mod bits;
pub mod cluster;
pub mod connection;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod latency;
pub mod lists;
pub mod memory;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;

use super::CommandSpec;

/// Every family's table, in one list.
pub fn families() -> [&'static [CommandSpec]; 22] {
    [
        acl::COMMANDS,
        cluster::COMMANDS,
        connection::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        lists::COMMANDS,
        zsets::COMMANDS,
        geo::COMMANDS,
        hyperloglog::COMMANDS,
        streams::COMMANDS,
        scripting::COMMANDS,
        functions::COMMANDS,
        transactions::COMMANDS,
        pubsub::COMMANDS,
        server::COMMANDS,
        memory::COMMANDS,
        slowlog::COMMANDS,
        latency::COMMANDS,
        keys::COMMANDS,
        sort::COMMANDS,
        strings::COMMANDS,
        bits::COMMANDS,
    ]
}
