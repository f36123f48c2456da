//! The one client layer over etcd every component uses: the cluster's key layout, connection
//! with retries, typed JSON reads and writes.

use crate::records::{
    ClusterConfig, ControllerRecord, NodeRecord, PartitionRecord, ProxyRecord, SlotMap,
    SuspectReport,
};
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, PutOptions, Txn, TxnOp,
    WatchOptions,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use thiserror::Error;

/// The etcd user every connection of this process logs in as, for an etcd with
/// authentication on. Set once at start, before the first connection (as the cluster's
/// internal secret is), so that every part of a binary reaches etcd the same way.
static ETCD_USER: OnceLock<(String, String)> = OnceLock::new();

/// The files of etcd's TLS, set once at start as the user is.
static ETCD_TLS: OnceLock<EtcdTlsFiles> = OnceLock::new();

#[derive(Debug, Clone)]
struct EtcdTlsFiles {
    ca: PathBuf,
    identity: Option<(PathBuf, PathBuf)>,
}

/// How a binary is told to reach an etcd with authentication on: `--etcd-user name:password`
/// (etcdctl's `--user`), or better `SLOTCACHE_ETCD_USER`, which `ps` does not show; and an
/// etcd served over TLS (`https://` endpoints): the CA its certificate chains to, and this
/// process's client certificate when etcd checks them (`--client-cert-auth`), as etcdctl's
/// `--cacert`, `--cert` and `--key`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EtcdAccess {
    /// etcd user and password, as name:password, when etcd's authentication is on.
    #[arg(
        long,
        global = true,
        env = "SLOTCACHE_ETCD_USER",
        hide_env_values = true
    )]
    pub etcd_user: Option<String>,
    /// The CA etcd's certificate chains to (PEM), for https:// endpoints.
    #[arg(long, global = true, env = "SLOTCACHE_ETCD_CACERT")]
    pub etcd_cacert: Option<PathBuf>,
    /// This process's client certificate for etcd (PEM), with its key.
    #[arg(long, global = true, env = "SLOTCACHE_ETCD_CERT")]
    pub etcd_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "SLOTCACHE_ETCD_KEY")]
    pub etcd_key: Option<PathBuf>,
}

impl EtcdAccess {
    /// Makes every later connection of this process log in as the user given, if any, and
    /// speak TLS with the files given.
    pub fn install(&self) -> Result<(), StoreError> {
        if self.etcd_cert.is_some() != self.etcd_key.is_some() {
            return Err(StoreError::EtcdTls(
                "--etcd-cert and --etcd-key go together".into(),
            ));
        }
        if let Some(ca) = &self.etcd_cacert {
            let identity = self.etcd_cert.clone().zip(self.etcd_key.clone());
            let _ = ETCD_TLS.set(EtcdTlsFiles {
                ca: ca.clone(),
                identity,
            });
        }
        let Some(user) = &self.etcd_user else {
            return Ok(());
        };
        let (name, password) = user.split_once(':').ok_or(StoreError::EtcdUser)?;
        let _ = ETCD_USER.set((name.to_string(), password.to_string()));
        Ok(())
    }
}

