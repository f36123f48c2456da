//! Set commands.

use super::scan::scan_collection;
use super::{
    int_arg, read_typed, write_typed, ArgCursor, Args, CmdError, CmdResult, Ctx, Handler, Replied,
};
use super::{random_count, random_picks, remove_members, reply_no_random};
use crate::engine::set::Set;
use crate::engine::value::Typed;
use crate::engine::Db;
use bytes::Bytes;

/// Replies with members as a set (`~` in RESP3, an array in RESP2).
fn reply_set<T: AsRef<[u8]>>(ctx: &mut Ctx, members: &[T]) {
    ctx.out.set(members.len());
    for member in members {
        ctx.out.bulk(member.as_ref());
    }
}

fn sadd(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let set = write_typed::<Set>(ctx.db(), &args[1], now, true)?.ok_or(CmdError::NoSuchKey)?;
    let added = args[2..].iter().filter(|m| set.insert(m)).count();
    if added > 0 {
        ctx.notify(crate::notify::SET, "sadd", &args[1]);
    }
    ctx.out.int(added as i64);
    Ok(Replied)
}

fn srem(ctx: &mut Ctx, args: &Args) -> CmdResult {
    remove_members::<Set>(ctx, args, crate::notify::SET)
}

fn smembers(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let members: Vec<Vec<u8>> = read_typed::<Set>(ctx.db(), &args[1], now)?
        .map(|s| s.members().into_iter().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    reply_set(ctx, &members);
    Ok(Replied)
}

fn sismember(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let found = read_typed::<Set>(ctx.db(), &args[1], now)?.is_some_and(|s| s.contains(&args[2]));
    ctx.out.int(found as i64);
    Ok(Replied)
}

fn smismember(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let found: Vec<bool> = match read_typed::<Set>(ctx.db(), &args[1], now)? {
        Some(set) => args[2..].iter().map(|m| set.contains(m)).collect(),
        None => vec![false; args.len() - 2],
    };
    ctx.out.array(found.len());
    for f in found {
        ctx.out.int(f as i64);
    }
    Ok(Replied)
}

fn scard(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let len = read_typed::<Set>(ctx.db(), &args[1], now)?.map_or(0, Set::len);
    ctx.out.int(len as i64);
    Ok(Replied)
}

fn positive_count(arg: &[u8]) -> Result<usize, CmdError> {
    match int_arg(arg) {
        Ok(n) if n >= 0 => Ok(n as usize),
        _ => Err(CmdError::err("value is out of range, must be positive")),
    }
}

fn spop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = args.get(2).map(|a| positive_count(a)).transpose()?;
    let now = ctx.now;
    let db = ctx.db();
    let Some(set) = write_typed::<Set>(db, &args[1], now, false)? else {
        match count {
            Some(_) => ctx.out.set(0),
            None => ctx.out.null(),
        }
        return Ok(Replied);
    };
    let mut rng = rand::rng();
    let popped: Vec<Vec<u8>> = match count {
        Some(n) if n >= set.len() => set.members().into_iter().map(<[u8]>::to_vec).collect(),
        Some(n) => {
            let mut popped = Vec::with_capacity(n);
            while popped.len() < n {
                let Some(member) = set.random_member(&mut rng).map(<[u8]>::to_vec) else {
                    break;
                };
                set.remove(&member);
                popped.push(member);
            }
            popped
        }
        None => set
            .random_member(&mut rng)
            .map(<[u8]>::to_vec)
            .into_iter()
            .collect(),
    };
    for member in &popped {
        set.remove(member);
    }
    let emptied = set.is_empty();
    if emptied {
        db.remove(&args[1]);
    }
    if !popped.is_empty() {
        ctx.notify(crate::notify::SET, "spop", &args[1]);
        if emptied {
            ctx.notify(crate::notify::GENERIC, "del", &args[1]);
        }
        // Replicas remove the members chosen here, not members of their own choosing.
        let mut effect = vec![Bytes::from_static(b"SREM"), args[1].clone()];
        effect.extend(popped.iter().map(|m| Bytes::copy_from_slice(m)));
        ctx.ks.log.substitute(effect);
    }
    match count {
        Some(_) => reply_set(ctx, &popped),
        None => ctx.out.bulk_or_null(popped.first().map(Vec::as_slice)),
    }
    Ok(Replied)
}

fn srandmember(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = random_count(args.get(2))?;
    let now = ctx.now;
    let db = &mut ctx.ks.dbs[ctx.client.db];
    let Some(set) = read_typed::<Set>(db, &args[1], now)? else {
        reply_no_random(ctx.out, count);
        return Ok(Replied);
    };
    let mut rng = rand::rng();
    let Some(count) = count else {
        ctx.out.bulk_or_null(set.random_member(&mut rng));
        return Ok(Replied);
    };
    let picked = random_picks(set.members(), count, &mut rng);
    ctx.out.bulks(picked.iter());
    Ok(Replied)
}

