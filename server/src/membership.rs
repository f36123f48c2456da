//! Cluster mode: the server registers itself in etcd (`nodes/<id>`, and `nodes/active/<id>`
//! under its lease), then follows `partitions/` and hosts the keyspaces of the partitions it
//! is a replica of, replicating them over its replication port. Losing etcd changes nothing
//! for the data it holds: it keeps serving and catches up on placement once etcd answers again.
//!
//! A starting server holds no data, so before it registers it withdraws from every in-sync
//! set that still names it (a restart faster than the lease TTL must not leave an empty copy
//! electable, or leading).

use crate::replication::read_lease::ReadConsistency;
use crate::replication::Replication;
use crate::routing::Routes;
use crate::state::Server;
use anyhow::Context;
use slotcache_cluster::lease::{self, LeaseHold, LeaseWatch, Registration};
use slotcache_cluster::records::{
    node_state, ClusterConfig, NodeRecord, PartitionRecord, RECORD_VERSION,
};
use slotcache_cluster::store::Store;
use slotcache_protocol::tls::Acceptor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{info, warn};

/// How long a starting server waits for etcd before giving up.
const ETCD_PATIENCE: Duration = Duration::from_secs(30);

/// What keeps the server in the cluster; dropping it withdraws the registration.
pub struct Membership {
    registration: Registration,
}

/// How long a stopping server that leads nothing more keeps answering (redirects) before it
/// leaves: proxies that were slow to see the new routes send it requests meanwhile.
const ROUTES_SETTLE: Duration = Duration::from_millis(500);

impl Membership {
    /// A planned stop (SIGTERM, SIGINT): the node record says `stopping`, so the controller
    /// hands every partition this server leads to an in-sync follower, a handover that loses
    /// nothing and fails no request. Once it leads nothing, the lease is revoked: the leaders
    /// it follows drop it from their in-sync sets at once rather than a TTL later. A server
    /// still leading after `patience` (no in-sync follower to take over) just stops, its lease
    /// left to run out: revoked while it leads, it could read under a lease etcd no longer has.
    pub async fn leave(self, server: &Server, patience: Duration) {
        let Some(replication) = server.replication.get() else {
            return;
        };
        let node = replication.node_id.clone();
        let marked = async {
            let mut store = replication.store.lock().await;
            slotcache_cluster::operations::set_state(&mut store, &node, node_state::STOPPING).await
        };
        match tokio::time::timeout(patience, marked).await {
            Ok(Ok(())) => info!("stopping: handing over the partitions this server leads"),
            Ok(Err(err)) => warn!(%err, "stopping: cannot mark the node stopping"),
            Err(_) => warn!("stopping: etcd did not answer"),
        }
        let deadline = tokio::time::Instant::now() + patience;
        while !replication.led().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let led = replication.led();
        if !led.is_empty() {
            warn!(partitions = ?led, "stopping while still leading: no in-sync follower took over");
            return;
        }
        tokio::time::sleep(ROUTES_SETTLE).await;
        let mut client = replication.store.lock().await.client();
        match tokio::time::timeout(patience, self.registration.withdraw(&mut client)).await {
            Ok(Ok(())) => info!("stopping: left the cluster"),
            Ok(Err(err)) => warn!(%err, "stopping: revoking the lease failed"),
            Err(_) => warn!("stopping: etcd did not answer the lease's revocation"),
        }
    }
}

/// Where this server listens and where other hosts reach it.
pub struct Addresses {
    /// The address its listeners bind (replication's included).
    pub bind: String,
    /// The host other hosts reach it at: published, with each port, in its node record.
    pub announce: String,
    /// The client port it publishes: the TLS one with `tls-cluster yes`.
    pub client_port: u16,
    /// 0: a free port.
    pub replication_port: u16,
    /// With `tls-replication yes`, the replication port serves TLS only.
    pub replication_tls: Option<Arc<Acceptor>>,
    pub admin_port: Option<u16>,
}

