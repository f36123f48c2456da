//! One client connection: requests are parsed as the shard server parses them, connection
//! commands and the cluster's description are answered here, everything else is routed by
//! slot. All requests of one read are dispatched at once and their replies written back in
//! request order in one write.

use crate::backend::{call_dedicated, Via};
use crate::clients::Connected;
use crate::config::Refused;
use crate::forward::{is_redirect, send_routed, send_routed_as, NO_LEADER};
use crate::pending::await_replies;
pub use crate::pending::Pending;
use crate::pubsub::{self, Subscriptions};
use crate::request::{Command, Handling};
use crate::tracking::lane::PushChannel;
use crate::tracking::ClientTracking;
use crate::transaction::{Transaction, Watch};
use crate::{cluster_view, cluster_wide, fanout, Proxy};
use bytes::{Bytes, BytesMut};
use futures_util::future::{BoxFuture, FutureExt};
use slotcache_protocol::command::connection::{
    check_client_name, hello_reply, library_attribute, LibraryAttribute,
};
use slotcache_protocol::command::help::write_help;
use slotcache_protocol::command::CmdError;
use slotcache_protocol::command::NOPROTO;
use slotcache_protocol::command::{is, Flag};
use slotcache_protocol::limits::OutputWatch;
use slotcache_protocol::pause::{needed_for, PauseMode};
use slotcache_protocol::protected_mode;
use slotcache_protocol::pubsub::Kind;
use slotcache_protocol::reply_mode::ReplyMode;
use slotcache_protocol::resp::request::encode;
use slotcache_protocol::resp::{make_read_room, Protocol, Reply, RequestParser};
use slotcache_protocol::tls::Stream;
use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::warn;

pub fn error_reply(text: &str) -> Bytes {
    Bytes::from(format!("-{text}\r\n"))
}

/// What the proxy keeps per client.
pub struct Session {
    pub proxy: Arc<Proxy>,
    pub id: u64,
    pub resp: u8,
    /// What other clients see of this one.
    pub me: Arc<Connected>,
    /// The address this client reached the proxy at: what it is told to connect to.
    pub local_addr: String,
    pub transaction: Option<Transaction>,
    /// Keys under WATCH, one connection per partition watched.
    pub watches: Vec<Watch>,
    pub subscriptions: Subscriptions,
    /// READONLY was sent: reads may be answered by followers.
    readonly: bool,
    /// Turns of this client's READONLY reads over the copies.
    reads: usize,
    /// CLIENT REPLY: the client's replies are dropped here, after their commands ran.
    reply_mode: ReplyMode,
    pub quit: bool,
    /// CLIENT TRACKING is on.
    pub tracking: Option<ClientTracking>,
    /// Lanes of this request's own, for one a shard server's CLIENT PAUSE may hold: held
    /// there, it must not hold up the shared lanes' other requests.
    pub apart: Option<Arc<crate::backend::Backends>>,
    /// MONITOR is on: the servers' lines come as messages.
    pub monitors: Option<crate::monitor::Monitors>,
    /// Where the shard servers' messages for this client go.
    pub pushes: PushChannel,
    /// The requests whose replies are not written yet, for the latency metrics.
    timing: crate::metrics::RunTiming,
    /// The ACL user it runs as, and whether it authenticated (or needed not).
    pub login: slotcache_protocol::acl::Login,
    pub authenticated: bool,
}

/// A client's entry in the proxy's list of clients, removed when it goes.
struct Listed(Arc<Proxy>, u64);

impl Drop for Listed {
    fn drop(&mut self) {
        self.0.clients.lock().remove(&self.1);
    }
}

