//! The leader's side: serves followers' streams on the replication port (a partial resync
//! from the backlog, or a snapshot then the records after it), and keeps the partition's
//! in-sync set in etcd as its followers lag and catch up.

use super::log::{Head, Role, Stored};
use super::mux::StreamWriter;
use super::wire::Message;
use super::{Progress, Replication};
use crate::engine::StepBudget;
use crate::partition::{lock_yielding, Keyspace, SharedKeyspace};
use crate::state::{now_ms, Server};
use bytes::BytesMut;
use slotcache_cluster::records::PartitionRecord;
use slotcache_protocol::internal;
use slotcache_protocol::resp::{ParseLimits, RequestParser};
use slotcache_protocol::tls::{send, Acceptor, Stream};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, DuplexStream};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

/// How often the in-sync set is checked, and a stream looks for records it was not woken for.
const TICK: Duration = Duration::from_millis(50);
/// How long a stream with nothing to send stays quiet before a heartbeat (see
/// `follower::SILENCE`).
const HEARTBEAT: Duration = Duration::from_millis(100);
/// What a snapshot step does while it holds the partition: writes wait for a step at most.
const SNAPSHOT_STEP: StepBudget = StepBudget {
    keys: 512,
    bytes: 256 * 1024,
};

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Wire(#[from] super::wire::WireError),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("the stream ended")]
    Closed,
    #[error("the peer went silent")]
    Silent,
}

/// Reads replication messages off a stream.
pub struct MessageReader<R> {
    reader: R,
    input: BytesMut,
    parser: RequestParser,
    /// Until a peer has shown the cluster's secret, it gets Redis's pre-AUTH limits (tiny
    /// requests), so it cannot make the leader buffer much.
    pub limits: ParseLimits,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    pub fn new(reader: R) -> Self {
        MessageReader {
            reader,
            input: BytesMut::with_capacity(64 * 1024),
            parser: RequestParser::default(),
            limits: ParseLimits::default(),
        }
    }

    /// The next message already read, if any.
    pub fn buffered(&mut self) -> Result<Option<Message>, StreamError> {
        match self.parser.next_request(&mut self.input, &self.limits) {
            Ok(Some(fields)) => Ok(Some(Message::decode(fields)?)),
            Ok(None) => Ok(None),
            Err(err) => Err(StreamError::Protocol(err.to_string())),
        }
    }

    pub async fn next(&mut self) -> Result<Message, StreamError> {
        loop {
            if let Some(message) = self.buffered()? {
                return Ok(message);
            }
            if self.reader.read_buf(&mut self.input).await? == 0 {
                return Err(StreamError::Closed);
            }
        }
    }
}

/// Serves followers until the listener fails.
pub async fn listen(server: Arc<Server>, listener: TcpListener, tls: Option<Arc<Acceptor>>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let server = server.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let serve = |pipe| {
                        let server = server.clone();
                        async move {
                            if let Err(err) = serve_follower(server, pipe).await {
                                debug!(%peer, %err, "replication stream ended");
                            }
                        }
                    };
                    let served = match Stream::open(stream, tls.as_deref()).await {
                        Ok(stream) => super::mux::accept(stream, serve).await,
                        Err(err) => Err(err),
                    };
                    if let Err(err) = served {
                        debug!(%peer, %err, "replication link ended");
                    }
                });
            }
            Err(err) => {
                warn!(%err, "replication accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Where a follower's stream starts.
enum Start {
    Continue,
    /// A snapshot of the partition as of the stream's position, taken as it is sent.
    Full {
        last_epoch: u64,
        now: i64,
        capture: Capture,
    },
}

/// A snapshot being taken of a partition as of log offset `from`, whose records the backlog
/// keeps meanwhile; ended when dropped, however its stream ends.
struct Capture {
    keyspace: SharedKeyspace,
    id: u32,
    from: u64,
}

/// A follower's stream being served: the log keeps records while it lasts.
struct Served(SharedKeyspace);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.lock().log.detach_stream();
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let mut ks = self.keyspace.lock();
        ks.end_capture(self.id);
        ks.log.unpin(self.from);
    }
}

