//! MULTI/EXEC/WATCH through the proxy. A transaction is queued here and checked as Redis
//! Cluster checks it (an unknown command or a cross-slot one fails it; commands of different
//! slots fail EXEC with CROSSSLOT), then sent as one run of MULTI, the commands and EXEC to
//! the leader of its slot. A shared backend connection carries it unless keys are watched:
//! WATCH opens a connection of the client's own to the leader of the watched keys' partition
//! (one per partition watched), and the transaction then runs on the connection watching its
//! partition, so the server sees the watch and the transaction together. The watches of
//! other partitions are checked first, each with an empty transaction: a broken one aborts
//! EXEC as a changed key does in Redis.

use crate::backend::{connect_as, read_reply, Via};
use crate::forward::{
    is_redirect, last_reply, send_routed, until_routed, NO_LEADER, UNEXPECTED_REPLY,
};
use crate::request::{Command, Handling};
use crate::session::{error_reply, Pending, Session};
use bytes::{Bytes, BytesMut};
use slotcache_protocol::command::route::RouteError;
use slotcache_protocol::command::{EXECABORT, EXEC_WITHOUT_MULTI};
use slotcache_protocol::resp::frame::frames;
use slotcache_protocol::resp::request::encode;
use slotcache_protocol::tls::{send, Stream};
use std::sync::Arc;

/// A transaction being queued.
#[derive(Default)]
pub struct Transaction {
    /// The queued commands.
    queued: Vec<Vec<Bytes>>,
    /// The slot of the first queued command with keys.
    slot: Option<u16>,
    /// A later command's keys hash elsewhere: EXEC answers CROSSSLOT.
    cross_slot: bool,
    /// A command was refused while queued: EXEC answers EXECABORT.
    failed: bool,
    /// A queued command may write by its flags: CLIENT PAUSE WRITE holds the EXEC.
    pub writes: bool,
    /// A script is queued: CLIENT PAUSE WRITE may hold the EXEC at its shard server.
    pub scripts: bool,
}

impl Transaction {
    /// A command was refused while queued (by ACL, before it reached here): EXEC aborts.
    pub fn refuse(&mut self) {
        self.failed = true;
    }
}

/// Keys under WATCH, on the client's own connection to their partition's leader.
pub struct Watch {
    partition: Option<u32>,
    addr: Arc<str>,
    stream: Stream,
    input: BytesMut,
}

impl Watch {
    /// Sends commands and reads their `replies` replies.
    async fn call(&mut self, request: &[u8], replies: usize) -> std::io::Result<Vec<Bytes>> {
        send(&mut self.stream, request).await?;
        let mut found = Vec::with_capacity(replies);
        for _ in 0..replies {
            found.push(read_reply(&mut self.stream, &mut self.input).await?);
        }
        Ok(found)
    }

    /// Whether no watched key of this partition changed: an empty transaction runs unless
    /// one did.
    async fn unchanged(&mut self) -> bool {
        let request = [MULTI, EXEC].concat();
        match self.call(&request, 2).await {
            Ok(replies) => replies
                .last()
                .is_some_and(|exec| !is_redirect(exec) && !is_null(exec)),
            Err(_) => false,
        }
    }
}

/// A null reply (an aborted EXEC's), in either protocol.
fn is_null(reply: &[u8]) -> bool {
    matches!(reply, b"*-1\r\n" | b"_\r\n")
}

/// In lower case, as clients send them: MONITOR shows them as the servers get them.
const MULTI: &[u8] = b"*1\r\n$5\r\nmulti\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nexec\r\n";
const DISCARD: &[u8] = b"*1\r\n$7\r\nDISCARD\r\n";

impl Session {
    pub fn multi(&mut self, args: &[Bytes]) -> Pending {
        if args.len() != 1 {
            return Pending::error("ERR wrong number of arguments for 'multi' command");
        }
        self.transaction = Some(Transaction::default());
        self.reply(|out| out.ok())
    }

    pub fn discard(&mut self) -> Pending {
        if self.transaction.take().is_none() {
            return Pending::error("ERR DISCARD without MULTI");
        }
        self.watches.clear();
        self.reply(|out| out.ok())
    }

