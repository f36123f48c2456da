//! The RESP front: accepts connections, reads requests, runs every complete request of a read as
//! one batch under a single keyspace lock, and writes all their replies in one write.

use crate::blocking::{self, Blocked};
use crate::client::{Client, ClientInfo};
use crate::commands::Outcome;
use crate::commands::{CmdError, Resolved, Table};
use crate::commits::Commits;
use crate::dispatch::{execute_resolved, Batch};
use crate::partition::SharedKeyspace;
use crate::replication::log::Role;
use crate::replication::Progress;
use crate::routing::Target;
use crate::state::{now_ms, Server, Stats};
use bytes::{Buf, Bytes, BytesMut};
use slotcache_cluster::records::ReplicationMode;
use slotcache_protocol::command::route::RouteError;
use slotcache_protocol::limits::{ClientClass, OutputWatch};
use slotcache_protocol::protected_mode;
use slotcache_protocol::resp::{make_read_room, ParseLimits, ProtocolError, Reply, RequestParser};
use slotcache_protocol::tls::{Acceptor, Stream};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

/// Accepts clients until the listener fails; with `tls`, each completes a TLS handshake
/// first (one that fails or stalls is dropped without a word, as Redis drops it).
pub async fn serve(
    server: Arc<Server>,
    listener: TcpListener,
    tls: Option<Arc<Acceptor>>,
) -> std::io::Result<()> {
    info!(addr = %listener.local_addr()?, tls = tls.is_some(), "accepting connections");
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(pair) => pair,
            Err(err) => {
                // Running out of descriptors must not end the server; back off and retry.
                warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        Stats::add(&server.stats.connections_received, 1);
        let server = server.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let laddr = stream.local_addr().unwrap_or(addr);
            let stream = match Stream::open(stream, tls.as_deref()).await {
                Ok(stream) => stream,
                Err(err) => return debug!(%addr, %err, "connection not opened"),
            };
            if let Err(err) = handle(server, stream, addr, laddr).await {
                debug!(%addr, %err, "connection ended with an error");
            }
        });
    }
}

async fn handle(
    server: Arc<Server>,
    mut stream: Stream,
    addr: std::net::SocketAddr,
    laddr: std::net::SocketAddr,
) -> std::io::Result<()> {
    let (maxclients, needs_auth, protected) = {
        let config = server.config.read();
        let needs_auth = server.acl.users.auth_required();
        let protected = protected_mode::refuses(config.protected_mode, needs_auth, addr.ip());
        (config.maxclients, needs_auth, protected)
    };
    if protected {
        Stats::add(&server.stats.rejected_connections, 1);
        stream.write_all(protected_mode::DENIED.as_bytes()).await?;
        return stream.flush().await;
    }
    let id = server.next_client_id();
    let info = Arc::new(ClientInfo::new(id, addr, laddr));
    let admitted = {
        let mut clients = server.clients.lock();
        let room = (clients.len() as u64) < maxclients;
        if room {
            clients.insert(id, info.clone());
        }
        room
    };
    if !admitted {
        Stats::add(&server.stats.rejected_connections, 1);
        stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await?;
        return stream.flush().await;
    }
    let mut client = Client::new(info, !needs_auth);
    client.login = Some(server.acl.users.default_login());
    let mut blocked = None;
    // Plain TCP splits without the lock `tokio::io::split` takes on every read and write.
    let result = match &mut stream {
        Stream::Plain(tcp) => {
            let (reader, writer) = tcp.split();
            connection_loop(
                &server,
                Link {
                    reader,
                    writer,
                    holds_writes: false,
                },
                &mut client,
                &mut blocked,
            )
            .await
        }
        Stream::Tls(tls) => {
            let (reader, writer) = tokio::io::split(tls.as_mut());
            connection_loop(
                &server,
                Link {
                    reader,
                    writer,
                    holds_writes: true,
                },
                &mut client,
                &mut blocked,
            )
            .await
        }
    };
    if client.subscriptions.is_subscribed() {
        crate::commands::pubsub::unsubscribe_all(&mut client, &mut server.pubsub.lock());
    }
    if client.tracking.is_some() {
        server.tracking.disable(id);
    }
    if client.monitoring {
        server.monitors.remove(id);
    }
    if blocked.is_some() || !client.watched.is_empty() {
        let keyspace = client.keyspace(&server).clone();
        let mut ks = keyspace_when_free(&server, &keyspace).await;
        if let Some(blocked) = blocked {
            blocking::unblock(&mut ks, blocked.id);
        }
        client.unwatch_all(&mut ks);
    }
    server.clients.lock().remove(&id);
    result
}

