//! Keys bound to a process's life: granted under a lease renewed every TTL/3, put back under a
//! fresh lease whenever the old one is lost (etcd unreachable past the TTL, or restarted), and
//! left to expire when the process dies.

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often a fenced registration looks whether the fence is gone.
const FENCE_RECHECK: Duration = Duration::from_millis(200);

/// A running registration; dropping it stops renewing (the keys then expire with the lease).
pub struct Registration {
    task: JoinHandle<()>,
    lease: watch::Receiver<i64>,
    held: LeaseHold,
}

/// Until when this process certainly holds its lease: the send time of the last request etcd
/// answered with the lease alive, plus the TTL. etcd counts the TTL from when it received that
/// request, later, so etcd cannot have let the lease expire before then.
///
/// The generation counts the leases held: it moves on when a new lease is granted, before the
/// new lease extends the hold, so what was learned under one lease (a leader's reads, see the
/// server's `read_lease`) is not trusted under the next.
#[derive(Clone)]
pub struct LeaseHold {
    base: Instant,
    until_ms: Arc<AtomicU64>,
    margin: Duration,
    generation: Arc<AtomicU64>,
}

impl LeaseHold {
    fn new(ttl: Duration) -> LeaseHold {
        LeaseHold {
            base: Instant::now(),
            until_ms: Arc::new(AtomicU64::new(0)),
            margin: ttl / 4,
            generation: Arc::default(),
        }
    }

    /// Which lease this is: 0 before the first grant, then one more for every lease.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether the lease is held for `margin_ms` more at `now` (a negative margin trusts it
    /// past its end: only for showing what the margin protects). The caller reads the clock,
    /// once for every check it makes together.
    pub fn held_for(&self, margin_ms: i64, now: Instant) -> bool {
        let now = now.saturating_duration_since(self.base).as_millis() as i64;
        now.saturating_add(margin_ms) <= self.until_ms.load(Ordering::Acquire) as i64
    }

    fn confirm(&self, sent: Instant, ttl: Duration) {
        let until = sent.saturating_duration_since(self.base) + ttl;
        self.until_ms
            .fetch_max(until.as_millis() as u64, Ordering::AcqRel);
    }

    /// Whether the lease is certainly held for a quarter TTL more: what a leader that must not
    /// outlive its lease checks before it acknowledges a write.
    pub fn certain(&self) -> bool {
        self.held_for(self.margin.as_millis() as i64, Instant::now())
    }
}

impl Registration {
    /// The lease's certainty, shared.
    pub fn held(&self) -> LeaseHold {
        self.held.clone()
    }

    /// The lease currently holding the keys (0 while none is granted).
    pub fn lease(&self) -> i64 {
        *self.lease.borrow()
    }

    /// Waits until `lease` no longer holds the keys (it was lost and replaced).
    pub async fn lost(&mut self, lease: i64) {
        let _ = self.lease.wait_for(|id| *id != lease).await;
    }

    /// Waits until a lease holds the keys.
    pub async fn granted(&mut self) -> i64 {
        let _ = self.lease.wait_for(|id| *id != 0).await;
        self.lease()
    }

    /// Ends the registration at once rather than when its lease runs out: the lease is
    /// revoked, and the keys go with it.
    pub async fn withdraw(self, client: &mut Client) -> Result<(), etcd_client::Error> {
        self.task.abort();
        match self.lease() {
            0 => Ok(()),
            lease => client.lease_revoke(lease).await.map(|_| ()),
        }
    }

    /// Another view of the lease holding the keys, for a task of its own.
    pub fn watch(&self) -> LeaseWatch {
        LeaseWatch(self.lease.clone())
    }
}

/// Follows which lease holds a registration's keys; ends with the registration.
pub struct LeaseWatch(watch::Receiver<i64>);

impl LeaseWatch {
    /// The lease currently holding the keys (0 while none is granted).
    pub fn lease(&self) -> i64 {
        *self.0.borrow()
    }

    /// Waits until a lease holds the keys; None once the registration is dropped.
    pub async fn granted(&mut self) -> Option<i64> {
        self.0.wait_for(|id| *id != 0).await.ok().map(|id| *id)
    }

