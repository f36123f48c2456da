//! EVAL, EVALSHA, their read-only forms and SCRIPT (the interpreter lives in
//! `crate::scripting`).

use super::help_reply;
use super::{int_arg, is, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::scripting::{Invocation, Kill};

/// The keys and arguments after `numkeys`.
pub fn keys_and_args(args: &Args) -> Result<(&Args, &Args), CmdError> {
    let numkeys = int_arg(&args[2])?;
    if numkeys < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - 3 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    Ok((&args[3..3 + numkeys], &args[3 + numkeys..]))
}

/// EVAL and EVALSHA, read-only or not.
fn run(ctx: &mut Ctx, args: &Args, by_sha: bool, read_only: bool) -> CmdResult {
    let (keys, argv) = keys_and_args(args)?;
    let scripts = &ctx.server.scripts;
    let sha = if by_sha {
        String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
    } else {
        scripts.load(&args[1])?
    };
    let call = Invocation {
        sha: &sha,
        keys,
        argv,
        read_only,
    };
    scripts.run(ctx, &call)?;
    Ok(Replied)
}

fn eval(ctx: &mut Ctx, args: &Args) -> CmdResult {
    run(ctx, args, false, false)
}

fn evalsha(ctx: &mut Ctx, args: &Args) -> CmdResult {
    run(ctx, args, true, false)
}

fn eval_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    run(ctx, args, false, true)
}

fn evalsha_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    run(ctx, args, true, true)
}

fn script_load(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let sha = ctx.server.scripts.load(&args[2])?;
    ctx.out.bulk(sha.as_bytes());
    Ok(Replied)
}

fn script_exists(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ctx.out.array(args.len() - 2);
    for sha in &args[2..] {
        let known = ctx.server.scripts.exists(sha);
        ctx.out.int(known as i64);
    }
    Ok(Replied)
}

fn script_flush(ctx: &mut Ctx, args: &Args) -> CmdResult {
    match args.get(2) {
        Some(mode) if !(is(mode, "sync") || is(mode, "async")) || args.len() > 3 => {
            return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"))
        }
        _ => {}
    }
    ctx.server.scripts.flush();
    ctx.out.ok();
    Ok(Replied)
}

/// SCRIPT KILL, as it is answered when no script holds the server (see `net` for the busy
/// case, where this is what runs too).
fn script_kill(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    kill_reply(ctx.server.scripts.kill(), ctx.out);
    Ok(Replied)
}

/// SCRIPT KILL's replies.
pub fn kill_reply(outcome: Kill, out: &mut slotcache_protocol::resp::Reply) {
    match outcome {
        Kill::Killed => out.ok(),
        Kill::NotBusy => out.error("NOTBUSY No scripts in execution right now."),
        Kill::Unkillable => out.error(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        ),
    }
}

fn script_help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(
        ctx,
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    )
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("eval", eval),
    ("evalsha", evalsha),
    ("eval_ro", eval_ro),
    ("evalsha_ro", evalsha_ro),
    ("script|flush", script_flush),
    ("script|help", script_help),
    ("script|exists", script_exists),
    ("script|load", script_load),
    ("script|kill", script_kill),
];