/// A client connection's two directions.
struct Link<R, W> {
    reader: R,
    writer: W,
    /// Whether the writer may keep bytes back until flushed (TLS does; plain TCP never).
    holds_writes: bool,
}

/// What a connection has read but not run yet.
#[derive(Default)]
struct Backlog {
    parser: RequestParser,
    input: BytesMut,
    /// Parsed requests waiting behind a blocked one.
    pending: VecDeque<Vec<Bytes>>,
    /// A malformed request seen after `pending`: answered, then the connection closes.
    error: Option<ProtocolError>,
    /// Requests wait for a running script to finish (checked again shortly).
    waiting_for_script: bool,
    /// While the last run of requests stopped at one that waits for its partition's change of
    /// leader (checked again shortly): until when it may wait, past which it gets the refusal
    /// it waited to avoid.
    waiting_for_leader: Option<Instant>,
    /// Whether that wait stopped the last run of requests.
    held_for_leader: bool,
}

/// Reads and writes concurrently: replies that the client has not read yet stay buffered while
/// its next requests are still read and run, as Redis does, so a client that pipelines without
/// reading can never deadlock against the server. While a blocking command waits, input is
/// still read (and a closed socket noticed) but nothing after it runs.
async fn connection_loop(
    server: &Server,
    link: Link<impl AsyncRead + Unpin, impl AsyncWrite + Unpin>,
    client: &mut Client,
    blocked: &mut Option<Blocked>,
) -> std::io::Result<()> {
    let Link {
        mut reader,
        mut writer,
        holds_writes,
    } = link;
    let mut backlog = Backlog::default();
    let mut out = Reply::new(client.proto);
    let info = client.info.clone();
    // Replies wait here until the replicas counted for acknowledgement have what they saw.
    let mut commits = Commits::default();
    let mut output_watch = OutputWatch::default();
    // Written but perhaps held back by TLS: flushed once the buffer is empty.
    let mut unflushed = false;
    loop {
        let (idle_timeout, query_limit, output_limits) = {
            let config = server.config.read();
            let limits = config.client_output_buffer_limit;
            (config.timeout, config.client_query_buffer_limit, limits)
        };
        if backlog.input.len() + backlog.parser.buffered() > query_limit as usize {
            warn!(
                client = info.id,
                "closing client that reached max query buffer length"
            );
            return Ok(());
        }
        let class = match client.subscriptions.is_subscribed() {
            true => ClientClass::Pubsub,
            false => ClientClass::Normal,
        };
        let limit = output_limits.class(class);
        if output_watch.exceeded(limit, out.buf.len(), Instant::now) {
            warn!(
                client = info.id,
                "client closed for overcoming of output buffer limits"
            );
            return Ok(());
        }
        let reading = !client.close_after_reply;
        if reading {
            make_read_room(&mut backlog.input);
        }
        let releasable = commits.releasable(out.buf.len());
        let writing = releasable > 0;
        let flushing = unflushed && !writing;
        // Closing (QUIT, a kill, an error) still sends the replies held for a commit.
        if !reading && !writing && !flushing && commits.is_empty() {
            return Ok(());
        }
        let deadline = blocked.as_ref().and_then(|b| b.request.deadline);
        let waiting = (backlog.waiting_for_script || backlog.held_for_leader) && blocked.is_none();
        let committed = commits.oldest_committed();
        let idle = async {
            match (idle_timeout, deadline) {
                (_, Some(deadline)) => tokio::time::sleep_until(deadline.into()).await,
                (0, None) => std::future::pending().await,
                (seconds, None) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            }
        };
        let served = async {
            match blocked.as_mut() {
                Some(b) => (&mut b.reply).await.ok(),
                None => std::future::pending().await,
            }
        };
        // Messages are taken from the mailbox only while the client keeps up; a backlog then
        // stays in the mailbox, where the publisher's limit check sees it.
        let keeping_up = out.buf.len() < 1024 * 1024;
        let delivery = async {
            match client.subscriptions.inbox.as_mut() {
                Some(inbox) if keeping_up => inbox.recv().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            read = reader.read_buf(&mut backlog.input), if reading => {
                let n = read?;
                if n == 0 || info.killed.load(Ordering::Acquire) {
                    return Ok(());
                }
                Stats::add(&server.stats.net_input_bytes, n as u64);
                match blocked.is_none() {
                    // It notes the interaction, with the clock its batch reads anyway.
                    true => *blocked = run_requests(server, client, &mut backlog, &mut out, &mut commits),
                    false => *info.last_interaction.lock() = Instant::now(),
                }
            }
            () = info.notice_signal.raised() => {
                // A blocked command's reply that is already in comes first, as the server
                // served it before the change that sent these messages.
                let served = blocked.as_mut().and_then(|b| b.reply.try_recv().ok());
                if let Some(reply) = &served {
                    *blocked = None;
                    out.buf.extend_from_slice(reply);
                }
                write_notices(client, info.take_notices(), &mut out);
                if served.is_some() {
                    *blocked = run_requests(server, client, &mut backlog, &mut out, &mut commits);
                }
            }
            message = delivery => {
                match message {
                    Some(message) => {
                        if let Some(mailbox) = &client.subscriptions.mailbox {
                            mailbox.taken(&message);
                        }
                        crate::commands::pubsub::write_message(&mut out, &message);
                    }
                    None => client.subscriptions.inbox = None,
                }
            }
            reply = served => {
                *blocked = None;
                out.buf.extend_from_slice(&reply.unwrap_or_default());
                *blocked = run_requests(server, client, &mut backlog, &mut out, &mut commits);
            }
            output = async {
                match writing {
                    true => writer.write(&out.buf[..releasable]).await.map(Some),
                    false => writer.flush().await.map(|()| None),
                }
            }, if writing || flushing => {
                let Some(n) = output? else {
                    unflushed = false;
                    continue;
                };
                Stats::add(&server.stats.net_output_bytes, n as u64);
                out.buf.advance(n);
                commits.sent(n);
                unflushed = holds_writes;
                // Don't keep a huge buffer around after one big reply.
                if out.buf.is_empty() && out.buf.capacity() > 1024 * 1024 {
                    out.buf = BytesMut::new();
                }
            }
            committed = committed, if !commits.is_empty() => {
                if !committed {
                    // Leadership moved before the replicas had these writes: their outcome is
                    // unknown, and the client learns it by losing the connection, not by a reply.
                    return Ok(());
                }
            }
            _ = wait_poll(), if waiting => {
                *blocked = run_requests(server, client, &mut backlog, &mut out, &mut commits);
            }
            () = info.kill_signal.raised() => return Ok(()),
            _ = idle, if deadline.is_some() || !writing => {
                let Some(waiting) = blocked.take() else {
                    // Idle past `timeout` (blocked clients are exempt, as in Redis).
                    return Ok(());
                };
                time_out(server, &client.keyspace(server).clone(), waiting, &mut out).await;
                *blocked = run_requests(server, client, &mut backlog, &mut out, &mut commits);
            }
        }
    }
}

/// Writes what other connections sent this one, in the order they sent it.
fn write_notices(client: &mut Client, notices: Vec<crate::client::Notice>, out: &mut Reply) {
    for notice in notices {
        match notice {
            crate::client::Notice::Tracking(push) => {
                client.pushes.push(push);
                crate::tracking::hooks::write_own(client, out);
            }
            crate::client::Notice::Monitor(line) => out.buf.extend_from_slice(&line),
        }
    }
}

/// A blocked command's deadline passed: withdraw it and answer its timeout reply, unless it was
/// served at the last moment, in which case that reply stands.
async fn time_out(
    server: &Server,
    keyspace: &SharedKeyspace,
    mut waiting: Blocked,
    out: &mut Reply,
) {
    let withdrawn = blocking::unblock(&mut *keyspace_when_free(server, keyspace).await, waiting.id);
    if withdrawn {
        if waiting.request.null_array_on_timeout {
            out.null_array();
        } else {
            out.null();
        }
    } else if let Ok(reply) = waiting.reply.try_recv() {
        out.buf.extend_from_slice(&reply);
    }
}

/// Runs the queued and newly complete requests in batches, each under one keyspace lock, until
/// the input is used up or a command blocks (its registration is returned). Until the client
/// has authenticated, requests are taken one at a time so Redis's small pre-AUTH limits apply
/// exactly to the requests sent before AUTH.
fn run_requests(
    server: &Server,
    client: &mut Client,
    backlog: &mut Backlog,
    out: &mut Reply,
    commits: &mut Commits,
) -> Option<Blocked> {
    // Whether a batch ran, and noted the interaction with its clock.
    let mut batched = false;
    while !client.close_after_reply {
        if backlog.pending.is_empty() && backlog.error.is_none() {
            let limits = ParseLimits {
                max_bulk_len: server.config.read().proto_max_bulk_len as usize,
                unauthenticated: !client.authenticated,
                ..ParseLimits::default()
            };
            while !limits.unauthenticated || backlog.pending.is_empty() {
                match backlog.parser.next_request(&mut backlog.input, &limits) {
                    Ok(Some(args)) => backlog.pending.push_back(args),
                    Ok(None) => break,
                    Err(err) => {
                        backlog.error = Some(err);
                        break;
                    }
                }
            }
        }
        if backlog.pending.is_empty() {
            if !batched {
                // Input without a whole request still counts (CLIENT LIST's idle).
                *client.info.last_interaction.lock() = Instant::now();
            }
            if let Some(err) = backlog.error.take() {
                out.error(&format!("ERR {err}"));
                client.close_after_reply = true;
            }
            return None;
        }
        // A script holds the keyspace: never park this worker on its lock. Past the busy
        // threshold Redis answers BUSY (SCRIPT KILL excepted); before, requests wait.
        backlog.waiting_for_script = server.scripts.is_running();
        if backlog.waiting_for_script {
            let threshold = server.config.read().busy_reply_threshold;
            if server.scripts.is_busy(threshold) {
                while let Some(args) = backlog.pending.pop_front() {
                    answer_while_busy(server, client, &args, out);
                }
            } else {
                // A kill is answered at once, before the threshold too: a client that gives
                // up waiting must not leave the script running past its kill.
                while backlog.pending.front().is_some_and(|args| is_kill(args)) {
                    if let Some(args) = backlog.pending.pop_front() {
                        answer_while_busy(server, client, &args, out);
                    }
                }
            }
            return None;
        }
        crate::prefetch::partitions(server, client.db, client.readonly, &backlog.pending);
        let mut batch = Batch::for_server(server);
        *client.info.last_interaction.lock() = batch.clock();
        batched = true;
        let registered = run_batch(server, client, backlog, out, &mut batch, commits);
        batch.flush(server);
        client
            .info
            .last_command
            .store(client.last_command, Ordering::Relaxed);
        if registered.is_some() || backlog.held_for_leader {
            return registered;
        }
    }
    None
}

/// Runs queued requests under their keyspace's lock, taken once for every run of consecutive
/// requests addressing the same keyspace; stops at a blocked command (returned), a refused
/// connection state, or an empty queue.
fn run_batch(
    server: &Server,
    client: &mut Client,
    backlog: &mut Backlog,
    out: &mut Reply,
    batch: &mut Batch,
    commits: &mut Commits,
) -> Option<Blocked> {
    let mut ks = None;
    // The log's head when the keyspace's lock was taken.
    let mut since = 0;
    // Where the replies of what runs under that lock begin (nothing is sent meanwhile).
    let mut began = 0;
    let sent = commits.position(0);
    let mut pid = client.partition.as_ref().map(|(pid, _)| *pid);
    // Both set again below if the next request still waits for its new leader: the patience
    // carries over only from one held run to the next.
    backlog.held_for_leader = false;
    let patience = backlog.waiting_for_leader.take();
    // What the run's reads must see committed, when it writes nothing (see `Unsettled`).
    let mut reads_need = 0;
    let mut finish =
        |pid: Option<u32>, ks: Option<&mut crate::partition::Keyspace>, (since, needed), began| {
            let awaited = ks.and_then(|ks| awaited_commit(server, pid?, ks, since, needed));
            if let Some((progress, head)) = awaited {
                commits.hold(progress, head, began);
            }
        };
    while let Some(args) = backlog.pending.front() {
        // Resolved once: the routing and the command's run share it.
        let command = Table::get().resolve(args);
        match switch_keyspace(server, client, &command, args) {
            Ok(false) => {}
            Ok(true) => {
                finish(pid, ks.take().as_deref_mut(), (since, reads_need), began);
                pid = client.partition.as_ref().map(|(pid, _)| *pid);
            }
            Err(refusal) => {
                out.error(&refusal);
                if client.multi.is_some() {
                    client.multi_failed = true;
                }
                backlog.pending.pop_front();
                continue;
            }
        }
        // As in Redis, a request for another server's key is redirected before any pause.
        if let Some(needed) = server
            .pause
            .holds(server, client, command.as_ref().ok(), args)
        {
            finish(pid, ks.as_deref_mut(), (since, reads_need), began);
            return Some(server.pause.wait(client, needed));
        }
        let ks = match &mut ks {
            Some(ks) => ks,
            None => {
                let Some(locked) = lock_unless_scripted(server, client.keyspace(server)) else {
                    // The connection loop waits for the script, without this worker.
                    backlog.waiting_for_script = true;
                    break;
                };
                since = locked.log.next_offset();
                reads_need = 0;
                began = sent + out.buf.len() as u64;
                crate::prefetch::standalone(server, &locked.dbs[client.db], &backlog.pending);
                ks.insert(locked)
            }
        };
        if let Some(pid) = pid.filter(|&pid| {
            crate::dispatch::waits_for_leader(server, client, pid, ks, command.as_ref().ok(), args)
        }) {
            let now = Instant::now();
            let until = patience.unwrap_or(now + LEADER_PATIENCE);
            if now < until {
                debug!(
                    client = client.id,
                    partition = pid,
                    "waiting for the new leader"
                );
                backlog.held_for_leader = true;
                backlog.waiting_for_leader = Some(until);
                break;
            }
        }
        let Some(args) = backlog.pending.pop_front() else {
            break;
        };
        // Only a run that writes nothing waits on what its reads need.
        if let Some(unsettled) = ks.log.unsettled().filter(|_| ks.log.next_offset() == since) {
            let spec = command.as_ref().ok().map(|resolved| resolved.spec);
            reads_need = reads_need.max(unsettled.needed_by(spec, &args, ks.log.next_offset()));
        }
        let outcome = execute_resolved(server, client, ks, out, &args, command, batch);
        blocking::serve_ready(server, ks);
        crate::tracking::hooks::after_command(server, client, ks, out);
        match outcome {
            Outcome::Replied => {}
            Outcome::AwaitReplicas { wanted, deadline } => {
                let waiting = wait_for_replicas(server, client, ks, wanted, deadline);
                finish(pid, Some(ks), (since, reads_need), began);
                return Some(waiting);
            }
            Outcome::Block(request) => {
                let blocked = blocking::block(ks, client, &args, request);
                finish(pid, Some(ks), (since, reads_need), began);
                return Some(blocked);
            }
            Outcome::Close => client.close_after_reply = true,
        }
        if client.close_after_reply || !client.authenticated {
            break;
        }
    }
    finish(pid, ks.as_deref_mut(), (since, reads_need), began);
    None
}

/// WAIT: the connection waits, as for a blocking command, for the reply of a task that
/// counts the replicas having every write so far, until `wanted` do or the deadline.
fn wait_for_replicas(
    server: &Server,
    client: &Client,
    ks: &crate::partition::Keyspace,
    wanted: usize,
    deadline: Option<Instant>,
) -> Blocked {
    let target = crate::replication::progress_at(server, client, ks);
    let (reply, receiver) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut reply = reply;
        let count = async {
            match target {
                Some((progress, head)) => progress.wait_replicas(head, wanted, deadline).await,
                None if wanted == 0 => 0,
                None => {
                    match deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                        None => std::future::pending().await,
                    }
                    0
                }
            }
        };
        // A client that goes away stops the count.
        let have = tokio::select! {
            have = count => Some(have),
            () = reply.closed() => None,
        };
        if let Some(have) = have {
            let _ = reply.send(format!(":{have}\r\n").into_bytes());
        }
    });
    Blocked {
        id: client.id,
        reply: receiver,
        request: blocking::BlockRequest {
            keys: Vec::new(),
            deadline: None,
            kind: crate::engine::ValueType::String,
            replay: None,
            null_array_on_timeout: false,
            fails_when_gone: false,
        },
    }
}

