//! Backend connections: per proxy worker thread, one long-lived, pipelined connection per shard
//! server, protocol version and READONLY state, shared by every client of that thread.
//! Requests queued by many clients go out in one write, and replies are matched to them in
//! order; no request crosses threads. A connection that dies fails the requests in flight and
//! is opened again, with backoff, when the next request comes.

use crate::metrics::BackendStats;
use crate::tracking::lane::{tracking_request, LaneTracking, Push};
use ahash::AHashMap;
use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use slotcache_cluster::records::Evidence;
use slotcache_protocol::internal;
use slotcache_protocol::resp::frame::Framer;
use slotcache_protocol::tls::links::{self, Link};
use slotcache_protocol::tls::{send, Stream};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BackendError {
    /// The request was never sent: safe to send again elsewhere.
    #[error("cannot reach shard server {0}")]
    Unreachable(String),
    /// The request was sent and the connection failed before its reply: it may have run.
    #[error("connection to shard server {0} lost")]
    Lost(String),
}

pub type ReplyResult = Result<Bytes, BackendError>;

struct Job {
    request: Bytes,
    /// How many replies the request's commands produce; they come back as one buffer.
    replies: usize,
    reply: oneshot::Sender<ReplyResult>,
    /// A CLIENT TRACKING ON request of a tracking client's own lane: the lane adds its own
    /// redirection, if it has one, before sending it.
    tracking: Option<Vec<Bytes>>,
}

/// The lanes a client's requests take: the proxy's shared ones, or the client's own while it
/// tracks keys for client-side caching (the shard servers then track its reads).
#[derive(Clone)]
pub struct Via {
    pub resp: u8,
    pub own: Option<Arc<Backends>>,
    /// The requests only read: on the shared lanes they take [`LaneKind::Reads`].
    pub reads: bool,
}

impl Via {
    /// The proxy's shared lanes, in protocol `resp`.
    pub fn shared(resp: u8) -> Via {
        Via {
            resp,
            own: None,
            reads: false,
        }
    }

    /// The same lanes, for requests that only read when `reads`.
    pub fn reading(&self, reads: bool) -> Via {
        Via {
            reads,
            ..self.clone()
        }
    }

    /// The lane of a server these requests take.
    fn kind(&self) -> LaneKind {
        match self.reads && self.own.is_none() {
            true => LaneKind::Reads,
            false => LaneKind::Any,
        }
    }

    pub fn backends<'a>(&'a self, shared: &'a Backends) -> &'a Backends {
        self.own.as_deref().unwrap_or(shared)
    }
}

/// Which of a server's lanes a request takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LaneKind {
    /// Any request.
    Any,
    /// Batches of reads alone, from clients with no other request in flight. In `sync` mode a
    /// server holds a write's reply until its followers have the write, and every reply after
    /// it on the connection with it; reads of other keys need not wait (see the server's
    /// `replication::unsettled`), so on a lane of their own they do not. A client sends its
    /// next requests only once all its replies came, so its reads never overtake its writes.
    Reads,
    /// READONLY reads, which a follower may answer.
    Readonly,
}

/// A server's lanes, for RESP2 and RESP3 clients, of each [`LaneKind`].
type Lanes = [Option<mpsc::UnboundedSender<Job>>; 6];

fn lane_index(resp: u8, kind: LaneKind) -> usize {
    usize::from(resp == 3) + 2 * kind as usize
}

/// The pool of backend connections: per worker thread and server address, its lanes. A lane
/// runs on the thread (and single-threaded runtime) whose clients use it.
pub struct Backends {
    lanes: Mutex<AHashMap<ThreadId, AHashMap<String, Lanes>>>,
    /// Set for a tracking client's own pool.
    tracking: Option<Arc<LaneTracking>>,
    /// Set for a pool whose lanes log in on behalf of this user (see `Backends::on_behalf_of`).
    user: Option<Arc<[u8]>>,
    /// Addresses that refused a connection (their process may have crashed) or did not answer
    /// (paused, cut off): reported to the controller.
    refused: mpsc::UnboundedSender<(String, Evidence)>,
    refusals: Mutex<Option<mpsc::UnboundedReceiver<(String, Evidence)>>>,
    /// Per server address, what its lanes of every thread counted.
    stats: Mutex<AHashMap<String, Arc<BackendStats>>>,
}

