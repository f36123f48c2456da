//! CONFIG through a proxy. The settings that bound clients (`maxclients`, `timeout`, the query
//! and output buffer limits) are the proxy's own: it is the server its clients see. Set through
//! a proxy they hold there and are not passed on, since at a shard server they would bound the
//! proxies' shared lanes instead, cutting off every client behind a lane at once. The shard
//! servers' own values bound their direct clients. Its TLS settings are its own too: CONFIG SET
//! of its certificates and `tls-auth-clients` changes its TLS port at once, as at a server.
//! Every other setting is the servers'.

use crate::limits::ClientLimits;
use crate::session::Pending;
use crate::Proxy;
use bytes::Bytes;
use futures_util::future::FutureExt;
use slotcache_cluster::tls_settings::{self, TlsSettings};
use slotcache_protocol::resp::frame::frame_len;
use slotcache_protocol::resp::{Protocol, Reply};
use slotcache_protocol::tls::Acceptor;
use std::sync::Arc;

/// Whether `name` is one of the proxy's own settings.
pub fn is_own(name: &[u8]) -> bool {
    ClientLimits::OWN
        .iter()
        .chain(&tls_settings::NAMES)
        .any(|own| own.as_bytes().eq_ignore_ascii_case(name))
}

/// What a CONFIG SET makes of the proxy's own settings: copies of them with its values in, and
/// the TLS port's configuration built from the new files, taken on once the whole request holds.
pub struct OwnSettings {
    limits: ClientLimits,
    tls: TlsSettings,
    tls_port: Option<Acceptor>,
}

/// Why a CONFIG SET is refused before the servers take any of it.
pub enum Refused {
    /// The servers know the setting too: they answer with Redis's error for the first bad
    /// value, in the order given.
    ByServers,
    /// Only the proxy knows it: Redis's error.
    Here(String),
}

/// CONFIG SET's pairs split into the proxy's own settings, applied to copies (see
/// `OwnSettings`), and the rest, for the shard servers. None when the request is malformed.
pub fn split_set(
    proxy: &Proxy,
    args: &[Bytes],
) -> Option<Result<(OwnSettings, Vec<Bytes>), Refused>> {
    if args.len() < 4 || args.len() % 2 != 0 {
        return None;
    }
    let mut limits = *proxy.limits.read();
    let mut tls = proxy.tls.read().clone();
    let mut rest = args[..2].to_vec();
    let mut named: Vec<String> = Vec::new();
    for pair in args[2..].chunks(2) {
        if !is_own(&pair[0]) {
            rest.extend_from_slice(pair);
            continue;
        }
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]);
        let failed = |why: &str| {
            Some(Err(Refused::Here(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))))
        };
        if named.contains(&name) {
            return failed("duplicate parameter");
        }
        if !tls_settings::NAMES.contains(&name.as_str()) {
            if limits.set(&name, &value).is_err() {
                return Some(Err(Refused::ByServers));
            }
        } else if !tls_settings::SETTABLE.contains(&name.as_str()) {
            return failed("can't set immutable config");
        } else if let Err(why) = tls.set(&name, &value) {
            return failed(&why);
        }
        named.push(name);
    }
    let acceptor = proxy.tls_port.get().map(|acceptor| &**acceptor);
    let tls_port = match tls.reconfigured(acceptor, &named) {
        Ok(tls_port) => tls_port,
        Err(why) => return Some(Err(Refused::Here(format!("ERR {why}")))),
    };
    let own = OwnSettings {
        limits,
        tls,
        tls_port,
    };
    Some(Ok((own, rest)))
}

impl OwnSettings {
    /// Makes these the proxy's settings.
    pub fn take_effect(self, proxy: &Proxy) {
        *proxy.limits.write() = self.limits;
        *proxy.tls.write() = self.tls;
        if let (Some(acceptor), Some(new)) = (proxy.tls_port.get(), self.tls_port) {
            acceptor.adopt(new);
        }
    }
}

