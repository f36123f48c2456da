//! SLOWLOG GET, LEN, RESET and HELP (the log itself is `crate::slowlog`).

use super::connection::help_reply;
use super::{int_arg, Args, CmdError, CmdResult, CommandSpec, Ctx};

/// SLOWLOG GET [count]: the newest `count` entries (10 by default, -1 for all).
fn get(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&args[1])
        )));
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
    Ok(())
}

fn len(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.out.int(ctx.server.slowlog.len() as i64);
    Ok(())
}

fn reset(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.server.slowlog.reset();
    ctx.out.ok();
    Ok(())
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

const ADMIN: &str = "admin loading stale";
const ADMIN_ACL: &str = "@admin @slow @dangerous";

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "slowlog",
    arity: -2,
    flags: "",
    acl: "@slow",
    keys: (0, 0, 0),
    summary: "A container for slow log commands",
    since: "2.2.12",
    group: "server",
    complexity: "Depends on subcommand.",
    subcommands: &[
        CommandSpec {
            name: "slowlog|get",
            arity: -2,
            flags: ADMIN,
            acl: ADMIN_ACL,
            keys: (0, 0, 0),
            tips: "request_policy:all_nodes nondeterministic_output",
            summary: "Get the slow log's entries",
            since: "2.2.12",
            group: "server",
            complexity: "O(N) where N is the number of entries returned",
            handler: Some(get),
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "slowlog|len",
            arity: 2,
            flags: ADMIN,
            acl: ADMIN_ACL,
            keys: (0, 0, 0),
            tips: "request_policy:all_nodes response_policy:agg_sum nondeterministic_output",
            summary: "Get the slow log's length",
            since: "2.2.12",
            group: "server",
            complexity: "O(1)",
            handler: Some(len),
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "slowlog|reset",
            arity: 2,
            flags: ADMIN,
            acl: ADMIN_ACL,
            keys: (0, 0, 0),
            tips: "request_policy:all_nodes response_policy:all_succeeded",
            summary: "Clear all entries from the slow log",
            since: "2.2.12",
            group: "server",
            complexity: "O(N) where N is the number of entries in the slowlog",
            handler: Some(reset),
            ..CommandSpec::DEFAULT
        },
        CommandSpec {
            name: "slowlog|help",
            arity: 2,
            flags: "loading stale",
            acl: "@slow",
            keys: (0, 0, 0),
            summary: "Show helpful text about the different subcommands",
            since: "6.2.0",
            group: "server",
            complexity: "O(1)",
            handler: Some(help),
            ..CommandSpec::DEFAULT
        },
    ],
    ..CommandSpec::DEFAULT
}];