pub async fn serve(proxy: Arc<Proxy>, mut stream: Stream) -> std::io::Result<()> {
    let (maxclients, protected) = {
        let limits = proxy.limits.read();
        (limits.maxclients, limits.protected_mode)
    };
    let has_password = proxy.acl.users.auth_required();
    if protected_mode::refuses(protected, has_password, stream.peer_addr()?.ip()) {
        proxy
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        stream.write_all(protected_mode::DENIED.as_bytes()).await?;
        return stream.flush().await;
    }
    if proxy.connected_clients.fetch_add(1, Ordering::Relaxed) >= maxclients {
        proxy.connected_clients.fetch_sub(1, Ordering::Relaxed);
        proxy
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await?;
        return stream.flush().await;
    }
    proxy
        .stats
        .connections_received
        .fetch_add(1, Ordering::Relaxed);
    let result = serve_session(proxy.clone(), stream).await;
    proxy.connected_clients.fetch_sub(1, Ordering::Relaxed);
    result
}

async fn serve_session(proxy: Arc<Proxy>, mut stream: Stream) -> std::io::Result<()> {
    let local_addr = stream.local_addr()?.to_string();
    let peer_addr = stream.peer_addr()?.to_string();
    let id = proxy.next_client_id.fetch_add(1, Ordering::Relaxed);
    let (subscriptions, mut messages) = Subscriptions::new(proxy.clone(), id);
    let me = Arc::new(Connected::new(
        id,
        peer_addr,
        local_addr.clone(),
        subscriptions.sender(),
    ));
    proxy.clients.lock().insert(id, me.clone());
    let _listed = Listed(proxy.clone(), id);
    let (login, authenticated) = crate::access::first_login(&proxy);
    let mut session = Session {
        proxy,
        id,
        resp: 2,
        me: me.clone(),
        local_addr,
        transaction: None,
        apart: None,
        watches: Vec::new(),
        subscriptions,
        readonly: false,
        reads: 0,
        reply_mode: ReplyMode::On,
        quit: false,
        tracking: None,
        monitors: None,
        pushes: PushChannel::default(),
        timing: Default::default(),
        login,
        authenticated,
    };
    let mut parser = RequestParser::default();
    let mut incoming = Incoming {
        requests: BytesMut::new(),
    };
    let overflow = messages.overflow();
    // A CLIENT KILL from another connection ends this one whatever it waits for (a reply
    // from a blocked command included), as in Redis.
    let work = async {
        // False when the replies' wait read whole requests already: they are parsed first.
        let mut needs_input = true;
        while !session.quit {
            let limits = *session.proxy.limits.read();
            if incoming.requests.len() + parser.buffered() > limits.query_buffer as usize {
                warn!(
                    client = id,
                    "closing client that reached max query buffer length"
                );
                return Ok(());
            }
            if needs_input {
                make_read_room(&mut incoming.requests);
                let idle = async {
                    match limits.timeout {
                        0 => std::future::pending().await,
                        seconds => tokio::time::sleep(Duration::from_secs(seconds)).await,
                    }
                };
                tokio::select! {
                    read = stream.read_buf(&mut incoming.requests) => {
                        if read? == 0 {
                            return Ok(());
                        }
                    }
                    // Subscribers are never idle, as in Redis.
                    _ = idle, if !session.subscriptions.active() => return Ok(()),
                    Some(message) = messages.recv() => {
                        let mut out = BytesMut::new();
                        session.push_message(&mut out, &message);
                        while let Some(message) = messages.try_recv() {
                            session.push_message(&mut out, &message);
                        }
                        stream.write_all(&out).await?;
                        stream.flush().await?;
                        continue;
                    }
                    Some(push) = session.pushes.recv() => {
                        let mut out = BytesMut::new();
                        session.deliver(push, &mut out);
                        while let Some(push) = session.pushes.try_recv() {
                            session.deliver(push, &mut out);
                        }
                        stream.write_all(&out).await?;
                        stream.flush().await?;
                        continue;
                    }
                }
            }
            let mut pending = Vec::new();
            let parse_limits = limits.parse_limits();
            loop {
                match parser.next_request(&mut incoming.requests, &parse_limits) {
                    Ok(Some(args)) => {
                        let mut lowered = [0u8; NAME_BUFFER];
                        let name = lowercase_name(&args[0], &mut lowered);
                        let name = &*name;
                        me.running(name, &args);
                        session.reply_mode.begin();
                        let command = Command::of(name, &args);
                        session.timing.request(command.index, &session.proxy.stats);
                        if let Some(reply) = crate::access::refusal(&mut session, command, &args) {
                            match session.reply_mode.end(name.as_bytes()) {
                                true => pending.push(session.silenced(reply)),
                                false => pending.push(reply),
                            }
                            if session.quit {
                                break;
                            }
                            continue;
                        }
                        if let Some(needed) = session.held_by_pause(command, &args) {
                            // Everything after a held command waits with it, as in Redis.
                            let earlier = std::mem::take(&mut pending);
                            write_replies(&mut session, &mut stream, &mut incoming, earlier)
                                .await?;
                            session.proxy.pause.released(needed).await;
                        }
                        let apart = session.may_be_held_at_server(command);
                        if apart {
                            let earlier = std::mem::take(&mut pending);
                            write_replies(&mut session, &mut stream, &mut incoming, earlier)
                                .await?;
                            session.apart = Some(Arc::default());
                        }
                        if session.takes_own_turn(command) {
                            // Connection state changes (WATCH, EXEC, subscriptions) must follow
                            // every earlier request and precede every later one.
                            let earlier = std::mem::take(&mut pending);
                            write_replies(&mut session, &mut stream, &mut incoming, earlier)
                                .await?;
                            let reply = session.own_turn(name, command, args).await;
                            if !session.reply_mode.end(name.as_bytes()) {
                                write_limited(&session, &mut stream, &reply).await?;
                            }
                            session.timing.replied(&session.proxy.stats);
                        } else {
                            let reply = session.handle(name, command, args);
                            if session.reply_mode.end(name.as_bytes()) {
                                pending.push(session.silenced(reply));
                            } else {
                                pending.push(reply);
                            }
                        }
                        if apart {
                            let held = std::mem::take(&mut pending);
                            write_replies(&mut session, &mut stream, &mut incoming, held).await?;
                            session.apart = None;
                        }
                        if session.quit {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(err) => {
                        pending.push(Pending::error(&format!("ERR {err}")));
                        session.quit = true;
                        break;
                    }
                }
            }
            let buffered = incoming.requests.len();
            write_replies(&mut session, &mut stream, &mut incoming, pending).await?;
            needs_input = incoming.requests.len() == buffered;
        }
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        result = work => result,
        _ = me.killed.notified() => Ok(()),
        _ = overflow.wait() => {
            warn!(client = id, "client closed for overcoming of output buffer limits");
            Ok(())
        }
    }
}

/// Command names this long or shorter are lowered without an allocation.
const NAME_BUFFER: usize = 32;

/// A command's name in lower case, as the handlers match it.
fn lowercase_name<'a>(name: &[u8], buffer: &'a mut [u8; NAME_BUFFER]) -> Cow<'a, str> {
    if name.len() <= NAME_BUFFER && name.is_ascii() {
        let lowered = &mut buffer[..name.len()];
        lowered.copy_from_slice(name);
        lowered.make_ascii_lowercase();
        if let Ok(text) = std::str::from_utf8(lowered) {
            return Cow::Borrowed(text);
        }
    }
    Cow::Owned(String::from_utf8_lossy(name).to_ascii_lowercase())
}

