//! Hash commands.

use super::scan::scan_collection;
use super::{int_arg, read_typed, write_typed, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use super::{random_pair_args, random_picks, remove_members, reply_no_random, reply_pairs};
use crate::engine::hash::Hash;
use crate::engine::longdouble;
use slotcache_protocol::command::wrong_arity;
use slotcache_protocol::resp::Reply;

fn check_pairs(args: &Args, name: &str) -> Result<(), CmdError> {
    if args.len() % 2 != 0 {
        return Err(wrong_arity(name));
    }
    Ok(())
}

fn set_pairs(ctx: &mut Ctx, args: &Args) -> Result<i64, CmdError> {
    let now = ctx.now;
    let hash = write_typed::<Hash>(ctx.db(), &args[1], now, true)?.ok_or(CmdError::NoSuchKey)?;
    let mut added = 0;
    for pair in args[2..].chunks(2) {
        added += hash.insert(&pair[0], &pair[1]) as i64;
    }
    Ok(added)
}

fn hset(ctx: &mut Ctx, args: &Args) -> CmdResult {
    check_pairs(args, "hset")?;
    let added = set_pairs(ctx, args)?;
    ctx.notify(crate::notify::HASH, "hset", &args[1]);
    ctx.out.int(added);
    Ok(Replied)
}

fn hmset(ctx: &mut Ctx, args: &Args) -> CmdResult {
    check_pairs(args, "hmset")?;
    set_pairs(ctx, args)?;
    ctx.notify(crate::notify::HASH, "hset", &args[1]);
    ctx.out.ok();
    Ok(Replied)
}

fn hsetnx(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let hash = write_typed::<Hash>(ctx.db(), &args[1], now, true)?.ok_or(CmdError::NoSuchKey)?;
    let added = hash.get(&args[2]).is_none() && hash.insert(&args[2], &args[3]);
    if added {
        ctx.notify(crate::notify::HASH, "hset", &args[1]);
    }
    ctx.out.int(added as i64);
    Ok(Replied)
}

fn hget(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let value = read_typed::<Hash>(ctx.db(), &args[1], now)?
        .and_then(|h| h.get(&args[2]).map(<[u8]>::to_vec));
    ctx.out.bulk_or_null(value.as_deref());
    Ok(Replied)
}

fn hmget(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let values: Vec<Option<Vec<u8>>> = match read_typed::<Hash>(ctx.db(), &args[1], now)? {
        Some(hash) => args[2..]
            .iter()
            .map(|f| hash.get(f).map(<[u8]>::to_vec))
            .collect(),
        None => vec![None; args.len() - 2],
    };
    ctx.out.array(values.len());
    for value in values {
        ctx.out.bulk_or_null(value.as_deref());
    }
    Ok(Replied)
}

/// Writes field/value pairs as a map (RESP3) or flat array (RESP2).
fn write_pairs(out: &mut Reply, pairs: &[(&[u8], &[u8])]) {
    out.map(pairs.len());
    for (field, value) in pairs {
        out.bulk(field);
        out.bulk(value);
    }
}

fn hgetall(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.ks.dbs[ctx.client.db];
    match read_typed::<Hash>(db, &args[1], now)? {
        Some(hash) => write_pairs(ctx.out, &hash.pairs()),
        None => ctx.out.map(0),
    }
    Ok(Replied)
}

fn hkeys_or_vals(ctx: &mut Ctx, args: &Args, keys: bool) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.ks.dbs[ctx.client.db];
    match read_typed::<Hash>(db, &args[1], now)? {
        Some(hash) => {
            let pairs = hash.pairs();
            ctx.out
                .bulks(pairs.iter().map(|(f, v)| if keys { *f } else { *v }));
        }
        None => ctx.out.array(0),
    }
    Ok(Replied)
}

fn hkeys(ctx: &mut Ctx, args: &Args) -> CmdResult {
    hkeys_or_vals(ctx, args, true)
}

fn hvals(ctx: &mut Ctx, args: &Args) -> CmdResult {
    hkeys_or_vals(ctx, args, false)
}

fn hdel(ctx: &mut Ctx, args: &Args) -> CmdResult {
    remove_members::<Hash>(ctx, args, crate::notify::HASH)
}

