//! Per-connection state, and the part of it other connections see (CLIENT LIST, CLIENT KILL).

use parking_lot::Mutex;
use slotcache_protocol::command::clients::ClientLine;
use slotcache_protocol::reply_mode::ReplyMode;
use slotcache_protocol::resp::Protocol;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// What CLIENT LIST shows and CLIENT KILL acts on.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    pub last_interaction: Mutex<Instant>,
    pub name: Mutex<String>,
    /// The ACL user it runs as.
    pub user: Mutex<String>,
    pub lib_name: Mutex<String>,
    pub lib_ver: Mutex<String>,
    /// Index in the command table of the last command run, published for CLIENT LIST.
    pub last_command: AtomicUsize,
    pub db: AtomicUsize,
    pub resp: AtomicU64,
    pub killed: AtomicBool,
    pub kill_signal: Signal,
    /// Messages other connections decided for this one (client-side caching, MONITOR).
    notices: Mutex<Vec<Notice>>,
    pub notice_signal: Signal,
}

/// A wake-up for a connection's task from elsewhere (a kill, queued notices): a flag and the
/// task's waker. The connection loop polls it on every turn, where a `Notify` would take its
/// waiters' lock each time (4.5% of a GET's instructions at `-P 1` for the two signals).
#[derive(Default)]
pub struct Signal {
    raised: AtomicBool,
    waker: atomic_waker::AtomicWaker,
}

impl Signal {
    /// Wakes the task awaiting [`Signal::raised`], or the next one to await it.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Resolves once the signal was raised since it last resolved. One task awaits it.
    pub async fn raised(&self) {
        std::future::poll_fn(|cx| self.poll_raised(cx)).await
    }

    fn poll_raised(&self, cx: &mut Context<'_>) -> Poll<()> {
        let taken =
            || self.raised.load(Ordering::Acquire) && self.raised.swap(false, Ordering::AcqRel);
        if taken() {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // Raised between the first look and the registration: its wake went to the old waker.
        match taken() {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}

/// What another connection sends this one outside any reply.
pub enum Notice {
    Tracking(crate::tracking::Push),
    /// A MONITOR line, formatted.
    Monitor(bytes::Bytes),
}

/// Most messages a connection may leave unread before it is disconnected, as the output
/// buffer limit would.
const MAX_QUEUED_NOTICES: usize = 1 << 20;

impl ClientInfo {
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_interaction: Mutex::new(Instant::now()),
            name: Mutex::new(String::new()),
            user: Mutex::new("default".into()),
            lib_name: Mutex::new(String::new()),
            lib_ver: Mutex::new(String::new()),
            last_command: AtomicUsize::new(usize::MAX),
            db: AtomicUsize::new(0),
            resp: AtomicU64::new(2),
            killed: AtomicBool::new(false),
            kill_signal: Signal::default(),
            notices: Mutex::new(Vec::new()),
            notice_signal: Signal::default(),
        }
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_signal.raise();
    }

    /// Queues a message for the connection's task to write.
    pub fn send(&self, notice: Notice) {
        let mut notices = self.notices.lock();
        if notices.len() >= MAX_QUEUED_NOTICES {
            drop(notices);
            self.kill();
            return;
        }
        notices.push(notice);
        drop(notices);
        self.notice_signal.raise();
    }

    /// The messages queued so far.
    pub fn take_notices(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.notices.lock())
    }

    /// One CLIENT LIST / CLIENT INFO line, with Redis 7's fields.
    /// `current`: the command this connection is running and its arguments, which Redis still
    /// counts in the query buffer (`qbuf`) and argument memory (`argv-mem`).
    pub fn describe(&self, current: Option<(&str, &[bytes::Bytes])>) -> String {
        let last = self.last_command.load(Ordering::Relaxed);
        let cmd = current
            .map(|(name, _)| name)
            .or_else(|| crate::commands::Table::get().all.get(last).map(|s| s.name))
            .unwrap_or("NULL");
        let (addr, laddr) = (self.addr.to_string(), self.laddr.to_string());
        ClientLine {
            id: self.id,
            addr: &addr,
            laddr: &laddr,
            name: &self.name.lock(),
            age: self.created.elapsed().as_secs(),
            idle: self.last_interaction.lock().elapsed().as_secs(),
            db: self.db.load(Ordering::Relaxed),
            cmd,
            current_args: current.map_or(&[][..], |(_, args)| args),
            resp: self.resp.load(Ordering::Relaxed) as u8,
            user: &self.user.lock(),
            lib_name: &self.lib_name.lock(),
            lib_ver: &self.lib_ver.lock(),
        }
        .format()
    }
}

/// A connection's pub/sub state.
#[derive(Default)]
pub struct Subscriptions {
    pub channels: Vec<bytes::Bytes>,
    pub patterns: Vec<bytes::Bytes>,
    pub shards: Vec<bytes::Bytes>,
    pub mailbox: Option<Arc<crate::pubsub::Mailbox>>,
    pub inbox: Option<tokio::sync::mpsc::UnboundedReceiver<Arc<crate::pubsub::Message>>>,
}

