//! Keys bound to a process's life: granted under a lease renewed every TTL/3, put back under a
//! fresh lease whenever the old one is lost (etcd unreachable past the TTL, or restarted), and
//! left to expire when the process dies.

use etcd_client::{Client, PutOptions};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running registration; dropping it stops renewing (the keys then expire with the lease).
pub struct Registration {
    task: JoinHandle<()>,
    lease: watch::Receiver<i64>,
}

impl Registration {
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
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps `entries` (key, value) in etcd under a lease of `ttl_secs`.
pub fn register(client: Client, entries: Vec<(String, String)>, ttl_secs: u64) -> Registration {
    let (tx, rx) = watch::channel(0);
    let task = tokio::spawn(keep(client, entries, ttl_secs.max(1), tx));
    Registration { task, lease: rx }
}

async fn keep(
    mut client: Client,
    entries: Vec<(String, String)>,
    ttl: u64,
    tx: watch::Sender<i64>,
) {
    let renew_every = Duration::from_millis(ttl * 1000 / 3);
    let mut backoff = Duration::from_millis(100);
    loop {
        let _ = tx.send(0);
        let granted = async {
            let id = client.lease_grant(ttl as i64, None).await?.id();
            for (key, value) in &entries {
                client
                    .put(
                        key.as_str(),
                        value.as_str(),
                        Some(PutOptions::new().with_lease(id)),
                    )
                    .await?;
            }
            let (keeper, stream) = client.lease_keep_alive(id).await?;
            Ok::<_, etcd_client::Error>((id, keeper, stream))
        };
        let (id, mut keeper, mut stream) = match granted.await {
            Ok(held) => held,
            Err(err) => {
                tracing::warn!("etcd registration failed ({err}); retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let _ = tx.send(id);
        tracing::info!(lease = id, "registered in etcd");
        loop {
            tokio::time::sleep(renew_every).await;
            let renewed = match keeper.keep_alive().await {
                Ok(()) => matches!(stream.message().await, Ok(Some(r)) if r.ttl() > 0),
                Err(_) => false,
            };
            if !renewed {
                tracing::warn!(lease = id, "etcd lease lost; registering again");
                break;
            }
        }
    }
}
