//! Commands over the whole keyspace a proxy announces (every slot with `announce = self`,
//! its share with `spread`): SCAN, KEYS, DBSIZE, RANDOMKEY, FLUSHALL and FLUSHDB visit each
//! partition in turn (a shard server runs them in a partition after `CLUSTER PARTITION`),
//! keeping only keys of the announced slots; SCRIPT LOAD, EXISTS, FLUSH and KILL, and FUNCTION
//! LOAD, DELETE, FLUSH, RESTORE and KILL go to every shard server leading a partition, so
//! EVALSHA and FCALL find their script or library wherever their keys are. CONFIG SET,
//! RESETSTAT and REWRITE reach every shard server, followers included. WAIT
//! waits at every partition's leader, each on a connection of its own, and answers the fewest
//! replicas any partition reached.
//!
//! A SCAN cursor carries the partition in its low 14 bits and the shard server's cursor above
//! them. Partitions are visited in id order, so one scan returns every key that lives
//! throughout it exactly once; scanning every announced proxy covers each slot once.

use crate::backend::{call_dedicated, Via};
use crate::cluster_view::own_slots;
use crate::forward::{last_reply, send_routed, NO_LEADER};
use crate::request::Command;
use crate::session::{error_reply, reply_in, Pending, Session};
use crate::Proxy;
use bytes::{Bytes, BytesMut};
use futures_util::future::{join_all, FutureExt};
use rand::seq::SliceRandom;
use slotcache_cluster::{key_slot, SLOTS};
use slotcache_protocol::pause::parse_pause;
use slotcache_protocol::resp::frame::{elements, integer, text};
use slotcache_protocol::resp::request::encode;
use slotcache_protocol::resp::Reply;
use std::sync::Arc;

const PARTITION_BITS: u32 = 14;
const PARTITION_MASK: u64 = (1 << PARTITION_BITS) - 1;
/// RANDOMKEY's draws per partition before it looks elsewhere (spread mode only misses).
const RANDOM_DRAWS: usize = 3;
/// Keys per UNLINK when a spread proxy flushes its share.
const UNLINK_BATCH: usize = 1000;

/// What one call covers: the partitions, in id order, and the announced slots.
struct Scope {
    proxy: Arc<Proxy>,
    resp: u8,
    partitions: Vec<u32>,
    slots: (u16, u16),
}

impl Scope {
    /// Every partition, and the slots the session's proxy announces.
    fn of(session: &Session) -> Scope {
        let mut partitions: Vec<u32> = session
            .proxy
            .table
            .partitions()
            .into_iter()
            .map(|(pid, _)| pid)
            .collect();
        partitions.sort_unstable();
        Scope {
            proxy: session.proxy.clone(),
            resp: session.resp,
            partitions,
            slots: own_slots(session),
        }
    }

    fn owns(&self, key: &[u8]) -> bool {
        (self.slots.0..=self.slots.1).contains(&key_slot(key))
    }

    fn whole_cluster(&self) -> bool {
        self.slots == (0, SLOTS - 1)
    }

    /// Runs a keyless command in one partition; its reply.
    async fn in_partition(&self, pid: u32, args: &[Bytes]) -> Bytes {
        let Some(slot) = self.proxy.table.first_slot(pid) else {
            return error_reply("CLUSTERDOWN the partition is gone");
        };
        let request = partition_request(pid, args);
        let both = send_routed(&self.proxy, &Via::shared(self.resp), Some(slot), request, 2).await;
        last_reply(&both)
    }

    /// The announced keys of one partition's reply to KEYS (or SCAN's key list).
    fn owned_keys(&self, list: &[u8]) -> Option<Vec<Bytes>> {
        let keys = elements(list)?;
        let mut owned = Vec::with_capacity(keys.len());
        for key in keys {
            let key = text(key)?;
            if self.owns(key) {
                owned.push(Bytes::copy_from_slice(key));
            }
        }
        Some(owned)
    }

    async fn keys_of(&self, pid: u32, pattern: &Bytes) -> Result<Vec<Bytes>, Bytes> {
        let args = [Bytes::from_static(b"KEYS"), pattern.clone()];
        let reply = self.in_partition(pid, &args).await;
        self.owned_keys(&reply).ok_or(reply)
    }
}

