//! The replies a client's read is waiting for: answered here, forwarded, or routed by slot and
//! sent with the other commands of the read that go to the same shard server; and the wait
//! for all of them, in request order.

use crate::fanout::Merger;
use crate::forward::{send_batch, send_routed, RoutedCommand};
use crate::session::{error_reply, Session};
use bytes::{Bytes, BytesMut};
use futures_util::future::{join_all, BoxFuture, FutureExt};
use slotcache_protocol::resp::request::encode;

/// A reply: ready now, or coming from a shard server.
pub enum Pending {
    Ready(Bytes),
    Forwarded(BoxFuture<'static, Bytes>),
    /// A command for the leader of `slot`, not sent yet: the commands of one read that go to
    /// the same shard server are encoded together, as one request.
    Routed {
        slot: u16,
        args: Vec<Bytes>,
        /// The command only reads.
        reads: bool,
    },
    /// A multi-key command split by partition: its parts are routed as [`Pending::Routed`]
    /// commands are, and their replies merged.
    Split(Merger, Vec<(u16, Vec<Bytes>)>),
}

impl Pending {
    pub fn error(text: &str) -> Pending {
        Pending::Ready(error_reply(text))
    }
}

/// Sends a run of requests and waits for their replies, in request order.
pub async fn await_replies(session: &Session, pending: Vec<Pending>) -> Bytes {
    let stats = &session.proxy.stats;
    if pending.len() == 1 && !matches!(pending[0], Pending::Split(..)) {
        let reply = match pending.into_iter().next() {
            Some(Pending::Ready(reply)) => reply,
            Some(Pending::Forwarded(future)) => future.await,
            Some(Pending::Routed { slot, args, reads }) => {
                let via = session.via().reading(reads);
                send_routed(&session.proxy, &via, Some(slot), encode(&args), 1).await
            }
            _ => Bytes::new(),
        };
        stats.count_reply(&reply);
        return reply;
    }
    let requests = pending.len();
    // The requests' replies, then the replies of split commands' parts.
    let mut replies = vec![Bytes::new(); requests];
    let mut splits = Vec::new();
    let mut waits = Vec::new();
    let mut routed = Vec::new();
    // Reads take a lane of their own only when nothing else of the client's may reach their
    // server meanwhile, which a separate lane could let them overtake, or be overtaken by.
    let apart = !pending.iter().any(|p| matches!(p, Pending::Forwarded(_)));
    for (place, reply) in pending.into_iter().enumerate() {
        match reply {
            Pending::Ready(reply) => replies[place] = reply,
            Pending::Routed { slot, args, reads } => routed.push(RoutedCommand {
                place,
                slot,
                args,
                reads: reads && apart,
            }),
            Pending::Split(merger, parts) => {
                let first = replies.len();
                for (slot, args) in parts {
                    routed.push(RoutedCommand {
                        place: replies.len(),
                        slot,
                        args,
                        reads: merger.reads && apart,
                    });
                    replies.push(Bytes::new());
                }
                splits.push((place, first..replies.len(), merger));
            }
            Pending::Forwarded(future) => {
                // Commands are queued for their servers when first polled, in this order: a
                // run of routed commands goes before what follows it.
                waits.extend(session.batches(std::mem::take(&mut routed)));
                waits.push(future.map(move |reply| vec![(place, reply)]).boxed());
            }
        }
    }
    waits.extend(session.batches(routed));
    for (index, reply) in join_all(waits).await.into_iter().flatten() {
        replies[index] = reply;
    }
    for (index, parts, merger) in splits {
        replies[index] = merger.merge(&replies[parts]);
    }
    replies.truncate(requests);
    let mut out = BytesMut::with_capacity(replies.iter().map(Bytes::len).sum());
    for reply in replies {
        stats.count_reply(&reply);
        out.extend_from_slice(&reply);
    }
    out.freeze()
}

impl Session {
    /// A request for the leader of `slot`'s partition, sent with its neighbours; `reads`
    /// when it only reads.
    pub fn forward(&self, slot: u16, args: Vec<Bytes>, reads: bool) -> Pending {
        Pending::Routed { slot, args, reads }
    }

    /// Sends a request to the leader of `slot`'s partition; waits out a leader change.
    pub fn routed(&self, slot: u16, request: Bytes) -> BoxFuture<'static, Bytes> {
        let (proxy, via) = (self.proxy.clone(), self.via());
        async move { send_routed(&proxy, &via, Some(slot), request, 1).await }.boxed()
    }

    /// Groups routed commands by the server leading their slots, each group one request; a
    /// command without a known leader goes alone, to wait for one.
    fn batches(&self, routed: Vec<RoutedCommand>) -> Vec<BoxFuture<'static, Vec<(usize, Bytes)>>> {
        let (groups, leaderless) = self
            .proxy
            .table
            .group_by_leader(routed, |command| command.slot);
        let mut batches = Vec::with_capacity(groups.len() + leaderless.len());
        for command in leaderless {
            let place = command.place;
            batches.push(
                self.routed(command.slot, encode(&command.args))
                    .map(move |reply| vec![(place, reply)])
                    .boxed(),
            );
        }
        for (addr, commands) in groups {
            let (proxy, via) = (self.proxy.clone(), self.via());
            batches.push(async move { send_batch(&proxy, &via, &addr, commands).await }.boxed());
        }
        batches
    }
}