/// In `sync` mode, what a batch that ran on a led partition waits for: every record written
/// so far (by this client or another whose write it may have read) on the counted replicas.
///
/// A batch that wrote nothing still waits for one record written after it ran (a no-op when
/// needed, see [`crate::replication::log::Log::barrier`]): this copy may have been deposed
/// without knowing yet (paused, cut off from etcd), and the counted replicas acknowledge a
/// record only while they follow this leader, so no reply computed after a new leader took
/// writes leaves. A leader that reads under its lease needs no such record (see
/// [`crate::replication::read_lease`]), though it still waits for what others wrote before
/// that it may have read: the last records that wrote its keys (`needed`, see
/// [`crate::replication::unsettled`]).
fn awaited_commit(
    server: &Server,
    pid: u32,
    ks: &mut crate::partition::Keyspace,
    since: u64,
    needed: u64,
) -> Option<(Arc<Progress>, u64)> {
    if ks.log.role() != Role::Leader {
        return None;
    }
    let replication = server.replication.get()?;
    if replication.mode != ReplicationMode::Sync {
        return None;
    }
    let progress = replication.progress(pid)?;
    let read_only = ks.log.next_offset() == since;
    ks.log.settle(progress.committed_offset());
    let head = match read_only && ks.log.reads_under_lease() {
        true => ks.log.read_needs(needed),
        false => {
            if read_only && progress.counts_followers() {
                ks.log.barrier(crate::state::now_ms());
            }
            ks.log.next_offset()
        }
    };
    Some((progress, head)).filter(|(progress, _)| !progress.is_committed(head))
}

