//! List commands, blocking ones included (their waiting lives in `crate::blocking`).

use super::pops::{block_or_give_up, parse_mpop, parse_timeout};
use super::{
    index_range, int_arg, is, read_typed, write_typed, ArgCursor, Args, CmdError, CmdResult, Ctx,
    Handler, Replied,
};
use crate::engine::list::{End, List};
use crate::engine::{Db, ValueType};
use crate::notify;
use slotcache_protocol::command::wrong_arity;

fn end_arg(arg: &[u8]) -> Result<End, CmdError> {
    if is(arg, "left") {
        Ok(End::Head)
    } else if is(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(CmdError::Syntax)
    }
}

fn push(ctx: &mut Ctx, args: &Args, end: End, only_existing: bool) -> CmdResult {
    let now = ctx.now;
    let Some(list) = write_typed::<List>(ctx.db(), &args[1], now, !only_existing)? else {
        ctx.out.int(0);
        return Ok(Replied);
    };
    for item in &args[2..] {
        list.push(end, item);
    }
    let len = list.len();
    ctx.notify(notify::LIST, push_event(end), &args[1]);
    ctx.out.int(len as i64);
    Ok(Replied)
}

fn lpush(ctx: &mut Ctx, args: &Args) -> CmdResult {
    push(ctx, args, End::Head, false)
}

fn rpush(ctx: &mut Ctx, args: &Args) -> CmdResult {
    push(ctx, args, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx, args: &Args) -> CmdResult {
    push(ctx, args, End::Head, true)
}

fn rpushx(ctx: &mut Ctx, args: &Args) -> CmdResult {
    push(ctx, args, End::Tail, true)
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

/// The events of items popped from `key`'s `end`: the pop, then `del` once the list is gone.
fn notify_popped(ctx: &mut Ctx, key: &[u8], end: End) {
    if notify::flags() == 0 {
        return;
    }
    let event = match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    };
    ctx.notify(notify::LIST, event, key);
    let now = ctx.now;
    if !ctx.db().contains(key, now) {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

/// Pops up to `count` items from `end`, deleting the key once the list is empty.
fn pop_items(
    db: &mut Db,
    key: &[u8],
    now: i64,
    end: End,
    count: usize,
) -> Result<Option<Vec<Vec<u8>>>, CmdError> {
    let Some(list) = write_typed::<List>(db, key, now, false)? else {
        return Ok(None);
    };
    let mut popped = Vec::with_capacity(count.min(list.len()));
    while popped.len() < count {
        match list.pop(end) {
            Some(item) => popped.push(item),
            None => break,
        }
    }
    if list.is_empty() {
        db.remove(key);
    }
    Ok(Some(popped))
}

fn pop(ctx: &mut Ctx, args: &Args, end: End, name: &str) -> CmdResult {
    if args.len() > 3 {
        return Err(wrong_arity(name));
    }
    let count = match args.get(2) {
        Some(arg) => Some(match int_arg(arg) {
            Ok(n) if n >= 0 => n as usize,
            _ => return Err(CmdError::err("value is out of range, must be positive")),
        }),
        None => None,
    };
    let now = ctx.now;
    let popped = pop_items(ctx.db(), &args[1], now, end, count.unwrap_or(1))?;
    if popped.as_ref().is_some_and(|items| !items.is_empty()) {
        notify_popped(ctx, &args[1], end);
    }
    match (popped, count) {
        (None, Some(_)) => ctx.out.null_array(),
        (None, None) => ctx.out.null(),
        (Some(_), Some(0)) => ctx.out.array(0),
        (Some(items), Some(_)) => ctx.out.bulks(items.iter()),
        (Some(items), None) => ctx.out.bulk_or_null(items.first().map(Vec::as_slice)),
    }
    Ok(Replied)
}

fn lpop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    pop(ctx, args, End::Head, "lpop")
}

fn rpop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    pop(ctx, args, End::Tail, "rpop")
}

fn llen(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let len = read_typed::<List>(ctx.db(), &args[1], now)?.map_or(0, List::len);
    ctx.out.int(len as i64);
    Ok(Replied)
}

fn lrange(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let start = int_arg(&args[2])?;
    let stop = int_arg(&args[3])?;
    let now = ctx.now;
    let db = &mut ctx.ks.dbs[ctx.client.db];
    let Some(list) = read_typed::<List>(db, &args[1], now)? else {
        ctx.out.array(0);
        return Ok(Replied);
    };
    match index_range(start, stop, list.len()) {
        Some((from, to)) => ctx.out.bulks(
            list.items()
                .skip(from)
                .take(to - from + 1)
                .collect::<Vec<_>>()
                .into_iter(),
        ),
        None => ctx.out.array(0),
    }
    Ok(Replied)
}

fn ltrim(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let start = int_arg(&args[2])?;
    let stop = int_arg(&args[3])?;
    let now = ctx.now;
    let db = ctx.db();
    if let Some(list) = write_typed::<List>(db, &args[1], now, false)? {
        match index_range(start, stop, list.len()) {
            Some((from, to)) => list.retain_range(from, Some(to)),
            None => list.retain_range(1, Some(0)),
        }
        let emptied = list.is_empty();
        if emptied {
            db.remove(&args[1]);
        }
        ctx.notify(notify::LIST, "ltrim", &args[1]);
        if emptied {
            ctx.notify(notify::GENERIC, "del", &args[1]);
        }
    }
    ctx.out.ok();
    Ok(Replied)
}

/// A Redis list index (negative counts from the tail) resolved against `len`.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&index).then_some(index as usize)
}

