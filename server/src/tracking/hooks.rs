//! Where tracking meets the running server: what a command read and changed, what expiry and
//! eviction let go (also published as keyspace events), and the hand-over of each message to
//! the connection it is for.

use super::{Push, Pushes, Tracking};
use crate::client::Client;
use crate::commands::CommandSpec;
use crate::engine::db::Cause;
use crate::notify;
use crate::partition::Keyspace;
use crate::state::Server;
use bytes::Bytes;
use slotcache_protocol::command::Flag;
use slotcache_protocol::resp::Reply;

/// Commands that run a script: they remember their declared keys when the script read.
const SCRIPT_RUNNERS: &[&str] = &[
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

/// After a command ran for `client`: remembers the keys it read, when the connection tracks
/// them, and ends a one-command CLIENT CACHING.
pub fn after_run(server: &Server, client: &mut Client, spec: &CommandSpec, args: &[Bytes]) {
    let Some(mode) = client.tracking else {
        return;
    };
    let read = match SCRIPT_RUNNERS.contains(&spec.name) {
        true => std::mem::take(&mut client.read_in_script),
        false => spec.flags.has(Flag::Readonly) && !spec.flags.has(Flag::Pubsub),
    };
    let opted_out = (mode.optin && !client.caching) || (mode.optout && client.caching);
    if read && !mode.bcast && !opted_out {
        let positions = spec.key_positions(args);
        let keys = positions
            .iter()
            .filter_map(|&i| args.get(i))
            .map(|k| &k[..]);
        server.tracking.state.lock().remember(client.id, keys);
    }
    if client.caching
        && client.multi.is_none()
        && !client.in_exec
        && !spec.name.starts_with("client")
    {
        client.caching = false;
    }
}

/// Runs `decide` on the tracking state with what it needs to know which connections exist.
fn decide(
    server: &Server,
    decide: impl FnOnce(&mut Tracking, &dyn Fn(u64) -> bool, &mut Pushes),
) -> Pushes {
    let mut pushes = Vec::new();
    let exists = |id: u64| server.clients.lock().contains_key(&id);
    decide(&mut server.tracking.state.lock(), &exists, &mut pushes);
    pushes
}

/// What the keyspace's databases changed since the last look: expiries, evictions and new
/// keys are published as keyspace events, and every change is invalidated for the
/// connections tracking it. `current`: the connection whose command ran (None: the server's
/// own work).
fn invalidate_changes(server: &Server, ks: &mut Keyspace, current: Option<u64>) -> Pushes {
    let mut changes = Vec::new();
    for (db, database) in ks.dbs.iter_mut().enumerate() {
        changes.extend(database.take_changes().into_iter().map(|c| (db, c)));
    }
    for (db, change) in &changes {
        let (class, event) = match change.cause {
            Cause::Expired => (notify::EXPIRED, "expired"),
            Cause::Evicted => (notify::EVICTED, "evicted"),
            Cause::Created => (notify::NEW, "new"),
            Cause::Command => continue,
        };
        notify::event(server, class, event, &change.key, *db);
    }
    if !server.tracking.active() {
        return Vec::new();
    }
    let max_keys = server.config.read().tracking_table_max_keys as usize;
    decide(server, |state, exists, pushes| {
        for (_, change) in &changes {
            let by = match change.cause {
                Cause::Command => current,
                Cause::Created => continue,
                Cause::Expired | Cause::Evicted => None,
            };
            state.invalidate(&change.key, by, current, exists, pushes);
        }
        state.broadcast(exists, pushes);
        state.enforce_limit(max_keys, exists, pushes);
    })
}

/// The server's periodic work: keeps the key table within `tracking-table-max-keys`.
pub fn cron(server: &Server) {
    if server.tracking.active() {
        let max_keys = server.config.read().tracking_table_max_keys as usize;
        let pushes = decide(server, |state, exists, pushes| {
            state.enforce_limit(max_keys, exists, pushes)
        });
        for (id, push) in pushes {
            send(server, id, push);
        }
    }
}

/// After a client's top-level command (and the blocked commands it served): sends what it
/// changed to the connections tracking it, then writes this connection's own messages after
/// its reply, as Redis does (never inside a transaction's or a script's reply).
pub fn after_command(server: &Server, client: &mut Client, ks: &mut Keyspace, out: &mut Reply) {
    if crate::engine::db::recording_changes() {
        let pushes = invalidate_changes(server, ks, Some(client.id));
        deliver(server, client, pushes);
    }
    write_own(client, out);
}

/// After the server's own work on a keyspace (active expiry, a follower applying its leader's
/// records): sends what changed to the connections tracking it.
pub fn after_server_work(server: &Server, ks: &mut Keyspace) {
    if crate::engine::db::recording_changes() {
        for (id, push) in invalidate_changes(server, ks, None) {
            send(server, id, push);
        }
    }
}

/// FLUSHDB / FLUSHALL: every tracking connection drops its whole cache.
pub fn flushed(server: &Server, client: &mut Client) {
    let pushes = decide(server, |state, exists, pushes| state.flush(exists, pushes));
    deliver(server, client, pushes);
}

/// Hands each message to its connection; the running connection keeps its own until its
/// reply is written.
pub fn deliver(server: &Server, client: &mut Client, pushes: Pushes) {
    for (id, push) in pushes {
        match id == client.id {
            true => client.pushes.push(push),
            false => send(server, id, push),
        }
    }
}

fn send(server: &Server, id: u64, push: Push) {
    let target = server.clients.lock().get(&id).cloned();
    if let Some(info) = target {
        info.send(crate::client::Notice::Tracking(push));
    }
}

/// Writes the running connection's own messages.
pub fn write_own(client: &mut Client, out: &mut Reply) {
    if client.pushes.is_empty() {
        return;
    }
    let subscribed = client.subscriptions.is_subscribed();
    for push in client.pushes.drain(..) {
        super::write_push(out, &push, subscribed);
    }
}
