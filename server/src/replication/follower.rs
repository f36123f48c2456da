//! The follower's side, and the task each hosted partition runs: while this server leads the
//! partition it keeps the in-sync set; while it follows, it attaches to the leader of the
//! current epoch from its own offset, applies the records (and, after a diverged or lost
//! history, a snapshot first) and acknowledges them.

use super::handover::hand_over;
use super::leader::{keep_in_sync, MessageReader, StreamError};
use super::log::{Effect, Record};
use super::wire::Message;
use crate::client::{Client, ClientInfo};
use crate::commands::{Ctx, Table};
use crate::engine::Db;
use crate::partition::{lock_yielding, Keyspace, SharedKeyspace};
use crate::state::Server;
use bytes::{Bytes, BytesMut};
use slotcache_cluster::records::{Evidence, PartitionRecord, SuspectReport, Witness};
use slotcache_protocol::internal;
use slotcache_protocol::resp::{Protocol, Reply};
use slotcache_protocol::tls::send;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, info, warn};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A leader streaming records sends a heartbeat every 100 ms of nothing else: this much quiet
/// means it is paused or cut off.
const SILENCE: Duration = Duration::from_millis(400);
/// Before the stream proper (the attach's answer, a snapshot's chunks) nothing is sent to fill
/// pauses, which a large snapshot may make.
const SETUP_SILENCE: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Runs a hosted partition's replication as its record says, until it is no longer hosted.
pub async fn run_partition(
    server: Arc<Server>,
    pid: u32,
    mut assignment: watch::Receiver<Option<PartitionRecord>>,
) {
    let Some(me) = server.replication.get().map(|r| r.node_id.clone()) else {
        return;
    };
    // The handover matters to the leader only: a follower's stream goes on through it. Named
    // leader without leading (restarted empty), this copy waits for the next record.
    let role_in = |record: &Option<PartitionRecord>| {
        record.as_ref().map(|r| {
            let leads = r.led_by(&me);
            let handover = r.handover.clone().filter(|_| leads);
            let leader = r.leader.clone().filter(|l| leads || *l != me);
            (leader, r.epoch, handover)
        })
    };
    loop {
        let role = role_in(&assignment.borrow_and_update());
        let work = async {
            match &role {
                Some((Some(leader), epoch, handover)) if *leader == me => {
                    let hand_over = async {
                        if let Some(successor) = handover {
                            hand_over(server.clone(), pid, *epoch, successor.clone()).await;
                        }
                    };
                    tokio::join!(keep_in_sync(server.clone(), pid, *epoch), hand_over);
                }
                Some((Some(leader), epoch, _)) => follow(&server, pid, leader, *epoch).await,
                _ => std::future::pending().await,
            }
        };
        // A new record restarts the work only when it changes who leads, the epoch, or the
        // handover this server is asked for.
        let changed = async {
            loop {
                assignment.changed().await?;
                if role_in(&assignment.borrow()) != role {
                    return Ok::<(), watch::error::RecvError>(());
                }
            }
        };
        tokio::select! {
            () = work => {}
            result = changed => if result.is_err() {
                return;
            },
        }
    }
}