fn lindex(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.ks.dbs[ctx.client.db];
    // The key is looked up before the index is parsed, as Redis does.
    let Some(list) = read_typed::<List>(db, &args[1], now)? else {
        ctx.out.null();
        return Ok(Replied);
    };
    let index = int_arg(&args[2])?;
    ctx.out
        .bulk_or_null(resolve_index(index, list.len()).and_then(|i| list.get(i)));
    Ok(Replied)
}

fn lset(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let list = write_typed::<List>(ctx.db(), &args[1], now, false)?.ok_or(CmdError::NoSuchKey)?;
    let index = int_arg(&args[2])?;
    let index =
        resolve_index(index, list.len()).ok_or_else(|| CmdError::err("index out of range"))?;
    list.set(index, &args[3]);
    ctx.notify(notify::LIST, "lset", &args[1]);
    ctx.out.ok();
    Ok(Replied)
}

fn linsert(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let now = ctx.now;
    let Some(list) = write_typed::<List>(ctx.db(), &args[1], now, false)? else {
        ctx.out.int(0);
        return Ok(Replied);
    };
    let Some(pivot) = list.items().position(|item| item == &args[3][..]) else {
        ctx.out.int(-1);
        return Ok(Replied);
    };
    list.insert(pivot + after as usize, &args[4]);
    let len = list.len();
    ctx.notify(notify::LIST, "linsert", &args[1]);
    ctx.out.int(len as i64);
    Ok(Replied)
}

fn lrem(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let count = int_arg(&args[2])?;
    let now = ctx.now;
    let db = ctx.db();
    let Some(list) = write_typed::<List>(db, &args[1], now, false)? else {
        ctx.out.int(0);
        return Ok(Replied);
    };
    let item = &args[3][..];
    let mut positions: Vec<usize> = list
        .items()
        .enumerate()
        .filter(|(_, it)| *it == item)
        .map(|(i, _)| i)
        .collect();
    if count < 0 {
        positions.reverse();
    }
    if count != 0 {
        positions.truncate(count.unsigned_abs() as usize);
    }
    positions.sort_unstable_by(|a, b| b.cmp(a));
    for &position in &positions {
        list.remove_at(position);
    }
    let emptied = list.is_empty();
    if emptied {
        db.remove(&args[1]);
    }
    if !positions.is_empty() {
        ctx.notify(notify::LIST, "lrem", &args[1]);
        if emptied {
            ctx.notify(notify::GENERIC, "del", &args[1]);
        }
    }
    ctx.out.int(positions.len() as i64);
    Ok(Replied)
}