impl Subscriptions {
    pub fn list(&mut self, kind: slotcache_protocol::pubsub::Kind) -> &mut Vec<bytes::Bytes> {
        match kind {
            slotcache_protocol::pubsub::Kind::Channel => &mut self.channels,
            slotcache_protocol::pubsub::Kind::Pattern => &mut self.patterns,
            slotcache_protocol::pubsub::Kind::Shard => &mut self.shards,
        }
    }

    /// Channels plus patterns: the count SUBSCRIBE replies carry.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub fn is_subscribed(&self) -> bool {
        self.count() + self.shards.len() > 0
    }
}

/// The connection's own state, touched only by its task.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub proto: Protocol,
    pub authenticated: bool,
    /// The ACL user it runs as; None for the server's own clients (replication, wakeups of
    /// blocked commands), which may run anything.
    pub login: Option<slotcache_protocol::acl::Login>,
    pub reply_mode: ReplyMode,
    /// Set by QUIT and protocol errors: flush the replies, then close.
    pub close_after_reply: bool,
    /// The last command's table index; published to `info` once per batch.
    pub last_command: usize,
    /// Commands queued since MULTI.
    pub multi: Option<Vec<Vec<bytes::Bytes>>>,
    /// A command was refused while queueing: EXEC must abort.
    pub multi_failed: bool,
    /// Running EXEC's queue: blocking commands must not block there.
    pub in_exec: bool,
    /// Runs commands for a script (`redis.call`): nothing may block.
    pub in_script: bool,
    /// READONLY: reads may be served by a follower copy, possibly stale.
    pub readonly: bool,
    /// CLIENT NO-TOUCH: this connection's commands leave keys' access records alone.
    pub no_touch: bool,
    /// CLIENT TRACKING's mode while on (the server's table holds the same).
    pub tracking: Option<crate::tracking::Mode>,
    /// CLIENT CACHING was given for the next command.
    pub caching: bool,
    /// MONITOR was called: every command the server runs is sent here.
    pub monitoring: bool,
    /// A script's commands read data (tracking then remembers the script's keys).
    pub read_in_script: bool,
    /// This connection's own tracking messages, written after the running command's reply.
    pub pushes: Vec<crate::tracking::Push>,
    /// Pub/sub subscriptions, in the order they were made, and where messages arrive.
    pub subscriptions: Subscriptions,
    /// Keys under WATCH: (database, key, what was seen).
    pub watched: Vec<(usize, Vec<u8>, crate::engine::WatchMark)>,
    /// In cluster mode, the partition this connection last addressed and its keyspace: where
    /// keyless requests, WATCH state and blocked commands live. None: the server's own keyspace.
    pub partition: Option<(u32, crate::partition::SharedKeyspace)>,
    pub info: std::sync::Arc<ClientInfo>,
}

impl Client {
    pub fn new(info: std::sync::Arc<ClientInfo>, authenticated: bool) -> Client {
        Client {
            id: info.id,
            db: 0,
            proto: Protocol::Resp2,
            authenticated,
            login: None,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            last_command: usize::MAX,
            multi: None,
            subscriptions: Subscriptions::default(),
            in_exec: false,
            in_script: false,
            readonly: false,
            no_touch: false,
            tracking: None,
            caching: false,
            monitoring: false,
            read_in_script: false,
            pushes: Vec::new(),
            multi_failed: false,
            watched: Vec::new(),
            partition: None,
            info,
        }
    }

    /// Drops every WATCH of this client.
    pub fn unwatch_all(&mut self, ks: &mut crate::partition::Keyspace) {
        for (db, key, _) in self.watched.drain(..) {
            if let Some(db) = ks.dbs.get_mut(db) {
                db.unwatch(&key);
            }
        }
    }

    /// The keyspace this connection's keyless requests and waits use.
    pub fn keyspace<'a>(
        &'a self,
        server: &'a crate::state::Server,
    ) -> &'a crate::partition::SharedKeyspace {
        match &self.partition {
            Some((_, keyspace)) => keyspace,
            None => &server.keyspace,
        }
    }

    /// Whether the connection is bound to its partition: WATCH is open there, or a transaction
    /// queued a command with keys. A transaction that queued none yet binds to the partition
    /// of its first keys, so a shared proxy connection can open one whatever it addressed last.
    pub fn pinned(&self) -> bool {
        let keyed = |args: &Vec<bytes::Bytes>| {
            matches!(
                slotcache_protocol::command::route::route_request(args, |_, _| true),
                Ok((_, Some(_)))
            )
        };
        !self.watched.is_empty() || self.multi.as_ref().is_some_and(|q| q.iter().any(keyed))
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }
}
