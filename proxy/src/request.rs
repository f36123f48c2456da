//! What a client's request is to the proxy, decided once when it is parsed: its command's
//! entry in the table and the kind of handling it takes. Pauses, turns, transactions and
//! routing then read the decision instead of matching the name again.

use bytes::Bytes;
use slotcache_protocol::command::route::{route_request, route_resolved, RouteError};
use slotcache_protocol::command::{is, CommandSpec, Flag, Table};
use slotcache_protocol::pause::may_write;

/// How a request is handled beyond being answered here or forwarded by its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handling {
    Exec,
    Reset,
    Multi,
    Discard,
    Quit,
    Watch,
    Unwatch,
    /// HELLO: the protocol of every later reply changes.
    Hello,
    Monitor,
    /// CLIENT TRACKING: the client's lanes to the shard servers change.
    ClientTracking,
    /// (P|S)(UN)SUBSCRIBE.
    Subscription,
    /// EVAL* (`function` false) or FCALL* (true): counted as running at its server, for BUSY.
    Script {
        function: bool,
    },
    Other,
}

/// A request's command: how it is handled, and its spec resolved once (None when the table knows no
/// such command or subcommand: the error is worded when it is routed).
#[derive(Clone, Copy)]
pub struct Command {
    pub handling: Handling,
    pub spec: Option<&'static CommandSpec>,
    /// The command's place in the table, where its statistics are kept.
    pub index: Option<usize>,
}

impl Command {
    /// `name` is the command's name in lower case.
    pub fn of(name: &str, args: &[Bytes]) -> Command {
        let handling = match name {
            "exec" => Handling::Exec,
            "reset" => Handling::Reset,
            "multi" => Handling::Multi,
            "discard" => Handling::Discard,
            "quit" => Handling::Quit,
            "watch" => Handling::Watch,
            "unwatch" => Handling::Unwatch,
            "hello" => Handling::Hello,
            "monitor" => Handling::Monitor,
            "client" if args.len() > 2 && is(&args[1], "tracking") => Handling::ClientTracking,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" => Handling::Script { function: false },
            "fcall" | "fcall_ro" => Handling::Script { function: true },
            _ if crate::pubsub::is_subscription(name) => Handling::Subscription,
            _ => Handling::Other,
        };
        let resolved = Table::get().resolve(args).ok();
        Command {
            handling,
            spec: resolved.as_ref().map(|r| r.spec),
            index: resolved.map(|r| r.index),
        }
    }

    /// The spec, when the call has the command's arity.
    pub fn well_formed(&self, args: &[Bytes]) -> Option<&'static CommandSpec> {
        self.spec.filter(|spec| spec.arity_ok(args.len()))
    }

    /// Whether CLIENT PAUSE WRITE holds the request at the proxy: it may write by its flags,
    /// and is no script (a script's shard server decides by the script's flags).
    pub fn held_when_writes_pause(&self) -> bool {
        self.spec
            .is_some_and(|spec| spec.group != "scripting" && may_write(spec))
    }

    /// Whether the command may use memory (Redis's `denyoom` flag).
    pub fn may_use_memory(&self) -> bool {
        self.spec.is_some_and(|spec| spec.flags.has(Flag::Denyoom))
    }

    /// The spec and the slot the request's keys hash to (None when keyless), or the error
    /// Redis Cluster answers: unknown command, wrong arity, CROSSSLOT.
    pub fn route(
        &self,
        args: &[Bytes],
        together: impl Fn(u16, u16) -> bool,
    ) -> Result<(&'static CommandSpec, Option<u16>), RouteError> {
        match self.spec {
            Some(spec) => route_resolved(spec, args, together),
            // Resolved again only to word the error.
            None => route_request(args, together),
        }
    }
}
