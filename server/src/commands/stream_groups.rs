//! Consumer groups (XGROUP, XREADGROUP's bookkeeping, XACK, XPENDING, XCLAIM, XAUTOCLAIM)
//! and XINFO: what a stream's readers have been handed and not yet acknowledged.

use super::help_reply;
use super::streams::{
    end_bound, no_group, parse_id, read_stream, reply_entries, reply_entry, reply_id, start_bound,
    write_stream,
};
use super::{
    int_arg, is, subcommand_syntax, ArgCursor, Args, CmdError, CmdResult, Ctx, Handler, Replied,
};
use crate::engine::stream::{Group, Stream, StreamId};
use crate::engine::value::Typed;
use crate::engine::Db;
use crate::notify;
use slotcache_protocol::resp::Reply;

/// The stream at `key` and its group `name`, or the NOGROUP error.
fn group_of<'a>(
    db: &'a mut Db,
    key: &[u8],
    name: &[u8],
    now: i64,
) -> Result<(&'a mut Stream, Group), CmdError> {
    let stream = write_stream(db, key, now)?.ok_or_else(|| no_group(key, name))?;
    let group = stream
        .groups
        .remove(name)
        .ok_or_else(|| no_group(key, name))?;
    Ok((stream, group))
}

fn xack(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let exists =
        read_stream(ctx.db(), &args[1], now)?.is_some_and(|s| s.groups.contains_key(&args[2][..]));
    if !exists {
        ctx.out.int(0);
        return Ok(Replied);
    }
    let ids = args[3..]
        .iter()
        .map(|a| parse_id(a, 0, true))
        .collect::<Result<Vec<_>, _>>()?;
    let (stream, mut group) = group_of(ctx.db(), &args[1], &args[2], now)?;
    let acked = ids
        .into_iter()
        .filter(|id| group.forget(*id).is_some())
        .count();
    stream.groups.insert(args[2].to_vec(), group);
    ctx.out.int(acked as i64);
    Ok(Replied)
}