impl EtcdTlsFiles {
    /// The TLS options, read from the files now: a connection made after they are replaced
    /// uses the new ones.
    fn options(&self) -> Result<etcd_client::TlsOptions, StoreError> {
        let read = |path: &PathBuf| {
            std::fs::read(path)
                .map_err(|err| StoreError::EtcdTls(format!("{}: {err}", path.display())))
        };
        let ca = etcd_client::Certificate::from_pem(read(&self.ca)?);
        let options = etcd_client::TlsOptions::new().ca_certificate(ca);
        Ok(match &self.identity {
            Some((cert, key)) => {
                options.identity(etcd_client::Identity::from_pem(read(cert)?, read(key)?))
            }
            None => options,
        })
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot reach etcd at {endpoints}")]
    Unreachable {
        endpoints: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("etcd request failed: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("cluster '{0}' does not exist (create it with `slotcache cluster init`)")]
    NoCluster(String),
    #[error("cluster '{0}' already exists (use --force to overwrite it)")]
    Exists(String),
    #[error("cluster secret: {0}")]
    Secret(String),
    #[error("--etcd-user takes name:password")]
    EtcdUser,
    #[error("etcd TLS: {0}")]
    EtcdTls(String),
    #[error("invalid record at {key}: {source}")]
    BadRecord {
        key: String,
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Whether asking again soon may succeed: etcd electing a leader, a member that lost its
    /// quorum timing out, a connection to one member dropped.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Etcd(etcd_client::Error::GRpcStatus(status)) => matches!(
                status.code(),
                // Cancelled: the client's own timeout, waiting on a member without a leader.
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            ),
            StoreError::Etcd(etcd_client::Error::TransportError(_)) => true,
            _ => false,
        }
    }
}

pub use crate::keys::Keys;

/// A change seen by a [`Store::watch`], in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    Put {
        key: String,
        value: Vec<u8>,
    },
    Delete {
        key: String,
    },
    /// The watch fell behind etcd's compaction: here is the whole prefix as it stands.
    Reset {
        entries: Vec<(String, Vec<u8>)>,
    },
}

pub struct Store {
    client: Client,
    pub cluster: String,
    pub keys: Keys,
}

/// Everything `status` shows.
#[derive(Debug, Serialize)]
pub struct ClusterState {
    pub cluster: String,
    pub config: ClusterConfig,
    pub slots: SlotMap,
    pub partitions: Vec<(u32, PartitionRecord)>,
    pub nodes: Vec<NodeRecord>,
    pub active_nodes: Vec<String>,
    /// The controller currently elected, if any.
    pub controller: Option<ControllerRecord>,
    /// The live proxies.
    pub proxies: Vec<ProxyRecord>,
}

fn decode<T: DeserializeOwned>(key: &str, value: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|source| StoreError::BadRecord {
        key: key.to_string(),
        source,
    })
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records always serialize")
}

impl Store {
    /// A handle on the same connection, for tasks of their own (lease keep-alive, watches).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Grants a lease of `ttl_secs`; returns its id.
    pub async fn grant(&mut self, ttl_secs: u64) -> Result<i64, StoreError> {
        Ok(self.client.lease_grant(ttl_secs as i64, None).await?.id())
    }

    /// Tells the controller that `node` looks crashed or cut off to `reporter`; the controller
    /// confirms before acting, and the report lapses by itself unless it is repeated.
    pub async fn report_suspect(
        &mut self,
        node: &str,
        reporter: &str,
        report: SuspectReport,
    ) -> Result<(), StoreError> {
        let lease = self.grant(2).await?;
        let key = self.keys.suspect(node, reporter);
        self.client
            .put(
                key,
                encode(&report),
                Some(PutOptions::new().with_lease(lease)),
            )
            .await?;
        Ok(())
    }

