//! Forwarding to the shard servers: commands sent to their slot's leader, batched per
//! server, and the wait through a leader change (a redirect, or no reachable leader) that
//! every forwarded request shares.

use crate::backend::{BackendError, Via};
use crate::session::error_reply;
use crate::Proxy;
use bytes::{Bytes, BytesMut};
use futures_util::future::{join_all, FutureExt};
use slotcache_protocol::resp::frame::frames;
use slotcache_protocol::resp::request::{encode, encode_into, encoded_len};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a request waits for its partition to get a reachable leader before TRYAGAIN.
pub const ROUTE_PATIENCE: Duration = Duration::from_secs(3);

/// A routed command: its place among the replies, its slot and its arguments.
pub type RoutedCommand = (usize, u16, Vec<Bytes>);

/// A shard server's answer meaning "not here (any more)": the route must be looked up again.
pub fn is_redirect(reply: &[u8]) -> bool {
    reply.starts_with(b"-MOVED ") || reply.starts_with(b"-CLUSTERDOWN ")
}

/// Whether any of a run's `replies` replies redirects (a single reply is checked without
/// framing it: most requests are one command).
fn redirected(reply: &[u8], replies: usize) -> bool {
    match replies {
        1 => is_redirect(reply),
        _ => frames(reply).any(is_redirect),
    }
}

/// The answer of a run of commands sent by [`send_routed`]: its last reply (EXEC's after
/// MULTI and the queued commands, a command's after CLUSTER PARTITION). A run refused as a
/// whole (TRYAGAIN, a lost connection) is a single error, returned as it is.
pub fn last_reply(all: &Bytes) -> Bytes {
    match frames(all).last() {
        Some(last) => all.slice_ref(last),
        None => error_reply(UNEXPECTED_REPLY),
    }
}

pub const UNEXPECTED_REPLY: &str = "ERR unexpected reply from a shard server";

pub const NO_LEADER: &str = "TRYAGAIN the slot's partition has no reachable leader yet";

/// Sends commands back to back to the leader of `slot`'s partition (any leader for None) and
/// returns their `replies` replies in one buffer. A leader change is waited out: while the
/// partition has no reachable leader, or a reply redirects, the request is sent again when the
/// route changes, until TRYAGAIN after [`ROUTE_PATIENCE`].
pub async fn send_routed(
    proxy: &Proxy,
    via: &Via,
    slot: Option<u16>,
    request: Bytes,
    replies: usize,
) -> Bytes {
    send_routed_as(proxy, via, slot, request, replies, None).await
}