fn xpending(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let summary = args.len() == 3;
    if !summary && !(6..=9).contains(&args.len()) {
        return Err(CmdError::Syntax);
    }
    let mut min_idle = 0;
    let mut range = None;
    let mut consumer = None;
    if !summary {
        let mut at = 3;
        if is(&args[3], "idle") {
            min_idle = int_arg(&args[4])?;
            if args.len() < 8 {
                return Err(CmdError::Syntax);
            }
            at = 5;
        }
        let count = int_arg(&args[at + 2])?.max(0) as usize;
        let start = start_bound(&args[at])?;
        let end = end_bound(&args[at + 1])?;
        range = Some((start, end, count));
        consumer = args.get(at + 3).cloned();
    }
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let stream = read_stream(db, &args[1], now)?;
    let group = stream
        .and_then(|s| s.groups.get(&args[2][..]))
        .ok_or_else(|| no_group(&args[1], &args[2]))?;
    let Some((start, end, count)) = range else {
        out.array(4);
        out.int(group.pending.len() as i64);
        match (
            group.pending.keys().next(),
            group.pending.keys().next_back(),
        ) {
            (Some(first), Some(last)) => {
                reply_id(out, *first);
                reply_id(out, *last);
                let busy: Vec<(&Vec<u8>, usize)> = group
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pending.is_empty())
                    .map(|(name, c)| (name, c.pending.len()))
                    .collect();
                out.array(busy.len());
                for (name, pending) in busy {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_int(pending as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(Replied);
    };
    let ids: Vec<StreamId> = match &consumer {
        Some(name) => match group.consumers.get(&name[..]) {
            Some(c) => c.pending.range(start..=end.max(start)).copied().collect(),
            None => Vec::new(),
        },
        None => group
            .pending
            .range(start..=end.max(start))
            .map(|(id, _)| *id)
            .collect(),
    };
    let rows: Vec<(StreamId, &crate::engine::stream::Pending)> = ids
        .into_iter()
        .filter(|id| *id <= end)
        .filter_map(|id| group.pending.get(&id).map(|p| (id, p)))
        .filter(|(_, p)| min_idle == 0 || now - p.delivery_time >= min_idle)
        .take(count)
        .collect();
    out.array(rows.len());
    for (id, pending) in rows {
        out.array(4);
        reply_id(out, id);
        out.bulk(&pending.consumer);
        out.int((now - pending.delivery_time).max(0));
        out.int(pending.delivery_count as i64);
    }
    Ok(Replied)
}

/// Replies with a claimed entry: its ID alone, or the entry (null if it is gone).
fn reply_claimed(out: &mut Reply, stream: &Stream, id: StreamId, just_id: bool) {
    if just_id {
        reply_id(out, id);
    } else {
        match stream.get(id) {
            Some(fields) => reply_entry(out, id, Some(fields)),
            None => out.null(),
        }
    }
}

fn xclaim(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (keys, group, consumer) = (&args[1..2], &args[2], &args[3]);
    with_consumer_events(ctx, keys, group, consumer, |ctx| claim(ctx, args))
}

fn claim(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let exists =
        read_stream(ctx.db(), &args[1], now)?.is_some_and(|s| s.groups.contains_key(&args[2][..]));
    if !exists {
        return Err(no_group(&args[1], &args[2]));
    }
    let min_idle = int_arg(&args[4])
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_id(&args[j], 0, true) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let (mut force, mut just_id) = (false, false);
    let mut delivery_time = None;
    let mut retry_count = None;
    let mut last_id = StreamId::ZERO;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        let number = |text: &str| {
            int_arg(&args[j + 1])
                .map_err(|_| CmdError::err(format!("Invalid {text} option argument for XCLAIM")))
        };
        if is(opt, "force") {
            force = true;
        } else if is(opt, "justid") {
            just_id = true;
        } else if is(opt, "idle") && more > 0 {
            delivery_time = Some(now - number("IDLE")?);
            j += 1;
        } else if is(opt, "time") && more > 0 {
            delivery_time = Some(number("TIME")?);
            j += 1;
        } else if is(opt, "retrycount") && more > 0 {
            retry_count = Some(number("RETRYCOUNT")?);
            j += 1;
        } else if is(opt, "lastid") && more > 0 {
            last_id = parse_id(&args[j + 1], 0, true)?;
            j += 1;
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    let delivery_time = match delivery_time {
        Some(t) if (0..=now).contains(&t) => t,
        _ => now,
    };
    let (db, out) = ctx.db_and_out();
    let (stream, mut group) = group_of(db, &args[1], &args[2], now)?;
    if last_id > group.last_id {
        group.last_id = last_id;
    }
    let consumer = &args[3][..];
    let mut claimed = Vec::new();
    for id in ids {
        let known = group.pending.get(&id).map(|p| p.delivery_time);
        if stream.get(id).is_none() {
            group.forget(id);
            continue;
        }
        if known.is_none() && !force {
            continue;
        }
        if let Some(time) = known {
            if min_idle > 0 && now - time < min_idle {
                continue;
            }
        }
        group.consumer(consumer, now);
        // A NACK FORCE creates starts at one delivery, as Redis's.
        let count = group.pending.get(&id).map_or(1, |p| p.delivery_count);
        let pending = group.assign(id, consumer, now);
        pending.delivery_time = delivery_time;
        pending.delivery_count = match retry_count {
            Some(n) if n >= 0 => n as u64,
            _ if !just_id => count + 1,
            _ => count,
        };
        claimed.push(id);
    }
    out.array(claimed.len());
    for id in claimed {
        reply_claimed(out, stream, id, just_id);
    }
    stream.groups.insert(args[2].to_vec(), group);
    Ok(Replied)
}

fn xautoclaim(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (keys, group, consumer) = (&args[1..2], &args[2], &args[3]);
    with_consumer_events(ctx, keys, group, consumer, |ctx| autoclaim(ctx, args))
}

fn autoclaim(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let min_idle = int_arg(&args[4])
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = start_bound(&args[5])?;
    let mut count = 100usize;
    let mut just_id = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "count") && more > 0 {
            count = match int_arg(&args[j + 1]) {
                Ok(n) if (1..=i64::MAX / 16).contains(&n) => n as usize,
                _ => return Err(CmdError::err("COUNT must be > 0")),
            };
            j += 1;
        } else if is(&args[j], "justid") {
            just_id = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let now = ctx.now;
    let exists =
        read_stream(ctx.db(), &args[1], now)?.is_some_and(|s| s.groups.contains_key(&args[2][..]));
    if !exists {
        return Err(no_group(&args[1], &args[2]));
    }
    let (db, out) = ctx.db_and_out();
    let (stream, mut group) = group_of(db, &args[1], &args[2], now)?;
    let consumer = &args[3][..];
    let mut attempts = count * 10;
    let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
    let mut cursor = group.pending.range(start..).map(|(id, _)| *id).next();
    while let Some(id) = cursor {
        if attempts == 0 || count == 0 {
            break;
        }
        attempts -= 1;
        let next = group.pending.range(id..).nth(1).map(|(id, _)| *id);
        if stream.get(id).is_none() {
            group.forget(id);
            deleted.push(id);
            count -= 1;
            cursor = next;
            continue;
        }
        let time = group.pending[&id].delivery_time;
        if min_idle > 0 && now - time < min_idle {
            cursor = next;
            continue;
        }
        group.consumer(consumer, now);
        let count_before = group.pending[&id].delivery_count;
        let pending = group.assign(id, consumer, now);
        pending.delivery_time = now;
        pending.delivery_count = if just_id {
            count_before
        } else {
            count_before + 1
        };
        claimed.push(id);
        count -= 1;
        cursor = next;
    }
    out.array(3);
    reply_id(out, cursor.unwrap_or(StreamId::ZERO));
    out.array(claimed.len());
    for id in claimed {
        reply_claimed(out, stream, id, just_id);
    }
    out.array(deleted.len());
    for id in deleted {
        reply_id(out, id);
    }
    stream.groups.insert(args[2].to_vec(), group);
    Ok(Replied)
}

/// An ENTRIESREAD value: a count, or -1 for unknown.
fn entries_read_arg(arg: &[u8]) -> Result<Option<u64>, CmdError> {
    match int_arg(arg)? {
        -1 => Ok(None),
        n if n < 0 => Err(CmdError::err(
            "value for ENTRIESREAD must be positive or -1",
        )),
        n => Ok(Some(n as u64)),
    }
}

/// Redis's answer to a container's subcommand called with the wrong arguments.
/// XGROUP's and XINFO CONSUMERS' error for a missing group (`args[2]` key, `args[3]` group).
fn no_such_group(args: &Args) -> CmdError {
    CmdError::Other(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(&args[3]),
        String::from_utf8_lossy(&args[2])
    ))
}

fn key_required() -> CmdError {
    CmdError::err(
        "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
    )
}

fn xgroup_create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut mkstream = false;
    let mut entries_read = None;
    ArgCursor::new(args, 5).options(|word, cursor| {
        match word {
            "mkstream" => mkstream = true,
            "entriesread" => {
                let count = cursor.value().map_err(|_| subcommand_syntax(args))?;
                entries_read = entries_read_arg(count)?;
            }
            _ => return Err(subcommand_syntax(args)),
        }
        Ok(())
    })?;
    let now = ctx.now;
    let db = ctx.db();
    let stream = read_stream(db, &args[2], now)?;
    if stream.is_none() && !mkstream {
        return Err(key_required());
    }
    let id = match &args[4][..] {
        b"$" => stream.map_or(StreamId::ZERO, |s| s.last_id),
        arg => parse_id(arg, 0, true)?,
    };
    if stream.is_none() {
        db.set(&args[2], Stream::default().into_value(), now);
    }
    let stream = write_stream(db, &args[2], now)?.ok_or(CmdError::NoSuchKey)?;
    if stream.groups.contains_key(&args[3][..]) {
        return Err(CmdError::Other(
            "BUSYGROUP Consumer Group name already exists".into(),
        ));
    }
    let group = Group {
        last_id: id,
        entries_read,
        ..Group::default()
    };
    stream.groups.insert(args[3].to_vec(), group);
    ctx.notify(notify::STREAM, "xgroup-create", &args[2]);
    ctx.out.ok();
    Ok(Replied)
}

/// The stream of an XGROUP subcommand that needs key and group to exist.
fn existing_group<'a>(ctx: &'a mut Ctx, args: &Args) -> Result<&'a mut Stream, CmdError> {
    let now = ctx.now;
    let Some(stream) = write_stream(ctx.db(), &args[2], now)? else {
        return Err(key_required());
    };
    if !stream.groups.contains_key(&args[3][..]) {
        return Err(no_such_group(args));
    }
    Ok(stream)
}