    /// A command sent inside MULTI: queued, or refused (which fails the transaction).
    pub fn queue(&mut self, name: &str, command: Command, args: Vec<Bytes>) -> Pending {
        match name {
            "multi" => return Pending::error("ERR MULTI calls can not be nested"),
            "watch" => return Pending::error("ERR WATCH inside MULTI is not allowed"),
            "discard" => return self.discard(),
            _ => {}
        }
        let Some(transaction) = self.transaction.as_mut() else {
            return Pending::error(EXEC_WITHOUT_MULTI);
        };
        // A script running past the busy threshold refuses what is queued, as in Redis (where
        // every command waits behind it; here the cluster answers as one server, as PING does).
        let refused = crate::refusals::refusal(name)
            .or_else(|| crate::refusals::refusal_in_transaction(name, &args))
            .or_else(|| self.proxy.scripts.busy(None));
        if let Some(refusal) = refused {
            transaction.failed = true;
            return Pending::error(refusal);
        }
        match command.route(&args, |a, b| a == b) {
            Err(err) => {
                transaction.failed = true;
                Pending::error(&err.to_string())
            }
            Ok((_, slot)) => {
                match (transaction.slot, slot) {
                    (Some(first), Some(slot)) if first != slot => transaction.cross_slot = true,
                    (None, Some(slot)) => transaction.slot = Some(slot),
                    _ => {}
                }
                transaction.queued.push(args);
                transaction.writes |= command.held_when_writes_pause();
                transaction.scripts |= matches!(command.handling, Handling::Script { .. });
                self.reply(|out| out.simple("QUEUED"))
            }
        }
    }

    /// Queues a command that may use memory while a `maxmemory` is set: it is refused with
    /// OOM (failing the transaction) when its server is out of memory, as Redis refuses it
    /// when it is queued. The server is asked with a transaction it discards.
    pub async fn queue_checked(&mut self, name: &str, command: Command, args: Vec<Bytes>) -> Bytes {
        if let Ok((_, slot @ Some(_))) = command.route(&args, |a, b| a == b) {
            let mut probe = BytesMut::from(MULTI);
            probe.extend_from_slice(&encode(&args));
            probe.extend_from_slice(DISCARD);
            let (proxy, via) = (self.proxy.clone(), self.via());
            let replies = send_routed(&proxy, &via, slot, probe.freeze(), 3).await;
            let oom = frames(&replies)
                .nth(1)
                .filter(|r| r.starts_with(b"-OOM"))
                .map(|r| replies.slice_ref(r));
            if let Some(refusal) = oom {
                if let Some(transaction) = self.transaction.as_mut() {
                    transaction.failed = true;
                }
                return refusal;
            }
        }
        match self.queue(name, command, args) {
            Pending::Ready(reply) => reply,
            _ => error_reply(UNEXPECTED_REPLY),
        }
    }

    pub async fn exec(&mut self) -> Bytes {
        let Some(transaction) = self.transaction.take() else {
            return error_reply(EXEC_WITHOUT_MULTI);
        };
        let watches = std::mem::take(&mut self.watches);
        if let Some(busy) = self.proxy.scripts.busy(None) {
            return error_reply(&format!(
                "EXECABORT Transaction discarded because of: {busy}"
            ));
        }
        if transaction.failed {
            return error_reply(EXECABORT);
        }
        if transaction.cross_slot {
            return error_reply(&RouteError::CrossSlot.to_string());
        }
        // What the user may no longer run since it was queued is not sent, and gets its
        // error in EXEC's reply, as Redis checks each command again at EXEC.
        let refusals = crate::access::recheck(self, &transaction.queued);
        let mut request = BytesMut::from(MULTI);
        let allowed = transaction.queued.iter().zip(&refusals);
        for (args, _) in allowed.filter(|(_, refusal)| refusal.is_none()) {
            request.extend_from_slice(&encode(args));
        }
        request.extend_from_slice(EXEC);
        let replies = refusals.iter().filter(|r| r.is_none()).count() + 2;
        let via = match transaction.scripts {
            true => self.script_via(),
            false => self.via(),
        };
        let exec_reply = self
            .run_exec(transaction.slot, watches, request, replies, via)
            .await;
        with_refusals(exec_reply, &refusals)
    }

