//! FCALL, FCALL_RO and FUNCTION (the libraries live in `crate::scripting::functions`).

use super::help_reply;
use super::scripting::{keys_and_args, kill_reply};
use super::{is, subcommand_syntax, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::scripting::RestorePolicy;
use slotcache_protocol::glob;

/// FCALL and FCALL_RO: a numkeys that is no number gets FCALL's own error.
fn call(ctx: &mut Ctx, args: &Args, read_only: bool) -> CmdResult {
    if super::int_arg(&args[2]).is_err() {
        return Err(CmdError::err("Bad number of keys provided"));
    }
    let (keys, argv) = keys_and_args(args)?;
    ctx.server
        .scripts
        .call_function(ctx, args, keys, argv, read_only)?;
    Ok(Replied)
}

fn fcall(ctx: &mut Ctx, args: &Args) -> CmdResult {
    call(ctx, args, false)
}

fn fcall_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    call(ctx, args, true)
}

/// FUNCTION LOAD [REPLACE] code.
fn function_load(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (code, options) = args[2..].split_last().ok_or(CmdError::Syntax)?;
    let mut replace = false;
    for option in options {
        if is(option, "replace") {
            replace = true;
        } else {
            return Err(CmdError::err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(option)
            )));
        }
    }
    let name = ctx.server.scripts.load_library(code, replace)?;
    ctx.out.bulk(name.as_bytes());
    Ok(Replied)
}

fn function_delete(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let key = String::from_utf8_lossy(&args[2]).to_ascii_lowercase();
    let removed = ctx.server.scripts.functions.lock().remove_library(&key);
    if removed.is_none() {
        return Err(CmdError::err("Library not found"));
    }
    ctx.out.ok();
    Ok(Replied)
}

fn function_flush(ctx: &mut Ctx, args: &Args) -> CmdResult {
    match &args[2..] {
        [] => {}
        [mode] if is(mode, "sync") || is(mode, "async") => {}
        [_] => {
            return Err(CmdError::err(
                "FUNCTION FLUSH only supports SYNC|ASYNC option",
            ))
        }
        _ => return Err(subcommand_syntax(args)),
    }
    *ctx.server.scripts.functions.lock() = Default::default();
    ctx.out.ok();
    Ok(Replied)
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
fn function_list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (mut with_code, mut pattern) = (false, None);
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        if is(arg, "withcode") && !with_code {
            with_code = true;
        } else if is(arg, "libraryname") && pattern.is_none() {
            let Some(value) = rest.next() else {
                return Err(CmdError::err("library name argument was not given"));
            };
            pattern = Some(value.clone());
        } else {
            return Err(CmdError::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(arg)
            )));
        }
    }
    let registry = ctx.server.scripts.functions.lock();
    let libraries: Vec<_> = registry
        .libraries
        .values()
        .filter(|library| {
            pattern
                .as_ref()
                .is_none_or(|p| glob::matches(p, library.name.as_bytes(), false))
        })
        .collect();
    let out = &mut *ctx.out;
    out.array(libraries.len());
    for library in libraries {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(library.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(library.functions.len());
        for function in library
            .functions
            .iter()
            .filter_map(|f| registry.functions.get(f))
        {
            out.map(3);
            out.bulk(b"name");
            out.bulk(function.name.as_bytes());
            out.bulk(b"description");
            out.bulk_or_null(function.description.as_deref().map(str::as_bytes));
            out.bulk(b"flags");
            out.set(function.flags.len());
            for flag in &function.flags {
                out.simple(flag);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&library.code);
        }
    }
    Ok(Replied)
}

fn function_dump(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let payload = crate::scripting::functions::dump(&ctx.server.scripts.functions.lock());
    ctx.out.bulk(&payload);
    Ok(Replied)
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
fn function_restore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let policy = match &args[3..] {
        [] => RestorePolicy::Append,
        [p] if is(p, "flush") => RestorePolicy::Flush,
        [p] if is(p, "append") => RestorePolicy::Append,
        [p] if is(p, "replace") => RestorePolicy::Replace,
        [_] => {
            return Err(CmdError::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
        _ => return Err(subcommand_syntax(args)),
    };
    ctx.server.scripts.restore_libraries(&args[2], policy)?;
    ctx.out.ok();
    Ok(Replied)
}

/// FUNCTION STATS: the function running, if any, and the engine's counts.
pub fn stats_reply(scripts: &crate::scripting::Scripts, out: &mut slotcache_protocol::resp::Reply) {
    out.map(2);
    out.bulk(b"running_script");
    match scripts.running_function() {
        Some((name, command, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.bulks(command.iter().map(|a| &a[..]));
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
        None => out.null(),
    }
    let (libraries, functions) = {
        let registry = scripts.functions.lock();
        (registry.libraries.len(), registry.functions.len())
    };
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(functions as i64);
}

fn function_stats(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    stats_reply(&ctx.server.scripts, ctx.out);
    Ok(Replied)
}

/// FUNCTION KILL when no function holds the server (see `net` for the busy case).
fn function_kill(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    kill_reply(ctx.server.scripts.kill(), ctx.out);
    Ok(Replied)
}

fn function_help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    )
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("fcall", fcall),
    ("fcall_ro", fcall_ro),
    ("function|load", function_load),
    ("function|restore", function_restore),
    ("function|delete", function_delete),
    ("function|flush", function_flush),
    ("function|list", function_list),
    ("function|dump", function_dump),
    ("function|stats", function_stats),
    ("function|kill", function_kill),
    ("function|help", function_help),
];