    /// Waits until `lease` no longer holds the keys; false once the registration is dropped.
    pub async fn lost(&mut self, lease: i64) -> bool {
        self.0.wait_for(|id| *id != lease).await.is_ok()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps `entries` (key, value) in etcd under a lease of `ttl_secs`.
pub fn register(client: Client, entries: Vec<(String, String)>, ttl_secs: u64) -> Registration {
    register_unless_fenced(client, entries, ttl_secs, None)
}

/// [`register`], except that while the key `fence` exists the entries are not put back: a
/// shard server whose lease the controller revoked while it may still run stays unregistered
/// until the controller has replaced it as leader (see the controller's `suspicion`).
pub fn register_unless_fenced(
    client: Client,
    entries: Vec<(String, String)>,
    ttl_secs: u64,
    fence: Option<String>,
) -> Registration {
    let (tx, rx) = watch::channel(0);
    let ttl_secs = ttl_secs.max(1);
    let held = LeaseHold::new(Duration::from_secs(ttl_secs));
    let task = tokio::spawn(keep(client, entries, fence, ttl_secs, tx, held.clone()));
    Registration {
        task,
        lease: rx,
        held,
    }
}

async fn keep(
    mut client: Client,
    entries: Vec<(String, String)>,
    fence: Option<String>,
    ttl: u64,
    tx: watch::Sender<i64>,
    held: LeaseHold,
) {
    let renew_every = Duration::from_millis(ttl * 1000 / 3);
    let mut backoff = Duration::from_millis(100);
    loop {
        let _ = tx.send(0);
        let sent = Instant::now();
        let granted = async {
            let id = client.lease_grant(ttl as i64, None).await?.id();
            let puts: Vec<TxnOp> = entries
                .iter()
                .map(|(key, value)| {
                    let lease = Some(PutOptions::new().with_lease(id));
                    TxnOp::put(key.as_str(), value.as_str(), lease)
                })
                .collect();
            let unfenced = fence
                .iter()
                .map(|key| Compare::version(key.as_str(), CompareOp::Equal, 0));
            let txn = Txn::new().when(unfenced.collect::<Vec<_>>()).and_then(puts);
            if !client.txn(txn).await?.succeeded() {
                client.lease_revoke(id).await?;
                return Ok(None);
            }
            let (keeper, stream) = client.lease_keep_alive(id).await?;
            Ok::<_, etcd_client::Error>(Some((id, keeper, stream)))
        };
        let (id, mut keeper, mut stream) = match tokio::time::timeout(renew_every, granted).await {
            Ok(Ok(Some(granted))) => granted,
            Ok(Ok(None)) => {
                tracing::warn!(
                    "fenced by the controller: not registering until it lifts the fence"
                );
                tokio::time::sleep(FENCE_RECHECK).await;
                continue;
            }
            Ok(Err(err)) => {
                tracing::warn!("etcd registration failed ({err}); retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
            Err(_) => {
                tracing::warn!("etcd registration timed out; retrying");
                continue;
            }
        };
        // What was confirmed under the lease before ends here, where this one extends the hold.
        held.generation.fetch_add(1, Ordering::AcqRel);
        held.confirm(sent, Duration::from_secs(ttl));
        backoff = Duration::from_millis(100);
        let _ = tx.send(id);
        tracing::info!(lease = id, "registered in etcd");
        loop {
            tokio::time::sleep(renew_every).await;
            let sent = Instant::now();
            // An etcd that does not answer (cut off, not refusing) counts as a lost lease too.
            let renewal = async {
                keeper.keep_alive().await?;
                Ok::<_, etcd_client::Error>(stream.message().await?.map_or(0, |r| r.ttl()))
            };
            let renewed = match tokio::time::timeout(renew_every, renewal).await {
                Ok(Ok(granted)) if granted > 0 => {
                    held.confirm(sent, Duration::from_secs(granted as u64));
                    true
                }
                _ => false,
            };
            if !renewed {
                tracing::warn!(lease = id, "etcd lease lost; registering again");
                break;
            }
        }
    }
}
