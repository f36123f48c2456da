//! What waits to be written to one client besides its replies: Pub/Sub messages, invalidations
//! redirected to it and MONITOR lines. Their bytes are counted as they queue, and past the
//! proxy's `client-output-buffer-limit pubsub` the client is cut off, as Redis cuts off a
//! subscriber that does not read, rather than let the queue grow without bound. (Redis holds a
//! MONITOR client to the normal class, unlimited by default; here its lines share this queue
//! and its bound.)

use crate::limits::ClientLimits;
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use slotcache_protocol::limits::OutputWatch;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, Notify};

/// The sending side, shared by whoever sends this client messages.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Bytes>,
    shared: Arc<Shared>,
}

/// The client's side: the messages, in order.
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Bytes>,
    shared: Arc<Shared>,
}

struct Shared {
    queued: AtomicUsize,
    watch: Mutex<OutputWatch>,
    limits: Arc<RwLock<ClientLimits>>,
    overflowed: Notify,
}

/// A new client's outbox and inbox, held to `limits`.
pub fn channel(limits: Arc<RwLock<ClientLimits>>) -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        watch: Mutex::default(),
        limits,
        overflowed: Notify::new(),
    });
    let outbox = Outbox {
        tx,
        shared: shared.clone(),
    };
    (outbox, Inbox { rx, shared })
}

/// The client is gone, or was cut off.
#[derive(Debug)]
pub struct Closed;

impl Outbox {
    /// Queues a message, or cuts the client off if this would take it past its limit.
    pub fn send(&self, message: Bytes) -> Result<(), Closed> {
        let size = message.len();
        let queued = self.shared.queued.fetch_add(size, Ordering::Relaxed) + size;
        let limit = self.shared.limits.read().output.pubsub;
        if self
            .shared
            .watch
            .lock()
            .exceeded(limit, queued, Instant::now)
        {
            self.shared.queued.fetch_sub(size, Ordering::Relaxed);
            self.shared.overflowed.notify_one();
            return Err(Closed);
        }
        self.tx.send(message).map_err(|_| {
            self.shared.queued.fetch_sub(size, Ordering::Relaxed);
            Closed
        })
    }
}

impl Inbox {
    pub async fn recv(&mut self) -> Option<Bytes> {
        let message = self.rx.recv().await?;
        self.taken(&message);
        Some(message)
    }

    pub fn try_recv(&mut self) -> Option<Bytes> {
        let message = self.rx.try_recv().ok()?;
        self.taken(&message);
        Some(message)
    }

    fn taken(&self, message: &Bytes) {
        self.shared
            .queued
            .fetch_sub(message.len(), Ordering::Relaxed);
    }

    /// What tells the client's session it was cut off.
    pub fn overflow(&self) -> Overflow {
        Overflow(self.shared.clone())
    }
}

/// A client's cut-off for going past its limit, awaited apart from its inbox.
pub struct Overflow(Arc<Shared>);

impl Overflow {
    pub async fn wait(&self) {
        self.0.overflowed.notified().await
    }
}
