//! Pub/sub across the cluster. A channel meets its publishers and subscribers at the leader
//! of the channel's slot: PUBLISH and SPUBLISH are routed there like a key, and the proxy
//! subscribes there on behalf of its clients, over one RESP3 connection per shard server
//! shared by every local subscriber of every topic. A pattern can match a channel of any slot,
//! so it is subscribed at every leader. Messages are fanned out to the local subscribers in
//! the client's protocol. When leaders change, subscriptions follow them; pub/sub is
//! at-most-once, so a message published during the move can be missed, as in Redis.

use crate::backend::connect;
use crate::forward::send_routed;
use crate::outbox::{Inbox, Outbox};
use crate::request::Command;
use crate::session::{error_reply, Pending, Session};
use crate::Proxy;
use ahash::AHashMap;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::future::{join_all, FutureExt};
use parking_lot::Mutex;
use slotcache_cluster::key_slot;
use slotcache_protocol::command::help::write_help;
use slotcache_protocol::command::help::PUBSUB_HELP;
use slotcache_protocol::glob;
use slotcache_protocol::pubsub::confirm;
use slotcache_protocol::pubsub::Kind;
use slotcache_protocol::resp::frame::{elements, frame_len, integer, text};
use slotcache_protocol::resp::request::encode;
use slotcache_protocol::tls::send;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

/// How long SUBSCRIBE waits for the shard servers' confirmation before answering anyway.
const CONFIRM_PATIENCE: Duration = Duration::from_secs(3);
/// How often subscriptions are checked against the placement even without a change.
const RECHECK: Duration = Duration::from_secs(1);

type Topic = (Kind, Bytes);

enum LinkCommand {
    Subscribe(Topic, oneshot::Sender<()>),
    /// Leaves a topic; the sender, if any, hears when the server confirmed it.
    Unsubscribe(Topic, Option<oneshot::Sender<()>>),
}

/// What a link waits the server's confirmation of: a topic joined (true) or left.
type Confirming = VecDeque<(Topic, bool, oneshot::Sender<()>)>;

struct Link {
    generation: u64,
    commands: mpsc::UnboundedSender<LinkCommand>,
}

#[derive(Default)]
struct HubState {
    /// Local subscribers of each topic, by client id.
    subscribers: AHashMap<Topic, AHashMap<u64, Outbox>>,
    /// The shard servers each topic is subscribed at.
    placed: AHashMap<Topic, Vec<Arc<str>>>,
    links: AHashMap<Arc<str>, Link>,
}

/// The proxy's subscriptions at the shard servers, and the local subscribers of each topic.
#[derive(Default)]
pub struct Hub {
    state: Mutex<HubState>,
    next_generation: AtomicU64,
}

/// Where a topic is subscribed: the leader of its slot, or every leader for a pattern.
fn homes(proxy: &Proxy, (kind, name): &Topic) -> Vec<Arc<str>> {
    match kind {
        Kind::Pattern => proxy.table.leader_addrs(),
        Kind::Channel | Kind::Shard => proxy.table.leader_of(key_slot(name)).into_iter().collect(),
    }
}

impl Hub {
    /// Adds a local subscriber; the receivers complete when the shard servers confirmed a
    /// topic that had no local subscriber yet.
    fn subscribe(
        &self,
        proxy: &Arc<Proxy>,
        topic: Topic,
        id: u64,
        messages: Outbox,
    ) -> Vec<oneshot::Receiver<()>> {
        let mut state = self.state.lock();
        let subscribers = state.subscribers.entry(topic.clone()).or_default();
        let first = subscribers.is_empty();
        subscribers.insert(id, messages);
        if !first {
            return Vec::new();
        }
        homes(proxy, &topic)
            .into_iter()
            .filter_map(|addr| self.place(&mut state, proxy, &topic, addr))
            .collect()
    }

