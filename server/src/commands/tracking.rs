//! Client-side caching commands: CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO (the
//! tables and messages are in [`crate::tracking`]).

use super::{int_arg, is, Args, CmdError, CmdResult, Ctx, Handler};
use crate::tracking::Mode;
use bytes::Bytes;

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]:
/// options are read whole before ON or OFF is looked at, as Redis does.
fn client_tracking(ctx: &mut Ctx, args: &Args) -> CmdResult {
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
            let id = rest.next().map(|a| int_arg(a)).transpose()?.unwrap_or(0);
            if !ctx.server.clients.lock().contains_key(&(id as u64)) {
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
    let id = ctx.client.id;
    if is(&args[2], "on") {
        ctx.server
            .tracking
            .enable(id, mode, &prefixes)
            .map_err(CmdError::Other)?;
        ctx.client.tracking = Some(mode);
    } else if is(&args[2], "off") {
        ctx.server.tracking.disable(id);
        ctx.client.tracking = None;
        ctx.client.caching = false;
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

fn client_caching(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let Some(mode) = ctx.client.tracking else {
        return Err(CmdError::err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    if is(&args[2], "yes") {
        if !mode.optin {
            return Err(CmdError::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(&args[2], "no") {
        if !mode.optout {
            return Err(CmdError::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.client.caching = true;
    ctx.out.ok();
    Ok(())
}

fn client_getredir(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let redirect = ctx.client.tracking.map_or(-1, |mode| mode.redirect as i64);
    ctx.out.int(redirect);
    Ok(())
}

fn client_trackinginfo(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let info = ctx.server.tracking.state.lock().info(ctx.client.id);
    let mut flags = vec![if info.is_some() { "on" } else { "off" }];
    let mut redirect = -1;
    let mut prefixes = Vec::new();
    if let Some(info) = info {
        let caching = ctx.client.caching;
        let mode = info.mode;
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
        prefixes = info.prefixes;
    }
    let out = &mut *ctx.out;
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
    Ok(())
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("client|tracking", client_tracking),
    ("client|caching", client_caching),
    ("client|getredir", client_getredir),
    ("client|trackinginfo", client_trackinginfo),
];
