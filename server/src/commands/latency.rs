//! LATENCY: the latency monitor's events (`crate::latency`) and the per-command latency
//! histograms kept with the command statistics.

use super::{help_reply, Args, CmdError, CmdResult, Ctx, Handler, Replied, Table};
use crate::state::{CommandStats, LATENCY_BUCKETS};
use std::sync::atomic::Ordering;

fn latest(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let latest = ctx.server.latency.latest();
    ctx.out.array(latest.len());
    for entry in latest {
        ctx.out.array(4);
        ctx.out.bulk(entry.event.as_bytes());
        ctx.out.int(entry.sample.time);
        ctx.out.int(entry.sample.millis as i64);
        ctx.out.int(entry.max as i64);
    }
    Ok(Replied)
}

fn history(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let samples = ctx
        .server
        .latency
        .history(&String::from_utf8_lossy(&args[2]));
    ctx.out.array(samples.len());
    for sample in samples {
        ctx.out.array(2);
        ctx.out.int(sample.time);
        ctx.out.int(sample.millis as i64);
    }
    Ok(Replied)
}

fn reset(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let named: Vec<String> = args[2..]
        .iter()
        .map(|event| String::from_utf8_lossy(event).into_owned())
        .collect();
    ctx.out.int(ctx.server.latency.reset(&named) as i64);
    Ok(Replied)
}

fn doctor(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let report = ctx.server.latency.doctor();
    ctx.out.verbatim("txt", report.as_bytes());
    Ok(Replied)
}

/// LATENCY GRAPH: the event's samples as rows of bars scaled to its highest, oldest first.
fn graph(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let event = String::from_utf8_lossy(&args[2]).into_owned();
    let samples = ctx.server.latency.history(&event);
    let Some(high) = samples.iter().map(|s| s.millis).max() else {
        return Err(CmdError::err(format!(
            "No samples available for event '{event}'"
        )));
    };
    let low = samples.iter().map(|s| s.millis).min().unwrap_or(0);
    let mut text = format!("{event} - high {high} ms, low {low} ms\n\n");
    for sample in &samples {
        let width = (sample.millis * 40).div_ceil(high.max(1)) as usize;
        text.push_str(&format!(
            "{:>10} {:>6} ms |{}\n",
            sample.time,
            sample.millis,
            "#".repeat(width)
        ));
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(Replied)
}

/// LATENCY HISTOGRAM [command ...]: each command's calls and cumulative distribution of
/// latencies, in power-of-two microsecond buckets. A container names its subcommands; unknown
/// names are skipped, as Redis skips them.
fn histogram(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let table = Table::get();
    let mut wanted: Vec<usize> = Vec::new();
    if args.len() == 2 {
        wanted.extend(0..table.all.len());
    }
    for name in &args[2..] {
        let Some(resolved) = table.lookup(name) else {
            continue;
        };
        let subcommands = resolved.spec.subcommands;
        match subcommands.is_empty() {
            true => wanted.push(resolved.index),
            false => wanted.extend(
                (table.all.iter().enumerate())
                    .filter(|(_, spec)| subcommands.iter().any(|sub| sub.name == spec.name))
                    .map(|(index, _)| index),
            ),
        }
    }
    wanted.sort_unstable();
    wanted.dedup();
    let stats = &ctx.server.command_stats;
    let reported: Vec<(usize, [u64; LATENCY_BUCKETS])> = wanted
        .into_iter()
        .map(|index| (index, buckets(&stats[index])))
        .filter(|(_, buckets)| buckets.iter().any(|&count| count > 0))
        .collect();
    let out = &mut *ctx.out;
    out.map(reported.len());
    for (index, buckets) in reported {
        out.bulk(table.all[index].name.as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.int(buckets.iter().sum::<u64>() as i64);
        out.bulk(b"histogram_usec");
        let filled = buckets.iter().filter(|&&count| count > 0).count();
        out.map(filled);
        let mut cumulative = 0;
        for (bucket, count) in buckets.iter().enumerate() {
            if *count > 0 {
                cumulative += count;
                out.int(1 << bucket);
                out.int(cumulative as i64);
            }
        }
    }
    Ok(Replied)
}

fn buckets(stats: &CommandStats) -> [u64; LATENCY_BUCKETS] {
    std::array::from_fn(|bucket| stats.durations.histogram[bucket].load(Ordering::Relaxed))
}

fn help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("latency|latest", latest),
    ("latency|history", history),
    ("latency|reset", reset),
    ("latency|doctor", doctor),
    ("latency|graph", graph),
    ("latency|histogram", histogram),
    ("latency|help", help),
];