fn xgroup_setid(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let entries_read = match args.len() {
        5 => None,
        7 if is(&args[5], "entriesread") => entries_read_arg(&args[6])?,
        _ => return Err(subcommand_syntax(args)),
    };
    let stream = existing_group(ctx, args)?;
    let id = match &args[4][..] {
        b"$" => stream.last_id,
        arg => parse_id(arg, 0, false)?,
    };
    if let Some(group) = stream.groups.get_mut(&args[3][..]) {
        group.last_id = id;
        group.entries_read = entries_read;
    }
    ctx.notify(notify::STREAM, "xgroup-setid", &args[2]);
    ctx.out.ok();
    Ok(Replied)
}

fn xgroup_destroy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let Some(stream) = write_stream(ctx.db(), &args[2], now)? else {
        return Err(key_required());
    };
    let removed = stream.groups.remove(&args[3][..]).is_some();
    if removed {
        ctx.notify(notify::STREAM, "xgroup-destroy", &args[2]);
    }
    ctx.out.int(removed as i64);
    Ok(Replied)
}

fn xgroup_createconsumer(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let stream = existing_group(ctx, args)?;
    let group = stream
        .groups
        .get_mut(&args[3][..])
        .ok_or(CmdError::NoSuchKey)?;
    let created = !group.consumers.contains_key(&args[4][..]);
    if created {
        group.consumer(&args[4], now);
        ctx.notify(notify::STREAM, "xgroup-createconsumer", &args[2]);
    }
    ctx.out.int(created as i64);
    Ok(Replied)
}

