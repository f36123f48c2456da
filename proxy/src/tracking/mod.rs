//! Client-side caching through the proxy. A client that turns CLIENT TRACKING on gets lanes
//! of its own to the shard servers, which track its reads there exactly as Redis tracks a
//! connection's (default mode, BCAST and PREFIX, OPTIN and OPTOUT, NOLOOP). The proxy passes
//! their invalidation messages on: in-band to a RESP3 client, in the order Redis writes them
//! around replies, or to the client it redirects to. A change made through any proxy reaches
//! it, since the servers track the keys. Redirection, CLIENT GETREDIR and TRACKINGINFO are the
//! proxy's own: its client ids are not the servers'.

pub mod lane;

use crate::backend::{Backends, Via};
use crate::forward::{last_reply, send_routed};
use crate::session::{error_reply, Pending, Session};
use crate::Proxy;
use bytes::{Bytes, BytesMut};
use futures_util::future::{join_all, FutureExt};
use lane::{LaneTracking, Push};
use parking_lot::Mutex;
use slotcache_cluster::key_slot;
use slotcache_protocol::command::tracking::{
    check_caching, parse_tracking, tracking_info_reply, write_push, Mode, Push as Message,
    TrackingInfo,
};
use slotcache_protocol::command::{is, CmdError};
use slotcache_protocol::resp::frame::{elements, text};
use slotcache_protocol::resp::request::encode;
use slotcache_protocol::resp::{Protocol, Reply};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Marks an invalidation passed to the client a tracking client redirects to; the keys' RESP3
/// frame follows. The receiving session writes it in its own protocol.
pub const REDIRECTED: &[u8] = b"\0invalidate";

/// Counts a tracking client in INFO's `tracking_clients` while it lives.
struct Counted(Arc<Proxy>);

impl Counted {
    fn new(proxy: Arc<Proxy>) -> Counted {
        proxy.tracking_clients.fetch_add(1, Ordering::Relaxed);
        Counted(proxy)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.tracking_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A tracking client's state at the proxy.
pub struct ClientTracking {
    _counted: Counted,
    own: Arc<Backends>,
    lanes: Arc<LaneTracking>,
    mode: Mode,
    prefixes: BTreeSet<Bytes>,
    broken_redirect: bool,
    /// CLIENT CACHING's answer, for the next command.
    next_caching: Option<Bytes>,
    /// CLIENT CACHING's answer for the command running now.
    caching_now: Option<Bytes>,
    /// A command ran since the last flush message was passed on: several servers flushing at
    /// once (FLUSHALL) make one message, as from one Redis.
    ran_since_flush: bool,
}

impl ClientTracking {
    fn new(proxy: Arc<Proxy>, pushes: mpsc::UnboundedSender<Push>) -> ClientTracking {
        let lanes = Arc::new(LaneTracking {
            commands: Mutex::default(),
            pushes,
        });
        ClientTracking {
            _counted: Counted::new(proxy),
            own: Arc::new(Backends::tracking(lanes.clone())),
            lanes,
            mode: Mode::default(),
            prefixes: BTreeSet::new(),
            broken_redirect: false,
            next_caching: None,
            caching_now: None,
            ran_since_flush: true,
        }
    }

    /// A new command begins: CLIENT CACHING's answer applies to it, and only to it.
    pub fn begin_command(&mut self) {
        self.ran_since_flush = true;
        self.caching_now = self.next_caching.take();
    }

    /// The answer CLIENT CACHING gave for this command, if it is routed to a shard server.
    pub fn take_caching(&mut self) -> Option<Bytes> {
        self.caching_now.take()
    }
}

/// CLIENT TRACKING's request without its REDIRECT: the lanes redirect to their own listener.
fn without_redirect(args: &[Bytes]) -> Vec<Bytes> {
    let mut kept = Vec::with_capacity(args.len());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if kept.len() >= 3 && is(arg, "redirect") {
            rest.next();
        } else {
            kept.push(arg.clone());
        }
    }
    kept
}

/// The keys of an `invalidate` push: Some(None) for every key (a flush).
fn invalidated(frame: &[u8]) -> Option<Option<Arc<[Bytes]>>> {
    let parts = elements(frame)?;
    let [kind, keys] = parts.as_slice() else {
        return None;
    };
    if text(kind)? != b"invalidate" {
        return None;
    }
    if keys.starts_with(b"_") || keys.starts_with(b"*-1") {
        return Some(None);
    }
    let keys = elements(keys)?;
    Some(Some(
        keys.into_iter()
            .filter_map(|key| text(key).map(Bytes::copy_from_slice))
            .collect(),
    ))
}

impl Session {
    /// The lanes this client's requests take: its own while it tracks keys, or while CLIENT
    /// PAUSE may hold its request at a shard server.
    pub fn via(&self) -> Via {
        Via {
            resp: self.resp,
            own: self
                .tracking
                .as_ref()
                .map(|t| t.own.clone())
                .or_else(|| self.apart.clone()),
            reads: false,
        }
    }

