//! SLOWLOG GET, LEN, RESET and HELP (the log itself is `crate::slowlog`).

use super::help_reply;
use super::{int_arg, Args, CmdError, CmdResult, Ctx, Handler, Replied};

/// SLOWLOG GET [count]: the newest `count` entries (10 by default, -1 for all).
fn get(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 3 {
        return Err(super::subcommand_syntax(args));
    }
    let bad_count = || CmdError::err("count should be greater than or equal to -1");
    let count = match args.get(2) {
        None => 10,
        Some(count) => int_arg(count).map_err(|_| bad_count())?,
    };
    if count < -1 {
        return Err(bad_count());
    }
    let take = if count == -1 {
        usize::MAX
    } else {
        count as usize
    };
    let out = &mut *ctx.out;
    ctx.server.slowlog.read(|entries| {
        out.array(entries.len().min(take));
        for entry in entries.iter().take(take) {
            out.array(6);
            out.int(entry.id as i64);
            out.int(entry.time);
            out.int(entry.micros as i64);
            out.bulks(entry.args.iter().map(|a| &a[..]));
            out.bulk(entry.client_addr.as_bytes());
            out.bulk(entry.client_name.as_bytes());
        }
    });
    Ok(Replied)
}

fn len(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.out.int(ctx.server.slowlog.len() as i64);
    Ok(Replied)
}

fn reset(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.server.slowlog.reset();
    ctx.out.ok();
    Ok(Replied)
}

fn help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("slowlog|get", get),
    ("slowlog|len", len),
    ("slowlog|reset", reset),
    ("slowlog|help", help),
];