/// What a client sent and the session has not parsed yet.
struct Incoming {
    requests: BytesMut,
}

/// Sends a run of requests, waits for their replies and writes them in request order, in one
/// write, with the tracking messages that came meanwhile: before the replies those that came
/// while they were awaited, as Redis writes them, after them the rest.
async fn write_replies(
    session: &mut Session,
    stream: &mut Stream,
    incoming: &mut Incoming,
    pending: Vec<Pending>,
) -> std::io::Result<()> {
    let replies = Box::pin(await_replies(session, pending));
    let replies = until_client_leaves(stream, &mut incoming.requests, replies).await?;
    if session.tracking.is_none() {
        write_limited(session, stream, &replies).await?;
        session.timing.replied(&session.proxy.stats);
        return Ok(());
    }
    let (mut before, mut after) = (BytesMut::new(), BytesMut::new());
    while let Some(push) = session.pushes.try_recv() {
        match push.before_reply {
            true => session.deliver(push, &mut before),
            false => session.deliver(push, &mut after),
        }
    }
    before.extend_from_slice(&replies);
    before.extend_from_slice(&after);
    write_limited(session, stream, &before).await?;
    session.timing.replied(&session.proxy.stats);
    Ok(())
}

/// Writes replies under `client-output-buffer-limit normal`: while the client does not read,
/// what is still unwritten is its output buffer. The proxy reads no more requests meanwhile, so
/// this one write is all it holds.
async fn write_limited(
    session: &Session,
    stream: &mut Stream,
    mut data: &[u8],
) -> std::io::Result<()> {
    let mut watch = OutputWatch::default();
    loop {
        let limit = session.proxy.limits.read().output.normal;
        if watch.exceeded(limit, data.len(), Instant::now) {
            warn!(
                client = session.id,
                "client closed for overcoming of output buffer limits"
            );
            return Err(std::io::Error::other("output buffer limit reached"));
        }
        if data.is_empty() {
            // TLS may hold the last bytes until flushed.
            return stream.flush().await;
        }
        let written = match watch.soft_deadline(limit) {
            Some(deadline) => {
                match tokio::time::timeout_at(deadline.into(), stream.write(data)).await {
                    Ok(written) => written?,
                    Err(_) => continue,
                }
            }
            None => stream.write(data).await?,
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        data = &data[written..];
    }
}

/// What a client may send while its replies are awaited; past it, the proxy stops reading
/// (and so notices a disconnection only once the replies came), rather than buffer more.
const MAX_READ_WHILE_WAITING: usize = 1 << 20;

/// Awaits `replies` unless the client closes its connection first: then the replies are
/// dropped, and with them any connection a blocked command holds at its shard server, so the
/// server forgets the waiter as Redis forgets a disconnected blocked client (a waiter left
/// behind would take the next element pushed to its key). What the client sends meanwhile
/// waits in `input`.
async fn until_client_leaves(
    stream: &mut Stream,
    input: &mut BytesMut,
    replies: impl std::future::Future<Output = Bytes>,
) -> std::io::Result<Bytes> {
    tokio::pin!(replies);
    loop {
        tokio::select! {
            replies = &mut replies => return Ok(replies),
            read = read_more(stream, input), if input.len() < MAX_READ_WHILE_WAITING => {
                if read? == 0 {
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
            }
        }
    }
}

async fn read_more(stream: &mut Stream, input: &mut BytesMut) -> std::io::Result<usize> {
    make_read_room(input);
    stream.read_buf(input).await
}

impl Session {
    pub fn proto(&self) -> Protocol {
        if self.resp == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        }
    }

    /// A reply built locally in the client's protocol.
    pub fn reply(&self, build: impl FnOnce(&mut Reply)) -> Pending {
        Pending::Ready(self.reply_bytes(build))
    }

    pub fn reply_bytes(&self, build: impl FnOnce(&mut Reply)) -> Bytes {
        reply_in(self.proto(), build)
    }

    /// When CLIENT PAUSE through this proxy holds a request: the weakest mode that holds it.
    /// A script is held here only by ALL: whether it writes, its shard server knows (from
    /// its flags) and holds it there under WRITE.
    fn held_by_pause(&self, command: Command, args: &[Bytes]) -> Option<PauseMode> {
        let mode = self.proxy.pause.mode()?;
        command.well_formed(args)?;
        let writes = match command.handling {
            Handling::Exec => self.transaction.as_ref().is_some_and(|t| t.writes),
            _ => command.held_when_writes_pause(),
        };
        let needed = needed_for(writes);
        (needed <= mode).then_some(needed)
    }

    /// Whether a request goes on lanes of its own while a WRITE pause holds here: a script (or
    /// EXEC of one), which its shard server holds if its flags say it writes.
    fn may_be_held_at_server(&self, command: Command) -> bool {
        if self.proxy.pause.mode() != Some(PauseMode::Write) || self.tracking.is_some() {
            return false;
        }
        match command.handling {
            Handling::Exec => self.transaction.as_ref().is_some_and(|t| t.scripts),
            kind => matches!(kind, Handling::Script { .. }),
        }
    }

    /// Requests that change the connection's state and must run in order with the rest.
    fn takes_own_turn(&self, command: Command) -> bool {
        let queueing = self.transaction.is_some();
        match command.handling {
            Handling::Exec | Handling::Reset => true,
            Handling::Multi | Handling::Discard | Handling::Quit => false,
            Handling::Monitor | Handling::ClientTracking if !queueing => true,
            _ if queueing => {
                self.proxy.memory_limited.load(Ordering::Relaxed) && command.may_use_memory()
            }
            // HELLO sets the protocol the requests before it must still be answered in.
            Handling::Watch | Handling::Unwatch | Handling::Hello | Handling::Subscription => true,
            _ => false,
        }
    }

    async fn own_turn(&mut self, name: &str, command: Command, args: Vec<Bytes>) -> Bytes {
        match command.handling {
            Handling::Exec => self.exec().await,
            Handling::Reset if args.len() == 1 => self.reset(),
            Handling::Reset => error_reply("ERR wrong number of arguments for 'reset' command"),
            Handling::Watch => self.watch(command, &args).await,
            Handling::Hello => self.hello(&args),
            Handling::ClientTracking => self.client_tracking(&args).await,
            Handling::Monitor => self.monitor().await,
            _ if self.transaction.is_some() => self.queue_checked(name, command, args).await,
            Handling::Unwatch => {
                self.watches.clear();
                self.reply_bytes(|out| out.ok())
            }
            _ => self.subscription(name, command, &args).await,
        }
    }

    fn handle(&mut self, name: &str, command: Command, args: Vec<Bytes>) -> Pending {
        if let Some(tracking) = self.tracking.as_mut() {
            tracking.begin_command();
        }
        // As Redis does, QUIT closes the connection even inside MULTI.
        if command.handling == Handling::Quit {
            self.quit = true;
            return self.reply(|out| out.ok());
        }
        if self.transaction.is_some() {
            return self.queue(name, command, args);
        }
        if let Some(refusal) = self.subscriptions.refuses(self.resp, name) {
            return Pending::error(&refusal);
        }
        if let Some(refusal) = crate::refusals::refusal(name) {
            return Pending::error(refusal);
        }
        if crate::refusals::changes_every_server(name, &args) {
            self.proxy.follow_config(&args);
            return match crate::config::split_set(&self.proxy, &args) {
                None | Some(Err(Refused::ByServers)) => {
                    cluster_wide::answer(self, name, command, &args)
                }
                Some(Err(Refused::Here(error))) => Pending::error(&error),
                Some(Ok((own, rest))) if rest.len() == 2 => {
                    own.take_effect(&self.proxy);
                    self.reply(|out| out.ok())
                }
                Some(Ok((own, rest))) => {
                    let servers = cluster_wide::answer(self, name, command, &rest);
                    crate::config::apply_when_accepted(self.proxy.clone(), own, servers)
                }
            };
        }
        if name == "config"
            && args
                .get(1)
                .is_some_and(|sub| sub.eq_ignore_ascii_case(b"get"))
        {
            let (proxy, via, proto) = (self.proxy.clone(), self.via(), self.proto());
            let request = encode(&args);
            return Pending::Forwarded(
                async move {
                    let reply = send_routed(&proxy, &via, None, request, 1).await;
                    crate::config::with_own_values(&proxy, proto, reply)
                }
                .boxed(),
            );
        }
        if let Some(busy) = (name == "ping")
            .then(|| self.proxy.scripts.busy(None))
            .flatten()
        {
            return Pending::error(busy);
        }
        match name {
            "ping" if self.resp == 2 && self.subscriptions.active() => self.reply(|out| {
                out.array(2);
                out.bulk(b"pong");
                out.bulk(args.get(1).map_or(&b""[..], |m| &m[..]));
            }),
            "ping" => self.reply(|out| match args.get(1) {
                _ if args.len() > 2 => {
                    out.error("ERR wrong number of arguments for 'ping' command")
                }
                Some(message) => out.bulk(message),
                None => out.simple("PONG"),
            }),
            "echo" if args.len() == 2 => self.reply(|out| out.bulk(&args[1])),
            "select" if args.len() == 2 => self.reply(|out| {
                if &args[1][..] == b"0" {
                    out.ok()
                } else {
                    out.error("ERR SELECT is not allowed in cluster mode")
                }
            }),
            "auth" => crate::access::auth(self, &args),
            "acl" => crate::access::acl_command(self, command, &args),
            "readonly" | "readwrite" if args.len() == 1 => {
                self.readonly = name == "readonly";
                self.reply(|out| out.ok())
            }
            "asking" if args.len() == 1 => self.reply(|out| out.ok()),
            "cluster" => cluster_view::answer(self, &args),
            "client" => self.client_command(command, &args),
            "info" => crate::info::answer(self, &args),
            "command" => self.reply(|out| {
                if let Err(error) = crate::command_table::catalog().answer(out, &args) {
                    out.error(&error.to_string());
                }
            }),
            "multi" => self.multi(&args),
            "discard" => self.discard(),
            "scan" | "keys" | "dbsize" | "randomkey" | "flushall" | "flushdb" | "script"
            | "function" | "wait" => cluster_wide::answer(self, name, command, &args),
            "pubsub" => pubsub::introspect(self, command, &args),
            "latency" if args.get(1).is_some_and(|sub| is(sub, "histogram")) => {
                self.latency_histogram(&args)
            }
            "slowlog"
                if args
                    .get(1)
                    .is_some_and(|sub| is(sub, "get") || is(sub, "len") || is(sub, "reset")) =>
            {
                self.slowlog(&args)
            }
            "memory" if args.len() == 2 && is(&args[1], "stats") => self.memory_stats(&args),
            "publish" if args.len() == 3 => pubsub::publish(self, Kind::Channel, args),
            "spublish" if args.len() == 3 => pubsub::publish(self, Kind::Shard, args),
            _ => self.route(name, command, args),
        }
    }

    fn route(&mut self, name: &str, command: Command, args: Vec<Bytes>) -> Pending {
        if let Some(split) = fanout::split(&self.proxy, name, &args) {
            let (merger, parts) = split.into_parts();
            return Pending::Split(merger, parts);
        }
        let full_key_access = || crate::access::reaches_every_key(self, command, &args);
        match crate::sort::sorted_here(name, &args, full_key_access) {
            Ok(Some(options)) => return self.sort_here(args, options),
            Ok(None) => {}
            Err(err) => return Pending::error(&err.to_string()),
        }
        let (spec, slot) = match command.route(&args, |a, b| a == b) {
            Ok(routed) => routed,
            Err(err) => return Pending::error(&err.to_string()),
        };
        let caching = self
            .tracking
            .as_mut()
            .and_then(ClientTracking::take_caching);
        if let (Some(caching), Some(slot)) = (caching, slot) {
            return self.with_caching(slot, caching, &args);
        }
        if let Handling::Script { function } = command.handling {
            let (proxy, via) = (self.proxy.clone(), self.script_via());
            let request = encode(&args);
            return Pending::Forwarded(
                async move { send_routed_as(&proxy, &via, slot, request, 1, Some(function)).await }
                    .boxed(),
            );
        }
        match slot {
            // A tracking client's lanes are its own: blocking one holds up nobody else, and
            // its reply keeps its place among the lane's messages.
            Some(slot) if spec.flags.has(Flag::Blocking) && self.tracking.is_none() => {
                self.blocking(slot, encode(&args))
            }
            Some(slot) if self.readonly && spec.flags.has(Flag::Readonly) => {
                self.read_any_copy(slot, encode(&args))
            }
            Some(slot) => self.forward(slot, args, spec.flags.has(Flag::Readonly)),
            None => self.any_leader(encode(&args)),
        }
    }

    /// A READONLY client's read goes to the in-sync copies of its partition in turn: a
    /// follower may be a moment behind the leader, as a Redis replica is. A copy that cannot
    /// answer (gone, no longer hosting the partition) leaves the read to the leader.
    fn read_any_copy(&mut self, slot: u16, request: Bytes) -> Pending {
        self.reads = self.reads.wrapping_add(1);
        let (proxy, resp, turn) = (self.proxy.clone(), self.resp, self.reads);
        Pending::Forwarded(
            async move {
                if let Some(addr) = proxy.table.reader_of(slot, turn) {
                    let read = proxy.backends.call_readonly(&addr, resp, request.clone());
                    match read.await {
                        Ok(reply) if !is_redirect(&reply) => return reply,
                        _ => {}
                    }
                }
                send_routed(&proxy, &Via::shared(resp), Some(slot), request, 1).await
            }
            .boxed(),
        )
    }

    /// A blocking command gets a connection of its own, so it never holds up the shared
    /// pipelined ones; the command's own timeout applies.
    fn blocking(&self, slot: u16, request: Bytes) -> Pending {
        let proxy = self.proxy.clone();
        let resp = self.resp;
        Pending::Forwarded(
            async move {
                let Some(addr) = proxy.table.leader_of(slot) else {
                    return error_reply(NO_LEADER);
                };
                match call_dedicated(&addr, resp, &request, 1).await {
                    Ok(mut replies) => replies.pop().unwrap_or_default(),
                    Err(error) => error,
                }
            }
            .boxed(),
        )
    }

    /// Keyless commands that every shard server answers alike go to any one of them.
    fn any_leader(&self, request: Bytes) -> Pending {
        let (proxy, via) = (self.proxy.clone(), self.via());
        Pending::Forwarded(async move { send_routed(&proxy, &via, None, request, 1).await }.boxed())
    }

    /// RESET, answered here: it must reset this client's state, not that of the shared
    /// backend connection it would reach (which other clients' replies rely on).
    fn reset(&mut self) -> Bytes {
        crate::access::reset(self);
        self.transaction = None;
        self.watches.clear();
        self.subscriptions.clear();
        self.resp = 2;
        self.readonly = false;
        self.reply_mode = ReplyMode::On;
        {
            let mut state = self.me.state.lock();
            state.name = Bytes::new();
            state.resp = 2;
        }
        self.tracking = None;
        self.monitors = None;
        Bytes::from_static(b"+RESET\r\n")
    }

    /// HELLO: checks every option before it changes the protocol or the name, as Redis does.
    fn hello(&mut self, args: &[Bytes]) -> Bytes {
        let mut resp = self.resp;
        if let Some(version) = args.get(1) {
            match std::str::from_utf8(version)
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
            {
                Some(version @ (2 | 3)) => resp = version as u8,
                Some(_) => return error_reply(NOPROTO),
                None => {
                    return error_reply("ERR Protocol version is not an integer or out of range")
                }
            }
        }
        let mut name = None;
        let mut credentials = None;
        let mut i = 2;
        while i < args.len() {
            let option = String::from_utf8_lossy(&args[i]).to_ascii_lowercase();
            match option.as_str() {
                "setname" if i + 1 < args.len() => {
                    if let Err(error) = check_client_name(&args[i + 1]) {
                        return error_reply(&error.to_string());
                    }
                    name = Some(args[i + 1].clone());
                    i += 2;
                }
                "auth" if i + 2 < args.len() => {
                    credentials = Some((args[i + 1].clone(), args[i + 2].clone()));
                    i += 3;
                }
                _ => {
                    return error_reply(&format!(
                        "ERR Syntax error in HELLO option '{}'",
                        String::from_utf8_lossy(&args[i])
                    ))
                }
            }
        }
        if let Some((user, password)) = credentials {
            if let Err(error) = crate::access::log_in(self, &args[0], &user, &password) {
                return error_reply(&error);
            }
        }
        if !self.authenticated {
            return error_reply("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        self.resp = resp;
        let mut state = self.me.state.lock();
        state.resp = resp;
        if let Some(name) = name {
            state.name = name;
        }
        drop(state);
        let id = self.id;
        self.reply_bytes(|out| hello_reply(out, id, "cluster"))
    }

    /// A request whose reply CLIENT REPLY drops: it still runs, in its turn.
    fn silenced(&self, pending: Pending) -> Pending {
        let (proxy, via) = (self.proxy.clone(), self.via());
        let run: BoxFuture<'static, ()> = match pending {
            Pending::Ready(_) => return Pending::Ready(Bytes::new()),
            Pending::Forwarded(future) => future.map(drop).boxed(),
            Pending::Routed { slot, args, .. } => async move {
                send_routed(&proxy, &via, Some(slot), encode(&args), 1).await;
            }
            .boxed(),
            Pending::Split(_, parts) => async move {
                for (slot, args) in parts {
                    send_routed(&proxy, &via, Some(slot), encode(&args), 1).await;
                }
            }
            .boxed(),
        };
        Pending::Forwarded(run.map(|()| Bytes::new()).boxed())
    }

    fn client_command(&mut self, command: Command, args: &[Bytes]) -> Pending {
        match self.answer_client(command, args) {
            Ok(pending) => pending,
            Err(error) => Pending::error(&error.to_string()),
        }
    }

    /// CLIENT's subcommands that COMMAND lists through the proxy.
    fn answer_client(&mut self, command: Command, args: &[Bytes]) -> Result<Pending, CmdError> {
        let spec = crate::command_table::catalog().check(args)?;
        Ok(match (spec.name, args) {
            ("client|id", _) => {
                let id = self.id;
                self.reply(|out| out.int(id as i64))
            }
            ("client|setname", [_, _, name]) => {
                check_client_name(name)?;
                self.me.state.lock().name = name.clone();
                self.reply(|out| out.ok())
            }
            ("client|getname", _) => {
                let name = self.me.state.lock().name.clone();
                self.reply(|out| out.bulk_or_null((!name.is_empty()).then_some(&name[..])))
            }
            ("client|setinfo", _) => {
                let value = String::from_utf8_lossy(&args[3]).into_owned();
                let mut state = self.me.state.lock();
                match library_attribute(args)? {
                    LibraryAttribute::Name => state.lib_name = value,
                    LibraryAttribute::Version => state.lib_ver = value,
                }
                drop(state);
                self.reply(|out| out.ok())
            }
            ("client|list", _) => self.client_list(args)?,
            ("client|info", _) => self.client_info(args),
            ("client|kill", _) => self.client_kill(args)?,
            ("client|reply", [_, _, mode]) => {
                if !self.reply_mode.set(mode) {
                    return Err(CmdError::Syntax);
                }
                self.reply(|out| out.ok())
            }
            ("client|pause" | "client|unpause", _) => {
                cluster_wide::answer(self, "client", command, args)
            }
            ("client|caching", _) => self.client_caching(args)?,
            ("client|getredir", _) => self.client_getredir(),
            ("client|trackinginfo", _) => self.client_trackinginfo(),
            ("client|help", _) => {
                let lines = crate::command_table::client_help();
                self.reply(|out| write_help(out, "CLIENT", &lines))
            }
            _ => {
                return Err(CmdError::Other(format!(
                    "ERR {} is not answered by slotcache-proxy",
                    spec.name
                )))
            }
        })
    }
}

/// A reply built in protocol `proto`.
pub fn reply_in(proto: Protocol, build: impl FnOnce(&mut Reply)) -> Bytes {
    let mut out = Reply::new(proto);
    build(&mut out);
    out.buf.freeze()
}