fn xgroup_delconsumer(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let stream = existing_group(ctx, args)?;
    let group = stream
        .groups
        .get_mut(&args[3][..])
        .ok_or(CmdError::NoSuchKey)?;
    let pending = match group.consumers.remove(&args[4][..]) {
        Some(consumer) => {
            for id in &consumer.pending {
                group.pending.remove(id);
            }
            ctx.notify(notify::STREAM, "xgroup-delconsumer", &args[2]);
            consumer.pending.len()
        }
        None => 0,
    };
    ctx.out.int(pending as i64);
    Ok(Replied)
}

/// Whether the stream at `key` has `consumer` in `group`.
fn has_consumer(ctx: &mut Ctx, key: &[u8], group: &[u8], consumer: &[u8]) -> bool {
    let now = ctx.now;
    read_stream(ctx.db(), key, now)
        .ok()
        .flatten()
        .and_then(|stream| stream.groups.get(group))
        .is_some_and(|g| g.consumers.contains_key(consumer))
}

/// Runs a command that may create `consumer` in `group` of each stream of `keys` (XREADGROUP,
/// XCLAIM, XAUTOCLAIM), publishing `xgroup-createconsumer` where it did, as Redis does.
pub fn with_consumer_events(
    ctx: &mut Ctx,
    keys: &[bytes::Bytes],
    group: &[u8],
    consumer: &[u8],
    run: impl FnOnce(&mut Ctx) -> CmdResult,
) -> CmdResult {
    if notify::flags() & notify::STREAM == 0 {
        return run(ctx);
    }
    let before: Vec<bool> = keys
        .iter()
        .map(|key| has_consumer(ctx, key, group, consumer))
        .collect();
    let result = run(ctx);
    for (key, had) in keys.iter().zip(before) {
        if !had && has_consumer(ctx, key, group, consumer) {
            ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        }
    }
    result
}

fn xgroup_help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

/// The stream XINFO describes, or "no such key".
fn info_stream<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<(&'a Stream, &'a mut Reply), CmdError> {
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let stream = read_stream(db, key, now)?.ok_or_else(|| CmdError::err("no such key"))?;
    Ok((stream, out))
}