fn smove(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let now = ctx.now;
    let db = ctx.db();
    if !db.contains(src, now) {
        ctx.out.int(0);
        return Ok(Replied);
    }
    // Checked by reading: a look for writing would count as a change to WATCH.
    let src_is_set = read_typed::<Set>(db, src, now)?.is_some();
    if !src_is_set || read_typed::<Set>(db, dst, now).is_err() {
        return Err(CmdError::WrongType);
    }
    if src == dst {
        let found = read_typed::<Set>(db, src, now)?.is_some_and(|s| s.contains(member));
        ctx.out.int(found as i64);
        return Ok(Replied);
    }
    let source = write_typed::<Set>(db, src, now, false)?.ok_or(CmdError::NoSuchKey)?;
    if !source.remove(member) {
        ctx.out.int(0);
        return Ok(Replied);
    }
    let emptied = source.is_empty();
    if emptied {
        db.remove(src);
    }
    // Events in Redis's order: the removal, the source's deletion, then the destination's
    // creation and addition.
    ctx.notify(crate::notify::SET, "srem", src);
    if emptied {
        ctx.notify(crate::notify::GENERIC, "del", src);
    }
    // A destination that has the member already is left untouched (its watchers too).
    let db = ctx.db();
    let added = !read_typed::<Set>(db, dst, now)?.is_some_and(|s| s.contains(member));
    if added {
        write_typed::<Set>(db, dst, now, true)?
            .ok_or(CmdError::NoSuchKey)?
            .insert(member);
        ctx.notify(crate::notify::SET, "sadd", dst);
    }
    ctx.out.int(1);
    Ok(Replied)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

/// The members of SINTER/SUNION/SDIFF over `keys`. Every key is type-checked first, as Redis
/// does; a missing key is an empty set.
fn combine(
    db: &mut Db,
    keys: &[bytes::Bytes],
    now: i64,
    op: Algebra,
) -> Result<Vec<Vec<u8>>, CmdError> {
    // Expire and type-check every key first, then read the sets where they are.
    for key in keys {
        read_typed::<Set>(db, key, now)?;
    }
    let db: &Db = db;
    let sets: Vec<Option<&Set>> = keys
        .iter()
        .map(|key| db.peek_entry(key).and_then(|e| Set::of(&e.value)))
        .collect();
    if op == Algebra::Inter && sets.iter().any(Option::is_none) {
        return Ok(Vec::new());
    }
    let present: Vec<&Set> = sets.iter().flatten().copied().collect();
    Ok(match op {
        Algebra::Inter => {
            let smallest = present.iter().min_by_key(|s| s.len()).copied();
            smallest
                .map(|base| {
                    base.members()
                        .into_iter()
                        .filter(|m| present.iter().all(|s| s.contains(m)))
                        .map(<[u8]>::to_vec)
                        .collect()
                })
                .unwrap_or_default()
        }
        Algebra::Union => {
            let mut union = Set::default();
            for set in &present {
                for member in set.members() {
                    union.insert(member);
                }
            }
            union.members().into_iter().map(<[u8]>::to_vec).collect()
        }
        Algebra::Diff => match &sets[0] {
            None => Vec::new(),
            Some(first) => first
                .members()
                .into_iter()
                .filter(|m| !sets[1..].iter().flatten().any(|s| s.contains(m)))
                .map(<[u8]>::to_vec)
                .collect(),
        },
    })
}

fn algebra(ctx: &mut Ctx, args: &Args, op: Algebra) -> CmdResult {
    let now = ctx.now;
    let members = combine(ctx.db(), &args[1..], now, op)?;
    reply_set(ctx, &members);
    Ok(Replied)
}

fn algebra_store(ctx: &mut Ctx, args: &Args, op: Algebra) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let members = combine(db, &args[2..], now, op)?;
    if members.is_empty() {
        if db.remove(&args[1]).is_some() {
            ctx.notify(crate::notify::GENERIC, "del", &args[1]);
        }
    } else {
        let mut set = Set::default();
        for member in &members {
            set.insert(member);
        }
        db.set(&args[1], set.into_value(), now);
        let event = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        ctx.notify(crate::notify::SET, &event, &args[1]);
    }
    ctx.out.int(members.len() as i64);
    Ok(Replied)
}

/// SINTER, SUNION, SDIFF and their STORE forms, told apart by name.
fn set_algebra(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let name = args[0].to_ascii_lowercase();
    let op = if name.starts_with(b"sinter") {
        Algebra::Inter
    } else if name.starts_with(b"sunion") {
        Algebra::Union
    } else {
        Algebra::Diff
    };
    if name.ends_with(b"store") {
        algebra_store(ctx, args, op)
    } else {
        algebra(ctx, args, op)
    }
}

fn sintercard(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let numkeys = match int_arg(&args[1]) {
        Ok(n) if n > 0 => n as usize,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    if numkeys > args.len() - 2 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    ArgCursor::new(args, 2 + numkeys).options(|word, cursor| match word {
        "limit" => {
            limit = super::intercard_limit(cursor)?;
            Ok(())
        }
        _ => Err(CmdError::Syntax),
    })?;
    let now = ctx.now;
    let members = combine(ctx.db(), &args[2..2 + numkeys], now, Algebra::Inter)?;
    let count = if limit > 0 {
        members.len().min(limit)
    } else {
        members.len()
    };
    ctx.out.int(count as i64);
    Ok(Replied)
}

fn sscan(ctx: &mut Ctx, args: &Args) -> CmdResult {
    scan_collection::<Set>(ctx, args, |set, cursor, opts, found| {
        set.scan(cursor, |member| {
            if opts.matches(member) {
                found.push(member.to_vec());
            }
        })
    })
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("sadd", sadd),
    ("srem", srem),
    ("smembers", smembers),
    ("sismember", sismember),
    ("smismember", smismember),
    ("scard", scard),
    ("spop", spop),
    ("srandmember", srandmember),
    ("smove", smove),
    ("sinter", set_algebra),
    ("sintercard", sintercard),
    ("sunion", set_algebra),
    ("sdiff", set_algebra),
    ("sinterstore", set_algebra),
    ("sunionstore", set_algebra),
    ("sdiffstore", set_algebra),
    ("sscan", sscan),
];