pub fn answer(session: &Session, name: &str, command: Command, args: &[Bytes]) -> Pending {
    if let Err(err) = command.route(args, |a, b| a == b) {
        return Pending::error(&err.to_string());
    }
    let scope = Scope::of(session);
    let args = args.to_vec();
    let name = name.to_string();
    let proto = session.proto();
    Pending::Forwarded(
        async move {
            let reply = |build: &dyn Fn(&mut Reply)| reply_in(proto, build);
            let answer = match name.as_str() {
                "scan" => scan(&scope, args).await.map(|(cursor, keys)| {
                    reply(&|out| {
                        out.array(2);
                        out.bulk(cursor.to_string().as_bytes());
                        out.bulks(keys.iter());
                    })
                }),
                "keys" => keys(&scope, &args[1])
                    .await
                    .map(|keys| reply(&|out| out.bulks(keys.iter()))),
                "dbsize" => dbsize(&scope).await.map(|n| reply(&|out| out.int(n))),
                "randomkey" => random_key(&scope)
                    .await
                    .map(|key| reply(&|out| out.bulk_or_null(key.as_deref()))),
                "script" | "function" => scripting(&scope, &args).await,
                "config" => every_server(&scope, &args).await,
                "client" => pause(&scope, &args).await,
                "wait" => wait(&scope, &args).await,
                _ => flush(&scope, &args).await,
            };
            answer.unwrap_or_else(|error| error)
        }
        .boxed(),
    )
}

/// `CLUSTER HOTKEYS [count]` over every partition: the hottest `count` keys of the announced
/// slots, by LFU counter.
pub fn hot_keys(session: &Session, args: &[Bytes]) -> Pending {
    let count = match args.get(2) {
        None => 10,
        Some(count) => match std::str::from_utf8(count).ok().and_then(|c| c.parse().ok()) {
            Some(count) => count,
            None => return Pending::error("ERR value is out of range, must be positive"),
        },
    };
    let scope = Scope::of(session);
    let args = args.to_vec();
    let proto = session.proto();
    Pending::Forwarded(
        async move {
            let replies = join_all(
                scope
                    .partitions
                    .iter()
                    .map(|&p| scope.in_partition(p, &args)),
            );
            let mut ranked: Vec<(Bytes, i64)> = Vec::new();
            for reply in replies.await {
                let Some(pairs) = elements(&reply) else {
                    return reply;
                };
                for pair in pairs {
                    let parts = elements(pair).unwrap_or_default();
                    let (Some(key), Some(counter)) = (
                        parts.first().and_then(|k| text(k)),
                        parts.get(1).and_then(|c| integer(c)),
                    ) else {
                        return error_reply("ERR a shard server's CLUSTER HOTKEYS");
                    };
                    if scope.owns(key) {
                        ranked.push((Bytes::copy_from_slice(key), counter));
                    }
                }
            }
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ranked.truncate(count);
            reply_in(proto, |out| {
                out.array(ranked.len());
                for (key, counter) in &ranked {
                    out.array(2);
                    out.bulk(key);
                    out.int(*counter);
                }
            })
        }
        .boxed(),
    )
}

/// `CLUSTER PARTITION pid` then `args`: a keyless command run in one partition.
fn partition_request(pid: u32, args: &[Bytes]) -> Bytes {
    let mut request = BytesMut::new();
    request.extend_from_slice(&encode(&[
        Bytes::from_static(b"CLUSTER"),
        Bytes::from_static(b"PARTITION"),
        Bytes::from(pid.to_string()),
    ]));
    request.extend_from_slice(&encode(args));
    request.freeze()
}

/// WAIT in every partition at once, on dedicated connections (it may block for its timeout).
async fn wait(scope: &Scope, args: &[Bytes]) -> Result<Bytes, Bytes> {
    let waits = scope.partitions.iter().map(|&pid| async move {
        let addr = scope
            .proxy
            .table
            .first_slot(pid)
            .and_then(|slot| scope.proxy.table.leader_of(slot))
            .ok_or_else(|| error_reply(NO_LEADER))?;
        let request = partition_request(pid, args);
        let replies = call_dedicated(&addr, scope.resp, &request, 2).await?;
        match &replies[..] {
            [switched, _] if switched.starts_with(b"-") => Ok(switched.clone()),
            [_, counted] => Ok(counted.clone()),
            _ => Err(error_reply(&format!("ERR shard server {addr}: no reply"))),
        }
    });
    let mut fewest: Option<i64> = None;
    for reply in join_all(waits).await {
        let reply = reply?;
        let count = integer(&reply).ok_or(reply)?;
        fewest = Some(fewest.map_or(count, |f| f.min(count)));
    }
    Ok(Bytes::from(format!(":{}\r\n", fewest.unwrap_or(0))))
}