fn lpos(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen: usize = 0;
    ArgCursor::new(args, 3).options(|word, cursor| {
        match word {
            "rank" => {
                rank = cursor.next_i64()?;
                if rank == 0 {
                    return Err(CmdError::err("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
                }
            }
            "count" => {
                count = Some(cursor.next_count(CmdError::err("COUNT can't be negative"))?)
            }
            "maxlen" => maxlen = cursor.next_count(CmdError::err("MAXLEN can't be negative"))?,
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    let now = ctx.now;
    let db = &mut ctx.ks.dbs[ctx.client.db];
    let Some(list) = read_typed::<List>(db, &args[1], now)? else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(Replied);
    };
    let len = list.len();
    let scan_limit = if maxlen == 0 { len } else { maxlen.min(len) };
    let wanted = match count {
        Some(0) => usize::MAX,
        Some(n) => n,
        None => 1,
    };
    // Matches to skip before collecting: RANK n means the nth match from that end.
    let skip = rank.unsigned_abs().saturating_sub(1) as usize;
    let indexed: Vec<usize> = if rank > 0 {
        list.items()
            .take(scan_limit)
            .enumerate()
            .filter(|(_, item)| *item == &args[2][..])
            .map(|(i, _)| i)
            .skip(skip)
            .take(wanted)
            .collect()
    } else {
        list.items()
            .rev()
            .take(scan_limit)
            .enumerate()
            .filter(|(_, item)| *item == &args[2][..])
            .map(|(i, _)| len - 1 - i)
            .skip(if rank == i64::MIN { 0 } else { skip })
            .take(wanted)
            .collect()
    };
    match count {
        Some(_) => {
            ctx.out.array(indexed.len());
            for position in indexed {
                ctx.out.int(position as i64);
            }
        }
        None => match indexed.first() {
            Some(&position) => ctx.out.int(position as i64),
            None => ctx.out.null(),
        },
    }
    Ok(Replied)
}

/// Pops from `src` at `from` and pushes onto `dst` at `to`; the item moved, if any.
fn move_item(
    db: &mut Db,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    now: i64,
) -> Result<Option<Vec<u8>>, CmdError> {
    if read_typed::<List>(db, src, now)?.is_none() {
        return Ok(None);
    }
    if db.contains(dst, now) && read_typed::<List>(db, dst, now)?.is_none() {
        return Err(CmdError::WrongType);
    }
    let Some(item) = pop_items(db, src, now, from, 1)?.and_then(|mut items| items.pop()) else {
        return Ok(None);
    };
    write_typed::<List>(db, dst, now, true)?
        .ok_or(CmdError::NoSuchKey)?
        .push(to, &item);
    Ok(Some(item))
}

fn lmove(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let from = end_arg(&args[3])?;
    let to = end_arg(&args[4])?;
    let now = ctx.now;
    let item = move_item(ctx.db(), &args[1], &args[2], from, to, now)?;
    if item.is_some() {
        notify_moved(ctx, args, from, to);
    }
    ctx.out.bulk_or_null(item.as_deref());
    Ok(Replied)
}

/// LMOVE's events, in Redis's order: the push onto the destination, then the pop from the
/// source.
fn notify_moved(ctx: &mut Ctx, args: &Args, from: End, to: End) {
    ctx.notify(notify::LIST, push_event(to), &args[2]);
    notify_popped(ctx, &args[1], from);
}

fn rpoplpush(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let item = move_item(ctx.db(), &args[1], &args[2], End::Tail, End::Head, now)?;
    if item.is_some() {
        notify_moved(ctx, args, End::Tail, End::Head);
    }
    ctx.out.bulk_or_null(item.as_deref());
    Ok(Replied)
}

/// A key and the items popped from it.
type Popped = (Vec<u8>, Vec<Vec<u8>>);

/// Pops from the first non-empty list of `keys`.
fn mpop_first(
    ctx: &mut Ctx,
    keys: &Args,
    end: End,
    count: usize,
) -> Result<Option<Popped>, CmdError> {
    let now = ctx.now;
    for key in keys {
        if let Some(items) = pop_items(ctx.db(), key, now, end, count)? {
            if !items.is_empty() {
                notify_popped(ctx, key, end);
                return Ok(Some((key.to_vec(), items)));
            }
        }
    }
    Ok(None)
}

fn reply_key_items(ctx: &mut Ctx, key: &[u8], items: &[Vec<u8>]) {
    ctx.out.array(2);
    ctx.out.bulk(key);
    ctx.out.bulks(items.iter());
}

fn lmpop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (keys, head, count) = parse_mpop(args, 1, ["left", "right"])?;
    let end = if head { End::Head } else { End::Tail };
    match mpop_first(ctx, &args[keys], end, count)? {
        Some((key, items)) => reply_key_items(ctx, &key, &items),
        None => ctx.out.null_array(),
    }
    Ok(Replied)
}

fn blocking_pop(ctx: &mut Ctx, args: &Args, end: End) -> CmdResult {
    let deadline = parse_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    match mpop_first(ctx, keys, end, 1)? {
        Some((key, items)) => {
            ctx.out.array(2);
            ctx.out.bulk(&key);
            ctx.out.bulk(&items[0]);
        }
        None => return Ok(block_or_give_up(ctx, keys, deadline, ValueType::List, true)),
    }
    Ok(Replied)
}

fn blpop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    blocking_pop(ctx, args, End::Head)
}

fn brpop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    blocking_pop(ctx, args, End::Tail)
}

fn blmpop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let deadline = parse_timeout(&args[1])?;
    let (keys, head, count) = parse_mpop(args, 2, ["left", "right"])?;
    let end = if head { End::Head } else { End::Tail };
    match mpop_first(ctx, &args[keys.clone()], end, count)? {
        Some((key, items)) => reply_key_items(ctx, &key, &items),
        None => {
            return Ok(block_or_give_up(
                ctx,
                &args[keys],
                deadline,
                ValueType::List,
                true,
            ))
        }
    }
    Ok(Replied)
}

