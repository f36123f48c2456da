//! Blocking commands (BLPOP and friends). A client whose command finds nothing registers a
//! waiter on its keys under the keyspace lock. A write to such a key marks it ready; after each
//! command the server serves the ready keys' waiters first come, first served, by running the
//! blocked command on the waiter's behalf and handing the reply to its connection, as Redis
//! does, so a pushed element goes to the longest-waiting client.

use crate::client::{Client, ClientInfo};
use crate::commands::Outcome;
use crate::dispatch::{execute, Batch};
use crate::engine::ValueType;
use crate::partition::Keyspace;
use crate::state::Server;
use ahash::AHashMap;
use bytes::Bytes;
use slotcache_protocol::resp::{Protocol, Reply};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// What a command that found nothing asks for: the keys to wait on and until when.
#[derive(Debug, Clone)]
pub struct BlockRequest {
    pub keys: Vec<Vec<u8>>,
    pub deadline: Option<Instant>,
    /// The type that satisfies the waiter; a key written with another keeps it waiting.
    pub kind: ValueType,
    /// The command to re-run when woken, when it differs from the one that blocked (XREAD's
    /// `$` resolved to the ID it stood for).
    pub replay: Option<Vec<Bytes>>,
    /// The reply on timeout is a null array (BLPOP, BLMPOP) rather than a null (BLMOVE).
    pub null_array_on_timeout: bool,
    /// The waiter ends with an error once its key is deleted or holds another type (a consumer
    /// group lives in its stream: XREADGROUP's group is gone with it), rather than waiting on.
    pub fails_when_gone: bool,
}

/// What a blocked XREADGROUP is told when its stream is deleted, flushed or replaced.
const STREAM_GONE: &[u8] = b"-UNBLOCKED the stream key no longer exists\r\n";

struct Waiter {
    info: Arc<ClientInfo>,
    db: usize,
    proto: Protocol,
    args: Vec<Bytes>,
    keys: Vec<Vec<u8>>,
    kind: ValueType,
    fails_when_gone: bool,
    null_array_on_timeout: bool,
    reply: oneshot::Sender<Vec<u8>>,
}

/// Every waiter of a keyspace, and per (database, key) the order they arrived in.
#[derive(Default)]
pub struct Waiters {
    by_id: AHashMap<u64, Waiter>,
    queues: AHashMap<(usize, Vec<u8>), VecDeque<u64>>,
}

/// A connection's handle on its registration: its id and where the reply will arrive.
pub struct Blocked {
    pub id: u64,
    pub reply: oneshot::Receiver<Vec<u8>>,
    pub request: BlockRequest,
}

impl Waiters {
    fn enqueue(&mut self, ks_dbs: &mut [crate::engine::Db], id: u64, waiter: Waiter, front: bool) {
        for key in &waiter.keys {
            let queue = self.queues.entry((waiter.db, key.clone())).or_default();
            if front {
                queue.push_front(id);
            } else {
                queue.push_back(id);
            }
            ks_dbs[waiter.db].block_on(key);
        }
        self.by_id.insert(id, waiter);
    }

    fn dequeue(&mut self, ks_dbs: &mut [crate::engine::Db], id: u64) -> Option<Waiter> {
        let waiter = self.by_id.remove(&id)?;
        for key in &waiter.keys {
            let slot = (waiter.db, key.clone());
            if let Some(queue) = self.queues.get_mut(&slot) {
                queue.retain(|w| *w != id);
                if queue.is_empty() {
                    self.queues.remove(&slot);
                }
            }
            ks_dbs[waiter.db].unblock(key);
        }
        Some(waiter)
    }

    pub fn blocked_clients(&self) -> usize {
        self.by_id.len()
    }
}