    /// Runs MULTI ... EXEC (`replies` replies) on the connection watching its partition, or
    /// routed by `slot` over `via` when none does; EXEC's reply.
    async fn run_exec(
        &mut self,
        slot: Option<u16>,
        watches: Vec<Watch>,
        request: BytesMut,
        replies: usize,
        via: Via,
    ) -> Bytes {
        let partition = slot.map(|s| self.proxy.table.partition_of(s));
        // The connection watching the transaction's partition runs it (a keyless one runs
        // on the first watching connection).
        let runner = watches
            .iter()
            .position(|w| partition.is_none_or(|p| p == w.partition));
        let mut watches = watches;
        let runner = runner.map(|i| watches.swap_remove(i));
        for mut other in watches {
            if !other.unchanged().await {
                return self.reply_bytes(|out| out.null_array());
            }
        }
        let Some(mut watch) = runner else {
            let all = send_routed(&self.proxy, &via, slot, request.freeze(), replies);
            return last_reply(&all.await);
        };
        match watch.call(&request, replies).await {
            // The watched keys' partition moved to another leader since WATCH: the watch no
            // longer holds, so the transaction aborts as when a watched key changed.
            Ok(replies) if replies.iter().any(|r| is_redirect(r)) => {
                self.reply_bytes(|out| out.null_array())
            }
            Ok(mut replies) => replies.pop().unwrap_or_default(),
            Err(err) => error_reply(&format!(
                "ERR connection to shard server {} lost ({err}): the transaction may or may not have run",
                watch.addr
            )),
        }
    }

    pub async fn watch(&mut self, command: Command, args: &[Bytes]) -> Bytes {
        let slot = match command.route(args, |a, b| a == b) {
            Ok((_, Some(slot))) => slot,
            Ok((_, None)) => return error_reply(&RouteError::CrossSlot.to_string()),
            Err(err) => return error_reply(&err.to_string()),
        };
        let partition = self.proxy.table.partition_of(slot);
        let request = encode(args);
        if let Some(watch) = self.watches.iter_mut().find(|w| w.partition == partition) {
            return match watch.call(&request, 1).await {
                Ok(mut replies) => replies.pop().unwrap_or_default(),
                Err(err) => {
                    self.watches.clear();
                    error_reply(&format!("ERR shard server lost during WATCH: {err}"))
                }
            };
        }
        let resp = self.resp;
        // A transaction on this connection may run scripts, held to the user's rules there.
        let user = crate::access::script_user(self);
        let watched = until_routed(&self.proxy, Some(slot), |addr| {
            let (request, user) = (request.clone(), user.clone());
            async move {
                let stream = connect_as(&addr, resp, user.as_deref()).await.ok()?;
                let mut watch = Watch {
                    partition,
                    addr,
                    stream,
                    input: BytesMut::new(),
                };
                let reply = watch
                    .call(&request, 1)
                    .await
                    .ok()?
                    .pop()
                    .unwrap_or_default();
                match is_redirect(&reply) {
                    true => None,
                    false => Some((reply, watch)),
                }
            }
        });
        let Some((reply, watch)) = watched.await else {
            return error_reply(NO_LEADER);
        };
        if !reply.starts_with(b"-") {
            self.watches.push(watch);
        }
        reply
    }
}

/// EXEC's reply with each refused command's error put in its place; any other reply (an abort,
/// a null for a watched key that changed) as it is.
fn with_refusals(reply: Bytes, refusals: &[Option<String>]) -> Bytes {
    if refusals.iter().all(Option::is_none) || !reply.starts_with(b"*") {
        return reply;
    }
    // The array's elements follow its header line; a null array (`*-1`) has none.
    let Some(header) = reply.windows(2).position(|w| w == b"\r\n") else {
        return reply;
    };
    if reply[1..header].starts_with(b"-") {
        return reply;
    }
    let mut ran = frames(&reply[header + 2..]);
    let mut out = BytesMut::from(format!("*{}\r\n", refusals.len()).as_bytes());
    for refusal in refusals {
        match refusal {
            Some(error) => out.extend_from_slice(&error_reply(error)),
            None => out.extend_from_slice(ran.next().unwrap_or_default()),
        }
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_take_their_place_in_execs_array() {
        let refusals = [None, Some("NOPERM gone".to_string()), None];
        let ran = Bytes::from_static(b"*2\r\n$1\r\nv\r\n:1\r\n");
        assert_eq!(
            with_refusals(ran, &refusals),
            Bytes::from_static(b"*3\r\n$1\r\nv\r\n-NOPERM gone\r\n:1\r\n")
        );
        // A watched key changed (RESP2's null array, RESP3's null), or the whole was refused.
        for whole in [&b"*-1\r\n"[..], b"_\r\n", b"-EXECABORT no\r\n"] {
            let reply = Bytes::copy_from_slice(whole);
            assert_eq!(with_refusals(reply.clone(), &refusals), reply);
        }
    }
}
