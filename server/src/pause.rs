//! CLIENT PAUSE on a shard server (the state is [`slotcache_protocol::pause`]): a held command
//! stays first in its connection's queue, and the connection runs it once the pause lets it
//! through. While a pause holds, keys past their deadline look expired but stay, and nothing
//! is evicted (see [`crate::engine::db::hold_deletions`]), so nothing changes meanwhile.

use crate::blocking::{BlockRequest, Blocked};
use crate::client::Client;
use crate::engine::ValueType;
use crate::state::{now_ms, Server};
use bytes::Bytes;
use slotcache_protocol::command::{CommandSpec, Flag, Resolved, Table};
use slotcache_protocol::pause::{needed_for, ClientPause, PauseMode};

/// The server's pause.
#[derive(Default)]
pub struct ServerPause {
    state: ClientPause,
}

impl ServerPause {
    pub fn pause(&self, mode: PauseMode, millis: u64) {
        self.state.pause(mode, millis);
        crate::engine::db::hold_deletions(Some(now_ms().saturating_add(millis as i64)));
    }

    pub fn unpause(&self) {
        self.state.unpause();
        crate::engine::db::hold_deletions(None);
    }

    /// How many connections wait for the pause to end.
    pub fn waiting(&self) -> usize {
        self.state.waiting()
    }

    /// When the pause in force holds `args`: the weakest mode that holds it. A request to be
    /// refused (unknown, wrong arity, not authenticated) is not held: its error is answered
    /// at once, as Redis does.
    pub fn holds(
        &self,
        server: &Server,
        client: &Client,
        command: Option<&Resolved>,
        args: &[Bytes],
    ) -> Option<PauseMode> {
        let (mode, resolved) = (self.state.mode()?, command?);
        let spec = resolved.spec;
        if !spec.arity_ok(args.len()) || (!client.authenticated && !spec.flags.has(Flag::NoAuth)) {
            return None;
        }
        let needed = needed_for(may_write(server, client, spec, args));
        (needed <= mode).then_some(needed)
    }

    /// Parks a command held by pauses of `needed` or stricter: the returned handle's reply
    /// (empty) arrives once the pause no longer holds it, and the connection then runs it.
    pub fn wait(&self, client: &Client, needed: PauseMode) -> Blocked {
        let released = self.state.released(needed);
        let (mut reply, receiver) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            tokio::select! {
                () = released => { let _ = reply.send(Vec::new()); }
                () = reply.closed() => {}
            }
        });
        Blocked {
            id: client.id,
            reply: receiver,
            request: BlockRequest {
                keys: Vec::new(),
                deadline: None,
                kind: ValueType::String,
                replay: None,
                null_array_on_timeout: false,
                fails_when_gone: false,
            },
        }
    }
}

/// Whether a request may write, as CLIENT PAUSE WRITE decides: by its flags; a script call by
/// the flags it declares; EXEC by what it queued.
fn may_write(server: &Server, client: &Client, spec: &CommandSpec, args: &[Bytes]) -> bool {
    if spec.name == "exec" {
        return client.multi.as_ref().is_some_and(|queued| {
            queued.iter().any(|args| {
                Table::get()
                    .resolve(args)
                    .is_ok_and(|queued| command_may_write(server, queued.spec, args))
            })
        });
    }
    command_may_write(server, spec, args)
}

fn command_may_write(server: &Server, spec: &CommandSpec, args: &[Bytes]) -> bool {
    if spec.group == "scripting" {
        if let Some(writes) = server.scripts.declared_writes(args) {
            return writes;
        }
    }
    slotcache_protocol::pause::may_write(spec)
}
