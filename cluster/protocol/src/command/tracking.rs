//! Client-side caching's connection state as clients see it: CLIENT TRACKING's options and
//! CLIENT TRACKINGINFO's reply. The shard server keeps the tracking tables; the proxy keeps
//! the same per-client state for its clients, so both read and describe it alike.

use super::{is, Args, CmdError};
use crate::resp::parse::parse_i64;
use crate::resp::{Protocol, Reply};
use bytes::Bytes;
use std::sync::Arc;

/// How a connection tracks keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// The connection its messages go to; 0: itself.
    pub redirect: u64,
}

/// A CLIENT TRACKING request, read whole.
pub struct TrackingRequest {
    /// ON (else OFF).
    pub on: bool,
    pub mode: Mode,
    pub prefixes: Vec<Bytes>,
}

/// Reads `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT]
/// [NOLOOP]`: options are read whole before ON or OFF is looked at, as Redis does.
/// `exists` says whether a redirection target is a connected client.
pub fn parse_tracking(
    args: &Args,
    exists: impl Fn(u64) -> bool,
) -> Result<TrackingRequest, CmdError> {
    let mut mode = Mode::default();
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut rest = args[3..].iter();
    while let Some(option) = rest.next() {
        let more = rest.len() > 0;
        if is(option, "redirect") && more {
            if mode.redirect != 0 {
                return Err(CmdError::err(
                    "A client can only redirect to a single other client",
                ));
            }
            let id = rest
                .next()
                .map(|a| parse_i64(a).ok_or(CmdError::NotInteger))
                .transpose()?
                .unwrap_or(0);
            if !exists(id as u64) {
                return Err(CmdError::err(
                    "The client ID you want redirect to does not exist",
                ));
            }
            mode.redirect = id as u64;
        } else if is(option, "bcast") {
            mode.bcast = true;
        } else if is(option, "optin") {
            mode.optin = true;
        } else if is(option, "optout") {
            mode.optout = true;
        } else if is(option, "noloop") {
            mode.noloop = true;
        } else if is(option, "prefix") && more {
            prefixes.extend(rest.next().cloned());
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let on = if is(&args[2], "on") {
        true
    } else if is(&args[2], "off") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    Ok(TrackingRequest { on, mode, prefixes })
}

/// CLIENT CACHING's check: Ok(()) when `caching` (YES or NO) suits the connection's mode.
pub fn check_caching(mode: Option<Mode>, caching: &[u8]) -> Result<(), CmdError> {
    let Some(mode) = mode else {
        return Err(CmdError::err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    if is(caching, "yes") {
        if !mode.optin {
            return Err(CmdError::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(caching, "no") {
        if !mode.optout {
            return Err(CmdError::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

/// What CLIENT TRACKINGINFO describes of a tracking connection.
pub struct TrackingInfo {
    pub mode: Mode,
    /// CLIENT CACHING was given for the next command.
    pub caching: bool,
    pub broken_redirect: bool,
    pub prefixes: Vec<Bytes>,
}

/// CLIENT TRACKINGINFO's reply; None: tracking is off.
pub fn tracking_info_reply(out: &mut Reply, info: Option<&TrackingInfo>) {
    let mut flags = vec![if info.is_some() { "on" } else { "off" }];
    let mut redirect = -1;
    let mut prefixes: &[Bytes] = &[];
    if let Some(info) = info {
        let (mode, caching) = (info.mode, info.caching);
        let named = [
            (mode.bcast, "bcast"),
            (mode.optin, "optin"),
            (mode.optin && caching, "caching-yes"),
            (mode.optout, "optout"),
            (mode.optout && caching, "caching-no"),
            (mode.noloop, "noloop"),
            (info.broken_redirect, "broken_redirect"),
        ];
        flags.extend(named.iter().filter(|(set, _)| *set).map(|(_, name)| *name));
        redirect = mode.redirect as i64;
        prefixes = &info.prefixes;
    }
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for flag in flags {
        out.bulk(flag.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(redirect);
    out.bulk(b"prefixes");
    out.bulks(prefixes.iter());
}

/// A message for one connection, formatted by that connection for its protocol.
#[derive(Clone, Debug)]
pub enum Push {
    /// Keys to drop from the cache; `None` drops every key (a flush). `redirected`: sent on
    /// behalf of another connection, so a RESP2 subscriber gets it as a Pub/Sub message.
    Invalidate {
        keys: Option<Arc<[Bytes]>>,
        redirected: bool,
    },
    /// The connection this one redirected to is gone.
    RedirectBroken(u64),
}

/// The channel RESP2 connections receive redirected invalidations on.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// Writes a push as `out`'s protocol carries it: a RESP3 push, a Pub/Sub message for a
/// subscribed RESP2 connection redirected to, or nothing (RESP2 has no push of its own).
pub fn write_push(out: &mut Reply, push: &Push, subscribed: bool) {
    let resp3 = out.proto == Protocol::Resp3;
    match push {
        Push::Invalidate { keys, redirected } => {
            if resp3 {
                out.push(2);
                out.bulk(b"invalidate");
            } else if *redirected && subscribed {
                out.push(3);
                out.bulk(b"message");
                out.bulk(INVALIDATE_CHANNEL);
            } else {
                return;
            }
            match keys {
                Some(keys) => out.bulks(keys.iter()),
                None => out.null(),
            }
        }
        Push::RedirectBroken(id) if resp3 => {
            out.push(2);
            out.bulk(b"tracking-redir-broken");
            out.int(*id as i64);
        }
        Push::RedirectBroken(_) => {}
    }
}