/// Follows `leader` at `epoch`, reattaching with backoff whenever the stream breaks.
async fn follow(server: &Arc<Server>, pid: u32, leader: &str, epoch: u64) {
    let mut backoff = Duration::from_millis(20);
    loop {
        let Some(links) = server.replication.get().map(|r| &r.links) else {
            return;
        };
        let cut = links.leaders_cut();
        let attached = tokio::select! {
            result = attach(server, pid, leader, epoch) => result,
            () = cut => Err(StreamError::Closed),
        };
        match attached {
            Ok(()) => backoff = Duration::from_millis(20),
            Err(StreamError::Io(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                debug!(
                    partition = pid,
                    leader, "leader refuses connections: reporting it"
                );
                report(server, leader, Evidence::Refused).await;
            }
            Err(StreamError::Io(err)) if err.kind() == std::io::ErrorKind::TimedOut => {
                debug!(
                    partition = pid,
                    leader, "leader does not answer: reporting it"
                );
                report(server, leader, Evidence::Silent).await;
            }
            Err(StreamError::Silent) => {
                debug!(
                    partition = pid,
                    leader, "leader's stream went silent: reporting it"
                );
                report(server, leader, Evidence::Silent).await;
                backoff = Duration::from_millis(20);
            }
            Err(StreamError::Refused(why)) => {
                // The leader has not taken up its epoch yet: ask again soon.
                debug!(partition = pid, leader, why, "attach refused");
                backoff = Duration::from_millis(20);
            }
            Err(err) => debug!(partition = pid, leader, %err, "replication stream broke"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Tells the controller that the leader `node` looks crashed or cut off; it confirms before
/// acting, and meanwhile the leader keeps this copy in its in-sync set.
async fn report(server: &Server, node: &str, evidence: Evidence) {
    let Some(replication) = server.replication.get() else {
        return;
    };
    if !replication.report_due(node) {
        return;
    }
    let report = SuspectReport {
        by: Witness::Follower,
        evidence,
    };
    let sent = async {
        let mut store = replication.store.lock().await;
        store
            .report_suspect(node, &replication.node_id, report)
            .await
    };
    if let Ok(Err(err)) = tokio::time::timeout(Duration::from_secs(1), sent).await {
        debug!(%err, node, "report to the controller failed");
    }
}

/// The next message, unless the leader stays silent for `limit`.
async fn within<R: tokio::io::AsyncRead + Unpin>(
    messages: &mut MessageReader<R>,
    limit: Duration,
) -> Result<Message, StreamError> {
    tokio::time::timeout(limit, messages.next())
        .await
        .map_err(|_| StreamError::Silent)?
}

async fn attach(
    server: &Arc<Server>,
    pid: u32,
    leader: &str,
    epoch: u64,
) -> Result<(), StreamError> {
    let replication = server
        .replication
        .get()
        .ok_or_else(|| StreamError::Protocol("not in a cluster".into()))?;
    let addr = replication
        .node_addr(leader)
        .ok_or_else(|| StreamError::Protocol(format!("no replication address for {leader}")))?;
    let keyspace = server
        .engine
        .get(pid)
        .ok_or_else(|| StreamError::Protocol("partition not hosted".into()))?;
    let (reader, mut writer) = super::mux::dial(&addr, CONNECT_TIMEOUT).await?;
    let mut messages = MessageReader::new(reader);
    let (next, last_epoch) = {
        let ks = lock_yielding(&keyspace).await;
        (ks.log.next_offset(), ks.log.last_epoch())
    };
    let sync = Message::Sync {
        pid,
        epoch,
        next,
        last_epoch,
        node: replication.node_id.clone(),
    };
    let mut hello = BytesMut::new();
    if let Some(secret) = internal::installed() {
        let secret = Bytes::copy_from_slice(secret.text().as_bytes());
        hello.extend_from_slice(&Message::Auth { secret }.encode());
    }
    hello.extend_from_slice(&sync.encode());
    send(&mut writer, &hello).await?;
    let _attached = super::Attached::new(&replication.links.leaders);
    let mut client = Client::new(
        Arc::new(ClientInfo::new(0, unspecified(), unspecified())),
        true,
    );
    match within(&mut messages, SETUP_SILENCE).await? {
        Message::Continue => debug!(partition = pid, leader, next, "partial resync"),
        Message::Full {
            next,
            last_epoch,
            now,
        } => {
            // The snapshot is rebuilt aside as it arrives, this copy's lock not held, then
            // replaces the copy at its end: a stream that breaks halfway leaves the copy as it
            // was, and the server's other partitions go on meanwhile.
            let mut rebuilt = Keyspace::new(lock_yielding(&keyspace).await.dbs.len());
            loop {
                match within(&mut messages, SETUP_SILENCE).await? {
                    Message::Snapshot { db, effects } => {
                        let chunk = Record {
                            offset: next,
                            epoch: last_epoch,
                            now,
                            db,
                            effects,
                        };
                        apply(server, &mut rebuilt, &mut client, &chunk);
                        tokio::task::yield_now().await;
                    }
                    Message::SnapshotEnd => break,
                    other => {
                        return Err(StreamError::Protocol(format!(
                            "expected a snapshot chunk, got {other:?}"
                        )))
                    }
                }
            }
            let replaced: Vec<Db> = {
                let mut ks = lock_yielding(&keyspace).await;
                let replaced = ks
                    .dbs
                    .iter_mut()
                    .zip(&mut rebuilt.dbs)
                    .map(|(db, new)| {
                        let old = db.take();
                        db.restore(new.take());
                        old
                    })
                    .collect();
                ks.log.reset(next, last_epoch, now);
                replaced
            };
            replaced.into_iter().for_each(Db::free_elsewhere);
            info!(partition = pid, leader, next, "full resync");
        }
        Message::Refused(why) => return Err(StreamError::Refused(why)),
        other => return Err(StreamError::Protocol(format!("unexpected {other:?}"))),
    }
    // Where this copy stands now: it may count as caught up before any record comes.
    let mut next = lock_yielding(&keyspace).await.log.next_offset();
    let mut stamp = 0;
    send(&mut writer, &Message::Ack { next, stamp }.encode()).await?;
    loop {
        let first = tokio::select! {
            message = within(&mut messages, SILENCE) => message?,
            () = gone(replication, leader) => {
                return Err(StreamError::Protocol(format!("{leader}'s liveness key is gone")));
            }
        };
        let mut batch = vec![first];
        while let Some(message) = messages.buffered()? {
            batch.push(message);
        }
        // A heartbeat is acknowledged too: the leader reads under its lease only while it
        // hears from its followers.
        batch.retain(|message| match message {
            Message::Heartbeat { stamp: latest } => {
                stamp = stamp.max(*latest);
                false
            }
            _ => true,
        });
        if !batch.is_empty() {
            next = apply_batch(server, &keyspace, &mut client, (leader, epoch), batch).await?;
        }
        send(&mut writer, &Message::Ack { next, stamp }.encode()).await?;
    }
}

/// Applies a batch of records under the copy's lock, taken once for every run of records
/// up to one that acts on the server; returns the offset the copy reached.
async fn apply_batch(
    server: &Server,
    keyspace: &SharedKeyspace,
    client: &mut Client,
    (leader, epoch): (&str, u64),
    batch: Vec<Message>,
) -> Result<u64, StreamError> {
    let mut records = batch
        .into_iter()
        .map(|message| match message {
            Message::Record(record) => Ok(record),
            other => Err(StreamError::Protocol(format!("unexpected {other:?}"))),
        })
        .collect::<Result<VecDeque<Record>, _>>()?;
    let mut applied = 0;
    while let Some(first) = records.front() {
        if first.effects.iter().any(acts_on_server) {
            // FUNCTION LOAD waits for the interpreter, which a running script holds for as
            // long as it runs: never with this copy's lock held, which the server's other
            // tasks take expecting no script behind it.
            in_place(&*lock_yielding(keyspace).await, leader, epoch, first)?;
            while server.scripts.is_running() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            replay(server, &mut Keyspace::new(1), client, first, acts_on_server);
        }
        let mut ks = lock_yielding(keyspace).await;
        let mut run = 0;
        while let Some(record) = records.front() {
            if run > 0 && record.effects.iter().any(acts_on_server) {
                break;
            }
            in_place(&ks, leader, epoch, record)?;
            replay(server, &mut ks, client, record, |effect| {
                !acts_on_server(effect)
            });
            ks.log.append(record);
            records.pop_front();
            run += 1;
        }
        // READONLY connections reading this copy may track what it applied.
        crate::tracking::hooks::after_server_work(server, &mut ks);
        applied = ks.log.next_offset();
    }
    Ok(applied)
}

/// Resolves once `node`'s liveness key is gone: its lease expired or was revoked, so another
/// leader may be elected, and this follower must not acknowledge it any more.
async fn gone(replication: &super::Replication, node: &str) {
    while !replication.is_gone(node) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn unspecified() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
}

/// Replays a record's effects at the leader's clock.
pub fn apply(server: &Server, ks: &mut Keyspace, client: &mut Client, record: &Record) {
    replay(server, ks, client, record, |_| true);
}

/// Replays those of a record's effects that `which` picks.
fn replay(
    server: &Server,
    ks: &mut Keyspace,
    client: &mut Client,
    record: &Record,
    which: impl Fn(&Effect) -> bool,
) {
    client.db = record.db.min(ks.dbs.len().saturating_sub(1));
    for effect in record.effects.iter().filter(|effect| which(effect)) {
        apply_effect(server, ks, client, record.now, effect);
    }
}

/// Whether an effect acts on the server rather than on the partition's keys: FUNCTION's
/// writes change the libraries, which every partition of the server shares.
fn acts_on_server(effect: &Effect) -> bool {
    effect
        .first()
        .is_some_and(|name| name.eq_ignore_ascii_case(b"function"))
}

/// Whether this copy still follows `leader` at `epoch`, with `record` next in its log. The
/// record that moved this copy on (to lead, or to follow another epoch) ends the stream: what
/// arrives on it is no longer this copy's to apply or acknowledge.
fn in_place(ks: &Keyspace, leader: &str, epoch: u64, record: &Record) -> Result<(), StreamError> {
    if ks.log.role() != super::log::Role::Follower || ks.log.epoch() != epoch {
        return Err(StreamError::Protocol(format!(
            "no longer following {leader} at epoch {epoch}"
        )));
    }
    if record.epoch > epoch || record.offset != ks.log.next_offset() {
        return Err(StreamError::Protocol(format!(
            "record {} of epoch {} out of place",
            record.offset, record.epoch
        )));
    }
    Ok(())
}

fn apply_effect(
    server: &Server,
    ks: &mut Keyspace,
    client: &mut Client,
    now: i64,
    effect: &Effect,
) {
    let handler = Table::get()
        .resolve(effect)
        .ok()
        .and_then(crate::commands::handler);
    let Some(handler) = handler else {
        warn!(command = %String::from_utf8_lossy(&effect[0]), "cannot replay effect");
        return;
    };
    let mut out = Reply::new(Protocol::Resp2);
    let mut ctx = Ctx {
        server,
        client,
        ks,
        out: &mut out,
        now,
    };
    // A replayed blocking command found what it waited for on the leader: whatever the
    // handler would wait for, a replica never waits.
    if let Err(err) = handler(&mut ctx, effect) {
        warn!(%err, command = %String::from_utf8_lossy(&effect[0]), "replayed effect failed");
    }
}