async fn serve_follower(server: Arc<Server>, pipe: super::mux::Pipe) -> Result<(), StreamError> {
    let (reader, mut writer) = pipe;
    let mut messages = MessageReader::new(reader);
    messages.limits.unauthenticated = internal::installed().is_some();
    let first = match (internal::installed(), messages.next().await?) {
        (Some(_), Message::Auth { secret: given }) if internal::accepts_secret(&given) => {
            messages.limits.unauthenticated = false;
            writer.vouch();
            messages.next().await?
        }
        (Some(_), _) => {
            let refusal =
                Message::Refused("NOAUTH the cluster's internal credential is required".into());
            send(&mut writer, &refusal.encode()).await?;
            return Err(StreamError::Protocol(
                "a stream without the cluster's credential".into(),
            ));
        }
        (None, Message::Auth { .. }) => {
            writer.vouch();
            messages.next().await?
        }
        (None, first) => {
            writer.vouch();
            first
        }
    };
    let Message::Sync {
        pid,
        epoch,
        next,
        last_epoch,
        node,
    } = first
    else {
        return Err(StreamError::Protocol("expected sync".into()));
    };
    let replication = server
        .replication
        .get()
        .ok_or_else(|| StreamError::Protocol("not in a cluster".into()))?;
    let leading = replication
        .progress(pid)
        .filter(|p| p.epoch == epoch)
        .zip(server.engine.get(pid));
    let Some((progress, keyspace)) = leading else {
        let refusal = Message::Refused(format!("not leading partition {pid} at epoch {epoch}"));
        send(&mut writer, &refusal.encode()).await?;
        return Ok(());
    };
    let started = {
        let mut ks = lock_yielding(&keyspace).await;
        if ks.log.role() == Role::Leader && ks.log.epoch() == epoch {
            start_for(&keyspace, &mut ks, next, last_epoch, pid, &node)
        } else {
            Err(format!("no longer leading partition {pid}"))
        }
    };
    let (start, mut position, head, _served) = match started {
        Ok(started) => started,
        Err(why) => {
            send(&mut writer, &Message::Refused(why).encode()).await?;
            return Ok(());
        }
    };
    let links = &replication.links;
    let cut = links.followers_cut();
    let _attached = super::Attached::new(&links.followers);
    let counter = match start {
        Start::Continue => &links.sync_partial_ok,
        Start::Full { .. } if next > 0 => {
            links.sync_partial_err.fetch_add(1, Ordering::Relaxed);
            &links.sync_full
        }
        Start::Full { .. } => &links.sync_full,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    // Taken before the first message the follower's first acknowledgement answers.
    let handshake = Instant::now();
    match start {
        Start::Continue => send(&mut writer, &Message::Continue.encode()).await?,
        Start::Full {
            last_epoch,
            now,
            capture,
        } => {
            // A follower that needs a whole copy is not in sync, whatever etcd said.
            if progress.members().contains(&node)
                && !set_isr(&server, pid, epoch, &node, false).await
            {
                return Err(StreamError::Protocol(
                    "cannot update the in-sync set".into(),
                ));
            }
            progress.uncount(&node);
            let full = Message::Full {
                next: position,
                last_epoch,
                now,
            };
            send(&mut writer, &full.encode()).await?;
            let sent = send_snapshot(&capture, epoch, &mut position, &mut writer).await?;
            info!(
                partition = pid,
                %node,
                keys = sent.keys,
                steps = sent.steps,
                longest_hold_ms = sent.longest_hold.as_secs_f64() * 1000.0,
                took_ms = sent.took.as_secs_f64() * 1000.0,
                "snapshot sent"
            );
        }
    }
    let stream = progress.attach(&node);
    debug!(partition = pid, %node, epoch, "follower attached");
    let mut sends = Sends::new(handshake);
    sends.records(position, handshake);
    let streaming = stream_records(
        &keyspace,
        (&progress, &stream, &mut sends),
        epoch,
        &mut position,
        &head,
        &mut messages,
        &mut writer,
    );
    let result = tokio::select! {
        result = streaming => result,
        () = cut => Err(StreamError::Closed),
    };
    progress.detached(&stream);
    result
}

/// How a follower at `next` (last record of `last_epoch`) starts: from where it is, or from a
/// snapshot; with the offset its stream goes on from and a subscription to the log's head.
/// Refused while another follower's snapshot is being taken: the follower asks again. The
/// stream is counted as served (records are kept for it) from the same lock hold.
fn start_for(
    keyspace: &SharedKeyspace,
    ks: &mut Keyspace,
    next: u64,
    last_epoch: u64,
    pid: u32,
    node: &str,
) -> Result<(Start, u64, Arc<Head>, Served), String> {
    let start = match ks.log.can_continue(next, last_epoch) {
        Ok(()) => Start::Continue,
        Err(why) => {
            debug!(partition = pid, %node, ?why, "full resync");
            match ks.begin_capture() {
                Some(id) => {
                    let from = ks.log.next_offset();
                    ks.log.pin(from);
                    Start::Full {
                        last_epoch: ks.log.last_epoch(),
                        now: now_ms(),
                        capture: Capture {
                            keyspace: keyspace.clone(),
                            id,
                            from,
                        },
                    }
                }
                None => return Err("another follower's snapshot is being taken".into()),
            }
        }
    };
    let position = match start {
        Start::Continue => next,
        Start::Full { .. } => ks.log.next_offset(),
    };
    ks.log.attach_stream();
    Ok((start, position, ks.log.head(), Served(keyspace.clone())))
}

/// What sending a snapshot took.
struct SnapshotSent {
    keys: usize,
    steps: usize,
    /// The longest a step held the partition (its writes wait meanwhile).
    longest_hold: Duration,
    took: Duration,
}

/// Sends the snapshot a step at a time, its end, then the records written since it began,
/// while this copy leads at `epoch`.
async fn send_snapshot(
    capture: &Capture,
    epoch: u64,
    position: &mut u64,
    writer: &mut StreamWriter,
) -> Result<SnapshotSent, StreamError> {
    let started = std::time::Instant::now();
    let mut sent = SnapshotSent {
        keys: 0,
        steps: 0,
        longest_hold: Duration::ZERO,
        took: Duration::ZERO,
    };
    loop {
        let (step, since) = {
            let mut ks = capture.keyspace.lock();
            if ks.log.role() != Role::Leader || ks.log.epoch() != epoch {
                return Err(StreamError::Closed);
            }
            let holding = std::time::Instant::now();
            let step = ks
                .capture_step(capture.id, SNAPSHOT_STEP)
                .ok_or(StreamError::Closed)?;
            sent.longest_hold = sent.longest_hold.max(holding.elapsed());
            let since = step.complete.then(|| ks.log.take_since(*position));
            (step, since)
        };
        sent.steps += 1;
        let mut out = BytesMut::new();
        for (db, effects) in step.copies {
            sent.keys += effects.len();
            out.extend_from_slice(&Message::Snapshot { db, effects }.encode());
        }
        if let Some(records) = since {
            out.extend_from_slice(&Message::SnapshotEnd.encode());
            encode_records(&records, position, &mut out)?;
            send(writer, &out).await?;
            sent.took = started.elapsed();
            return Ok(sent);
        }
        send(writer, &out).await?;
        // A socket that takes everything never makes this task wait: without a turn given
        // up, a snapshot would keep the runtime from the partition's writes for many steps.
        tokio::task::yield_now().await;
    }
}

/// Adds `records` (the backlog from `position` on) to `out` and moves `position` past them.
fn encode_records(
    records: &[Stored],
    position: &mut u64,
    out: &mut BytesMut,
) -> Result<(), StreamError> {
    if records.first().is_some_and(|r| r.offset > *position) {
        return Err(StreamError::Protocol("fell out of the backlog".into()));
    }
    for record in records {
        out.extend_from_slice(&record.message);
        *position = record.offset + 1;
    }
    Ok(())
}

/// When a stream sent what its follower acknowledges. An acknowledgement proves the follower
/// still followed this leader no earlier than the send it answers, which is what reads under
/// the lease rely on (see [`super::read_lease`]); when it arrived proves nothing, as a paused
/// leader finds answers that waited in its socket.
struct Sends {
    opened: Instant,
    /// The offset after each send's last record, and when the send began; oldest first.
    records: VecDeque<(u64, Instant)>,
}

impl Sends {
    /// Sends remembered at most: past that, the newest entry takes in later sends and keeps
    /// its earlier time (an acknowledgement then proves less, never more).
    const KEPT: usize = 1024;

    fn new(opened: Instant) -> Sends {
        Sends {
            opened,
            records: VecDeque::new(),
        }
    }

    /// Records up to the one before `after` were sent, beginning `at`.
    fn records(&mut self, after: u64, at: Instant) {
        let full = self.records.len() >= Self::KEPT;
        match self.records.back_mut() {
            Some(last) if full => last.0 = after,
            _ => self.records.push_back((after, at)),
        }
    }

    /// The stamp of a heartbeat sent `at`.
    fn heartbeat(&self, at: Instant) -> u64 {
        at.duration_since(self.opened).as_micros() as u64 + 1
    }

    /// When the latest send answered by an acknowledgement of `next` with `stamp` began.
    fn answered(&mut self, next: u64, stamp: u64) -> Option<Instant> {
        let mut sent = None;
        while let Some(&(_, at)) = self.records.front().filter(|(after, _)| *after <= next) {
            sent = Some(at);
            self.records.pop_front();
        }
        let beat = (stamp > 0)
            .then(|| self.opened + Duration::from_micros(stamp - 1))
            .filter(|at| *at <= Instant::now());
        sent.max(beat)
    }
}

/// Sends records as they are written and takes the follower's acknowledgements, until the
/// follower goes, this copy stops leading at `epoch`, or the follower fell out of the backlog.
async fn stream_records(
    keyspace: &SharedKeyspace,
    (progress, stream, sends): (&Progress, &super::FollowerStream, &mut Sends),
    epoch: u64,
    position: &mut u64,
    head: &Head,
    messages: &mut MessageReader<DuplexStream>,
    writer: &mut StreamWriter,
) -> Result<(), StreamError> {
    let mut last_sent = Instant::now();
    loop {
        let records = {
            // A script may hold the copy for seconds: the process still lives and answers
            // (BUSY), so the follower keeps hearing from it meanwhile.
            let mut ks = loop {
                if let Ok(ks) = tokio::time::timeout(HEARTBEAT, lock_yielding(keyspace)).await {
                    break ks;
                }
                last_sent = Instant::now();
                let beat = Message::Heartbeat {
                    stamp: sends.heartbeat(last_sent),
                };
                send(writer, &beat.encode()).await?;
            };
            if ks.log.role() != Role::Leader || ks.log.epoch() != epoch {
                return Ok(());
            }
            ks.log.take_since(*position)
        };
        let mut out = BytesMut::new();
        let now = Instant::now();
        encode_records(&records, position, &mut out)?;
        if !out.is_empty() {
            sends.records(*position, now);
        } else if now.duration_since(last_sent) >= HEARTBEAT {
            let stamp = sends.heartbeat(now);
            out.extend_from_slice(&Message::Heartbeat { stamp }.encode());
        }
        if !out.is_empty() {
            send(writer, &out).await?;
            last_sent = now;
        }
        tokio::select! {
            message = messages.next() => match message? {
                Message::Ack { next, stamp } => {
                    progress.acked(stream, next, sends.answered(next, stamp));
                }
                other => return Err(StreamError::Protocol(format!("unexpected {other:?}"))),
            },
            () = head.moved_from(*position) => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// While this server leads `pid` at `epoch`: drops members that lag past the timeout from the
/// in-sync set (in etcd first), and adds followers that caught up (counting them first).
pub async fn keep_in_sync(server: Arc<Server>, pid: u32, epoch: u64) {
    let Some(replication) = server.replication.get() else {
        return;
    };
    loop {
        tokio::time::sleep(TICK).await;
        let (Some(progress), Some(keyspace)) = (replication.progress(pid), server.engine.get(pid))
        else {
            continue;
        };
        if progress.epoch != epoch {
            return;
        }
        let head = lock_yielding(&keyspace).await.log.next_offset();
        let (lagging, caught_up) = progress.changes(head, replication.lag_timeout, |node| {
            replication.is_gone(node)
        });
        for node in lagging {
            if set_isr(&server, pid, epoch, &node, false).await {
                warn!(partition = pid, %node, "replica lagging: removed from the in-sync set");
                progress.uncount(&node);
            }
        }
        // Caught-up replicas are counted, then listed in etcd. A listing that failed (a race
        // with the controller's write, a timeout) is tried again while they stay caught up,
        // or they would never become electable.
        let (replicas, listed) = replication
            .record(pid)
            .map(|r| (r.replicas, r.isr))
            .unwrap_or_default();
        let unlisted = progress
            .members()
            .into_iter()
            .filter(|m| !listed.contains(m) && progress.holds(m, head));
        for node in caught_up.into_iter().chain(unlisted) {
            if !replicas.contains(&node) {
                continue;
            }
            progress.count(&node);
            if set_isr(&server, pid, epoch, &node, true).await {
                info!(partition = pid, %node, "replica in sync");
            }
        }
    }
}

/// Adds `node` to, or removes it from, the in-sync set in `pid`'s record, provided this
/// server still leads it at `epoch`. True when etcd has it so.
async fn set_isr(server: &Server, pid: u32, epoch: u64, node: &str, member: bool) -> bool {
    let Some(replication) = server.replication.get() else {
        return false;
    };
    let update = update_isr(replication, pid, epoch, node, member);
    match tokio::time::timeout(Duration::from_secs(2), update).await {
        Ok(Ok(done)) => done,
        Ok(Err(err)) => {
            warn!(partition = pid, %err, "updating the in-sync set failed");
            false
        }
        Err(_) => false,
    }
}

async fn update_isr(
    replication: &Replication,
    pid: u32,
    epoch: u64,
    node: &str,
    member: bool,
) -> Result<bool, slotcache_cluster::store::StoreError> {
    let mut store = replication.store.lock().await;
    let key = store.keys.partition(pid);
    let (record, revision) = store.get_versioned::<PartitionRecord>(&key).await?;
    let Some(mut record) = record else {
        return Ok(false);
    };
    if record.epoch != epoch || record.leader.as_deref() != Some(replication.node_id.as_str()) {
        return Ok(false);
    }
    if member && !record.replicas.iter().any(|n| n == node) {
        return Ok(false);
    }
    let present = record.isr.iter().any(|n| n == node);
    match (member, present) {
        (true, true) | (false, false) => return Ok(true),
        (true, false) => record.isr.push(node.to_string()),
        (false, true) => record.isr.retain(|n| n != node),
    }
    if member {
        return store.put_if_unchanged(&key, &record, revision).await;
    }
    // Not while anybody reports this leader cut off, nor once its lease is gone: the lagging
    // follower may be the copy the controller is about to elect, which must then still hold
    // every acknowledged write.
    let alive = store.keys.active_node(&replication.node_id);
    let reports = store.keys.suspicions_of(&replication.node_id);
    let shrunk = store
        .put_if_unchanged_when(&key, &record, revision, &alive, &reports)
        .await?;
    if !shrunk {
        debug!(partition = pid, %node, "in-sync set kept: this leader is reported cut off");
    }
    Ok(shrunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_dates_from_the_send_it_answers() {
        let opened = Instant::now() - Duration::from_secs(10);
        let mut sends = Sends::new(opened);
        let first = opened + Duration::from_secs(1);
        let second = opened + Duration::from_secs(2);
        sends.records(5, first);
        sends.records(9, second);
        assert_eq!(sends.answered(4, 0), None, "short of the first send");
        assert_eq!(sends.answered(5, 0), Some(first));
        assert_eq!(sends.answered(8, 0), None, "nothing newer answered");
        assert_eq!(sends.answered(9, 0), Some(second));
        let beat = opened + Duration::from_secs(3);
        let stamp = sends.heartbeat(beat);
        assert_eq!(sends.answered(9, stamp), Some(beat));
        // A stamp from the future proves nothing.
        let future = sends.heartbeat(Instant::now() + Duration::from_secs(60));
        assert_eq!(sends.answered(9, future), None);
    }

    #[test]
    fn sends_past_those_kept_take_the_earlier_time() {
        let opened = Instant::now();
        let mut sends = Sends::new(opened);
        for offset in 1..=Sends::KEPT as u64 + 10 {
            sends.records(offset, opened + Duration::from_millis(offset));
        }
        assert_eq!(sends.records.len(), Sends::KEPT);
        let last = Sends::KEPT as u64 + 10;
        assert_eq!(
            sends.answered(last, 0),
            Some(opened + Duration::from_millis(Sends::KEPT as u64))
        );
    }
}
