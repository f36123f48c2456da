//! MULTI/EXEC/WATCH through the proxy. A transaction is queued here and checked as Redis
//! Cluster checks it (an unknown command or a cross-slot one fails it; commands of different
//! slots fail EXEC with CROSSSLOT), then sent as one run of MULTI, the commands and EXEC to
//! the leader of its slot. A shared backend connection carries it unless keys are watched:
//! WATCH opens a connection of the client's own to the leader of the watched keys, and the
//! transaction then runs there, so the server sees the watch and the transaction together.

use crate::backend::{connect, read_reply};
use crate::forward::{is_redirect, last_reply, send_routed, until_routed, NO_LEADER};
use crate::session::{error_reply, Pending, Session};
use bytes::{Bytes, BytesMut};
use slotcache_protocol::command::route::{route_request, RouteError};
use slotcache_protocol::command::{EXECABORT, EXEC_WITHOUT_MULTI};
use slotcache_protocol::resp::request::encode;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A transaction being queued.
#[derive(Default)]
pub struct Transaction {
    /// The queued commands, encoded.
    queued: BytesMut,
    count: usize,
    /// The slot of the first queued command with keys.
    slot: Option<u16>,
    /// A later command's keys hash elsewhere: EXEC answers CROSSSLOT.
    cross_slot: bool,
    /// A command was refused while queued: EXEC answers EXECABORT.
    failed: bool,
}

/// Keys under WATCH, on the client's own connection to their partition's leader.
pub struct Watch {
    partition: Option<u32>,
    addr: Arc<str>,
    stream: TcpStream,
    input: BytesMut,
}

impl Watch {
    /// Sends commands and reads their `replies` replies.
    async fn call(&mut self, request: &[u8], replies: usize) -> std::io::Result<Vec<Bytes>> {
        self.stream.write_all(request).await?;
        let mut found = Vec::with_capacity(replies);
        for _ in 0..replies {
            found.push(read_reply(&mut self.stream, &mut self.input).await?);
        }
        Ok(found)
    }
}

const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";

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
        self.watch = None;
        self.reply(|out| out.ok())
    }

    /// A command sent inside MULTI: queued, or refused (which fails the transaction).
    pub fn queue(&mut self, name: &str, args: Vec<Bytes>) -> Pending {
        match name {
            "multi" => return Pending::error("ERR MULTI calls can not be nested"),
            "watch" => return Pending::error("ERR WATCH inside MULTI is not allowed"),
            "discard" => return self.discard(),
            _ => {}
        }
        let Some(transaction) = self.transaction.as_mut() else {
            return Pending::error(EXEC_WITHOUT_MULTI);
        };
        let refused = crate::refusals::refusal(name)
            .or_else(|| crate::refusals::refusal_in_transaction(name, &args));
        if let Some(refusal) = refused {
            transaction.failed = true;
            return Pending::error(refusal);
        }
        match route_request(&args, |a, b| a == b) {
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
                transaction.queued.extend_from_slice(&encode(&args));
                transaction.count += 1;
                self.reply(|out| out.simple("QUEUED"))
            }
        }
    }

    pub async fn exec(&mut self) -> Bytes {
        let Some(transaction) = self.transaction.take() else {
            return error_reply(EXEC_WITHOUT_MULTI);
        };
        let watch = self.watch.take();
        if transaction.failed {
            return error_reply(EXECABORT);
        }
        if transaction.cross_slot {
            return error_reply(&RouteError::CrossSlot.to_string());
        }
        let mut request = BytesMut::with_capacity(transaction.queued.len() + 32);
        request.extend_from_slice(MULTI);
        request.extend_from_slice(&transaction.queued);
        request.extend_from_slice(EXEC);
        let replies = transaction.count + 2;
        let Some(mut watch) = watch else {
            let proxy = self.proxy.clone();
            let all = send_routed(
                &proxy,
                self.resp,
                transaction.slot,
                request.freeze(),
                replies,
            );
            return last_reply(&all.await);
        };
        let partition = transaction.slot.map(|s| self.proxy.table.partition_of(s));
        if partition.is_some_and(|p| p != watch.partition) {
            return error_reply(&RouteError::CrossSlot.to_string());
        }
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

    pub async fn watch(&mut self, args: &[Bytes]) -> Bytes {
        let slot = match route_request(args, |a, b| a == b) {
            Ok((_, Some(slot))) => slot,
            Ok((_, None)) => return error_reply(&RouteError::CrossSlot.to_string()),
            Err(err) => return error_reply(&err.to_string()),
        };
        let partition = self.proxy.table.partition_of(slot);
        let request = encode(args);
        if let Some(watch) = self.watch.as_mut() {
            if watch.partition != partition {
                return error_reply(&RouteError::CrossSlot.to_string());
            }
            return match watch.call(&request, 1).await {
                Ok(mut replies) => replies.pop().unwrap_or_default(),
                Err(err) => {
                    self.watch = None;
                    error_reply(&format!("ERR shard server lost during WATCH: {err}"))
                }
            };
        }
        let resp = self.resp;
        let watched = until_routed(&self.proxy, Some(slot), |addr| {
            let request = request.clone();
            async move {
                let stream = connect(&addr, resp).await.ok()?;
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
            self.watch = Some(watch);
        }
        reply
    }
}
