//! Forwarding to the shard servers: commands sent to their slot's leader, batched per
//! server, and the wait through a leader change (a redirect, or no reachable leader) that
//! every forwarded request shares.
//!
//! A request sent to a leader that stops answering is not waited on for ever. Once the route
//! of its slot moves to another leader (the old one was failed over: paused, cut off), or past
//! the backend deadline (`--backend-timeout`), it is released: a read-only request is sent
//! again through the route, and any other gets [`UNCERTAIN`], since it may have been applied
//! and sending it again could apply it twice (an INCR). Clients never retry that error by
//! themselves, as they would TRYAGAIN or MOVED.

use crate::backend::{BackendError, Via};
use crate::session::error_reply;
use crate::Proxy;
use bytes::{Bytes, BytesMut};
use futures_util::future::{join_all, FutureExt};
use slotcache_protocol::command::{Flag, Table};
use slotcache_protocol::resp::frame::{elements, frames, text};
use slotcache_protocol::resp::request::{encode, encode_into, encoded_len};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a request waits for its partition to get a reachable leader before TRYAGAIN.
pub const ROUTE_PATIENCE: Duration = Duration::from_secs(3);

/// A command for the leader of its slot, among others of one client's read.
pub struct RoutedCommand {
    /// Its place among the replies.
    pub place: usize,
    pub slot: u16,
    pub args: Vec<Bytes>,
    /// Its spec is `readonly`: a batch of such commands alone takes the lane for reads.
    pub reads: bool,
}

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

/// The reply to a request that was released unanswered from a leader that was replaced or
/// stopped answering: it may or may not have been applied.
pub const UNCERTAIN: &str =
    "ERR the shard server did not answer before its partition's leader changed or the deadline passed: the request may or may not have been applied";

/// How long a request still waits for a leader its route moved away from: a live, deposed
/// leader answers at once (a redirect, which is safe to follow); a paused or cut-off one never.
const DEPOSED_GRACE: Duration = Duration::from_millis(250);

/// How long a request (not a blocking command's, not a script's) waits on a shard server
/// before the proxy reports the server as silent to the controller.
const SUSPICION: Duration = Duration::from_millis(500);

/// How often the requests waiting on shard servers check whether to be released.
const WATCH_PERIOD: Duration = Duration::from_millis(100);

/// Why a request stopped waiting for its reply.
enum Released {
    /// The route of one of its slots moved away from the server it waits on.
    Deposed,
    /// The backend deadline passed.
    Deadline,
}

/// This worker thread's watchdog: a tick count and a wake-up every [`WATCH_PERIOD`] for the
/// requests waiting on shard servers. One timer per thread instead of one per request,
/// which measurably slowed every request.
struct Watchdog {
    ticks: std::sync::atomic::AtomicU64,
    tick: tokio::sync::Notify,
}

fn watchdog() -> &'static Watchdog {
    thread_local! {
        static WATCHDOG: std::cell::OnceCell<&'static Watchdog> = const { std::cell::OnceCell::new() };
    }
    WATCHDOG.with(|cell| {
        *cell.get_or_init(|| {
            let watchdog: &'static Watchdog = Box::leak(Box::new(Watchdog {
                ticks: std::sync::atomic::AtomicU64::new(0),
                tick: tokio::sync::Notify::new(),
            }));
            // On this thread's (single-threaded) runtime, whose requests it watches.
            tokio::spawn(async move {
                let mut every = tokio::time::interval(WATCH_PERIOD);
                loop {
                    every.tick().await;
                    watchdog.ticks.fetch_add(1, Ordering::Relaxed);
                    watchdog.tick.notify_waiters();
                }
            });
            watchdog
        })
    })
}

/// Ticks of [`WATCH_PERIOD`] in `span`, at least one.
fn ticks_in(span: Duration) -> u64 {
    (span.as_millis() / WATCH_PERIOD.as_millis()).max(1) as u64
}