/// Registers this server and starts following its placement.
pub async fn join(
    server: Arc<Server>,
    etcd: &str,
    cluster: &str,
    node_id: &str,
    addresses: Addresses,
) -> anyhow::Result<Membership> {
    let mut store = Store::connect(etcd, cluster, ETCD_PATIENCE).await?;
    let keys = store.keys.clone();
    // Before anything can reach this server or its replication port: both accept the
    // cluster's credential, and it follows the cluster's default user only with one.
    let secret_file = server.config.read().cluster_secret_file.clone();
    slotcache_cluster::credential::install(&mut store, secret_file.as_deref().map(Path::new))
        .await
        .context("reading the cluster secret")?;
    let config: ClusterConfig = store
        .get(&keys.config())
        .await?
        .ok_or_else(|| slotcache_cluster::store::StoreError::NoCluster(cluster.to_string()))?;
    withdraw_from_isr(&mut store, config.partitions, node_id).await?;
    let announce = &addresses.announce;
    let client_addr = format!("{announce}:{}", addresses.client_port);
    let replication_listener =
        TcpListener::bind((addresses.bind.as_str(), addresses.replication_port))
            .await
            .context("binding the replication port")?;
    let replication_addr = format!("{announce}:{}", replication_listener.local_addr()?.port());
    let admin_addr = addresses
        .admin_port
        .map(|port| format!("{announce}:{port}"));
    let (lag_timeout, backlog) = {
        let config = server.config.read();
        (config.replica_lag_timeout, config.repl_backlog_size)
    };
    server.slowlog.use_clock_ids();
    let _ = server.replication.set(Replication::new(
        node_id,
        config.replication_mode,
        Duration::from_millis(lag_timeout),
        backlog as usize,
        config.min_isr as usize,
        Store::connect(etcd, cluster, ETCD_PATIENCE).await?,
    ));
    tokio::spawn(crate::replication::leader::listen(
        server.clone(),
        replication_listener,
        addresses.replication_tls.clone(),
    ));
    let (reads, margin) = {
        let config = server.config.read();
        let reads = ReadConsistency::parse(&config.read_consistency);
        (
            reads.unwrap_or(ReadConsistency::Barrier),
            config.lease_read_margin,
        )
    };
    // An operator's drain outlives a restart; the mark of a stop does not.
    let kept_state = store
        .get::<NodeRecord>(&keys.node(node_id))
        .await?
        .map(|r| r.state)
        .filter(|state| state == node_state::DRAINING);
    let record = NodeRecord {
        version: RECORD_VERSION,
        id: node_id.to_string(),
        client_addr: client_addr.clone(),
        replication_addr: replication_addr.clone(),
        admin_addr: admin_addr.unwrap_or_default(),
        state: kept_state.unwrap_or_else(|| node_state::UP.into()),
        lease_reads: reads == ReadConsistency::Lease,
        ..NodeRecord::default()
    };
    store
        .put(&keys.node(node_id), &record)
        .await
        .context("registering the node")?;
    let mut registration = lease::register_unless_fenced(
        store.client(),
        vec![(keys.active_node(node_id), client_addr)],
        config.lease_ttl_secs,
        Some(keys.fence(node_id)),
    );
    registration.granted().await;
    if let Some(replication) = server.replication.get() {
        replication.set_lease(registration.held(), reads, margin);
    }
    let _ = server
        .routes
        .set(parking_lot::RwLock::new(Routes::new(node_id)));
    let follower = server.clone();
    store
        .mirror_records(&keys.nodes(), move |name, record: Option<NodeRecord>| {
            if let Some(replication) = follower.replication.get() {
                let addr = record.as_ref().map(|r| r.replication_addr.clone());
                replication.set_node_addr(name, addr);
            }
            if let Some(routes) = follower.routes.get() {
                routes
                    .write()
                    .set_node_addr(name, record.map(|r| r.client_addr));
            }
        })
        .await?;
    let watcher = server.clone();
    store
        .mirror(&keys.active_nodes(), move |name, value| {
            if let Some(replication) = watcher.replication.get() {
                replication.set_alive(name, value.is_some());
            }
        })
        .await?;
    let users = server.clone();
    store
        .mirror(&keys.users(), move |name, value| {
            crate::commands::acl::follow_shared_user(&users, name, value);
        })
        .await?;
    let node = node_id.to_string();
    let applier = server.clone();
    store
        .mirror_records(&keys.partitions(), move |name, record| {
            apply(&applier, &node, name, record)
        })
        .await?;
    tokio::spawn(confirm_leadership(
        server.clone(),
        store,
        registration.watch(),
        registration.held(),
    ));
    info!(node = node_id, cluster, %replication_addr, "joined the cluster");
    Ok(Membership { registration })
}

