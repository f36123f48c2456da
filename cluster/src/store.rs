//! The one client layer over etcd every component uses: the cluster's key layout, connection
//! with retries, typed JSON reads and writes.

use crate::records::{ClusterConfig, NodeRecord, PartitionRecord, SlotMap};
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use thiserror::Error;

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
    #[error("invalid record at {key}: {source}")]
    BadRecord {
        key: String,
        source: serde_json::Error,
    },
}

/// The etcd keys of one cluster, under `/slotcache/<cluster>/`.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(cluster: &str) -> Keys {
        Keys {
            prefix: format!("/slotcache/{cluster}/"),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn config(&self) -> String {
        format!("{}config", self.prefix)
    }

    pub fn slots(&self) -> String {
        format!("{}slots", self.prefix)
    }

    pub fn partitions(&self) -> String {
        format!("{}partitions/", self.prefix)
    }

    pub fn partition(&self, pid: u32) -> String {
        format!("{}partitions/{pid}", self.prefix)
    }

    pub fn nodes(&self) -> String {
        format!("{}nodes/", self.prefix)
    }

    pub fn active_nodes(&self) -> String {
        format!("{}nodes/active/", self.prefix)
    }
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
    /// Connects to any of the comma-separated endpoints, retrying with backoff for up to
    /// `patience` before giving up with a clear error.
    pub async fn connect(
        endpoints: &str,
        cluster: &str,
        patience: Duration,
    ) -> Result<Store, StoreError> {
        let list: Vec<String> = endpoints.split(',').map(|e| e.trim().to_string()).collect();
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5));
        let start = std::time::Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = async {
                let mut client = Client::connect(&list, Some(options.clone())).await?;
                // Connecting is lazy; a status call proves an endpoint answers.
                client.status().await?;
                Ok::<_, etcd_client::Error>(client)
            };
            match attempt.await {
                Ok(client) => {
                    return Ok(Store {
                        client,
                        cluster: cluster.to_string(),
                        keys: Keys::new(cluster),
                    })
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

    /// Writes a new cluster's configuration, slot map and empty partition records in one
    /// transaction that fails if the cluster exists, unless `force` clears it first.
    pub async fn init_cluster(
        &mut self,
        config: &ClusterConfig,
        force: bool,
    ) -> Result<(), StoreError> {
        let slots = SlotMap::even(config.partitions);
        let mut ops = vec![
            TxnOp::put(self.keys.config(), encode(config), None),
            TxnOp::put(self.keys.slots(), encode(&slots), None),
        ];
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
        Ok(ClusterState {
            cluster: self.cluster.clone(),
            config,
            slots,
            partitions,
            nodes,
            active_nodes,
        })
    }
}
