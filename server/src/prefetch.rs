//! Loading the entries a batch of requests will look up into the cache before it runs. With
//! a million keys every lookup misses the cache twice (bucket, node); announced together,
//! the misses of a pipeline overlap instead of following one another. The key guessed is a
//! request's first argument, the key of most commands; a guess that is no key costs a hash
//! and a load, nothing else.

use crate::engine::db::{Db, PREFETCHED_KEYS};
use crate::partition::SharedKeyspace;
use crate::state::Server;
use bytes::Bytes;
use slotcache_protocol::slot::key_slot;
use std::collections::VecDeque;
use std::sync::Arc;

type Requests = VecDeque<Vec<Bytes>>;

fn first_keys(pending: &Requests) -> impl Iterator<Item = &[u8]> {
    pending
        .iter()
        .filter_map(|args| args.get(1).map(|key| &key[..]))
}

/// Standalone: every queued request runs in `db`, whose keyspace the caller has locked.
pub fn standalone(server: &Server, db: &Db, pending: &Requests) {
    if server.routes.get().is_none() {
        db.prefetch(first_keys(pending));
    }
}

/// In a cluster: the keys of the next queued requests, grouped by the partition copy here
/// that serves them (a connection's requests, from a proxy lane or a cluster client, span
/// the partitions a server hosts), each group prefetched during a moment of its keyspace's
/// lock, taken only if free. Before the batch runs, as it locks one partition at a time.
pub fn partitions(server: &Server, db: usize, readonly: bool, pending: &Requests) {
    let Some(routes) = server.routes.get() else {
        return;
    };
    let routes = routes.read();
    let mut located: Vec<(&SharedKeyspace, &[u8])> = first_keys(pending)
        .take(PREFETCHED_KEYS)
        .filter_map(|key| Some((routes.locate(key_slot(key), readonly).ok()?.1, key)))
        .collect();
    located.sort_unstable_by_key(|(keyspace, _)| Arc::as_ptr(keyspace));
    for group in located.chunk_by(|a, b| Arc::ptr_eq(a.0, b.0)) {
        let Some(keyspace) = group[0].0.try_lock() else {
            continue;
        };
        if let Some(db) = keyspace.dbs.get(db) {
            db.prefetch(group.iter().map(|(_, key)| *key));
        }
    }
}
