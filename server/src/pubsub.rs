//! Publish/subscribe: the registry of who listens to what, and the messages handed to each
//! subscriber's connection. A subscriber that falls behind past its output limit is
//! disconnected rather than let the server's memory grow without bound, as Redis's
//! `client-output-buffer-limit pubsub` does. What counts is what waits in its mailbox; its
//! connection takes no more from there while a megabyte of its output is unwritten.

use crate::client::ClientInfo;
use ahash::AHashMap;
use bytes::Bytes;
use parking_lot::Mutex;
use slotcache_protocol::glob;
use slotcache_protocol::limits::{ClassLimit, OutputLimits, OutputWatch};
use slotcache_protocol::pubsub::Kind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A published message as one subscriber receives it.
pub struct Message {
    pub kind: Kind,
    /// The pattern that matched, for pattern subscriptions.
    pub pattern: Option<Bytes>,
    pub channel: Bytes,
    pub payload: Bytes,
}

impl Message {
    fn size(&self) -> usize {
        self.channel.len() + self.payload.len() + self.pattern.as_ref().map_or(0, Bytes::len) + 32
    }
}

/// A subscribed connection's mailbox, and how much is waiting in it.
pub struct Mailbox {
    tx: mpsc::UnboundedSender<Arc<Message>>,
    queued: AtomicUsize,
    watch: Mutex<OutputWatch>,
    info: Arc<ClientInfo>,
}

impl Mailbox {
    pub fn new(info: Arc<ClientInfo>) -> (Arc<Mailbox>, mpsc::UnboundedReceiver<Arc<Message>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mailbox = Arc::new(Mailbox {
            tx,
            queued: AtomicUsize::new(0),
            watch: Mutex::default(),
            info,
        });
        (mailbox, rx)
    }

    /// The subscriber took a message out.
    pub fn taken(&self, message: &Message) {
        self.queued.fetch_sub(message.size(), Ordering::Relaxed);
    }

    /// Not cut off: its connection is not being closed.
    fn alive(&self) -> bool {
        !self.info.killed.load(Ordering::Acquire) && !self.tx.is_closed()
    }

    fn deliver(&self, message: Arc<Message>, limit: ClassLimit) -> bool {
        let size = message.size();
        let queued = self.queued.fetch_add(size, Ordering::Relaxed) + size;
        if self
            .watch
            .lock()
            .exceeded(limit, queued, std::time::Instant::now)
        {
            self.queued.fetch_sub(size, Ordering::Relaxed);
            tracing::warn!(
                client = self.info.id,
                "subscriber closed for overcoming of output buffer limits"
            );
            self.info.kill();
            return false;
        }
        self.tx.send(message).is_ok()
    }
}

#[derive(Default)]
pub struct Registry {
    /// `client-output-buffer-limit pubsub`, kept here for the publishers that check it.
    pub output_limit: ClassLimit,
    channels: AHashMap<Bytes, Vec<Arc<Mailbox>>>,
    shards: AHashMap<Bytes, Vec<Arc<Mailbox>>>,
    patterns: Vec<(Bytes, Arc<Mailbox>)>,
}

impl Registry {
    pub fn new(limits: &OutputLimits) -> Registry {
        Registry {
            output_limit: limits.pubsub,
            ..Registry::default()
        }
    }

    pub fn subscribe(&mut self, kind: Kind, name: &Bytes, mailbox: &Arc<Mailbox>) {
        match kind {
            Kind::Pattern => self.patterns.push((name.clone(), mailbox.clone())),
            Kind::Channel => self
                .channels
                .entry(name.clone())
                .or_default()
                .push(mailbox.clone()),
            Kind::Shard => self
                .shards
                .entry(name.clone())
                .or_default()
                .push(mailbox.clone()),
        }
    }

    /// The subscribers holding a channel or pattern `allowed` refuses them: users whose
    /// channels an ACL change took away.
    pub fn refused(
        &self,
        allowed: impl Fn(&ClientInfo, &[u8], bool) -> bool,
    ) -> Vec<Arc<ClientInfo>> {
        let plain = self
            .channels
            .iter()
            .chain(&self.shards)
            .flat_map(|(name, list)| list.iter().map(move |m| (name, m, false)));
        let patterns = self.patterns.iter().map(|(name, m)| (name, m, true));
        let mut refused: Vec<Arc<ClientInfo>> = plain
            .chain(patterns)
            .filter(|(name, m, is_pattern)| !allowed(&m.info, name, *is_pattern))
            .map(|(_, m, _)| m.info.clone())
            .collect();
        refused.sort_by_key(|info| info.id);
        refused.dedup_by_key(|info| info.id);
        refused
    }

    pub fn unsubscribe(&mut self, kind: Kind, name: &[u8], mailbox: &Arc<Mailbox>) {
        let map = match kind {
            Kind::Pattern => {
                self.patterns
                    .retain(|(p, m)| !(p[..] == *name && Arc::ptr_eq(m, mailbox)));
                return;
            }
            Kind::Channel => &mut self.channels,
            Kind::Shard => &mut self.shards,
        };
        if let Some(list) = map.get_mut(name) {
            list.retain(|m| !Arc::ptr_eq(m, mailbox));
            if list.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Delivers to every subscriber of the channel (and, for plain channels, of the matching
    /// patterns); returns how many received it.
    pub fn publish(&self, shard: bool, channel: &Bytes, payload: &Bytes) -> usize {
        let kind = if shard { Kind::Shard } else { Kind::Channel };
        let map = if shard { &self.shards } else { &self.channels };
        let mut received = 0;
        for mailbox in map.get(channel).into_iter().flatten() {
            let message = Message {
                kind,
                pattern: None,
                channel: channel.clone(),
                payload: payload.clone(),
            };
            received += mailbox.deliver(Arc::new(message), self.output_limit) as usize;
        }
        if !shard {
            for (pattern, mailbox) in &self.patterns {
                if glob::matches(pattern, channel, false) {
                    let message = Message {
                        kind: Kind::Pattern,
                        pattern: Some(pattern.clone()),
                        channel: channel.clone(),
                        payload: payload.clone(),
                    };
                    received += mailbox.deliver(Arc::new(message), self.output_limit) as usize;
                }
            }
        }
        received
    }

    /// Active channels (or shard channels) matching an optional pattern.
    pub fn channels(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = if shard { &self.shards } else { &self.channels };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of a channel, not counting those being disconnected (as PUBLISH does not).
    pub fn subscribers(&self, shard: bool, channel: &[u8]) -> usize {
        let map = if shard { &self.shards } else { &self.channels };
        map.get(channel).map_or(0, |mailboxes| {
            mailboxes.iter().filter(|m| m.alive()).count()
        })
    }

    /// Distinct patterns subscribed to (PUBSUB NUMPAT), not subscriptions.
    pub fn pattern_count(&self) -> usize {
        let distinct: ahash::AHashSet<&Bytes> = self.patterns.iter().map(|(p, _)| p).collect();
        distinct.len()
    }
}
