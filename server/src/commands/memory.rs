//! MEMORY USAGE, STATS, DOCTOR, PURGE, MALLOC-STATS and HELP.

use super::help_reply;
use super::{int_arg, is, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::engine::dump::serialize;
use crate::memory::{peak_memory, rss_bytes, used_memory};

/// What a key costs besides its name and value: its dictionary entry, its value's header and
/// the allocator's rounding, about as Redis reports for a small string.
const ENTRY_OVERHEAD: usize = 48;

/// MEMORY USAGE key [SAMPLES count]: the key's name, its value as DUMP serializes it (the
/// whole value: SAMPLES is checked, not needed) and the entry's overhead; nil for no key.
fn usage(ctx: &mut Ctx, args: &Args) -> CmdResult {
    match &args[3..] {
        [] => {}
        [word, count] if is(word, "samples") => {
            if int_arg(count).map_err(|_| CmdError::Syntax)? < 0 {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    }
    let now = ctx.now;
    let size = ctx
        .db()
        .peek(&args[2], now)
        .map(|entry| args[2].len() + serialize(&entry.value).len() + ENTRY_OVERHEAD);
    match size {
        Some(bytes) => ctx.out.int(bytes as i64),
        None => ctx.out.null(),
    }
    Ok(Replied)
}

/// MEMORY STATS, with Redis's field names for what this server measures.
fn stats(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let used = used_memory();
    let not_counted = ctx.server.evictor.not_counted(used);
    // The keys of every copy it leads, as INFO's keyspace counts them.
    let keys: usize = super::server::holdings(ctx)
        .led
        .iter()
        .map(|(keys, _)| keys)
        .sum();
    let rss = rss_bytes();
    let dataset = used.saturating_sub(not_counted);
    let fields: [(&str, f64); 11] = [
        ("peak.allocated", peak_memory() as f64),
        ("total.allocated", used as f64),
        (
            "replication.backlog",
            crate::replication::log::backlogs_bytes() as f64,
        ),
        ("overhead.total", not_counted as f64),
        ("keys.count", keys as f64),
        (
            "keys.bytes-per-key",
            dataset.checked_div(keys).unwrap_or(0) as f64,
        ),
        ("dataset.bytes", dataset as f64),
        (
            "dataset.percentage",
            100.0 * dataset as f64 / used.max(1) as f64,
        ),
        (
            "peak.percentage",
            100.0 * used as f64 / peak_memory().max(1) as f64,
        ),
        ("fragmentation", rss as f64 / used.max(1) as f64),
        ("fragmentation.bytes", rss.saturating_sub(used) as f64),
    ];
    let out = &mut *ctx.out;
    out.map(fields.len());
    for (name, value) in fields {
        out.bulk(name.as_bytes());
        if name.ends_with("percentage") || name == "fragmentation" {
            out.double(value);
        } else {
            out.int(value as i64);
        }
    }
    Ok(Replied)
}

fn doctor(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let report = if used_memory() < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
    };
    ctx.out.verbatim("txt", report.as_bytes());
    Ok(Replied)
}

fn purge(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.out.ok();
    Ok(Replied)
}

fn malloc_stats(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.out
        .verbatim("txt", b"Stats not supported for the current allocator");
    Ok(Replied)
}

fn help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("memory|usage", usage),
    ("memory|stats", stats),
    ("memory|doctor", doctor),
    ("memory|purge", purge),
    ("memory|malloc-stats", malloc_stats),
    ("memory|help", help),
];
