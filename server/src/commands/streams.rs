//! Stream commands, consumer groups included, with Redis 7.0's argument rules and replies.

use super::pops::block_or_give_up;
use super::{int_arg, read_typed, ArgCursor, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::commands::Outcome;
use crate::engine::stream::{Fields, NodeLimits, Stream, StreamId, Trim};
use crate::engine::{Db, ValueType};
use crate::notify;
use bytes::Bytes;
use slotcache_protocol::resp::parse::parse_i64;
use slotcache_protocol::resp::Reply;
use std::time::{Duration, Instant};

fn invalid_id() -> CmdError {
    CmdError::err("Invalid stream ID specified as stream command argument")
}

/// An unsigned number as Redis's `string2ull` reads it (which lets `strtoull` accept leading
/// spaces and a sign).
fn parse_u64(text: &[u8]) -> Option<u64> {
    if let Some(n) = parse_i64(text) {
        return u64::try_from(n).ok();
    }
    let text = std::str::from_utf8(text).ok()?;
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'+') => (false, &trimmed[1..]),
        Some(b'-') => (true, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// An ID argument: `ms-seq`, or `ms` with `missing_seq`; `-` and `+` unless `strict`.
pub(super) fn parse_id(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, CmdError> {
    parse_id_with_auto_seq(arg, missing_seq, strict, false).map(|(id, _)| id)
}

/// As [`parse_id`]; when `auto_seq` (XADD), `ms-*` is accepted and reported by a false second
/// value ("sequence not given").
fn parse_id_with_auto_seq(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    auto_seq: bool,
) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 127 {
        return Err(invalid_id());
    }
    match arg {
        b"-" if !strict => return Ok((StreamId::ZERO, true)),
        b"+" if !strict => return Ok((StreamId::MAX, true)),
        b"-" | b"+" => return Err(invalid_id()),
        _ => {}
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64(ms_part).ok_or_else(invalid_id)?;
    match seq_part {
        Some(b"*") if auto_seq => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => Ok((
            StreamId::new(ms, parse_u64(seq).ok_or_else(invalid_id)?),
            true,
        )),
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

/// A range bound, `(` making it exclusive.
fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    match arg {
        [b'(', rest @ ..] if !rest.is_empty() => Ok((parse_id(rest, missing_seq, true)?, true)),
        _ => Ok((parse_id(arg, missing_seq, false)?, false)),
    }
}

pub(super) fn start_bound(arg: &[u8]) -> Result<StreamId, CmdError> {
    match parse_interval(arg, 0)? {
        (id, true) => id
            .incr()
            .ok_or_else(|| CmdError::err("invalid start ID for the interval")),
        (id, false) => Ok(id),
    }
}

pub(super) fn end_bound(arg: &[u8]) -> Result<StreamId, CmdError> {
    match parse_interval(arg, u64::MAX)? {
        (id, true) => id
            .decr()
            .ok_or_else(|| CmdError::err("invalid end ID for the interval")),
        (id, false) => Ok(id),
    }
}

pub(super) fn reply_id(out: &mut Reply, id: StreamId) {
    out.bulk(&id.to_bytes());
}

pub(super) fn reply_entry(out: &mut Reply, id: StreamId, fields: Option<&Fields>) {
    out.array(2);
    reply_id(out, id);
    match fields {
        Some(fields) => out.bulks(fields.iter()),
        None => out.null_array(),
    }
}

pub(super) fn reply_entries(out: &mut Reply, entries: &[(StreamId, &Fields)]) {
    out.array(entries.len());
    for (id, fields) in entries {
        reply_entry(out, *id, Some(fields));
    }
}

pub(super) fn read_stream<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: i64,
) -> Result<Option<&'a Stream>, CmdError> {
    read_typed::<Stream>(db, key, now)
}

pub(super) fn write_stream<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: i64,
) -> Result<Option<&'a mut Stream>, CmdError> {
    super::write_typed::<Stream>(db, key, now, false)
}