    /// CLIENT TRACKING: applied at the client's lanes (at every leader for BCAST, which must
    /// hear of every change), so the servers check it as they check their own clients'.
    pub async fn client_tracking(&mut self, args: &[Bytes]) -> Bytes {
        let request = {
            let clients = self.proxy.clients.lock();
            parse_tracking(args, |id| clients.contains_key(&id))
        };
        let request = match request {
            Ok(request) => request,
            Err(error) => return error_reply(&error.to_string()),
        };
        if !request.on {
            self.tracking = None;
            return self.reply_bytes(|out| out.ok());
        }
        let first = self.tracking.is_none();
        let (proxy, pushes) = (self.proxy.clone(), self.pushes.sender());
        let tracking = self
            .tracking
            .get_or_insert_with(|| ClientTracking::new(proxy, pushes));
        let command = without_redirect(args);
        let leaders = self.proxy.table.leader_addrs();
        let also = match request.mode.bcast {
            true => &leaders[..],
            false => &leaders[..leaders.len().min(1)],
        };
        let replies = tracking.own.broadcast_tracking(&command, self.resp, also);
        let refusal = join_all(replies)
            .await
            .into_iter()
            .find_map(|reply| match reply {
                Ok(Ok(reply)) if reply.starts_with(b"-") => Some(reply),
                // A server that cannot be reached gets the request when its lane connects.
                _ => None,
            });
        if let Some(refusal) = refusal {
            if first {
                self.tracking = None;
            }
            return refusal;
        }
        tracking.lanes.commands.lock().push(command);
        tracking.mode = request.mode;
        tracking.broken_redirect = false;
        if request.mode.bcast {
            match request.prefixes.is_empty() {
                true => tracking.prefixes.insert(Bytes::new()),
                false => {
                    tracking.prefixes.extend(request.prefixes);
                    true
                }
            };
        }
        self.reply_bytes(|out| out.ok())
    }

    /// CLIENT CACHING YES|NO: sent, with the next command, to that command's server.
    pub fn client_caching(&mut self, args: &[Bytes]) -> Result<Pending, CmdError> {
        check_caching(self.tracking.as_ref().map(|t| t.mode), &args[2])?;
        if let Some(tracking) = self.tracking.as_mut() {
            tracking.next_caching = Some(args[2].clone());
        }
        Ok(self.reply(|out| out.ok()))
    }

    /// A command sent with the CLIENT CACHING answer that applies to it.
    pub fn with_caching(&self, slot: u16, caching: Bytes, args: &[Bytes]) -> Pending {
        let mut request = BytesMut::from(
            &encode(&[
                Bytes::from_static(b"CLIENT"),
                Bytes::from_static(b"CACHING"),
                caching,
            ])[..],
        );
        request.extend_from_slice(&encode(args));
        let (proxy, via) = (self.proxy.clone(), self.via());
        Pending::Forwarded(
            async move {
                let all = send_routed(&proxy, &via, Some(slot), request.freeze(), 2).await;
                last_reply(&all)
            }
            .boxed(),
        )
    }

    pub fn client_getredir(&self) -> Pending {
        let redirect = self
            .tracking
            .as_ref()
            .map_or(-1, |t| t.mode.redirect as i64);
        self.reply(|out| out.int(redirect))
    }

    pub fn client_trackinginfo(&self) -> Pending {
        let info = self.tracking.as_ref().map(|t| TrackingInfo {
            mode: t.mode,
            caching: t.caching_now.is_some(),
            broken_redirect: t.broken_redirect,
            prefixes: t.prefixes.iter().cloned().collect(),
        });
        self.reply(|out| tracking_info_reply(out, info.as_ref()))
    }

    /// Passes a server's message on: written to `out` for this client, or sent to the client
    /// it redirects to.
    pub fn deliver(&mut self, push: Push, out: &mut BytesMut) {
        let proto = self.proto();
        let Some(tracking) = self.tracking.as_mut() else {
            return;
        };
        let Some(mut keys) = invalidated(&push.frame) else {
            return;
        };
        if let (true, Some(changed)) = (tracking.mode.bcast, &keys) {
            // A follower hears of its leader's changes too; the leader's message is the one.
            let table = &self.proxy.table;
            let led: Arc<[Bytes]> = changed
                .iter()
                .filter(|key| table.leader_of(key_slot(key)).as_ref() == Some(&push.from))
                .cloned()
                .collect();
            if led.is_empty() {
                return;
            }
            keys = Some(led);
        }
        if keys.is_none() {
            if !tracking.ran_since_flush {
                return;
            }
            tracking.ran_since_flush = false;
        }
        let redirect = tracking.mode.redirect;
        let mut reply = Reply::new(proto);
        if redirect == 0 {
            write_push(
                &mut reply,
                &Message::Invalidate {
                    keys,
                    redirected: false,
                },
                false,
            );
        } else if let Some(target) = self.proxy.clients.lock().get(&redirect) {
            let mut message = Reply::new(Protocol::Resp3);
            message.buf.extend_from_slice(REDIRECTED);
            match &keys {
                Some(keys) => message.bulks(keys.iter()),
                None => message.null(),
            }
            let _ = target.messages.send(message.buf.freeze());
        } else {
            tracking.broken_redirect = true;
            write_push(&mut reply, &Message::RedirectBroken(redirect), false);
        }
        out.extend_from_slice(&reply.buf);
    }

    /// Writes an invalidation another client redirected here, in this client's protocol (a
    /// RESP2 client gets it only as a subscriber, on `__redis__:invalidate`).
    pub fn write_redirected(&self, out: &mut BytesMut, keys_frame: &[u8]) {
        let keys = match keys_frame.first() {
            Some(b'_') => None,
            _ => Some(
                elements(keys_frame)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|key| text(key).map(Bytes::copy_from_slice))
                    .collect(),
            ),
        };
        let mut reply = Reply::new(self.proto());
        let message = Message::Invalidate {
            keys,
            redirected: true,
        };
        write_push(&mut reply, &message, self.subscriptions.active());
        out.extend_from_slice(&reply.buf);
    }
}
