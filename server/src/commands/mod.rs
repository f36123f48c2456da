//! The shard server's commands: each family module holds its handlers and registers them
//! by name in one `HANDLERS` list; their specs (arity, flags, key specs, docs) are the shared
//! catalog's (`slotcache_protocol::command`), which alone drives lookup, arity errors, key
//! extraction and the `COMMAND` replies.

pub mod acl;
pub mod bits;
pub mod cluster;
pub mod connection;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod helpers;
pub mod hyperloglog;
pub mod keys;
pub mod latency;
pub mod lists;
pub mod memory;
pub mod pops;
pub mod pubsub;
pub mod scan;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod stream_groups;
pub mod streams;
pub mod strings;
pub mod tracking;
pub mod transactions;
pub mod zset_algebra;
pub mod zsets;

use crate::client::Client;
use crate::engine::Db;
use crate::partition::Keyspace;
use crate::state::Server;
use slotcache_protocol::resp::Reply;
use std::sync::OnceLock;

pub use slotcache_protocol::command::{
    arity_error, is, ks, subcommand_syntax, unknown_command, unknown_subcommand, ArgCursor, Args,
    Begin, CmdError, CommandSpec, Find, Resolved, Table,
};

pub use helpers::{
    help_reply, index_range, int_arg, intercard_limit, millis_arg, parse_f64, random_count,
    random_pair_args, random_picks, read_typed, remove_members, reply_no_random, reply_pairs,
    write_typed,
};

pub type CmdResult = Result<Outcome, CmdError>;
pub type Handler = fn(&mut Ctx, &Args) -> CmdResult;

/// What a command leaves its connection to do once its reply (if any) is written: most
/// only reply; a few wait or end the connection, which the caller carries out (the network
/// loop blocks or closes; EXEC, scripts and replication, which cannot wait, ignore waits).
#[must_use]
#[derive(Debug)]
pub enum Outcome {
    Replied,
    /// Nothing to serve yet: wait on keys (BLPOP, XREAD BLOCK...), replying nothing now.
    Block(crate::blocking::BlockRequest),
    /// WAIT: reply once `wanted` replicas have every write so far, or at the deadline.
    AwaitReplicas {
        wanted: usize,
        deadline: Option<std::time::Instant>,
    },
    /// Close the connection after the reply (QUIT, CLIENT KILL of itself).
    Close,
}

pub use Outcome::Replied;

/// Everything a handler may touch while it runs.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub client: &'a mut Client,
    pub ks: &'a mut Keyspace,
    pub out: &'a mut Reply,
    /// Milliseconds since the epoch, fixed for the duration of one command as Redis's
    /// `commandTimeSnapshot`, so a command sees one consistent notion of "expired".
    pub now: i64,
}

impl Ctx<'_> {
    pub fn db(&mut self) -> &mut Db {
        &mut self.ks.dbs[self.client.db]
    }

    /// Publishes a keyspace event about `key` in this connection's database (see
    /// [`crate::notify`]); nothing when the setting leaves `class` out.
    /// Keys the command created are announced first (`new`), as Redis does on creation.
    /// Every call is a change a command made, and counts as one for INFO.
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        self.notify_in(self.client.db, class, event, key);
    }

    /// [`Ctx::notify`] for a change in database `db` (COPY ... DB, MOVE).
    pub fn notify_in(&mut self, db: usize, class: u32, event: &str, key: &[u8]) {
        self.ks.dbs[db].stats.changes += 1;
        self.announce_created(db);
        crate::notify::event(self.server, class, event, key, db);
    }

    /// The `new` events of the keys created in database `db` so far, when they are wanted.
    pub fn announce_created(&mut self, db: usize) {
        if crate::notify::flags() & crate::notify::NEW != 0 {
            for created in self.ks.dbs[db].take_created() {
                crate::notify::event(self.server, crate::notify::NEW, "new", &created, db);
            }
        }
    }

    /// The database and the reply at once, to reply while borrowing a value.
    pub fn db_and_out(&mut self) -> (&mut Db, &mut Reply) {
        (&mut self.ks.dbs[self.client.db], &mut *self.out)
    }
}

/// Every family's handlers, in one list.
const FAMILIES: [&[(&str, Handler)]; 25] = [
    acl::HANDLERS,
    cluster::HANDLERS,
    connection::HANDLERS,
    tracking::HANDLERS,
    hashes::HANDLERS,
    sets::HANDLERS,
    lists::HANDLERS,
    zsets::HANDLERS,
    zset_algebra::HANDLERS,
    geo::HANDLERS,
    hyperloglog::HANDLERS,
    streams::HANDLERS,
    stream_groups::HANDLERS,
    scripting::HANDLERS,
    functions::HANDLERS,
    transactions::HANDLERS,
    pubsub::HANDLERS,
    server::HANDLERS,
    memory::HANDLERS,
    slowlog::HANDLERS,
    latency::HANDLERS,
    keys::HANDLERS,
    sort::HANDLERS,
    strings::HANDLERS,
    bits::HANDLERS,
];

/// The handler of a resolved command, by its table index; None for a container, which runs
/// only through its subcommands.
pub fn handler(resolved: Resolved) -> Option<Handler> {
    static HANDLERS: OnceLock<Vec<Option<Handler>>> = OnceLock::new();
    HANDLERS.get_or_init(|| {
        let table = Table::get();
        let mut handlers = vec![None; table.all.len()];
        for (name, handler) in FAMILIES.iter().copied().flatten() {
            let resolved = table.lookup(name.as_bytes());
            let resolved = resolved.unwrap_or_else(|| panic!("{name} has a handler but no spec"));
            handlers[resolved.index] = Some(*handler);
        }
        handlers
    })[resolved.index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_handler() {
        let table = Table::get();
        for (index, spec) in table.all.iter().enumerate() {
            assert!(
                handler(Resolved { spec, index }).is_some() || !spec.subcommands.is_empty(),
                "{} must have a handler or subcommands",
                spec.name
            );
        }
    }
}