/// [`send_routed`], for a request that runs a script when `script` is `Some(function)`: it
/// counts as running at the server it reaches until its reply comes. A server running a
/// script past the busy threshold gets no request: BUSY is the answer, as from Redis.
pub async fn send_routed_as(
    proxy: &Proxy,
    via: &Via,
    slot: Option<u16>,
    request: Bytes,
    replies: usize,
    script: Option<bool>,
) -> Bytes {
    let answer = until_routed(proxy, slot, |addr| {
        let request = request.clone();
        async move {
            if let Some(busy) = proxy.scripts.busy(Some(&addr)) {
                return Some(error_reply(busy));
            }
            let _running = script.map(|function| proxy.scripts.start(addr.clone(), function));
            match via
                .backends(&proxy.backends)
                .call_many(&addr, via.resp, request, replies)
                .await
            {
                Ok(reply) if !redirected(&reply, replies) => Some(reply),
                Ok(_) => {
                    proxy.stats.redirects.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Err(BackendError::Unreachable(_)) => None,
                Err(lost @ BackendError::Lost(_)) => Some(lost_reply(&lost)),
            }
        }
    });
    answer.await.unwrap_or_else(|| error_reply(NO_LEADER))
}

/// Runs `attempt` against the leader of `slot`'s partition (each leader in turn for None)
/// until it answers: when it gives up (no reachable leader, a redirect), it runs again once
/// the route changes. None after [`ROUTE_PATIENCE`] without an answer. Every request that
/// waits out a leader change (forwarded commands, WATCH's connection) retries through here.
pub async fn until_routed<T, F, Fut>(proxy: &Proxy, slot: Option<u16>, mut attempt: F) -> Option<T>
where
    F: FnMut(Arc<str>) -> Fut,
    Fut: Future<Output = Option<T>>,
{
    // Timed from the first failure: most requests never need the clock.
    let mut started = None;
    for tries in 0usize.. {
        let seen = proxy.table.version();
        let addr = match slot {
            Some(slot) => proxy.table.leader_of(slot),
            None => {
                let addrs = proxy.table.leader_addrs();
                addrs.get(tries % addrs.len().max(1)).cloned()
            }
        };
        if let Some(addr) = addr {
            if let Some(answer) = attempt(addr).await {
                return Some(answer);
            }
        }
        if started.get_or_insert_with(Instant::now).elapsed() >= ROUTE_PATIENCE {
            break;
        }
        proxy.stats.retries.fetch_add(1, Ordering::Relaxed);
        let wait = crate::table::retry_wait(tries);
        proxy.table.changed_since(seen, wait).await;
    }
    None
}

fn lost_reply(lost: &BackendError) -> Bytes {
    error_reply(&format!("ERR {lost}: the request may or may not have run"))
}

/// Sends independent commands to `addr` as one request. Those redirected, or all of them when
/// the server cannot be reached, are sent again one by one through [`send_routed`].
pub async fn send_batch(
    proxy: &Proxy,
    via: &Via,
    addr: &str,
    commands: Vec<RoutedCommand>,
) -> Vec<(usize, Bytes)> {
    if let Some(busy) = proxy.scripts.busy(Some(addr)) {
        let reply = error_reply(busy);
        return commands.into_iter().map(|c| (c.0, reply.clone())).collect();
    }
    let mut request = BytesMut::with_capacity(commands.iter().map(|c| encoded_len(&c.2)).sum());
    for (_, _, args) in &commands {
        encode_into(&mut request, args);
    }
    let mut answered = Vec::with_capacity(commands.len());
    let mut again = Vec::new();
    match via
        .backends(&proxy.backends)
        .call_many(addr, via.resp, request.freeze(), commands.len())
        .await
    {
        Ok(all) => {
            let mut replies = frames(&all);
            for command in commands {
                match replies.next() {
                    Some(reply) if is_redirect(reply) => {
                        proxy.stats.redirects.fetch_add(1, Ordering::Relaxed);
                        again.push(command)
                    }
                    Some(reply) => answered.push((command.0, all.slice_ref(reply))),
                    None => answered.push((command.0, error_reply(UNEXPECTED_REPLY))),
                }
            }
        }
        Err(BackendError::Unreachable(_)) => again = commands,
        Err(lost @ BackendError::Lost(_)) => {
            let reply = lost_reply(&lost);
            answered.extend(
                commands
                    .into_iter()
                    .map(|(index, ..)| (index, reply.clone())),
            );
        }
    }
    for (index, slot, args) in again {
        answered.push((
            index,
            send_routed(proxy, via, Some(slot), encode(&args), 1).await,
        ));
    }
    answered
}

/// Sends independent commands, each to the leader of its slot, grouped into one request per
/// server; their replies, by their place.
pub async fn send_all(
    proxy: &Proxy,
    via: &Via,
    commands: Vec<RoutedCommand>,
) -> Vec<(usize, Bytes)> {
    let (groups, leaderless) = proxy.table.group_by_leader(commands, |command| command.1);
    let singles = leaderless.into_iter().map(|(index, slot, args)| {
        async move {
            let reply = send_routed(proxy, via, Some(slot), encode(&args), 1).await;
            vec![(index, reply)]
        }
        .boxed()
    });
    let batches = groups.into_iter().map(|(addr, commands)| {
        async move { send_batch(proxy, via, &addr, commands).await }.boxed()
    });
    join_all(singles.chain(batches))
        .await
        .into_iter()
        .flatten()
        .collect()
}