pub(super) fn no_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Other(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// XADD's and XTRIM's trimming options.
struct TrimArgs {
    strategy: Option<Trim>,
    approx: bool,
    /// Entries a trim may remove at most (0: no bound).
    limit: u64,
}

/// Parses the options from argument 2 on, as Redis's `streamParseAddOrTrimArgsOrReply`.
/// For XADD, returns where the ID is and the NOMKSTREAM flag. `node_entries` is
/// `stream-node-max-entries`: `~` without LIMIT removes at most 100 nodes' worth.
fn parse_trim_args(
    args: &Args,
    xadd: bool,
    node_entries: u64,
) -> Result<(TrimArgs, usize, bool), CmdError> {
    let mut trim = TrimArgs {
        strategy: None,
        approx: false,
        limit: 0,
    };
    let mut limit = None;
    let mut no_mkstream = false;
    let both = || {
        CmdError::err("syntax error, MAXLEN and MINID options at the same time are not compatible")
    };
    let mut cursor = ArgCursor::new(args, 2);
    // An option word with nothing after it is XADD's ID, as in Redis.
    cursor.leading_options(|word, cursor| {
        let more = cursor.rest().len();
        match word {
            "*" if xadd => return Ok(false),
            "maxlen" | "minid" if more > 0 => {
                if trim.strategy.is_some() {
                    return Err(both());
                }
                trim.approx = false;
                if more >= 2 && matches!(&cursor.rest()[0][..], b"~" | b"=") {
                    trim.approx = &cursor.value()?[..] == b"~";
                }
                let value = cursor.value()?;
                trim.strategy = Some(if word == "maxlen" {
                    let max = int_arg(value)?;
                    if max < 0 {
                        return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                    }
                    Trim::MaxLen(max as u64)
                } else {
                    Trim::MinId(parse_id(value, 0, true)?)
                });
            }
            "limit" if more > 0 => {
                let value = cursor.next_i64()?;
                if value < 0 {
                    return Err(CmdError::err("The LIMIT argument must be >= 0."));
                }
                limit = Some(value as u64);
            }
            "nomkstream" if xadd => no_mkstream = true,
            _ if xadd => return Ok(false),
            _ => return Err(CmdError::Syntax),
        }
        Ok(true)
    })?;
    let i = cursor.position();
    if limit.is_some() && trim.strategy.is_none() {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && trim.strategy.is_none() {
        return Err(CmdError::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    trim.limit = match limit {
        Some(_) if !trim.approx => {
            return Err(CmdError::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ))
        }
        Some(limit) => limit,
        None if trim.approx => match node_entries.saturating_mul(100) {
            0 => 10_000,
            limit => limit.min(1_000_000),
        },
        None => 0,
    };
    Ok((trim, i, no_mkstream))
}

fn xadd(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let limits = {
        let config = ctx.server.config.read();
        NodeLimits {
            max_bytes: config.stream_node_max_bytes,
            max_entries: config.stream_node_max_entries,
        }
    };
    let (trim, id_at, no_mkstream) = parse_trim_args(args, true, limits.max_entries)?;
    let fields_at = id_at + 1;
    let given = match args.get(id_at) {
        Some(arg) if &arg[..] != b"*" => Some(parse_id_with_auto_seq(arg, 0, true, true)?),
        _ => None,
    };
    let pairs = args.len().saturating_sub(fields_at);
    if pairs < 2 || pairs % 2 == 1 {
        return Err(CmdError::Other(
            "ERR wrong number of arguments for 'xadd' command".into(),
        ));
    }
    if given == Some((StreamId::ZERO, true)) {
        return Err(CmdError::err(
            "The ID specified in XADD must be greater than 0-0",
        ));
    }
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let Some(stream) = super::write_typed::<Stream>(db, &args[1], now, !no_mkstream)? else {
        out.null();
        return Ok(Replied);
    };
    if stream.last_id == StreamId::MAX {
        return Err(CmdError::err(
            "The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let too_small = || {
        CmdError::err(
            "The ID specified in XADD is equal or smaller than the target stream top item",
        )
    };
    let id = match given {
        None => stream.next_auto_id(now as u64).ok_or_else(too_small)?,
        Some((id, true)) => id,
        Some((id, false)) if id.ms == stream.last_id.ms => stream
            .last_id
            .incr()
            .filter(|n| n.ms == id.ms)
            .ok_or_else(too_small)?,
        Some((id, false)) => id,
    };
    if id <= stream.last_id {
        return Err(too_small());
    }
    let fields: Vec<&[u8]> = args[fields_at..].iter().map(|a| &a[..]).collect();
    stream.append(id, &fields, limits);
    let trimmed = match trim.strategy {
        Some(strategy) => stream.trim(strategy, trim.approx, trim.limit) > 0,
        None => false,
    };
    reply_id(out, id);
    ctx.notify(notify::STREAM, "xadd", &args[1]);
    if trimmed {
        ctx.notify(notify::STREAM, "xtrim", &args[1]);
    }
    Ok(Replied)
}

fn xtrim(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let node_entries = ctx.server.config.read().stream_node_max_entries;
    let (trim, _, _) = parse_trim_args(args, false, node_entries)?;
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let Some(stream) = write_stream(db, &args[1], now)? else {
        out.int(0);
        return Ok(Replied);
    };
    let removed = match trim.strategy {
        Some(strategy) => stream.trim(strategy, trim.approx, trim.limit),
        None => 0,
    };
    out.int(removed as i64);
    if removed > 0 {
        ctx.notify(notify::STREAM, "xtrim", &args[1]);
    }
    Ok(Replied)
}

fn xlen(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let len = read_stream(ctx.db(), &args[1], now)?.map_or(0, Stream::len);
    ctx.out.int(len as i64);
    Ok(Replied)
}

fn xdel(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let Some(stream) = write_stream(db, &args[1], now)? else {
        out.int(0);
        return Ok(Replied);
    };
    let ids = args[2..]
        .iter()
        .map(|a| parse_id(a, 0, true))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = ids.into_iter().filter(|id| stream.delete(*id)).count();
    out.int(deleted as i64);
    if deleted > 0 {
        ctx.notify(notify::STREAM, "xdel", &args[1]);
    }
    Ok(Replied)
}

/// XRANGE and XREVRANGE.
fn range(ctx: &mut Ctx, args: &Args, rev: bool) -> CmdResult {
    let (low, high) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = start_bound(low)?;
    let end = end_bound(high)?;
    let mut count = None;
    ArgCursor::new(args, 4).options(|word, cursor| match word {
        "count" => {
            count = Some(cursor.next_i64()?.max(0) as usize);
            Ok(())
        }
        _ => Err(CmdError::Syntax),
    })?;
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let Some(stream) = read_stream(db, &args[1], now)? else {
        out.array(0);
        return Ok(Replied);
    };
    if count == Some(0) {
        out.null_array();
        return Ok(Replied);
    }
    reply_entries(out, &stream.range(start, end, count.unwrap_or(0), rev));
    Ok(Replied)
}

fn xrange(ctx: &mut Ctx, args: &Args) -> CmdResult {
    range(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx, args: &Args) -> CmdResult {
    range(ctx, args, true)
}

/// XREAD/XREADGROUP arguments.
struct ReadArgs {
    count: usize,
    block: Option<Option<Instant>>,
    /// Index of the first key after STREAMS, and how many streams.
    streams_at: usize,
    streams: usize,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
}

/// What an ID after STREAMS asks for.
#[derive(Clone, Copy)]
enum ReadFrom {
    After(StreamId),
    /// `>`: entries never delivered to the group.
    New,
}

/// `in_script`: BLOCK is refused from scripts, as in Redis (a script never waits).
fn parse_read_args(args: &Args, group_form: bool, in_script: bool) -> Result<ReadArgs, CmdError> {
    let name = if group_form { "xreadgroup" } else { "xread" };
    let mut read = ReadArgs {
        count: 0,
        block: None,
        streams_at: 0,
        streams: 0,
        group: None,
        noack: false,
    };
    ArgCursor::new(args, 1).options(|word, cursor| {
        match word {
            "block" => {
                let ms = cursor.value()?;
                if in_script {
                    return Err(CmdError::err(format!(
                        "{} command is not allowed with BLOCK option from scripts",
                        String::from_utf8_lossy(&args[0])
                    )));
                }
                let ms = super::millis_arg(ms)?;
                read.block = Some((ms > 0).then(|| Instant::now() + Duration::from_millis(ms)));
            }
            "count" => read.count = cursor.next_i64()?.max(0) as usize,
            "streams" if !cursor.is_done() => {
                read.streams_at = cursor.position();
                let rest = cursor.take(cursor.rest().len())?.len();
                if rest % 2 != 0 {
                    let symbol = if group_form { '>' } else { '$' };
                    return Err(CmdError::err(format!(
                        "Unbalanced {} list of streams: for each stream key an ID or '{symbol}' must be specified.",
                        name.to_ascii_uppercase()
                    )));
                }
                read.streams = rest / 2;
            }
            "group" => {
                let [group, consumer] = cursor.values()?;
                if !group_form {
                    return Err(CmdError::err(
                        "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                    ));
                }
                read.group = Some((group.clone(), consumer.clone()));
            }
            "noack" => {
                if !group_form {
                    return Err(CmdError::err(
                        "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                    ));
                }
                read.noack = true;
            }
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    if read.streams_at == 0 {
        return Err(CmdError::Syntax);
    }
    if group_form && read.group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    Ok(read)
}

/// The IDs after STREAMS, `$` resolved; every key type-checked and, for a group read, its group
/// required.
fn resolve_read_ids(
    ctx: &mut Ctx,
    args: &Args,
    read: &ReadArgs,
) -> Result<Vec<ReadFrom>, CmdError> {
    let now = ctx.now;
    let db = ctx.db();
    let mut ids = Vec::with_capacity(read.streams);
    for i in 0..read.streams {
        let key = &args[read.streams_at + i];
        let arg = &args[read.streams_at + read.streams + i];
        let stream = read_stream(db, key, now)?;
        if let Some((group, _)) = &read.group {
            if stream.is_none_or(|s| !s.groups.contains_key(&group[..])) {
                return Err(CmdError::Other(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(group)
                )));
            }
        }
        ids.push(match &arg[..] {
            b"$" if read.group.is_some() => {
                return Err(CmdError::err(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ))
            }
            b"$" => ReadFrom::After(stream.map_or(StreamId::ZERO, |s| s.last_id)),
            b">" if read.group.is_none() => {
                return Err(CmdError::err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ))
            }
            b">" => ReadFrom::New,
            _ => ReadFrom::After(parse_id(arg, 0, true)?),
        });
    }
    Ok(ids)
}

/// An entry as a read returns it; `None` fields for a pending entry deleted since.
type Delivered = (StreamId, Option<Fields>);

/// One stream's share of an XREADGROUP: new entries (recorded as pending unless `noack`) or
/// the consumer's own pending history.
fn read_group(
    stream: &mut Stream,
    group_name: &[u8],
    consumer: &[u8],
    from: ReadFrom,
    count: usize,
    noack: bool,
    now: i64,
) -> Option<Vec<Delivered>> {
    let mut group = stream.groups.remove(group_name)?;
    group.consumer(consumer, now);
    let result = match from {
        ReadFrom::After(after) => {
            let start = after.incr().unwrap_or(StreamId::MAX);
            let history: Vec<StreamId> = group.consumers[consumer]
                .pending
                .range(start..)
                .take(if count == 0 { usize::MAX } else { count })
                .copied()
                .collect();
            let mut out = Vec::with_capacity(history.len());
            for id in history {
                let fields = stream.get(id).cloned();
                if fields.is_some() {
                    if let Some(pending) = group.pending.get_mut(&id) {
                        pending.delivery_time = now;
                        pending.delivery_count += 1;
                    }
                }
                out.push((id, fields));
            }
            Some(out)
        }
        ReadFrom::New => {
            let newest = stream.last_entry().map(|(id, _)| id);
            if newest.is_none_or(|newest| newest <= group.last_id) {
                None
            } else {
                let start = group.last_id.incr().unwrap_or(StreamId::MAX);
                let entries: Vec<Delivered> = stream
                    .range(start, StreamId::MAX, count, false)
                    .into_iter()
                    .map(|(id, f)| (id, Some(f.clone())))
                    .collect();
                for (id, _) in &entries {
                    stream.advance_group(&mut group, *id);
                    if !noack {
                        let pending = group.assign(*id, consumer, now);
                        pending.delivery_time = now;
                        pending.delivery_count = 1;
                    }
                }
                Some(entries)
            }
        }
    };
    stream.groups.insert(group_name.to_vec(), group);
    result
}

/// XREAD and XREADGROUP: serve what is there, else block (with `$` resolved, so a wake-up
/// reads from where the stream stood) or answer null.
fn read_generic(ctx: &mut Ctx, args: &Args, group_form: bool) -> CmdResult {
    let read = parse_read_args(args, group_form, ctx.client.in_script)?;
    let ids = resolve_read_ids(ctx, args, &read)?;
    let now = ctx.now;
    let mut served: Vec<(Bytes, Vec<Delivered>)> = Vec::new();
    for (i, from) in ids.iter().enumerate() {
        let key = &args[read.streams_at + i];
        let db = ctx.db();
        // Decide with read access, so a reader that finds nothing leaves the key untouched
        // (a touch would wake the blocked readers again).
        let Some(stream) = read_stream(db, key, now)? else {
            continue;
        };
        let newest = stream.last_entry().map(|(id, _)| id);
        let entries = match (&read.group, *from) {
            (Some((group, consumer)), _) => {
                let group_last = stream.groups.get(&group[..]).map(|g| g.last_id);
                let has_new = matches!(from, ReadFrom::After(_))
                    || newest.is_some_and(|n| Some(n) > group_last);
                // Nothing to serve: the consumer is not created either (Redis 7.0 creates it
                // only when it serves it something).
                if !has_new {
                    continue;
                }
                let stream = write_stream(db, key, now)?.ok_or(CmdError::NoSuchKey)?;
                read_group(stream, group, consumer, *from, read.count, read.noack, now)
            }
            (None, ReadFrom::After(after)) => newest.filter(|n| *n > after).map(|_| {
                let start = after.incr().unwrap_or(StreamId::MAX);
                stream
                    .range(start, StreamId::MAX, read.count, false)
                    .into_iter()
                    .map(|(id, f)| (id, Some(f.clone())))
                    .collect()
            }),
            (None, ReadFrom::New) => None,
        };
        if let Some(entries) = entries {
            served.push((key.clone(), entries));
        }
    }
    if served.is_empty() {
        match read.block {
            Some(deadline) => {
                let keys = &args[read.streams_at..read.streams_at + read.streams];
                let mut outcome = block_or_give_up(ctx, keys, deadline, ValueType::Stream, true);
                if let Outcome::Block(request) = &mut outcome {
                    request.replay = Some(replay_args(args, &read, &ids));
                    request.fails_when_gone = group_form;
                }
                return Ok(outcome);
            }
            None => ctx.out.null_array(),
        }
        return Ok(Replied);
    }
    let out = &mut *ctx.out;
    if out.proto == slotcache_protocol::resp::Protocol::Resp3 {
        out.map(served.len());
    } else {
        out.array(served.len());
    }
    for (key, entries) in &served {
        if out.proto == slotcache_protocol::resp::Protocol::Resp2 {
            out.array(2);
        }
        out.bulk(key);
        out.array(entries.len());
        for (id, fields) in entries {
            reply_entry(out, *id, fields.as_ref());
        }
    }
    Ok(Replied)
}

/// The command a blocked reader re-runs when woken: `$` replaced by the ID it stood for, and
/// COUNT bounded as Redis bounds blocked reads.
fn replay_args(args: &Args, read: &ReadArgs, ids: &[ReadFrom]) -> Vec<Bytes> {
    let mut replay: Vec<Bytes> = args[..read.streams_at + read.streams].to_vec();
    if read.count == 0 {
        replay.insert(1, Bytes::from_static(b"1000"));
        replay.insert(1, Bytes::from_static(b"COUNT"));
    }
    for (i, from) in ids.iter().enumerate() {
        replay.push(match from {
            ReadFrom::After(id) => Bytes::from(id.to_bytes()),
            ReadFrom::New => args[read.streams_at + read.streams + i].clone(),
        });
    }
    replay
}

fn xread(ctx: &mut Ctx, args: &Args) -> CmdResult {
    read_generic(ctx, args, false)
}

fn xreadgroup(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let keys = match parse_read_args(args, true, false) {
        Ok(read) => &args[read.streams_at..read.streams_at + read.streams],
        Err(_) => &args[..0],
    };
    let (group, consumer) = (&args[2], &args[3]);
    super::stream_groups::with_consumer_events(ctx, keys, group, consumer, |ctx| {
        read_generic(ctx, args, true)
    })
}

fn xsetid(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let id = parse_id(&args[2], 0, true)?;
    let mut entries_added = None;
    let mut max_deleted = StreamId::ZERO;
    ArgCursor::new(args, 3).options(|word, cursor| {
        match word {
            "entriesadded" => {
                let positive = CmdError::err("entries_added must be positive");
                entries_added = Some(cursor.next_count(positive)? as u64);
            }
            "maxdeletedid" => {
                max_deleted = parse_id(cursor.value()?, 0, true)?;
                if id < max_deleted {
                    return Err(CmdError::err(
                        "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                    ));
                }
            }
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    let now = ctx.now;
    let stream =
        write_stream(ctx.db(), &args[1], now)?.ok_or_else(|| CmdError::err("no such key"))?;
    if let Some((top, _)) = stream.last_entry() {
        if id < top {
            return Err(CmdError::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| (stream.len() as u64) > n) {
            return Err(CmdError::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    if id < stream.max_deleted {
        return Err(CmdError::err(
            "The ID specified in XSETID is smaller than current max_deleted_entry_id",
        ));
    }
    stream.last_id = id;
    if let Some(n) = entries_added {
        stream.entries_added = n;
    }
    if max_deleted != StreamId::ZERO {
        stream.max_deleted = max_deleted;
    }
    ctx.out.ok();
    Ok(Replied)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("xadd", xadd),
    ("xlen", xlen),
    ("xrange", xrange),
    ("xrevrange", xrevrange),
    ("xread", xread),
    ("xreadgroup", xreadgroup),
    ("xdel", xdel),
    ("xtrim", xtrim),
    ("xsetid", xsetid),
];