async fn scan(scope: &Scope, mut args: Vec<Bytes>) -> Result<(u64, Vec<Bytes>), Bytes> {
    let invalid = || error_reply("ERR invalid cursor");
    let cursor: u64 = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(invalid)?;
    let Some(&first) = scope.partitions.first() else {
        return Ok((0, Vec::new()));
    };
    let (pid, inner) = match cursor {
        0 => (first, 0),
        _ => ((cursor & PARTITION_MASK) as u32, cursor >> PARTITION_BITS),
    };
    let position = scope
        .partitions
        .iter()
        .position(|p| *p == pid)
        .ok_or_else(invalid)?;
    args[1] = Bytes::from(inner.to_string());
    let reply = scope.in_partition(pid, &args).await;
    let parsed = elements(&reply).and_then(|parts| {
        let next: u64 = std::str::from_utf8(text(parts.first()?)?)
            .ok()?
            .parse()
            .ok()?;
        Some((next, scope.owned_keys(parts.get(1)?)?))
    });
    let Some((next, keys)) = parsed.filter(|(next, _)| next >> (64 - PARTITION_BITS) == 0) else {
        return Err(reply);
    };
    let cursor = match (next, scope.partitions.get(position + 1)) {
        (0, Some(&following)) => u64::from(following),
        (0, None) => 0,
        (next, _) => next << PARTITION_BITS | u64::from(pid),
    };
    Ok((cursor, keys))
}

async fn keys(scope: &Scope, pattern: &Bytes) -> Result<Vec<Bytes>, Bytes> {
    let parts = join_all(scope.partitions.iter().map(|&p| scope.keys_of(p, pattern))).await;
    let mut all = Vec::new();
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
}

async fn dbsize(scope: &Scope) -> Result<i64, Bytes> {
    if !scope.whole_cluster() {
        let all = keys(scope, &Bytes::from_static(b"*")).await?;
        return Ok(all.len() as i64);
    }
    let args = [Bytes::from_static(b"DBSIZE")];
    let replies = join_all(
        scope
            .partitions
            .iter()
            .map(|&p| scope.in_partition(p, &args)),
    )
    .await;
    let mut total = 0;
    for reply in replies {
        total += integer(&reply).ok_or(reply)?;
    }
    Ok(total)
}

async fn random_key(scope: &Scope) -> Result<Option<Bytes>, Bytes> {
    let mut order = scope.partitions.clone();
    order.shuffle(&mut rand::rng());
    let args = [Bytes::from_static(b"RANDOMKEY")];
    for pid in order {
        for _ in 0..RANDOM_DRAWS {
            let reply = scope.in_partition(pid, &args).await;
            if reply.starts_with(b"-") {
                return Err(reply);
            }
            match text(&reply) {
                Some(key) if scope.owns(key) => return Ok(Some(Bytes::copy_from_slice(key))),
                Some(_) => continue,
                None => break,
            }
        }
    }
    Ok(None)
}

/// FLUSHALL/FLUSHDB: each partition flushed whole, or, for a share of the slots, its keys of
/// those slots unlinked.
async fn flush(scope: &Scope, args: &[Bytes]) -> Result<Bytes, Bytes> {
    let ok = Bytes::from_static(b"+OK\r\n");
    if scope.whole_cluster() {
        let replies = join_all(
            scope
                .partitions
                .iter()
                .map(|&p| scope.in_partition(p, args)),
        )
        .await;
        return match replies.into_iter().find(|r| r.starts_with(b"-")) {
            Some(error) => Err(error),
            None => Ok(ok),
        };
    }
    for &pid in &scope.partitions {
        let keys = scope.keys_of(pid, &Bytes::from_static(b"*")).await?;
        for batch in keys.chunks(UNLINK_BATCH) {
            let mut unlink = vec![Bytes::from_static(b"UNLINK")];
            unlink.extend_from_slice(batch);
            let slot = key_slot(&batch[0]);
            let reply = send_routed(
                &scope.proxy,
                &Via::shared(scope.resp),
                Some(slot),
                encode(&unlink),
                1,
            )
            .await;
            if reply.starts_with(b"-") {
                return Err(reply);
            }
        }
    }
    Ok(ok)
}

/// SCRIPT and FUNCTION subcommands: what changes scripts or libraries (LOAD, FLUSH, FUNCTION
/// DELETE and RESTORE) and KILL reach every leader, so EVALSHA and FCALL find them wherever
/// their keys are; SCRIPT EXISTS is true where every leader has the script; the rest (LIST,
/// STATS, DUMP, HELP, errors) any one answers.
async fn scripting(scope: &Scope, args: &[Bytes]) -> Result<Bytes, Bytes> {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let mut addrs = scope.proxy.table.leader_addrs();
    if !matches!(
        sub.as_str(),
        "load" | "flush" | "kill" | "exists" | "delete" | "restore" | "stats"
    ) {
        addrs.truncate(1);
    }
    // KILL and STATS go on connections of their own: the shared one to a server running a
    // script waits behind the script's reply.
    let dedicated = sub == "kill" || sub == "stats";
    let replies = call_all(scope, &addrs, args, dedicated).await?;
    match sub.as_str() {
        // The server running a function tells about it; otherwise any one answers.
        "stats" => Ok(replies
            .iter()
            .find(|r| elements(r).and_then(|e| e.get(1).map(|s| !is_null(s))) == Some(true))
            .unwrap_or(&replies[0])
            .clone()),
        "exists" => all_exist(&replies).ok_or_else(|| replies[0].clone()),
        // A leader's library changes reach its followers, which may be leaders themselves:
        // one of them can see the change before the proxy's own request arrives ("already
        // exists", "not found"). The change holds where any leader made it.
        "load" | "delete" | "restore" if args[0].eq_ignore_ascii_case(b"function") => Ok(replies
            .iter()
            .find(|r| !r.starts_with(b"-"))
            .unwrap_or(&replies[0])
            .clone()),
        // KILL succeeds where a script was running; NOTBUSY only when none was.
        "kill" => Ok(replies
            .iter()
            .find(|r| r.starts_with(b"+"))
            .unwrap_or(&replies[0])
            .clone()),
        _ => first_error_or_reply(replies),
    }
}