    pub async fn put<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), StoreError> {
        self.client.put(key, encode(value), None).await?;
        Ok(())
    }

    /// Writes a plain string value (operator requests, which are not JSON records).
    pub async fn put_raw(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.client.put(key, value, None).await?;
        Ok(())
    }

    /// Revokes the lease `key` is bound to, if any: every key under it goes at once.
    pub async fn revoke_lease_of(&mut self, key: &str) -> Result<bool, StoreError> {
        let response = self.client.get(key, None).await?;
        match response.kvs().first().map(|kv| kv.lease()) {
            Some(lease) if lease != 0 => {
                self.client.lease_revoke(lease).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub async fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        Ok(self.client.delete(key, None).await?.deleted() > 0)
    }

    /// Deletes every key starting with `prefix`.
    pub async fn delete_prefix(&mut self, prefix: &str) -> Result<(), StoreError> {
        let options = etcd_client::DeleteOptions::new().with_prefix();
        self.client.delete(prefix, Some(options)).await?;
        Ok(())
    }

    /// A record with the revision it was last modified at (0 when absent), for guarded writes.
    pub async fn get_versioned<T: DeserializeOwned>(
        &mut self,
        key: &str,
    ) -> Result<(Option<T>, i64), StoreError> {
        let response = self.client.get(key, None).await?;
        match response.kvs().first() {
            Some(kv) => Ok((Some(decode(key, kv.value())?), kv.mod_revision())),
            None => Ok((None, 0)),
        }
    }

    /// Writes `value` at `key` only if `guard_key` still has `guard_revision` as its create
    /// revision (the writer still holds its election) and `key` was last modified at
    /// `expected_revision` (nobody wrote in between), and `absent`, if any, does not exist.
    /// False when a guard failed.
    pub async fn guarded_put<T: Serialize>(
        &mut self,
        key: &str,
        value: &T,
        expected_revision: i64,
        guard_key: &[u8],
        guard_revision: i64,
        absent: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut compares = vec![
            Compare::create_revision(guard_key.to_vec(), CompareOp::Equal, guard_revision),
            Compare::mod_revision(key, CompareOp::Equal, expected_revision),
        ];
        compares.extend(absent.map(|key| Compare::create_revision(key, CompareOp::Equal, 0)));
        let txn = Txn::new()
            .when(compares)
            .and_then(vec![TxnOp::put(key, encode(value), None)]);
        Ok(self.client.txn(txn).await?.succeeded())
    }

    /// Writes `value` at `key` only if `key` was last modified at `expected_revision`.
    pub async fn put_if_unchanged<T: Serialize>(
        &mut self,
        key: &str,
        value: &T,
        expected_revision: i64,
    ) -> Result<bool, StoreError> {
        let txn = Txn::new()
            .when(vec![Compare::mod_revision(
                key,
                CompareOp::Equal,
                expected_revision,
            )])
            .and_then(vec![TxnOp::put(key, encode(value), None)]);
        Ok(self.client.txn(txn).await?.succeeded())
    }

    /// [`Store::put_if_unchanged`], and only while `present` exists and no key starts with
    /// `absent_prefix`: a leader shrinking its in-sync set, only while it holds its liveness key
    /// and nobody reports it cut off.
    pub async fn put_if_unchanged_when<T: Serialize>(
        &mut self,
        key: &str,
        value: &T,
        expected_revision: i64,
        present: &str,
        absent_prefix: &str,
    ) -> Result<bool, StoreError> {
        let txn = Txn::new()
            .when(vec![
                Compare::mod_revision(key, CompareOp::Equal, expected_revision),
                Compare::version(present, CompareOp::Greater, 0),
                // Over a range, a compare holds only if it holds for every key in it.
                Compare::version(absent_prefix, CompareOp::Equal, 0).with_prefix(),
            ])
            .and_then(vec![TxnOp::put(key, encode(value), None)]);
        Ok(self.client.txn(txn).await?.succeeded())
    }

    /// Deletes `key` only while `guard_key` still has `guard_revision` as its create revision.
    pub async fn guarded_delete(
        &mut self,
        key: &str,
        guard_key: &[u8],
        guard_revision: i64,
    ) -> Result<bool, StoreError> {
        let txn = Txn::new()
            .when(vec![Compare::create_revision(
                guard_key.to_vec(),
                CompareOp::Equal,
                guard_revision,
            )])
            .and_then(vec![TxnOp::delete(key, None)]);
        Ok(self.client.txn(txn).await?.succeeded())
    }

    /// Follows every change under `prefix` from `start_revision` (0: from now) on a task of its
    /// own. After a disconnect (etcd restarting, a network cut) it reconnects with backoff and
    /// resumes from the revision after the last event it delivered, so nothing is missed; if
    /// that history was compacted meanwhile, it sends a [`WatchEvent::Reset`] with the prefix
    /// as it stands. The task ends when the receiver is dropped.
    pub fn watch(
        &self,
        prefix: &str,
        start_revision: i64,
    ) -> tokio::sync::mpsc::Receiver<WatchEvent> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let client = self.client.clone();
        tokio::spawn(follow(client, prefix.to_string(), start_revision, tx));
        rx
    }

    /// Tells `apply` of every key under `prefix` (by its name below the prefix, with its value,
    /// or None once deleted): the entries as they stand before this returns, then every change
    /// on a task of its own, for as long as the process runs. After a reset, keys that vanished
    /// meanwhile are reported deleted, so the caller's copy always converges on etcd's.
    pub async fn mirror<F>(&mut self, prefix: &str, mut apply: F) -> Result<(), StoreError>
    where
        F: FnMut(&str, Option<&[u8]>) + Send + 'static,
    {
        let (entries, revision) = self.snapshot(prefix).await?;
        let mut known = std::collections::BTreeSet::new();
        for (key, value) in &entries {
            if let Some(name) = key.strip_prefix(prefix) {
                known.insert(name.to_string());
                apply(name, Some(value));
            }
        }
        let mut events = self.watch(prefix, revision + 1);
        let prefix = prefix.to_string();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    WatchEvent::Put { key, value } => {
                        if let Some(name) = key.strip_prefix(&prefix) {
                            known.insert(name.to_string());
                            apply(name, Some(&value));
                        }
                    }
                    WatchEvent::Delete { key } => {
                        if let Some(name) = key.strip_prefix(&prefix) {
                            known.remove(name);
                            apply(name, None);
                        }
                    }
                    WatchEvent::Reset { entries } => {
                        let mut present = std::collections::BTreeSet::new();
                        for (key, value) in &entries {
                            if let Some(name) = key.strip_prefix(&prefix) {
                                present.insert(name.to_string());
                                apply(name, Some(value));
                            }
                        }
                        for gone in known.difference(&present) {
                            apply(gone, None);
                        }
                        known = present;
                    }
                }
            }
        });
        Ok(())
    }

    /// [`Store::mirror`] for the JSON records directly under `prefix` (deeper keys, such as
    /// `nodes/active/`, are skipped); a value that does not parse counts as deleted.
    pub async fn mirror_records<T, F>(
        &mut self,
        prefix: &str,
        mut apply: F,
    ) -> Result<(), StoreError>
    where
        T: DeserializeOwned,
        F: FnMut(&str, Option<T>) + Send + 'static,
    {
        self.mirror(prefix, move |name, value| {
            if !name.contains('/') {
                apply(name, value.and_then(|v| serde_json::from_slice(v).ok()));
            }
        })
        .await
    }

    /// The current revision of the store, to start a watch right after a read.
    pub async fn revision(&mut self) -> Result<i64, StoreError> {
        // A key of the cluster's own: an etcd user may be allowed no other.
        let response = self.client.get(self.keys.config(), None).await?;
        Ok(response.header().map_or(0, |h| h.revision()))
    }

    /// Connects to the comma-separated endpoints that answer now (all of them when none
    /// does), retrying with backoff for up to `patience` before giving up with a clear error.
    /// The client spreads requests over its endpoints, and one that is down fails the requests
    /// sent its way: leaving out a member found dead keeps a one-shot command (`status`) from
    /// failing while the rest of the etcd cluster serves.
    pub async fn connect(
        endpoints: &str,
        cluster: &str,
        patience: Duration,
    ) -> Result<Store, StoreError> {
        let all: Vec<String> = endpoints.split(',').map(|e| e.trim().to_string()).collect();
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5));
        if let Some((name, password)) = ETCD_USER.get() {
            // etcd's tokens expire (5 minutes by default): requests refresh them.
            options = options
                .with_user(name, password)
                .with_auto_token_refresh(true);
        }
        if let Some(tls) = ETCD_TLS.get() {
            options = options.with_tls(tls.options()?);
        }
        let start = std::time::Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            // A single endpoint is used as it is: there is nothing to choose from.
            let probes = match all.len() {
                1 => Vec::new(),
                _ => probes(&all, &options).await,
            };
            let answering = answering(&probes).await;
            let list = if answering.is_empty() {
                &all
            } else {
                &answering
            };
            let attempt = async {
                let mut client = Client::connect(list, Some(options.clone())).await?;
                // Connecting is lazy; a status call proves an endpoint answers.
                client.status().await?;
                Ok::<_, etcd_client::Error>(client)
            };
            match attempt.await {
                Ok(client) => {
                    if !probes.is_empty() {
                        tokio::spawn(keep_endpoints(client.clone(), probes, answering));
                    }
                    return Ok(Store {
                        client,
                        cluster: cluster.to_string(),
                        keys: Keys::new(cluster),
                    });
                }
                Err(source) if start.elapsed() >= patience => {
                    return Err(StoreError::Unreachable {
                        endpoints: endpoints.to_string(),
                        source,
                    })
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Every key and raw value under a prefix, with the revision of that view.
    pub async fn snapshot(
        &mut self,
        prefix: &str,
    ) -> Result<(Vec<(String, Vec<u8>)>, i64), StoreError> {
        Ok(read_prefix(&mut self.client, prefix).await?)
    }

    pub async fn exists(&mut self, key: &str) -> Result<bool, StoreError> {
        let options = GetOptions::new().with_count_only();
        Ok(self.client.get(key, Some(options)).await?.count() > 0)
    }

    pub async fn get<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, StoreError> {
        let response = self.client.get(key, None).await?;
        match response.kvs().first() {
            Some(kv) => Ok(Some(decode(key, kv.value())?)),
            None => Ok(None),
        }
    }

    /// Every record under a prefix, with its key.
    pub async fn list<T: DeserializeOwned>(
        &mut self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let response = self
            .client
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await?;
        response
            .kvs()
            .iter()
            .map(|kv| {
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                let value = decode(&key, kv.value())?;
                Ok((key, value))
            })
            .collect()
    }

    /// Writes a new cluster's configuration, slot map, empty partition records and internal
    /// secret (when it is kept in etcd) in one transaction that fails if the cluster exists,
    /// unless `force` clears it first.
    pub async fn init_cluster(
        &mut self,
        config: &ClusterConfig,
        secret: Option<&slotcache_protocol::internal::Secret>,
        force: bool,
    ) -> Result<(), StoreError> {
        let slots = SlotMap::even(config.partitions);
        let mut ops = vec![
            TxnOp::put(self.keys.config(), encode(config), None),
            TxnOp::put(self.keys.slots(), encode(&slots), None),
        ];
        if let Some(secret) = secret {
            ops.push(TxnOp::put(self.keys.secret(), encode(&secret.text()), None));
        }
        for range in &slots.ranges {
            let record = PartitionRecord {
                version: crate::records::RECORD_VERSION,
                slots: vec![[range.start, range.end]],
                ..PartitionRecord::default()
            };
            ops.push(TxnOp::put(
                self.keys.partition(range.partition),
                encode(&record),
                None,
            ));
        }
        if force {
            self.client
                .delete(
                    self.keys.prefix(),
                    Some(etcd_client::DeleteOptions::new().with_prefix()),
                )
                .await?;
        }
        let txn = Txn::new()
            .when(vec![Compare::create_revision(
                self.keys.config(),
                CompareOp::Equal,
                0,
            )])
            .and_then(ops);
        let response = self.client.txn(txn).await?;
        if !response.succeeded() {
            return Err(StoreError::Exists(self.cluster.clone()));
        }
        Ok(())
    }

    /// Starts a rotation of the internal secret kept in etcd: `next` becomes the secret, and
    /// the one it replaces stays accepted as the previous one until [`Store::finish_rotation`].
    pub async fn rotate_secret(
        &mut self,
        next: &slotcache_protocol::internal::Secret,
    ) -> Result<(), StoreError> {
        let (secret, previous) = (self.keys.secret(), self.keys.previous_secret());
        let (current, revision) = self.get_versioned::<String>(&secret).await?;
        let current = current.ok_or_else(|| {
            StoreError::Secret("the cluster keeps no secret in etcd (a file, or none)".into())
        })?;
        let txn = Txn::new()
            .when(vec![
                Compare::mod_revision(secret.as_str(), CompareOp::Equal, revision),
                Compare::create_revision(previous.as_str(), CompareOp::Equal, 0),
            ])
            .and_then(vec![
                TxnOp::put(previous.as_str(), encode(&current), None),
                TxnOp::put(secret.as_str(), encode(&next.text()), None),
            ]);
        match self.client.txn(txn).await?.succeeded() {
            true => Ok(()),
            false => Err(StoreError::Secret(
                "a rotation is under way: finish it first (rotate-secret --finish)".into(),
            )),
        }
    }

    /// Ends a rotation: the previous secret is no longer accepted. False when none was under
    /// way.
    pub async fn finish_rotation(&mut self) -> Result<bool, StoreError> {
        let previous = self.keys.previous_secret();
        self.delete(&previous).await
    }

    /// [`Store::state`], asked again while etcd's errors are transient, for up to `patience`:
    /// a one-shot command rides out an etcd leader election.
    pub async fn state_within(&mut self, patience: Duration) -> Result<ClusterState, StoreError> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            match self.state().await {
                Err(err) if err.is_transient() && std::time::Instant::now() < deadline => {
                    tracing::debug!(%err, "reading the cluster's state again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                outcome => return outcome,
            }
        }
    }

    pub async fn state(&mut self) -> Result<ClusterState, StoreError> {
        let Some(config) = self.get::<ClusterConfig>(&self.keys.config()).await? else {
            return Err(StoreError::NoCluster(self.cluster.clone()));
        };
        let slots = self
            .get::<SlotMap>(&self.keys.slots())
            .await?
            .unwrap_or_default();
        let partitions_prefix = self.keys.partitions();
        let mut partitions: Vec<(u32, PartitionRecord)> = self
            .list::<PartitionRecord>(&partitions_prefix)
            .await?
            .into_iter()
            .filter_map(|(key, record)| {
                let pid = key.strip_prefix(&partitions_prefix)?.parse().ok()?;
                Some((pid, record))
            })
            .collect();
        partitions.sort_by_key(|(pid, _)| *pid);
        let active_prefix = self.keys.active_nodes();
        let response = self
            .client
            .get(
                active_prefix.as_str(),
                Some(GetOptions::new().with_prefix().with_keys_only()),
            )
            .await?;
        let active_nodes = response
            .kvs()
            .iter()
            .filter_map(|kv| {
                String::from_utf8_lossy(kv.key())
                    .strip_prefix(&active_prefix)
                    .map(str::to_string)
            })
            .collect();
        let nodes_prefix = self.keys.nodes();
        let response = self
            .client
            .get(nodes_prefix.as_str(), Some(GetOptions::new().with_prefix()))
            .await?;
        let mut nodes = Vec::new();
        for kv in response.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            if key.starts_with(&active_prefix) {
                continue;
            }
            nodes.push(decode::<NodeRecord>(&key, kv.value())?);
        }
        // The election's leader is the candidate key created first.
        let response = self
            .client
            .get(
                self.keys.controller_election(),
                Some(
                    GetOptions::new()
                        .with_prefix()
                        .with_sort(
                            etcd_client::SortTarget::Create,
                            etcd_client::SortOrder::Ascend,
                        )
                        .with_limit(1),
                ),
            )
            .await?;
        let controller = response
            .kvs()
            .first()
            .map(|kv| ControllerRecord::parse(kv.value()));
        let (proxies, _) = self.snapshot(&self.keys.proxies()).await?;
        let proxies = proxies
            .iter()
            .map(|(_, value)| ProxyRecord::parse(value))
            .collect();
        Ok(ClusterState {
            cluster: self.cluster.clone(),
            config,
            slots,
            partitions,
            nodes,
            active_nodes,
            controller,
            proxies,
        })
    }
}