/// Completes when the request waiting at `addr` should be released: a route of `slots` moved
/// away from it (after [`DEPOSED_GRACE`]), or `deadline` passed (both to a tick).
async fn release(proxy: &Proxy, addr: &str, slots: &[u16], deadline: Option<Duration>) -> Released {
    let watchdog = watchdog();
    let started = watchdog.ticks.load(Ordering::Relaxed);
    let seen = proxy.table.version();
    let mut deposed_at = None;
    let mut suspected = false;
    loop {
        watchdog.tick.notified().await;
        let now = watchdog.ticks.load(Ordering::Relaxed);
        if deadline.is_some_and(|d| now - started > ticks_in(d)) {
            return Released::Deadline;
        }
        // Once per request; the controller probes the server before it believes the report.
        if !suspected && deadline.is_some() && now - started > ticks_in(SUSPICION) {
            suspected = true;
            proxy.backends.suspect_silent(addr);
        }
        if deposed_at.is_none() && proxy.table.version() != seen {
            let moved = slots
                .iter()
                .any(|&slot| proxy.table.leader_of(slot).as_deref() != Some(addr));
            deposed_at = moved.then_some(now);
        }
        if deposed_at.is_some_and(|at| now - at > ticks_in(DEPOSED_GRACE)) {
            return Released::Deposed;
        }
    }
}

/// Whether every command of an encoded request only reads (its spec is `readonly`), so that
/// sending it again cannot apply anything twice.
fn read_only(request: &[u8]) -> bool {
    frames(request).all(|command| flagged(command, Flag::Readonly))
}

/// Whether an encoded request holds a blocking command (BLPOP, XREAD BLOCK), which its own
/// timeout bounds instead of the backend deadline.
fn blocking(request: &[u8]) -> bool {
    frames(request).any(|command| flagged(command, Flag::Blocking))
}

/// Whether one encoded command's spec has `flag`.
fn flagged(command: &[u8], flag: Flag) -> bool {
    let name = elements(command).and_then(|args| text(args.first()?));
    name.and_then(|name| Table::get().lookup(name))
        .is_some_and(|resolved| resolved.spec.flags.has(flag))
}

