//! Client-side caching commands: CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO (the
//! tables and messages are in [`crate::tracking`]).

use super::{Args, CmdError, CmdResult, Ctx, Handler, Replied};
use slotcache_protocol::command::tracking::{
    check_caching, parse_tracking, tracking_info_reply, TrackingInfo,
};

/// CLIENT TRACKING ON|OFF with its options.
fn client_tracking(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let request = {
        let clients = ctx.server.clients.lock();
        parse_tracking(args, |id| clients.contains_key(&id))?
    };
    let id = ctx.client.id;
    if request.on {
        ctx.server
            .tracking
            .enable(id, request.mode, &request.prefixes)
            .map_err(CmdError::Other)?;
        ctx.client.tracking = Some(request.mode);
    } else {
        ctx.server.tracking.disable(id);
        ctx.client.tracking = None;
        ctx.client.caching = false;
    }
    ctx.out.ok();
    Ok(Replied)
}

fn client_caching(ctx: &mut Ctx, args: &Args) -> CmdResult {
    check_caching(ctx.client.tracking, &args[2])?;
    ctx.client.caching = true;
    ctx.out.ok();
    Ok(Replied)
}

fn client_getredir(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let redirect = ctx.client.tracking.map_or(-1, |mode| mode.redirect as i64);
    ctx.out.int(redirect);
    Ok(Replied)
}

fn client_trackinginfo(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let info = ctx.server.tracking.state.lock().info(ctx.client.id);
    let info = info.map(|info| TrackingInfo {
        caching: ctx.client.caching,
        ..info
    });
    tracking_info_reply(ctx.out, info.as_ref());
    Ok(Replied)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("client|tracking", client_tracking),
    ("client|caching", client_caching),
    ("client|getredir", client_getredir),
    ("client|trackinginfo", client_trackinginfo),
];