    /// Removes a local subscriber; the receivers complete when the shard servers confirmed
    /// leaving a topic that has no local subscriber left.
    fn unsubscribe(&self, topic: &Topic, id: u64) -> Vec<oneshot::Receiver<()>> {
        let mut state = self.state.lock();
        let mut confirmations = Vec::new();
        let Some(subscribers) = state.subscribers.get_mut(topic) else {
            return confirmations;
        };
        subscribers.remove(&id);
        if subscribers.is_empty() {
            state.subscribers.remove(topic);
            for addr in state.placed.remove(topic).unwrap_or_default() {
                if let Some(link) = state.links.get(&addr) {
                    let (done, confirmed) = oneshot::channel();
                    let leave = LinkCommand::Unsubscribe(topic.clone(), Some(done));
                    if link.commands.send(leave).is_ok() {
                        confirmations.push(confirmed);
                    }
                }
            }
        }
        confirmations
    }

    /// How many more receive a message on `channel` (of `kind`) than its server counts: the
    /// server counts this proxy's link once per topic, however many local clients share it.
    pub fn uncounted(&self, kind: Kind, channel: &[u8]) -> i64 {
        let state = self.state.lock();
        let shared = |subscribers: Option<&AHashMap<u64, Outbox>>| {
            subscribers.map_or(0, |s| s.len().saturating_sub(1) as i64)
        };
        let mut extra = shared(
            state
                .subscribers
                .get(&(kind, Bytes::copy_from_slice(channel))),
        );
        if kind == Kind::Channel {
            for ((topic_kind, pattern), subscribers) in &state.subscribers {
                if *topic_kind == Kind::Pattern && glob::matches(pattern, channel, false) {
                    extra += shared(Some(subscribers));
                }
            }
        }
        extra
    }

    /// Subscribes `topic` at `addr`, opening the link to it if needed.
    fn place(
        &self,
        state: &mut HubState,
        proxy: &Arc<Proxy>,
        topic: &Topic,
        addr: Arc<str>,
    ) -> Option<oneshot::Receiver<()>> {
        let link = state.links.entry(addr.clone()).or_insert_with(|| {
            let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
            let (commands, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run_link(proxy.clone(), addr.clone(), generation, receiver));
            Link {
                generation,
                commands,
            }
        });
        let (done, confirmed) = oneshot::channel();
        if link
            .commands
            .send(LinkCommand::Subscribe(topic.clone(), done))
            .is_err()
        {
            state.links.remove(&addr);
            return None;
        }
        state.placed.entry(topic.clone()).or_default().push(addr);
        Some(confirmed)
    }

    /// Moves every topic to where the current placement says it belongs.
    fn reconcile(&self, proxy: &Arc<Proxy>) {
        let mut state = self.state.lock();
        let topics: Vec<Topic> = state.subscribers.keys().cloned().collect();
        for topic in topics {
            let wanted = homes(proxy, &topic);
            let placed = state.placed.get(&topic).cloned().unwrap_or_default();
            for addr in placed.iter().filter(|a| !wanted.contains(a)) {
                if let Some(link) = state.links.get(addr) {
                    let _ = link
                        .commands
                        .send(LinkCommand::Unsubscribe(topic.clone(), None));
                }
            }
            if let Some(placed) = state.placed.get_mut(&topic) {
                placed.retain(|a| wanted.contains(a));
            }
            for addr in wanted.into_iter().filter(|a| !placed.contains(a)) {
                self.place(&mut state, proxy, &topic, addr);
            }
        }
    }

    /// A link ended: what was subscribed over it is placed again by the next reconcile.
    fn link_lost(&self, addr: &Arc<str>, generation: u64) {
        let mut state = self.state.lock();
        if state
            .links
            .get(addr)
            .is_some_and(|l| l.generation == generation)
        {
            state.links.remove(addr);
            for placed in state.placed.values_mut() {
                placed.retain(|a| a != addr);
            }
        }
    }