impl Default for Backends {
    fn default() -> Self {
        let (refused, refusals) = mpsc::unbounded_channel();
        Backends {
            lanes: Mutex::default(),
            tracking: None,
            user: None,
            refused,
            refusals: Mutex::new(Some(refusals)),
            stats: Mutex::default(),
        }
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Requests are no longer taken while this much is waiting to be written.
const WRITE_HIGH_WATER: usize = 4 * 1024 * 1024;

impl Backends {
    /// A tracking client's own pool: every lane replays the client's CLIENT TRACKING requests
    /// when it connects and passes on the invalidation messages its server sends.
    pub fn tracking(tracking: Arc<LaneTracking>) -> Backends {
        Backends {
            tracking: Some(tracking),
            ..Backends::default()
        }
    }

    /// A pool whose lanes log in on behalf of `user`, so that their shard servers hold what
    /// they run to the user's rules: for the scripts of a user that may not run everything,
    /// whose calls only the server sees.
    pub fn on_behalf_of(user: &[u8]) -> Backends {
        Backends {
            user: Some(user.into()),
            ..Backends::default()
        }
    }

    /// Sends CLIENT TRACKING `args` on every lane of this thread, and on a new plain lane to
    /// each of `also` that has none in protocol `resp`; their replies, one per lane.
    pub fn broadcast_tracking(
        &self,
        args: &[Bytes],
        resp: u8,
        also: &[Arc<str>],
    ) -> Vec<oneshot::Receiver<ReplyResult>> {
        let job = |replies: &mut Vec<_>| {
            let (reply, receiver) = oneshot::channel();
            replies.push(receiver);
            Job {
                request: Bytes::new(),
                replies: 1,
                reply,
                tracking: Some(args.to_vec()),
            }
        };
        let mut replies = Vec::new();
        let lane = lane_index(resp, LaneKind::Any);
        let missing: Vec<&Arc<str>> = {
            let threads = self.lanes.lock();
            let lanes = threads.get(&std::thread::current().id());
            let senders = lanes.into_iter().flat_map(|l| l.values()).flatten();
            for sender in senders.flatten() {
                if sender.send(job(&mut replies)).is_err() {
                    replies.pop();
                }
            }
            also.iter()
                .filter(|addr| {
                    lanes.is_none_or(|l| l.get(&***addr).is_none_or(|l| l[lane].is_none()))
                })
                .collect()
        };
        for addr in missing {
            let job = job(&mut replies);
            self.send_job(addr, resp, LaneKind::Any, job);
        }
        replies
    }

    /// Each server's traffic, by address.
    pub fn stats(&self) -> Vec<(String, Arc<BackendStats>)> {
        let stats = self.stats.lock();
        stats.iter().map(|(a, s)| (a.clone(), s.clone())).collect()
    }

    /// The addresses that refuse connections, as they do (once: for the one reporting them).
    pub fn take_refusals(&self) -> Option<mpsc::UnboundedReceiver<(String, Evidence)>> {
        self.refusals.lock().take()
    }

    /// Reports that `addr` does not answer a request that waited long.
    pub fn suspect_silent(&self, addr: &str) {
        let _ = self.refused.send((addr.to_string(), Evidence::Silent));
    }

    /// Queues encoded commands for `addr`, written back to back so no other client's
    /// command comes between them; their `replies` replies arrive together on the receiver.
    fn send(
        &self,
        addr: &str,
        resp: u8,
        kind: LaneKind,
        request: Bytes,
        replies: usize,
    ) -> oneshot::Receiver<ReplyResult> {
        let (reply, receiver) = oneshot::channel();
        let job = Job {
            request,
            replies,
            reply,
            tracking: None,
        };
        self.send_job(addr, resp, kind, job);
        receiver
    }

    fn send_job(&self, addr: &str, resp: u8, kind: LaneKind, mut job: Job) {
        let lane = lane_index(resp, kind);
        let mut threads = self.lanes.lock();
        let lanes = threads.entry(std::thread::current().id()).or_default();
        if let Some(sender) = lanes.get(addr).and_then(|l| l[lane].as_ref()) {
            match sender.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(returned)) => job = returned,
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = self
            .stats
            .lock()
            .entry(addr.to_string())
            .or_default()
            .clone();
        let lane_of = Lane {
            addr: addr.to_string(),
            stats,
            resp,
            readonly: kind == LaneKind::Readonly,
            refused: self.refused.clone(),
            tracking: self.tracking.clone(),
            user: self.user.clone(),
        };
        tokio::spawn(run_lane(lane_of, rx));
        // A fresh lane's receiver is alive, so this send cannot fail.
        let _ = tx.send(job);
        lanes.entry(addr.to_string()).or_default()[lane] = Some(tx);
    }

    /// Sends one command and waits for its reply.
    pub async fn call(&self, addr: &str, resp: u8, request: Bytes) -> ReplyResult {
        self.call_many(addr, resp, request, 1).await
    }

    /// Sends commands back to back and waits for their `replies` replies, in one buffer.
    pub async fn call_many(
        &self,
        addr: &str,
        resp: u8,
        request: Bytes,
        replies: usize,
    ) -> ReplyResult {
        self.send(addr, resp, LaneKind::Any, request, replies)
            .await
            .unwrap_or_else(|_| Err(BackendError::Lost(addr.to_string())))
    }

    /// [`Backends::call_many`], on the lane `via` picks.
    pub async fn call_via(
        &self,
        addr: &str,
        via: &Via,
        request: Bytes,
        replies: usize,
    ) -> ReplyResult {
        self.send(addr, via.resp, via.kind(), request, replies)
            .await
            .unwrap_or_else(|_| Err(BackendError::Lost(addr.to_string())))
    }

    /// Sends one read command over a READONLY connection: a follower copy may answer it.
    pub async fn call_readonly(&self, addr: &str, resp: u8, request: Bytes) -> ReplyResult {
        self.send(addr, resp, LaneKind::Readonly, request, 1)
            .await
            .unwrap_or_else(|_| Err(BackendError::Lost(addr.to_string())))
    }
}

/// What a lane is: its server, protocol and mode, and whose it is.
struct Lane {
    addr: String,
    resp: u8,
    readonly: bool,
    refused: mpsc::UnboundedSender<(String, Evidence)>,
    tracking: Option<Arc<LaneTracking>>,
    user: Option<Arc<[u8]>>,
    stats: Arc<BackendStats>,
}

/// One backend lane: connects when a request arrives, serves until the connection fails.
async fn run_lane(lane: Lane, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let Lane {
        addr,
        resp,
        readonly,
        refused,
        tracking,
        user,
        stats,
    } = &lane;
    let mut backoff = Duration::from_millis(50);
    while let Some(first) = jobs.recv().await {
        let connected = match connect_as(addr, *resp, user.as_deref()).await {
            Ok(stream) if *readonly => send_readonly(stream).await,
            connected => connected,
        };
        let tracked = match (connected, tracking) {
            (Ok(stream), Some(tracking)) => tracking.start(stream, addr, *resp).await,
            (connected, _) => connected.map(|stream| (stream, None)),
        };
        match tracked {
            Ok((stream, link)) => {
                backoff = Duration::from_millis(50);
                let pushes = tracking.as_ref().map(|t| &t.pushes);
                let lane_link = LaneLink {
                    pushes,
                    from: addr.as_str().into(),
                    redirect: link.as_ref().map(|l| l.id),
                    stats,
                };
                if let Err(err) = serve(stream, first, &mut jobs, addr, &lane_link).await {
                    debug!(%addr, %err, "backend connection ended");
                    if let Some(pushes) = pushes {
                        // What the server tracked for the client is gone with the connection.
                        let _ = pushes.send(Push::flush(lane_link.from.clone()));
                    }
                }
            }
            Err(err) => {
                debug!(%addr, %err, "backend unreachable");
                let evidence = match err.kind() {
                    std::io::ErrorKind::ConnectionRefused => Some(Evidence::Refused),
                    std::io::ErrorKind::TimedOut => Some(Evidence::Silent),
                    _ => None,
                };
                if let Some(evidence) = evidence {
                    let _ = refused.send((addr.clone(), evidence));
                }
                let unreachable = BackendError::Unreachable(addr.clone());
                let _ = first.reply.send(Err(unreachable.clone()));
                let mut failed = 1;
                while let Ok(job) = jobs.try_recv() {
                    let _ = job.reply.send(Err(unreachable.clone()));
                    failed += 1;
                }
                stats.unreachable.fetch_add(failed, Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Opens a connection speaking RESP `resp` (HELLO 3 for RESP3), logged in with the cluster's
/// internal credential when it has one.
/// Over TLS with `tls-cluster yes`.
pub async fn connect(addr: &str, resp: u8) -> std::io::Result<Stream> {
    connect_as(addr, resp, None).await
}

/// [`connect`], logged in on behalf of `user` when given (see `Backends::on_behalf_of`).
/// During a secret rotation, a server that has not heard of it yet refuses the new secret:
/// the one before it is presented then.
pub async fn connect_as(addr: &str, resp: u8, user: Option<&[u8]>) -> std::io::Result<Stream> {
    let mut refused = None;
    for secret in [internal::installed(), internal::previous()]
        .into_iter()
        .flatten()
    {
        let mut stream = links::dial(addr, Link::Cluster, CONNECT_TIMEOUT).await?;
        match handshake(&mut stream, &secret.login_request(resp, user)).await {
            Ok(()) => return Ok(stream),
            Err(err) => refused = Some(err),
        }
    }
    if let Some(refused) = refused {
        return Err(refused);
    }
    let mut stream = links::dial(addr, Link::Cluster, CONNECT_TIMEOUT).await?;
    if resp == 3 {
        handshake(&mut stream, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n").await?;
    }
    Ok(stream)
}

/// Sends a connection's first request and checks its reply.
async fn handshake(stream: &mut Stream, request: &[u8]) -> std::io::Result<()> {
    send(stream, request).await?;
    let reply = read_reply(stream, &mut BytesMut::new()).await?;
    if reply.starts_with(b"-") {
        let error = String::from_utf8_lossy(&reply[1..]).trim_end().to_string();
        return Err(std::io::Error::other(format!(
            "backend refused the handshake: {error}"
        )));
    }
    Ok(())
}

/// Puts a connection in READONLY mode.
async fn send_readonly(mut stream: Stream) -> std::io::Result<Stream> {
    send(&mut stream, b"*1\r\n$8\r\nREADONLY\r\n").await?;
    let reply = read_reply(&mut stream, &mut BytesMut::new()).await?;
    if reply.starts_with(b"-") {
        return Err(std::io::Error::other("backend refused READONLY"));
    }
    Ok(stream)
}

/// Sends `request` to `addr` on a connection of its own (for commands that may block as long
/// as their timeout, which would hold up a shared lane) and reads its `replies` replies. A
/// failure becomes an error reply naming the server.
pub async fn call_dedicated(
    addr: &str,
    resp: u8,
    request: &[u8],
    replies: usize,
) -> Result<Vec<Bytes>, Bytes> {
    let attempt = async {
        let mut stream = connect(addr, resp).await?;
        send(&mut stream, request).await?;
        let mut input = BytesMut::new();
        let mut read = Vec::with_capacity(replies);
        for _ in 0..replies {
            read.push(read_reply(&mut stream, &mut input).await?);
        }
        Ok::<_, std::io::Error>(read)
    };
    attempt
        .await
        .map_err(|err| crate::session::error_reply(&format!("ERR shard server {addr}: {err}")))
}

/// Reads one whole reply from a dedicated connection.
pub async fn read_reply(stream: &mut Stream, input: &mut BytesMut) -> std::io::Result<Bytes> {
    let mut framer = Framer::default();
    loop {
        if let Some(len) = framer.scan(input).map_err(std::io::Error::other)? {
            return Ok(input.split_to(len).freeze());
        }
        if stream.read_buf(input).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// A tracking client's lane: where its server's messages go, and the listener its server
/// redirects them to (a RESP2 lane's).
struct LaneLink<'a> {
    pushes: Option<&'a mpsc::UnboundedSender<Push>>,
    from: Arc<str>,
    redirect: Option<i64>,
    stats: &'a BackendStats,
}

impl LaneLink<'_> {
    fn write_job(&self, out: &mut BytesMut, job: &Job) {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.stats
            .commands
            .fetch_add(job.replies as u64, Ordering::Relaxed);
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        match &job.tracking {
            Some(args) => out.extend_from_slice(&tracking_request(args, self.redirect)),
            None => out.extend_from_slice(&job.request),
        }
    }

    fn pass_on(&self, frame: Bytes, before_reply: bool) {
        if let Some(pushes) = self.pushes {
            let _ = pushes.send(Push {
                frame,
                from: self.from.clone(),
                before_reply,
            });
        }
    }
}

async fn serve(
    mut stream: Stream,
    first: Job,
    jobs: &mut mpsc::UnboundedReceiver<Job>,
    addr: &str,
    link: &LaneLink<'_>,
) -> std::io::Result<()> {
    // Plain TCP splits without the lock `tokio::io::split` takes on every read and write.
    match &mut stream {
        Stream::Plain(tcp) => {
            let (reader, writer) = tcp.split();
            serve_split((reader, writer, false), first, jobs, addr, link).await
        }
        Stream::Tls(tls) => {
            let (reader, writer) = tokio::io::split(tls.as_mut());
            serve_split((reader, writer, true), first, jobs, addr, link).await
        }
    }
}

/// `halves`: the connection's reader and writer, and whether the writer holds back what the
/// socket did not take until a flush (TLS does; plain TCP never holds anything).
async fn serve_split(
    halves: (impl AsyncRead + Unpin, impl AsyncWrite + Unpin, bool),
    first: Job,
    jobs: &mut mpsc::UnboundedReceiver<Job>,
    addr: &str,
    link: &LaneLink<'_>,
) -> std::io::Result<()> {
    let (mut reader, mut writer, holds_writes) = halves;
    let mut unflushed = false;
    let mut in_flight: VecDeque<(oneshot::Sender<ReplyResult>, usize)> = VecDeque::new();
    let mut out = BytesMut::new();
    link.write_job(&mut out, &first);
    in_flight.push_back((first.reply, first.replies));
    // Replies of the oldest job already framed: their length and count.
    let (mut framed, mut framed_count) = (0, 0);
    let mut framer = Framer::default();
    let mut input = BytesMut::with_capacity(64 * 1024);
    let result = loop {
        if input.capacity() - input.len() < 16 * 1024 {
            input.reserve(input.len().max(64 * 1024));
        }
        tokio::select! {
            job = jobs.recv(), if out.len() < WRITE_HIGH_WATER => {
                let Some(job) = job else { break Ok(()) };
                link.write_job(&mut out, &job);
                in_flight.push_back((job.reply, job.replies));
                while let Ok(job) = jobs.try_recv() {
                    link.write_job(&mut out, &job);
                    in_flight.push_back((job.reply, job.replies));
                }
            }
            // One write or, with nothing left to write, one flush: each alone is cancel-safe.
            written = async {
                match out.is_empty() {
                    true => writer.flush().await.map(|()| 0),
                    false => writer.write(&out).await,
                }
            }, if !out.is_empty() || unflushed => {
                match written {
                    Ok(n) => {
                        out.advance(n);
                        unflushed = holds_writes && n > 0;
                    }
                    Err(err) => break Err(err),
                }
            }
            read = reader.read_buf(&mut input) => {
                match read {
                    Ok(0) => break Err(std::io::ErrorKind::UnexpectedEof.into()),
                    Ok(_) => {}
                    Err(err) => break Err(err),
                }
                loop {
                    match framer.scan(&input[framed..]) {
                        Ok(Some(len)) if input[framed] == b'>' && link.pushes.is_some() => {
                            let mut rest = input.split_off(framed);
                            let push = rest.split_to(len).freeze();
                            input.unsplit(rest);
                            link.pass_on(push, !in_flight.is_empty());
                        }
                        Ok(Some(len)) => {
                            let Some((_, wanted)) = in_flight.front() else {
                                return Err(std::io::Error::other("unsolicited reply"));
                            };
                            framed += len;
                            framed_count += 1;
                            if framed_count < *wanted {
                                continue;
                            }
                            let reply = input.split_to(framed).freeze();
                            (framed, framed_count) = (0, 0);
                            if let Some((waiter, _)) = in_flight.pop_front() {
                                link.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                                let _ = waiter.send(Ok(reply));
                            }
                        }
                        Ok(None) => break,
                        Err(err) => {
                            return fail(in_flight, addr, link, std::io::Error::other(err))
                        }
                    }
                }
            }
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(err) => fail(in_flight, addr, link, err),
    }
}

fn fail(
    in_flight: VecDeque<(oneshot::Sender<ReplyResult>, usize)>,
    addr: &str,
    link: &LaneLink<'_>,
    err: std::io::Error,
) -> std::io::Result<()> {
    let lost = in_flight.len();
    link.stats.lost.fetch_add(lost as u64, Ordering::Relaxed);
    link.stats
        .in_flight
        .fetch_sub(lost as i64, Ordering::Relaxed);
    for (waiter, _) in in_flight {
        let _ = waiter.send(Err(BackendError::Lost(addr.to_string())));
    }
    Err(err)
}
