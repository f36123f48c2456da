//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH. Queueing happens in dispatch; EXEC runs
//! the queue while the connection holds the keyspace lock, so nothing interleaves.

use super::{Args, CmdError, CmdResult, Ctx, Handler, Outcome, Replied};
use crate::dispatch::{execute, Batch};
use slotcache_protocol::command::Flag;
use slotcache_protocol::command::{EXECABORT, EXEC_WITHOUT_MULTI, OOM};

fn multi(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_failed = false;
    ctx.out.ok();
    Ok(Replied)
}

fn exec(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let Some(queued) = ctx.client.multi.take() else {
        return Err(CmdError::Other(EXEC_WITHOUT_MULTI.into()));
    };
    let failed = std::mem::take(&mut ctx.client.multi_failed);
    let now = ctx.now;
    let broken = ctx
        .client
        .watched
        .iter()
        .any(|(db, key, mark)| ctx.ks.dbs[*db].watch_broken(key, mark, now));
    ctx.client.unwatch_all(ctx.ks);
    if failed {
        return Err(CmdError::Other(EXECABORT.into()));
    }
    // Over maxmemory (eviction ran before EXEC did), a transaction that may use memory is
    // refused whole, as Redis refuses it; one of reads only runs.
    let limit = ctx.server.config.read().maxmemory as usize;
    let table = crate::commands::Table::get();
    let uses_memory = queued.iter().any(|args| {
        table
            .resolve(args)
            .is_ok_and(|resolved| resolved.spec.flags.has(Flag::Denyoom))
    });
    if uses_memory && limit > 0 && ctx.server.evictor.counted_memory() > limit {
        return Err(CmdError::Other(format!(
            "EXECABORT Transaction discarded because of: {OOM}"
        )));
    }
    if broken {
        ctx.out.null_array();
        return Ok(Replied);
    }
    ctx.out.array(queued.len());
    let mut batch = Batch::for_server(ctx.server);
    ctx.client.in_exec = true;
    // Nothing waits inside EXEC (blocking commands and WAIT answer at once there); a queued
    // CLIENT KILL of this connection closes it after EXEC's reply.
    let mut outcome = Replied;
    for args in &queued {
        if let Outcome::Close = execute(ctx.server, ctx.client, ctx.ks, ctx.out, args, &mut batch) {
            outcome = Outcome::Close;
        }
    }
    ctx.client.in_exec = false;
    batch.flush(ctx.server);
    Ok(outcome)
}

fn discard(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    ctx.client.multi_failed = false;
    ctx.client.unwatch_all(ctx.ks);
    ctx.out.ok();
    Ok(Replied)
}

fn watch(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    let now = ctx.now;
    for key in &args[1..] {
        let already = ctx
            .client
            .watched
            .iter()
            .any(|(d, k, _)| *d == db && k[..] == key[..]);
        if !already {
            let mark = ctx.ks.dbs[db].watch(key, now);
            ctx.client.watched.push((db, key.to_vec(), mark));
        }
    }
    ctx.out.ok();
    Ok(Replied)
}

fn unwatch(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.client.unwatch_all(ctx.ks);
    ctx.out.ok();
    Ok(Replied)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("multi", multi),
    ("exec", exec),
    ("discard", discard),
    ("watch", watch),
    ("unwatch", unwatch),
];