    fn dispatch(&self, topic: &Topic, frame: &Bytes) {
        if let Some(subscribers) = self.state.lock().subscribers.get(topic) {
            for messages in subscribers.values() {
                let _ = messages.send(frame.clone());
            }
        }
    }

    /// Local topics of a kind, with their subscriber counts.
    fn topics(&self, kind: Kind) -> Vec<(Bytes, usize)> {
        let state = self.state.lock();
        state
            .subscribers
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, name), subscribers)| (name.clone(), subscribers.len()))
            .collect()
    }
}

/// Keeps subscriptions at the current leaders: on every placement change, and every second
/// to place again what a lost link dropped.
pub async fn keep_placed(proxy: Arc<Proxy>) {
    loop {
        let seen = proxy.table.version();
        proxy.table.changed_since(seen, RECHECK).await;
        proxy.pubsub.reconcile(&proxy);
    }
}

async fn run_link(
    proxy: Arc<Proxy>,
    addr: Arc<str>,
    generation: u64,
    commands: mpsc::UnboundedReceiver<LinkCommand>,
) {
    if let Err(err) = serve_link(&proxy, &addr, commands).await {
        debug!(%addr, %err, "pub/sub link ended");
    }
    proxy.pubsub.link_lost(&addr, generation);
}

async fn serve_link(
    proxy: &Proxy,
    addr: &str,
    mut commands: mpsc::UnboundedReceiver<LinkCommand>,
) -> std::io::Result<()> {
    let stream = connect(addr, 3).await?;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut confirming = Confirming::new();
    let mut input = BytesMut::with_capacity(16 * 1024);
    loop {
        tokio::select! {
            command = commands.recv() => {
                let (topic, word) = match command {
                    None => return Ok(()),
                    Some(LinkCommand::Subscribe(topic, done)) => {
                        let word = topic.0.words().0;
                        confirming.push_back((topic.clone(), true, done));
                        (topic, word)
                    }
                    Some(LinkCommand::Unsubscribe(topic, done)) => {
                        let word = topic.0.words().1;
                        confirming.extend(done.map(|done| (topic.clone(), false, done)));
                        (topic, word)
                    }
                };
                send(&mut writer, &encode(&[Bytes::from_static(word.as_bytes()), topic.1])).await?;
            }
            read = reader.read_buf(&mut input) => {
                if read? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                while let Some(len) = frame_len(&input).map_err(std::io::Error::other)? {
                    let frame = input.split_to(len).freeze();
                    received(proxy, addr, &frame, &mut confirming);
                }
            }
        }
    }
}

/// The key a keyspace notification is about (`__keyspace@db__:key`, or the message of
/// `__keyevent@db__:event`); `parts`: a `message` or `pmessage` frame's.
fn notified_key<'a>(parts: &[&'a [u8]]) -> Option<&'a [u8]> {
    let (channel, payload) = match parts.len() {
        3 => (text(parts[1])?, text(parts[2])?),
        4 => (text(parts[2])?, text(parts[3])?),
        _ => return None,
    };
    let (prefix, rest) = channel.split_at(channel.iter().position(|&b| b == b':')? + 1);
    if prefix.starts_with(b"__keyspace@") {
        Some(rest)
    } else if prefix.starts_with(b"__keyevent@") {
        Some(payload)
    } else {
        None
    }
}