fn reply_optional_count(out: &mut Reply, count: Option<u64>) {
    match count {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

/// XINFO STREAM's common head: the counters and IDs.
fn reply_stream_head(out: &mut Reply, stream: &Stream, fields: usize) {
    out.map(fields);
    out.bulk(b"length");
    out.int(stream.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(stream.node_count() as i64);
    // Redis's radix tree has inner nodes besides its keys; this counts the keys plus the root.
    out.bulk(b"radix-tree-nodes");
    out.int(stream.node_count() as i64 + 1);
    out.bulk(b"last-generated-id");
    reply_id(out, stream.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, stream.max_deleted);
    out.bulk(b"entries-added");
    out.int(stream.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, stream.first_id);
}

fn xinfo_stream(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let full = match args.len() {
        3 => None,
        4 if is(&args[3], "full") => Some(10),
        6 if is(&args[3], "full") && is(&args[4], "count") => {
            let count = int_arg(&args[5])?;
            Some(if count < 0 { 10 } else { count as usize })
        }
        _ => return Err(subcommand_syntax(args)),
    };
    let (stream, out) = info_stream(ctx, &args[2])?;
    let Some(count) = full else {
        reply_stream_head(out, stream, 10);
        out.bulk(b"groups");
        out.int(stream.groups.len() as i64);
        for (label, entry) in [
            ("first-entry", stream.first_entry()),
            ("last-entry", stream.last_entry()),
        ] {
            out.bulk(label.as_bytes());
            match entry {
                Some((id, fields)) => reply_entry(out, id, Some(fields)),
                None => out.null(),
            }
        }
        return Ok(Replied);
    };
    let limit = if count == 0 { usize::MAX } else { count };
    reply_stream_head(out, stream, 9);
    out.bulk(b"entries");
    reply_entries(
        out,
        &stream.range(StreamId::ZERO, StreamId::MAX, count, false),
    );
    out.bulk(b"groups");
    out.array(stream.groups.len());
    for (name, group) in &stream.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, group.last_id);
        out.bulk(b"entries-read");
        reply_optional_count(out, group.entries_read);
        out.bulk(b"lag");
        reply_optional_count(out, stream.lag(group));
        out.bulk(b"pel-count");
        out.int(group.pending.len() as i64);
        out.bulk(b"pending");
        let pel: Vec<_> = group.pending.iter().take(limit).collect();
        out.array(pel.len());
        for (id, pending) in pel {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&pending.consumer);
            out.int(pending.delivery_time);
            out.int(pending.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(group.consumers.len());
        for (name, consumer) in &group.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"seen-time");
            out.int(consumer.seen_time);
            out.bulk(b"pel-count");
            out.int(consumer.pending.len() as i64);
            out.bulk(b"pending");
            let pel: Vec<_> = consumer.pending.iter().take(limit).collect();
            out.array(pel.len());
            for id in pel {
                let pending = &group.pending[id];
                out.array(3);
                reply_id(out, *id);
                out.int(pending.delivery_time);
                out.int(pending.delivery_count as i64);
            }
        }
    }
    Ok(Replied)
}

fn xinfo_groups(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (stream, out) = info_stream(ctx, &args[2])?;
    out.array(stream.groups.len());
    for (name, group) in &stream.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(group.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(group.pending.len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, group.last_id);
        out.bulk(b"entries-read");
        reply_optional_count(out, group.entries_read);
        out.bulk(b"lag");
        reply_optional_count(out, stream.lag(group));
    }
    Ok(Replied)
}

fn xinfo_consumers(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let (stream, out) = info_stream(ctx, &args[2])?;
    let Some(group) = stream.groups.get(&args[3][..]) else {
        return Err(no_such_group(args));
    };
    out.array(group.consumers.len());
    for (name, consumer) in &group.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(consumer.pending.len() as i64);
        out.bulk(b"idle");
        out.int((now - consumer.seen_time).max(0));
    }
    Ok(Replied)
}

fn xinfo_help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}

/// The handlers of the family's group and XINFO commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("xgroup|delconsumer", xgroup_delconsumer),
    ("xgroup|create", xgroup_create),
    ("xgroup|setid", xgroup_setid),
    ("xgroup|help", xgroup_help),
    ("xgroup|createconsumer", xgroup_createconsumer),
    ("xgroup|destroy", xgroup_destroy),
    ("xack", xack),
    ("xpending", xpending),
    ("xclaim", xclaim),
    ("xautoclaim", xautoclaim),
    ("xinfo|stream", xinfo_stream),
    ("xinfo|groups", xinfo_groups),
    ("xinfo|consumers", xinfo_consumers),
    ("xinfo|help", xinfo_help),
];