/// Takes on the proxy's own settings once the servers accepted the rest of the CONFIG SET, so
/// it holds whole or not at all.
pub fn apply_when_accepted(proxy: Arc<Proxy>, own: OwnSettings, servers: Pending) -> Pending {
    match servers {
        Pending::Forwarded(reply) => Pending::Forwarded(
            reply
                .map(move |reply| {
                    if reply.starts_with(b"+") {
                        own.take_effect(&proxy);
                    }
                    reply
                })
                .boxed(),
        ),
        Pending::Ready(reply) => {
            if reply.starts_with(b"+") {
                own.take_effect(&proxy);
            }
            Pending::Ready(reply)
        }
        other => other,
    }
}

/// A CONFIG GET reply from a shard server with the proxy's own settings' values put in.
pub fn with_own_values(proxy: &Proxy, proto: Protocol, reply: Bytes) -> Bytes {
    let Some(pairs) = pairs(&reply) else {
        return reply;
    };
    let limits = *proxy.limits.read();
    let tls = proxy.tls.read();
    let mut out = Reply::new(proto);
    out.map(pairs.len());
    for (name, value) in pairs {
        out.bulk(name);
        let own = std::str::from_utf8(name)
            .ok()
            .and_then(|n| limits.get(n).or_else(|| tls.value(n)));
        match own {
            Some(own) => out.bulk(own.as_bytes()),
            None => out.bulk(value),
        }
    }
    out.buf.freeze()
}

/// The name and value pairs of a CONFIG GET reply: an array (RESP2) or a map (RESP3) of bulks.
fn pairs(reply: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let header_end = reply.windows(2).position(|w| w == b"\r\n")?;
    let count: usize = std::str::from_utf8(&reply[1..header_end])
        .ok()?
        .parse()
        .ok()?;
    let entries = match reply.first()? {
        b'*' => count,
        b'%' => count * 2,
        _ => return None,
    };
    let mut rest = &reply[header_end + 2..];
    let mut bulks = Vec::with_capacity(entries);
    for _ in 0..entries {
        let len = frame_len(rest).ok()??;
        let (frame, tail) = rest.split_at(len);
        let start = frame.windows(2).position(|w| w == b"\r\n")? + 2;
        bulks.push(frame.get(start..frame.len() - 2)?);
        rest = tail;
    }
    Some(bulks.chunks(2).map(|pair| (pair[0], pair[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_values_replace_the_servers_in_both_protocols() {
        let proxy = Proxy::new("p".into(), crate::Announce::Myself, None, 0);
        proxy.limits.write().maxclients = 7;
        let resp2 = Bytes::from_static(
            b"*4\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n$2\r\nhz\r\n$2\r\n10\r\n",
        );
        let patched = with_own_values(&proxy, Protocol::Resp2, resp2);
        assert_eq!(
            &patched[..],
            b"*4\r\n$10\r\nmaxclients\r\n$1\r\n7\r\n$2\r\nhz\r\n$2\r\n10\r\n"
        );
        let resp3 = Bytes::from_static(b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n");
        let patched = with_own_values(&proxy, Protocol::Resp3, resp3);
        assert_eq!(&patched[..], b"%1\r\n$10\r\nmaxclients\r\n$1\r\n7\r\n");
    }

    #[test]
    fn own_settings_are_checked_and_kept_apart() {
        let proxy = Proxy::new("p".into(), crate::Announce::Myself, None, 0);
        let args: Vec<Bytes> = ["config", "set", "maxclients", "5", "hz", "20"]
            .iter()
            .map(|a| Bytes::from(a.to_string()))
            .collect();
        let Some(Ok((own, rest))) = split_set(&proxy, &args) else {
            panic!("refused");
        };
        assert_eq!(own.limits.maxclients, 5);
        assert_eq!(
            rest,
            args[..2]
                .iter()
                .chain(&args[4..])
                .cloned()
                .collect::<Vec<_>>()
        );
        let bad: Vec<Bytes> = ["config", "set", "client-query-buffer-limit", "1k"]
            .iter()
            .map(|a| Bytes::from(a.to_string()))
            .collect();
        assert!(matches!(
            split_set(&proxy, &bad),
            Some(Err(Refused::ByServers))
        ));
    }
}