/// Under every lease this server is granted, reads all partition records once its keys are
/// written, so the partitions that etcd then names it leader of read under the lease (see
/// [`crate::replication::read_lease`]).
async fn confirm_leadership(
    server: Arc<Server>,
    mut store: Store,
    mut leases: LeaseWatch,
    held: LeaseHold,
) {
    let prefix = store.keys.partitions();
    while let Some(lease) = leases.granted().await {
        let generation = held.generation();
        let records = loop {
            match store.snapshot(&prefix).await {
                Ok((entries, _)) => break Some(entries),
                Err(err) if leases.lease() == lease => {
                    tracing::warn!("reading the partitions for lease reads: {err}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(_) => break None,
            }
        };
        let current = leases.lease() == lease && held.generation() == generation;
        if let (Some(entries), true, Some(replication)) =
            (records, current, server.replication.get())
        {
            let records = entries
                .iter()
                .filter_map(|(key, value)| {
                    let pid = key.strip_prefix(&prefix)?.parse().ok()?;
                    Some((pid, serde_json::from_slice(value).ok()?))
                })
                .collect();
            replication.confirm_leadership(&server, generation, records);
        }
        if !leases.lost(lease).await {
            return;
        }
    }
}

/// Removes `node` from the in-sync set of every partition that names it.
async fn withdraw_from_isr(store: &mut Store, partitions: u32, node: &str) -> anyhow::Result<()> {
    for pid in 0..partitions {
        let key = store.keys.partition(pid);
        loop {
            let (record, revision) = store.get_versioned::<PartitionRecord>(&key).await?;
            let Some(mut record) = record.filter(|r| r.isr.iter().any(|n| n == node)) else {
                break;
            };
            record.isr.retain(|n| n != node);
            if store.put_if_unchanged(&key, &record, revision).await? {
                info!(
                    partition = pid,
                    "withdrew from the in-sync set: this process starts empty"
                );
                break;
            }
        }
    }
    Ok(())
}

/// Hosts or drops a partition's keyspace as its record names this node or not, sets its
/// replication role, and routes its slots by the record.
fn apply(server: &Arc<Server>, node: &str, name: &str, record: Option<PartitionRecord>) {
    let Ok(pid) = name.parse::<u32>() else {
        return;
    };
    let mine = record
        .as_ref()
        .is_some_and(|r| r.replicas.iter().any(|n| n == node));
    let keyspace = if mine {
        if !server.engine.hosts(pid) {
            info!(partition = pid, "hosting partition");
        }
        Some(server.engine.open(pid))
    } else {
        if let Some(dropped) = server.engine.close(pid) {
            // Connections that addressed it may still hold it: they must not serve from it.
            dropped.lock().log.drop_copy();
            info!(partition = pid, "no longer hosting partition");
        }
        None
    };
    if let Some(replication) = server.replication.get() {
        replication.assign(server, pid, record.clone());
    }
    if let Some(routes) = server.routes.get() {
        routes.write().update(pid, record, keyspace);
    }
}
