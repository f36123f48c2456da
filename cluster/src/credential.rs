//! Where the cluster's internal credential ([`slotcache_protocol::internal`]) is kept, and
//! clients of shard servers that present it.
//!
//! `slotcache cluster init` generates the secret and keeps it at etcd's `secret` key, which
//! every process of the cluster reads at start and follows. `slotcache cluster rotate-secret`
//! puts a new one there and keeps the one it replaces at `secret-previous`, still accepted
//! (and presented to a part that has not heard of the rotation yet), until `rotate-secret
//! --finish` deletes it. An operator who would rather not keep it in
//! etcd passes the same `--cluster-secret-file` to every process (init included, which then
//! stores nothing).

use crate::store::{Store, StoreError};
use redis::IntoConnectionInfo;
use slotcache_protocol::internal::{self, Secret};
use slotcache_protocol::tls::links::{self, Link};
use std::path::Path;

/// Reads the secret from `file`, when one is given.
pub fn from_file(file: &Path) -> Result<Secret, StoreError> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| StoreError::Secret(format!("reading {}: {err}", file.display())))?;
    Secret::new(&text).ok_or_else(|| StoreError::Secret(format!("{} is empty", file.display())))
}

/// Installs this process's secret: the file's when one is given, else the one in etcd, whose
/// rotations it then follows for as long as the process runs. A cluster without one (made
/// before secrets existed) keeps its links unauthenticated; false then. The cluster must
/// exist: `cluster init` writes its record and secret at once, so the secret is read only once
/// the record is there (read before, a process starting as the cluster is made could miss the
/// secret and then be refused by every part that has it).
pub async fn install(store: &mut Store, file: Option<&Path>) -> Result<bool, StoreError> {
    if !store.exists(&store.keys.config()).await? {
        return Err(StoreError::NoCluster(store.cluster.clone()));
    }
    if let Some(file) = file {
        internal::install(from_file(file)?);
        return Ok(true);
    }
    let (secret, previous) = (store.keys.secret(), store.keys.previous_secret());
    let previous_name = previous
        .strip_prefix(&secret)
        .unwrap_or_default()
        .to_string();
    store
        .mirror(&secret, move |name, value| {
            let given = value
                .and_then(|value| serde_json::from_slice::<String>(value).ok())
                .and_then(|text| Secret::new(&text));
            match (name, given) {
                ("", Some(secret)) => internal::install(secret),
                (name, previous) if name == previous_name => internal::install_previous(previous),
                _ => {}
            }
        })
        .await?;
    Ok(internal::installed().is_some())
}

/// A client of the shard server at `addr` that logs in with the installed secret, if any,
/// over TLS with `tls-cluster yes`.
pub fn node_client(addr: &str) -> redis::RedisResult<redis::Client> {
    let tls = links::tls_for(Link::Cluster);
    let scheme = if tls.is_some() { "rediss" } else { "redis" };
    let mut info = format!("{scheme}://{addr}/").into_connection_info()?;
    if let Some(secret) = internal::installed() {
        info.redis.username = Some(internal::USER.to_string());
        info.redis.password = Some(secret.text().to_string());
    }
    let Some(tls) = tls else {
        return redis::Client::open(info);
    };
    let read = |path: &Path| {
        std::fs::read(path).map_err(|err| {
            let why = format!("{}: {err}", path.display());
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "TLS", why))
        })
    };
    let files = tls.files();
    let client_tls = match &files.identity {
        Some((cert, key)) => Some(redis::ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        None => None,
    };
    let certificates = redis::TlsCertificates {
        client_tls,
        root_cert: Some(read(&files.ca_cert_file)?),
    };
    redis::Client::build_with_tls(info, certificates)
}