/// Every key and raw value under a prefix, with the revision of that view.
async fn read_prefix(
    client: &mut Client,
    prefix: &str,
) -> Result<(Vec<(String, Vec<u8>)>, i64), etcd_client::Error> {
    let response = client
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await?;
    let revision = response.header().map_or(0, |h| h.revision());
    let entries = response
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                kv.value().to_vec(),
            )
        })
        .collect();
    Ok((entries, revision))
}

/// The body of [`Store::watch`].
async fn follow(
    mut client: Client,
    prefix: String,
    start_revision: i64,
    tx: tokio::sync::mpsc::Sender<WatchEvent>,
) {
    let mut next = start_revision;
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut options = WatchOptions::new().with_prefix();
        if next > 0 {
            options = options.with_start_revision(next);
        }
        if let Ok(mut stream) = client.watch(prefix.as_str(), Some(options)).await {
            while let Ok(Some(response)) = stream.message().await {
                backoff = Duration::from_millis(100);
                if response.canceled() && response.compact_revision() > 0 {
                    // Our history is gone: start over from a fresh view.
                    let Ok((entries, revision)) = read_prefix(&mut client, &prefix).await else {
                        break;
                    };
                    next = revision + 1;
                    if tx.send(WatchEvent::Reset { entries }).await.is_err() {
                        return;
                    }
                    break;
                }
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    let key = String::from_utf8_lossy(kv.key()).into_owned();
                    let change = match event.event_type() {
                        EventType::Put => WatchEvent::Put {
                            key,
                            value: kv.value().to_vec(),
                        },
                        EventType::Delete => WatchEvent::Delete { key },
                    };
                    next = kv.mod_revision() + 1;
                    if tx.send(change).await.is_err() {
                        return;
                    }
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        tracing::debug!(prefix, next, "etcd watch interrupted; resuming");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// A client per endpoint, to ask each on its own whether it answers.
async fn probes(all: &[String], options: &ConnectOptions) -> Vec<(String, Option<Client>)> {
    let mut probes = Vec::with_capacity(all.len());
    for endpoint in all {
        let client = Client::connect([endpoint], Some(options.clone()))
            .await
            .ok();
        probes.push((endpoint.clone(), client));
    }
    probes
}

/// The probed endpoints that answer a status request within half a second, naming a leader,
/// asked at once.
async fn answering(probes: &[(String, Option<Client>)]) -> Vec<String> {
    let mut asks = tokio::task::JoinSet::new();
    for (index, (_, client)) in probes.iter().enumerate() {
        let Some(mut client) = client.clone() else {
            continue;
        };
        asks.spawn(async move {
            let answered = tokio::time::timeout(Duration::from_millis(500), client.status()).await;
            // A member cut off from the others answers a status request too, but none that
            // needs its quorum: it counts once it knows a leader.
            (
                index,
                matches!(answered, Ok(Ok(status)) if status.leader() != 0),
            )
        });
    }
    let mut answering = Vec::new();
    while let Some(asked) = asks.join_next().await {
        if let Ok((index, true)) = asked {
            answering.push(index);
        }
    }
    answering.sort_unstable();
    answering
        .into_iter()
        .map(|index| probes[index].0.clone())
        .collect()
}

/// How often a client with several endpoints checks which of them answer.
const ENDPOINT_CHECK: Duration = Duration::from_secs(1);

/// Keeps `client`'s endpoints to those that answer: the client spreads requests over its
/// endpoints and one that is down fails the requests sent its way (lease renewals included),
/// so a dead etcd member is taken out within a second, and put back once it answers again.
/// Every clone of the client shares the change. With none answering, all stay.
async fn keep_endpoints(
    client: Client,
    probes: Vec<(String, Option<Client>)>,
    mut used: Vec<String>,
) {
    let all: Vec<String> = probes
        .iter()
        .map(|(endpoint, _)| endpoint.clone())
        .collect();
    if used.is_empty() {
        used = all.clone();
    }
    loop {
        tokio::time::sleep(ENDPOINT_CHECK).await;
        let answering = answering(&probes).await;
        let wanted = if answering.is_empty() {
            &all
        } else {
            &answering
        };
        for endpoint in wanted.iter().filter(|e| !used.contains(e)) {
            if client.add_endpoint(endpoint).await.is_ok() {
                tracing::info!(%endpoint, "etcd endpoint answers again");
            }
        }
        for endpoint in used.iter().filter(|e| !wanted.contains(e)) {
            if client.remove_endpoint(endpoint).await.is_ok() {
                tracing::warn!(%endpoint, "etcd endpoint does not answer: not used until it does");
            }
        }
        used = wanted.clone();
    }
}