/// A frame from a shard server: a message for local subscribers, or a confirmation.
fn received(proxy: &Proxy, addr: &str, frame: &Bytes, confirming: &mut Confirming) {
    let Some(parts) = elements(frame) else {
        return;
    };
    // A server publishes the events of the partitions it follows too, as a Redis replica
    // does; the leader's is the one its clients see.
    if let Some(key) = notified_key(&parts) {
        if proxy
            .table
            .leader_of(key_slot(key))
            .is_some_and(|leader| *leader != *addr)
        {
            return;
        }
    }
    let (Some(word), Some(name)) = (parts.first().and_then(|w| text(w)), parts.get(1)) else {
        return;
    };
    let Some(name) = text(name) else {
        return;
    };
    let kind = match word {
        b"message" | b"subscribe" | b"unsubscribe" => Kind::Channel,
        b"pmessage" | b"psubscribe" | b"punsubscribe" => Kind::Pattern,
        b"smessage" | b"ssubscribe" | b"sunsubscribe" => Kind::Shard,
        _ => return,
    };
    let topic = (kind, Bytes::copy_from_slice(name));
    let joined = !word.ends_with(b"unsubscribe");
    if word.ends_with(b"message") {
        proxy.pubsub.dispatch(&topic, frame);
    } else if let Some(at) = confirming
        .iter()
        .position(|(t, joining, _)| *t == topic && *joining == joined)
    {
        if let Some((_, _, done)) = confirming.remove(at) {
            let _ = done.send(());
        }
    }
}

/// PUBLISH and SPUBLISH at the channel's leader, counting every local subscriber.
pub fn publish(session: &Session, kind: Kind, args: Vec<Bytes>) -> Pending {
    let (proxy, via) = (session.proxy.clone(), session.via());
    Pending::Forwarded(
        async move {
            let request = encode(&args);
            let reply = send_routed(&proxy, &via, Some(key_slot(&args[1])), request, 1).await;
            match integer(&reply) {
                Some(count) => {
                    let count = count + proxy.pubsub.uncounted(kind, &args[1]);
                    Bytes::from(format!(":{count}\r\n"))
                }
                None => reply,
            }
        }
        .boxed(),
    )
}

/// SUBSCRIBE, UNSUBSCRIBE and their pattern and shard forms.
pub fn is_subscription(name: &str) -> bool {
    kind_of(name).is_some()
}

fn kind_of(name: &str) -> Option<(Kind, bool)> {
    Some(match name {
        "subscribe" => (Kind::Channel, true),
        "unsubscribe" => (Kind::Channel, false),
        "psubscribe" => (Kind::Pattern, true),
        "punsubscribe" => (Kind::Pattern, false),
        "ssubscribe" => (Kind::Shard, true),
        "sunsubscribe" => (Kind::Shard, false),
        _ => return None,
    })
}

/// One client's subscriptions, in the order they were made; dropped with the client.
pub struct Subscriptions {
    proxy: Arc<Proxy>,
    id: u64,
    messages: Outbox,
    channels: Vec<Bytes>,
    patterns: Vec<Bytes>,
    shards: Vec<Bytes>,
}

impl Subscriptions {
    /// A client's (empty) subscriptions, and where its messages arrive.
    pub fn new(proxy: Arc<Proxy>, id: u64) -> (Subscriptions, Inbox) {
        let (messages, receiver) = crate::outbox::channel(proxy.limits.clone());
        let subscriptions = Subscriptions {
            proxy,
            id,
            messages,
            channels: Vec::new(),
            patterns: Vec::new(),
            shards: Vec::new(),
        };
        (subscriptions, receiver)
    }