fn blocking_move(ctx: &mut Ctx, args: &Args, from: End, to: End, timeout: &[u8]) -> CmdResult {
    let deadline = parse_timeout(timeout)?;
    let now = ctx.now;
    match move_item(ctx.db(), &args[1], &args[2], from, to, now)? {
        Some(item) => {
            notify_moved(ctx, args, from, to);
            ctx.out.bulk(&item)
        }
        None => {
            return Ok(block_or_give_up(
                ctx,
                &args[1..2],
                deadline,
                ValueType::List,
                false,
            ))
        }
    }
    Ok(Replied)
}

fn blmove(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let from = end_arg(&args[3])?;
    let to = end_arg(&args[4])?;
    blocking_move(ctx, args, from, to, &args[5])
}

fn brpoplpush(ctx: &mut Ctx, args: &Args) -> CmdResult {
    blocking_move(ctx, args, End::Tail, End::Head, &args[3])
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("lpush", lpush),
    ("rpush", rpush),
    ("lpushx", lpushx),
    ("rpushx", rpushx),
    ("lpop", lpop),
    ("rpop", rpop),
    ("llen", llen),
    ("lrange", lrange),
    ("lindex", lindex),
    ("lset", lset),
    ("linsert", linsert),
    ("lrem", lrem),
    ("ltrim", ltrim),
    ("lpos", lpos),
    ("lmove", lmove),
    ("rpoplpush", rpoplpush),
    ("lmpop", lmpop),
    ("blpop", blpop),
    ("brpop", brpop),
    ("blmove", blmove),
    ("brpoplpush", brpoplpush),
    ("blmpop", blmpop),
];