/// A RESP2 or RESP3 null.
fn is_null(frame: &[u8]) -> bool {
    matches!(frame, b"$-1\r\n" | b"*-1\r\n" | b"_\r\n")
}

/// The first error among replies from several servers, else the first reply.
fn first_error_or_reply(mut replies: Vec<Bytes>) -> Result<Bytes, Bytes> {
    match replies.iter().position(|r| r.starts_with(b"-")) {
        Some(at) => Err(replies.swap_remove(at)),
        None => Ok(replies.swap_remove(0)),
    }
}

/// Sends `args` to every server of `addrs` at once, on the shared connections or on
/// `dedicated` ones; their replies, or an error when there is no server or one cannot be
/// reached.
async fn call_all(
    scope: &Scope,
    addrs: &[Arc<str>],
    args: &[Bytes],
    dedicated: bool,
) -> Result<Vec<Bytes>, Bytes> {
    if addrs.is_empty() {
        return Err(error_reply("CLUSTERDOWN no shard server is reachable"));
    }
    let request = encode(args);
    let calls = addrs.iter().map(|addr| {
        let request = request.clone();
        async move {
            // A server running a script past the threshold answers BUSY (the shared
            // connection would wait behind the script).
            let busy = scope.proxy.scripts.busy(Some(addr));
            match dedicated {
                false if busy.is_some() => Ok(error_reply(busy.unwrap_or_default())),
                true => call_dedicated(addr, scope.resp, &request, 1)
                    .await
                    .map(|mut replies| replies.pop().unwrap_or_default()),
                false => scope
                    .proxy
                    .backends
                    .call(addr, scope.resp, request)
                    .await
                    .map_err(|err| error_reply(&format!("ERR {addr}: {err}"))),
            }
        }
    });
    join_all(calls).await.into_iter().collect()
}

/// CONFIG SET, RESETSTAT and REWRITE on every shard server, followers included (a follower
/// promoted later must run with the same settings): the first error, else the first reply.
async fn every_server(scope: &Scope, args: &[Bytes]) -> Result<Bytes, Bytes> {
    first_error_or_reply(call_all(scope, &scope.proxy.table.server_addrs(), args, false).await?)
}

/// CLIENT PAUSE and UNPAUSE at this proxy (its clients' held commands wait here) and on every
/// shard server, followers included (one promoted while the pause holds must hold writes
/// too), for their direct clients and other proxies. UNPAUSE goes on connections of its own: a shared
/// one may be waiting behind a held write, and would hold the UNPAUSE with it.
async fn pause(scope: &Scope, args: &[Bytes]) -> Result<Bytes, Bytes> {
    let own_connections = args[1].eq_ignore_ascii_case(b"unpause");
    match own_connections {
        true => scope.proxy.pause.unpause(),
        false => {
            let (mode, millis) = parse_pause(args).map_err(|err| error_reply(&err.to_string()))?;
            scope.proxy.pause.pause(mode, millis);
        }
    }
    let addrs = scope.proxy.table.server_addrs();
    first_error_or_reply(call_all(scope, &addrs, args, own_connections).await?)
}

/// SCRIPT EXISTS over several servers: 1 where every one answered 1.
fn all_exist(replies: &[Bytes]) -> Option<Bytes> {
    let mut verdicts: Vec<i64> = elements(&replies[0])?
        .into_iter()
        .map(integer)
        .collect::<Option<_>>()?;
    for reply in &replies[1..] {
        for (verdict, other) in verdicts.iter_mut().zip(elements(reply)?) {
            *verdict = (*verdict).min(integer(other)?);
        }
    }
    let mut out = format!("*{}\r\n", verdicts.len());
    for verdict in verdicts {
        out.push_str(&format!(":{verdict}\r\n"));
    }
    Some(Bytes::from(out))
}