/// Registers `client`'s blocked command; the reply arrives on the returned handle.
pub fn block(ks: &mut Keyspace, client: &Client, args: &[Bytes], request: BlockRequest) -> Blocked {
    let (tx, rx) = oneshot::channel();
    let waiter = Waiter {
        info: client.info.clone(),
        db: client.db,
        proto: client.proto,
        args: request.replay.clone().unwrap_or_else(|| args.to_vec()),
        keys: request.keys.clone(),
        kind: request.kind,
        fails_when_gone: request.fails_when_gone,
        null_array_on_timeout: request.null_array_on_timeout,
        reply: tx,
    };
    let (dbs, waiters) = (&mut ks.dbs, &mut ks.waiters);
    waiters.enqueue(dbs, client.id, waiter, false);
    Blocked {
        id: client.id,
        reply: rx,
        request,
    }
}

/// Withdraws a registration (timeout, disconnect). False when the waiter was served already.
pub fn unblock(ks: &mut Keyspace, id: u64) -> bool {
    let (dbs, waiters) = (&mut ks.dbs, &mut ks.waiters);
    waiters.dequeue(dbs, id).is_some()
}

/// CLIENT UNBLOCK: ends a waiter now, with its timeout reply or, when `error`, an UNBLOCKED
/// error. False when this keyspace has no such waiter.
pub fn unblock_now(ks: &mut Keyspace, id: u64, error: bool) -> bool {
    let (dbs, waiters) = (&mut ks.dbs, &mut ks.waiters);
    let Some(waiter) = waiters.dequeue(dbs, id) else {
        return false;
    };
    let mut out = Reply::new(waiter.proto);
    match (error, waiter.null_array_on_timeout) {
        (true, _) => out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
        (false, true) => out.null_array(),
        (false, false) => out.null(),
    }
    let _ = waiter.reply.send(out.buf.to_vec());
    true
}

/// Serves the waiters of every key written since the last call, oldest first.
pub fn serve_ready(server: &Server, ks: &mut Keyspace) {
    if ks.waiters.by_id.is_empty() {
        return;
    }
    // Keys whose first waiter found nothing after all: a command that re-blocks may still have
    // touched its key, which must not make this loop spin.
    let mut settled: Vec<(usize, Vec<u8>)> = Vec::new();
    while let Some((db, key)) = next_ready(ks) {
        if settled.contains(&(db, key.clone())) {
            continue;
        }
        while let Some(id) = ks
            .waiters
            .queues
            .get(&(db, key.clone()))
            .and_then(|q| q.front().copied())
        {
            // A waiter whose key now holds another type keeps waiting, as in Redis, unless
            // what it waits on went with the key.
            let Some((kind, fails_when_gone)) = ks
                .waiters
                .by_id
                .get(&id)
                .map(|w| (w.kind, w.fails_when_gone))
            else {
                break;
            };
            let held = ks.dbs[db]
                .peek(&key, crate::state::now_ms())
                .map(|e| e.value.value_type());
            let gone = held != Some(kind);
            if gone && !fails_when_gone && held.is_some() {
                break;
            }
            let (dbs, waiters) = (&mut ks.dbs, &mut ks.waiters);
            let Some(waiter) = waiters.dequeue(dbs, id) else {
                break;
            };
            if gone && fails_when_gone {
                let _ = waiter.reply.send(STREAM_GONE.to_vec());
                continue;
            }
            if waiter.reply.is_closed() {
                continue;
            }
            let mut client = Client::new(waiter.info.clone(), true);
            client.select(waiter.db);
            client.proto = waiter.proto;
            let mut out = Reply::new(waiter.proto);
            let mut batch = Batch::for_server(server);
            let outcome = execute(server, &mut client, ks, &mut out, &waiter.args, &mut batch);
            batch.flush(server);
            if let Outcome::Block(_) = outcome {
                // Nothing left for it after all: back to the head of the line.
                let (dbs, waiters) = (&mut ks.dbs, &mut ks.waiters);
                waiters.enqueue(dbs, id, waiter, true);
                settled.push((db, key.clone()));
                break;
            }
            let _ = waiter.reply.send(out.buf.to_vec());
        }
    }
}

fn next_ready(ks: &mut Keyspace) -> Option<(usize, Vec<u8>)> {
    ks.dbs
        .iter_mut()
        .enumerate()
        .find_map(|(index, db)| db.pop_ready_key().map(|key| (index, key.into_vec())))
}