fn hexists(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let found =
        read_typed::<Hash>(ctx.db(), &args[1], now)?.is_some_and(|h| h.get(&args[2]).is_some());
    ctx.out.int(found as i64);
    Ok(Replied)
}

fn hlen(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let len = read_typed::<Hash>(ctx.db(), &args[1], now)?.map_or(0, Hash::len);
    ctx.out.int(len as i64);
    Ok(Replied)
}

fn hstrlen(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let len = read_typed::<Hash>(ctx.db(), &args[1], now)?
        .and_then(|h| h.get(&args[2]).map(<[u8]>::len))
        .unwrap_or(0);
    ctx.out.int(len as i64);
    Ok(Replied)
}

fn hincrby(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let delta = int_arg(&args[3])?;
    let now = ctx.now;
    let hash = write_typed::<Hash>(ctx.db(), &args[1], now, true)?.ok_or(CmdError::NoSuchKey)?;
    let current = match hash.get(&args[2]) {
        Some(value) => slotcache_protocol::resp::parse::parse_i64(value)
            .ok_or_else(|| CmdError::err("hash value is not an integer"))?,
        None => 0,
    };
    let next = current.checked_add(delta).ok_or(CmdError::Overflow)?;
    hash.insert(&args[2], itoa::Buffer::new().format(next).as_bytes());
    ctx.notify(crate::notify::HASH, "hincrby", &args[1]);
    ctx.out.int(next);
    Ok(Replied)
}

fn hincrbyfloat(ctx: &mut Ctx, args: &Args) -> CmdResult {
    // The increment is checked before the stored value, as Redis does.
    longdouble::add(b"0", &args[3]).map_err(|err| match err {
        longdouble::AddError::NotAFloat => CmdError::NotFloat,
        longdouble::AddError::NanOrInfinity => CmdError::err("value is NaN or Infinity"),
    })?;
    let now = ctx.now;
    let hash = write_typed::<Hash>(ctx.db(), &args[1], now, true)?.ok_or(CmdError::NoSuchKey)?;
    let current = hash
        .get(&args[2])
        .map_or_else(|| b"0".to_vec(), <[u8]>::to_vec);
    let sum = longdouble::add(&current, &args[3]).map_err(|err| match err {
        longdouble::AddError::NotAFloat => CmdError::err("hash value is not a float"),
        longdouble::AddError::NanOrInfinity => {
            CmdError::err("increment would produce NaN or Infinity")
        }
    })?;
    hash.insert(&args[2], &sum);
    ctx.notify(crate::notify::HASH, "hincrbyfloat", &args[1]);
    ctx.out.bulk(&sum);
    Ok(Replied)
}

fn hrandfield(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (count, with_values) = random_pair_args(args, "withvalues")?;
    let now = ctx.now;
    let db = &mut ctx.ks.dbs[ctx.client.db];
    let Some(hash) = read_typed::<Hash>(db, &args[1], now)? else {
        reply_no_random(ctx.out, count);
        return Ok(Replied);
    };
    let mut rng = rand::rng();
    let Some(count) = count else {
        match hash.random_pair(&mut rng) {
            Some((field, _)) => ctx.out.bulk(field),
            None => ctx.out.null(),
        }
        return Ok(Replied);
    };
    let picked = random_picks(hash.pairs(), count, &mut rng);
    let bulk = |out: &mut Reply, data: &&[u8]| out.bulk(data);
    reply_pairs(ctx.out, &picked, with_values, bulk, bulk);
    Ok(Replied)
}

fn hscan(ctx: &mut Ctx, args: &Args) -> CmdResult {
    // Fields and values both count toward COUNT, as in Redis.
    scan_collection::<Hash>(ctx, args, |hash, cursor, opts, found| {
        hash.scan(cursor, |field, value| {
            if opts.matches(field) {
                found.push(field.to_vec());
                found.push(value.to_vec());
            }
        })
    })
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("hset", hset),
    ("hsetnx", hsetnx),
    ("hget", hget),
    ("hmset", hmset),
    ("hmget", hmget),
    ("hgetall", hgetall),
    ("hdel", hdel),
    ("hexists", hexists),
    ("hlen", hlen),
    ("hkeys", hkeys),
    ("hvals", hvals),
    ("hincrby", hincrby),
    ("hincrbyfloat", hincrbyfloat),
    ("hstrlen", hstrlen),
    ("hrandfield", hrandfield),
    ("hscan", hscan),
];