/// Calls `addr` until its reply comes or the request is released (see [`release`]). Err with
/// the reason for a released request.
async fn call_releasable(
    proxy: &Proxy,
    via: &Via,
    addr: &str,
    request: Bytes,
    replies: usize,
    slots: &[u16],
    deadline: Option<Duration>,
) -> Result<Result<Bytes, BackendError>, Released> {
    let call = via
        .backends(&proxy.backends)
        .call_via(addr, via, request.clone(), replies);
    let mut call = std::pin::pin!(call);
    let mut deadline = deadline;
    loop {
        tokio::select! {
            reply = &mut call => return Ok(reply),
            released = release(proxy, addr, slots, deadline) => {
                // Checked only now: parsing every request for it measurably cost.
                if matches!(released, Released::Deadline) && blocking(&request) {
                    deadline = None;
                    continue;
                }
                proxy.stats.released.fetch_add(1, Ordering::Relaxed);
                return Err(released);
            }
        }
    }
}

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
            // A script may run long by design: only a leader change releases it.
            let deadline = proxy.backend_timeout.filter(|_| script.is_none());
            let slots: &[u16] = match &slot {
                Some(slot) => std::slice::from_ref(slot),
                None => &[],
            };
            let call =
                call_releasable(proxy, via, &addr, request.clone(), replies, slots, deadline);
            match call.await {
                Ok(Ok(reply)) if !redirected(&reply, replies) => Some(reply),
                Ok(Ok(_)) => {
                    proxy.stats.redirects.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Ok(Err(BackendError::Unreachable(_))) => None,
                // A read is sent again: a server closes the connection of a read it held
                // for writes that lost their leader, and running it twice changes nothing.
                Ok(Err(BackendError::Lost(_))) | Err(_) if read_only(&request) => None,
                Ok(Err(lost @ BackendError::Lost(_))) => Some(lost_reply(&lost)),
                Err(_) => Some(error_reply(UNCERTAIN)),
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

/// Sends independent commands to `addr` as one request. Those redirected, all of them when
/// the server cannot be reached, and the reads among them when the connection was lost or
/// the request released, are sent again one by one through [`send_routed`].
pub async fn send_batch(
    proxy: &Proxy,
    via: &Via,
    addr: &str,
    commands: Vec<RoutedCommand>,
) -> Vec<(usize, Bytes)> {
    if let Some(busy) = proxy.scripts.busy(Some(addr)) {
        let reply = error_reply(busy);
        return commands
            .into_iter()
            .map(|c| (c.place, reply.clone()))
            .collect();
    }
    let mut request = BytesMut::with_capacity(commands.iter().map(|c| encoded_len(&c.args)).sum());
    for command in &commands {
        encode_into(&mut request, &command.args);
    }
    let mut answered = Vec::with_capacity(commands.len());
    let mut again = Vec::new();
    let slots: Vec<u16> = commands.iter().map(|command| command.slot).collect();
    let (request, replies) = (request.freeze(), commands.len());
    let deadline = proxy.backend_timeout;
    let reading = via.reading(commands.iter().all(|command| command.reads));
    let call = call_releasable(proxy, &reading, addr, request, replies, &slots, deadline);
    let failed = |commands: Vec<RoutedCommand>, reply: Bytes, again: &mut Vec<_>| {
        // Reads go again through their routes; the rest may have been applied.
        let (reads, writes): (Vec<_>, Vec<_>) = commands
            .into_iter()
            .partition(|command| read_only(&encode(&command.args)));
        again.extend(reads);
        writes.into_iter().map(move |c| (c.place, reply.clone()))
    };
    match call.await {
        Err(_) => answered.extend(failed(commands, error_reply(UNCERTAIN), &mut again)),
        Ok(Ok(all)) => {
            let mut replies = frames(&all);
            for command in commands {
                match replies.next() {
                    Some(reply) if is_redirect(reply) => {
                        proxy.stats.redirects.fetch_add(1, Ordering::Relaxed);
                        again.push(command)
                    }
                    Some(reply) => answered.push((command.place, all.slice_ref(reply))),
                    None => answered.push((command.place, error_reply(UNEXPECTED_REPLY))),
                }
            }
        }
        Ok(Err(BackendError::Unreachable(_))) => again = commands,
        Ok(Err(lost @ BackendError::Lost(_))) => {
            answered.extend(failed(commands, lost_reply(&lost), &mut again))
        }
    }
    for command in again {
        let reply = send_routed(proxy, via, Some(command.slot), encode(&command.args), 1);
        answered.push((command.place, reply.await));
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
    let (groups, leaderless) = proxy
        .table
        .group_by_leader(commands, |command| command.slot);
    let singles = leaderless.into_iter().map(|command| {
        async move {
            let request = encode(&command.args);
            let reply = send_routed(proxy, via, Some(command.slot), request, 1).await;
            vec![(command.place, reply)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_of_read_commands_are_sent_again_and_blocking_ones_keep_their_timeout() {
        let get = encode(&[Bytes::from_static(b"GET"), Bytes::from_static(b"k")]);
        let incr = encode(&[Bytes::from_static(b"incr"), Bytes::from_static(b"k")]);
        let both = [get.clone(), incr.clone()].concat();
        assert!(read_only(&get));
        assert!(!read_only(&incr));
        assert!(!read_only(&both));
        let blpop = encode(&[
            Bytes::from_static(b"BLPOP"),
            Bytes::from_static(b"k"),
            Bytes::from_static(b"0"),
        ]);
        assert!(!blocking(&get));
        assert!(blocking(&[get.clone(), blpop].concat()));
    }
}
