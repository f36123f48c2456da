//! Helpers several families share: typed access to a key's collection, member removal, the
//! random-pick and index-range rules of Redis, argument parsing, and HELP replies.

use super::{is, ArgCursor, Args, CmdError, CmdResult, Ctx, Replied};
use crate::engine::value::{Collection, Typed};
use crate::engine::Db;
use bytes::Bytes;
use slotcache_protocol::command::help::write_help;
use slotcache_protocol::resp::Reply;

/// The collection at `key` for reading (counts a keyspace hit or miss): `None` when the key is
/// absent, WRONGTYPE when it holds another type.
pub fn read_typed<'a, T: Typed>(
    db: &'a mut Db,
    key: &[u8],
    now: i64,
) -> Result<Option<&'a T>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(entry) => T::of(&entry.value).map(Some).ok_or(CmdError::WrongType),
    }
}

/// The collection at `key` for writing, created empty when absent if `create`.
pub fn write_typed<'a, T: Typed>(
    db: &'a mut Db,
    key: &[u8],
    now: i64,
    create: bool,
) -> Result<Option<&'a mut T>, CmdError> {
    if !db.contains(key, now) {
        if !create {
            return Ok(None);
        }
        db.set(key, T::default().into_value(), now);
    }
    match db.get_mut(key, now) {
        Some(entry) => T::of_mut(&mut entry.value)
            .map(Some)
            .ok_or(CmdError::WrongType),
        None => Ok(None),
    }
}

/// HDEL, SREM and the like: removes the members named from `args[2..]`, deletes the key once
/// the collection is empty, and replies with how many were removed.
/// Publishes `event` of `class` (the command's name: srem, hdel, zrem) when anything went.
pub fn remove_members<T: Collection>(ctx: &mut Ctx, args: &Args, class: u32) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let Some(collection) = write_typed::<T>(db, &args[1], now, false)? else {
        ctx.out.int(0);
        return Ok(Replied);
    };
    let removed = args[2..]
        .iter()
        .filter(|m| collection.remove_member(m))
        .count();
    let emptied = collection.is_empty();
    if emptied {
        db.remove(&args[1]);
    }
    if removed > 0 {
        let event = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        ctx.notify(class, &event, &args[1]);
        if emptied {
            ctx.notify(crate::notify::GENERIC, "del", &args[1]);
        }
    }
    ctx.out.int(removed as i64);
    Ok(Replied)
}

/// The count argument of HRANDFIELD, SRANDMEMBER and ZRANDMEMBER, in Redis's range
/// (-LONG_MAX..=LONG_MAX).
pub fn random_count(arg: Option<&Bytes>) -> Result<Option<i64>, CmdError> {
    let Some(arg) = arg else { return Ok(None) };
    match int_arg(arg)? {
        i64::MIN => Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        count => Ok(Some(count)),
    }
}

/// What HRANDFIELD, SRANDMEMBER and ZRANDMEMBER answer for a missing key: an empty array when
/// a count was given, else null.
pub fn reply_no_random(out: &mut Reply, count: Option<i64>) {
    match count {
        Some(_) => out.array(0),
        None => out.null(),
    }
}

/// HRANDFIELD/ZRANDMEMBER arguments: the count, and whether `word` (WITHVALUES, WITHSCORES)
/// asks for the second half of each pair.
pub fn random_pair_args(args: &Args, word: &str) -> Result<(Option<i64>, bool), CmdError> {
    let count = random_count(args.get(2))?;
    let with_second = match args.len() {
        2 | 3 => false,
        4 if is(&args[3], word) => true,
        _ => return Err(CmdError::Syntax),
    };
    if with_second && count.is_some_and(|c| !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&c)) {
        return Err(CmdError::err("value is out of range"));
    }
    Ok((count, with_second))
}

/// Pairs as RESP3 nests them ([a, b] each) or RESP2 flattens them; first halves only unless
/// `both`.
pub fn reply_pairs<A, B>(
    out: &mut Reply,
    pairs: &[(A, B)],
    both: bool,
    first: impl Fn(&mut Reply, &A),
    second: impl Fn(&mut Reply, &B),
) {
    let nested = both && out.proto == slotcache_protocol::resp::Protocol::Resp3;
    out.array(if both && !nested {
        pairs.len() * 2
    } else {
        pairs.len()
    });
    for (a, b) in pairs {
        if nested {
            out.array(2);
        }
        first(out, a);
        if both {
            second(out, b);
        }
    }
}

/// The elements HRANDFIELD, SRANDMEMBER and ZRANDMEMBER return for a count: a negative count
/// asks for that many independent picks (repeats allowed), a positive one for that many
/// distinct elements, or all of them.
pub fn random_picks<T: Clone>(mut all: Vec<T>, count: i64, rng: &mut impl rand::Rng) -> Vec<T> {
    if all.is_empty() {
        return all;
    }
    if count < 0 {
        return (0..count.unsigned_abs())
            .map(|_| all[rng.random_range(0..all.len())].clone())
            .collect();
    }
    let count = count as usize;
    if count < all.len() {
        // A partial Fisher-Yates shuffle.
        for i in 0..count {
            let j = rng.random_range(i..all.len());
            all.swap(i, j);
        }
        all.truncate(count);
    }
    all
}

/// Resolves start and stop indexes (negative ones count from the end) against a length, as
/// LRANGE, ZRANGE and their kin do: the inclusive range, or None when it selects nothing.
pub fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// Parses an integer argument with Redis's strict rules.
pub fn int_arg(arg: &[u8]) -> Result<i64, CmdError> {
    slotcache_protocol::resp::parse::parse_i64(arg).ok_or(CmdError::NotInteger)
}

pub use slotcache_protocol::pause::millis_arg;
pub use slotcache_protocol::resp::parse::parse_f64;

/// Writes a HELP reply: a title line, then the lines given.
pub fn help_reply(ctx: &mut Ctx, command: &str, lines: &[&str]) -> CmdResult {
    write_help(ctx.out, command, lines);
    Ok(Replied)
}

/// SINTERCARD's and ZINTERCARD's LIMIT value: anything but a count (a missing value aside) is
/// "LIMIT can't be negative", as Redis answers.
pub fn intercard_limit(cursor: &mut ArgCursor) -> Result<usize, CmdError> {
    let value = cursor.value()?;
    int_arg(value)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| CmdError::err("LIMIT can't be negative"))
}
