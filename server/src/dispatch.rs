//! Runs one parsed request: resolution, the checks Redis makes before a command runs (arity,
//! authentication), the handler, CLIENT REPLY suppression and per-command statistics.

use crate::client::{Client, ReplyMode};
use crate::commands::{arity_error, Ctx, Table};
use crate::engine::Keyspace;
use crate::resp::Reply;
use crate::state::{now_ms, Server, Stats};
use bytes::Bytes;
use std::time::Instant;

pub fn execute(
    server: &Server,
    client: &mut Client,
    ks: &mut Keyspace,
    out: &mut Reply,
    args: &[Bytes],
) {
    let skip_this = client.reply_mode == ReplyMode::SkipNext;
    if skip_this {
        client.reply_mode = ReplyMode::On;
    }
    let mark = out.buf.len();
    run(server, client, ks, out, args);
    // REPLY OFF and SKIP silence themselves as well as what follows.
    if skip_this || client.reply_mode != ReplyMode::On {
        out.buf.truncate(mark);
    }
}

fn run(server: &Server, client: &mut Client, ks: &mut Keyspace, out: &mut Reply, args: &[Bytes]) {
    Stats::add(&server.stats.commands_processed, 1);
    let table = Table::get();
    let resolved = match table.resolve(args) {
        Ok(resolved) => resolved,
        Err(err) => {
            Stats::add(&server.stats.errors, 1);
            out.error(&err.to_string());
            return;
        }
    };
    let spec = resolved.spec;
    let stats = &server.command_stats[resolved.index];
    if !spec.arity_ok(args.len()) {
        Stats::add(&stats.rejected, 1);
        Stats::add(&server.stats.errors, 1);
        out.error(&arity_error(spec).to_string());
        return;
    }
    if !client.authenticated && !spec.has_flag("no_auth") {
        Stats::add(&stats.rejected, 1);
        Stats::add(&server.stats.errors, 1);
        out.error("NOAUTH Authentication required.");
        return;
    }
    let Some(handler) = spec.handler else {
        return;
    };
    *client.info.last_command.lock() = spec.name;
    let start = Instant::now();
    let mark = out.buf.len();
    let result = {
        let mut ctx = Ctx {
            server,
            client,
            ks,
            out,
            now: now_ms(),
        };
        handler(&mut ctx, args)
    };
    Stats::add(&stats.calls, 1);
    Stats::add(&stats.usec, start.elapsed().as_micros() as u64);
    if let Err(err) = result {
        out.buf.truncate(mark);
        out.error(&err.to_string());
        Stats::add(&stats.failed, 1);
        Stats::add(&server.stats.errors, 1);
    }
}