/// In cluster mode, points the connection at the partition a request addresses; true when
/// that changed its keyspace. The error refuses the request here: a redirect, CROSSSLOT, or a
/// transaction's keys leaving its partition.
fn switch_keyspace(
    server: &Server,
    client: &mut Client,
    command: &Result<Resolved, CmdError>,
    args: &[Bytes],
) -> Result<bool, String> {
    let routes = match server.routes.get() {
        Some(routes) if client.authenticated => routes,
        _ => return Ok(false),
    };
    let routes = routes.read();
    // The keyspace is compared where the routes hold it: most requests stay where they are.
    let spec = command
        .as_ref()
        .ok()
        .map(|resolved| resolved.spec)
        .filter(|spec| spec.arity_ok(args.len()));
    match (
        routes.target(spec, args, client.readonly)?,
        &client.partition,
    ) {
        (Target::Current, _) => Ok(false),
        // The same keyspace: a partition dropped and hosted again has a new one, and the old
        // one's data is gone from the cluster's view.
        (Target::Partition(pid, keyspace), Some((current, held)))
            if *current == pid && Arc::ptr_eq(held, keyspace) =>
        {
            Ok(false)
        }
        (Target::Partition(..), _) if client.pinned() => Err(RouteError::CrossSlot.to_string()),
        (Target::Partition(pid, keyspace), _) => {
            client.partition = Some((pid, keyspace.clone()));
            Ok(true)
        }
    }
}