    /// Where this client's messages go.
    pub fn sender(&self) -> Outbox {
        self.messages.clone()
    }

    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shards.is_empty())
    }

    fn list(&mut self, kind: Kind) -> &mut Vec<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shards,
        }
    }

    /// The count a confirmation reports, as Redis: shard channels apart from the rest.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shards.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// The refusal of a command a RESP2 client cannot send while subscribed.
    pub fn refuses(&self, resp: u8, name: &str) -> Option<String> {
        if resp != 2 || !self.active() {
            return None;
        }
        let allowed = is_subscription(name) || matches!(name, "ping" | "quit" | "reset");
        (!allowed).then(|| {
            format!("ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        })
    }
}

impl Subscriptions {
    /// Leaves every channel, pattern and shard channel (RESET, a client gone).
    pub fn clear(&mut self) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in std::mem::take(self.list(kind)) {
                self.proxy.pubsub.unsubscribe(&(kind, name), self.id);
            }
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Session {
    /// Writes a message from the hub in the client's protocol (RESP2 has no push type).
    pub fn push_message(&self, out: &mut BytesMut, frame: &[u8]) {
        if let Some(keys) = frame.strip_prefix(crate::tracking::REDIRECTED) {
            return self.write_redirected(out, keys);
        }
        match frame.split_first() {
            Some((b'>', rest)) if self.resp == 2 => {
                out.put_u8(b'*');
                out.extend_from_slice(rest);
            }
            _ => out.extend_from_slice(frame),
        }
    }

    pub async fn subscription(&mut self, name: &str, command: Command, args: &[Bytes]) -> Bytes {
        let Some((kind, subscribing)) = kind_of(name) else {
            return error_reply("ERR unknown subscription command");
        };
        if let Err(err) = command.route(args, |a, b| a == b) {
            return error_reply(&err.to_string());
        }
        let names: Vec<Bytes> = match &args[1..] {
            [] => self.subscriptions.list(kind).clone(),
            named => named.to_vec(),
        };
        let mut counts = Vec::with_capacity(names.len());
        let mut confirmations = Vec::new();
        for name in &names {
            let subscribed = self.subscriptions.list(kind).contains(name);
            let topic = (kind, name.clone());
            if subscribing && !subscribed {
                let proxy = self.proxy.clone();
                let messages = self.subscriptions.messages.clone();
                confirmations.extend(proxy.pubsub.subscribe(&proxy, topic, self.id, messages));
                self.subscriptions.list(kind).push(name.clone());
            } else if !subscribing && subscribed {
                confirmations.extend(self.proxy.pubsub.unsubscribe(&topic, self.id));
                self.subscriptions.list(kind).retain(|n| n != name);
            }
            counts.push(self.subscriptions.count(kind));
        }
        let _ = tokio::time::timeout(CONFIRM_PATIENCE, join_all(confirmations)).await;
        let word = if subscribing {
            kind.words().0
        } else {
            kind.words().1
        };
        self.reply_bytes(|out| {
            if names.is_empty() {
                confirm(out, word, None, self.subscriptions.count(kind));
            }
            for (name, count) in names.iter().zip(counts) {
                confirm(out, word, Some(name), count);
            }
        })
    }
}

/// PUBSUB CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS, SHARDNUMSUB and HELP, about this proxy's
/// subscribers (as a Redis Cluster node reports its own).
pub fn introspect(session: &Session, command: Command, args: &[Bytes]) -> Pending {
    if let Err(err) = command.route(args, |a, b| a == b) {
        return Pending::error(&err.to_string());
    }
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let hub = &session.proxy.pubsub;
    let named = |kind: Kind| {
        let topics = hub.topics(kind);
        let counts: Vec<(Bytes, usize)> = args[2..]
            .iter()
            .map(|name| {
                let count = topics.iter().find(|(n, _)| n == name).map_or(0, |t| t.1);
                (name.clone(), count)
            })
            .collect();
        session.reply(|out| {
            out.array(counts.len() * 2);
            for (name, count) in &counts {
                out.bulk(name);
                out.int(*count as i64);
            }
        })
    };
    let listed = |kind: Kind| {
        let names: Vec<Bytes> = hub
            .topics(kind)
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| args.get(2).is_none_or(|p| glob::matches(p, name, false)))
            .collect();
        session.reply(|out| out.bulks(names.iter()))
    };
    match sub.as_str() {
        "channels" => listed(Kind::Channel),
        "shardchannels" => listed(Kind::Shard),
        "numsub" => named(Kind::Channel),
        "shardnumsub" => named(Kind::Shard),
        "help" => session.reply(|out| write_help(out, "PUBSUB", PUBSUB_HELP)),
        "numpat" => {
            let patterns = hub.topics(Kind::Pattern).len();
            session.reply(|out| out.int(patterns as i64))
        }
        _ => Pending::error(&format!(
            "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}
