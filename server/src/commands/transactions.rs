//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH. Queueing happens in dispatch; EXEC runs
//! the queue while the connection holds the keyspace lock, so nothing interleaves.

use super::{ks, Args, Begin, CmdError, CmdResult, CommandSpec, Ctx, Find};
use crate::dispatch::{execute, Batch};

fn multi(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_failed = false;
    ctx.out.ok();
    Ok(())
}

fn exec(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let Some(queued) = ctx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
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
        return Err(CmdError::Other(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    // Over maxmemory (eviction ran before EXEC did), a transaction that may use memory is
    // refused whole, as Redis refuses it; one of reads only runs.
    let limit = ctx.server.config.read().maxmemory as usize;
    let table = crate::commands::Table::get();
    let uses_memory = queued.iter().any(|args| {
        table
            .resolve(args)
            .is_ok_and(|resolved| resolved.spec.has_flag("denyoom"))
    });
    if uses_memory && limit > 0 && ctx.server.evictor.counted_memory() > limit {
        return Err(CmdError::Other(
            "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.".into(),
        ));
    }
    if broken {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(queued.len());
    let mut batch = Batch::for_server(ctx.server);
    ctx.client.in_exec = true;
    for args in &queued {
        execute(ctx.server, ctx.client, ctx.ks, ctx.out, args, &mut batch);
    }
    ctx.client.in_exec = false;
    batch.flush(ctx.server);
    Ok(())
}

fn discard(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    ctx.client.multi_failed = false;
    ctx.client.unwatch_all(ctx.ks);
    ctx.out.ok();
    Ok(())
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
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.client.unwatch_all(ctx.ks);
    ctx.out.ok();
    Ok(())
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "multi",
        arity: 1,
        flags: "noscript loading stale fast allow_busy",
        acl: "@fast @transaction",
        keys: (0, 0, 0),
        summary: "Mark the start of a transaction block",
        since: "1.2.0",
        group: "transactions",
        complexity: "O(1)",
        handler: Some(multi),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "exec",
        arity: 1,
        flags: "noscript loading stale skip_slowlog",
        acl: "@slow @transaction",
        keys: (0, 0, 0),
        summary: "Execute all commands issued after MULTI",
        since: "1.2.0",
        group: "transactions",
        complexity: "Depends on commands in the transaction",
        handler: Some(exec),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "discard",
        arity: 1,
        flags: "noscript loading stale fast allow_busy",
        acl: "@fast @transaction",
        keys: (0, 0, 0),
        summary: "Discard all commands issued after MULTI",
        since: "2.0.0",
        group: "transactions",
        complexity: "O(N), when N is the number of queued commands",
        handler: Some(discard),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "watch",
        arity: -2,
        flags: "noscript loading stale fast allow_busy",
        acl: "@fast @transaction",
        keys: (1, -1, 1),
        key_specs: &[ks("RO", Begin::Index(1), Find::Range(-1, 1, 0))],
        summary: "Watch the given keys to determine execution of the MULTI/EXEC block",
        since: "2.2.0",
        group: "transactions",
        complexity: "O(1) for every key.",
        handler: Some(watch),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "unwatch",
        arity: 1,
        flags: "noscript loading stale fast allow_busy",
        acl: "@fast @transaction",
        keys: (0, 0, 0),
        summary: "Forget about all watched keys",
        since: "2.2.0",
        group: "transactions",
        complexity: "O(1)",
        handler: Some(unwatch),
        ..CommandSpec::DEFAULT
    },
];