/// A keyspace's lock, or None once a script is found holding it. Waits are timed: a script
/// that starts between a look at `is_running` and the lock would otherwise park this worker
/// for as long as it runs, and with every worker parked nothing answers SCRIPT KILL.
fn lock_unless_scripted(
    server: &Server,
    keyspace: &SharedKeyspace,
) -> Option<parking_lot::ArcMutexGuard<parking_lot::RawMutex, crate::partition::Keyspace>> {
    loop {
        if let Some(guard) = keyspace.try_lock_arc_for(Duration::from_millis(1)) {
            return Some(guard);
        }
        if server.scripts.is_running() {
            return None;
        }
    }
}

/// A keyspace's lock, waited for without parking a worker thread while a script holds it.
async fn keyspace_when_free(
    server: &Server,
    keyspace: &SharedKeyspace,
) -> parking_lot::ArcMutexGuard<parking_lot::RawMutex, crate::partition::Keyspace> {
    loop {
        if let Some(guard) = keyspace.try_lock_arc() {
            return guard;
        }
        if !server.scripts.is_running() {
            return keyspace.lock_arc();
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// How often a connection whose requests wait (for a script, or a new leader) looks again.
const WAIT_POLL: Duration = Duration::from_millis(2);

/// Sleeps [`WAIT_POLL`]. A function, so the sleep (and its clock read) is made only when the
/// connection loop polls it: `select!` builds every branch's future on each turn.
async fn wait_poll() {
    tokio::time::sleep(WAIT_POLL).await
}

/// How long a request waits for its partition's change of leader (a handover pauses for
/// milliseconds, and gives up after a second) before it is refused as it would have been.
const LEADER_PATIENCE: Duration = Duration::from_secs(2);

/// SCRIPT KILL or FUNCTION KILL.
fn is_kill(args: &[Bytes]) -> bool {
    args.len() == 2
        && (args[0].eq_ignore_ascii_case(b"script") || args[0].eq_ignore_ascii_case(b"function"))
        && args[1].eq_ignore_ascii_case(b"kill")
}

/// What a request gets while a script has run past the busy threshold. SCRIPT KILL stops a
/// script and FUNCTION KILL a function; the other is refused as busy, as in Redis. MULTI and
/// DISCARD are `allow_busy` commands; any other refusal inside MULTI fails the transaction,
/// and an EXEC refused aborts it.
fn answer_while_busy(server: &Server, client: &mut Client, args: &[Bytes], out: &mut Reply) {
    let is = |i: usize, word: &[u8]| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word));
    let function = server.scripts.running_is_function();
    let busy = slotcache_protocol::command::busy(function);
    let kill_word: &[u8] = if function { b"function" } else { b"script" };
    if args.len() == 2 && is(0, kill_word) && is(1, b"kill") {
        crate::commands::scripting::kill_reply(server.scripts.kill(), out);
    } else if args.len() == 2 && is(0, b"function") && is(1, b"stats") {
        crate::commands::functions::stats_reply(&server.scripts, out);
    } else if args.len() == 2 && is(0, b"shutdown") && is(1, b"nosave") {
        crate::commands::server::shutdown_now();
    } else if (args.len() == 2 || args.len() == 3) && is(0, b"auth") {
        match crate::commands::connection::authenticate(server, client, args, now_ms()) {
            Ok(()) => out.ok(),
            Err(err) => out.error(&err.to_string()),
        }
    } else if args.len() == 1 && is(0, b"multi") && client.multi.is_none() {
        client.multi = Some(Vec::new());
        client.multi_failed = false;
        out.ok();
    } else if args.len() == 1 && is(0, b"discard") && client.multi.is_some() {
        client.multi = None;
        client.multi_failed = false;
        out.ok();
    } else if args.len() == 1 && is(0, b"exec") && client.multi.is_some() {
        client.multi = None;
        client.multi_failed = false;
        out.error(&format!(
            "EXECABORT Transaction discarded because of: {busy}"
        ));
    } else {
        if client.multi.is_some() {
            client.multi_failed = true;
        }
        out.error(busy);
    }
}

/// Active expiry: every 1/hz seconds, sweep each database's deadlines in short slices so due
/// keys go away even when nobody reads them, without holding the keyspace lock for long.
pub async fn expiry_cycle(server: Arc<Server>) {
    loop {
        let hz = server.config.read().hz.max(1);
        tokio::time::sleep(Duration::from_millis(1000 / hz)).await;
        let started = Instant::now();
        let copies = server.engine.all();
        server.evictor.measure_followers(&copies);
        for (_, keyspace) in copies {
            // Skipped while a script holds the keyspace: this task must not park its worker.
            let Some(databases) = keyspace.try_lock().map(|ks| ks.dbs.len()) else {
                continue;
            };
            for db in 0..databases {
                for _ in 0..10 {
                    let Some(mut ks) = keyspace.try_lock() else {
                        break;
                    };
                    let now = ks.log.expiry_clock(now_ms());
                    let Some(db) = ks.dbs.get_mut(db) else { break };
                    if db.volatile_len() == 0 {
                        break;
                    }
                    let expired = db.expire_sweep(now, Duration::from_millis(1));
                    crate::tracking::hooks::after_server_work(&server, &mut ks);
                    if expired == 0 {
                        break;
                    }
                }
            }
        }
        crate::tracking::hooks::cron(&server);
        let threshold = server.config.read().latency_monitor_threshold;
        let millis = started.elapsed().as_millis() as u64;
        if threshold > 0 && millis >= threshold {
            server
                .latency
                .record("expire-cycle", now_ms() / 1000, millis);
        }
    }
}
