//! Hash commands.

use super::keys::scan_collection;
use super::{
    int_arg, ks, read_typed, write_typed, Args, Begin, CmdError, CmdResult, CommandSpec, Ctx, Find,
};
use super::{random_pair_args, random_picks, remove_members, reply_no_random, reply_pairs};
use crate::engine::hash::Hash;
use crate::engine::longdouble;
use crate::resp::Reply;

fn check_pairs(args: &Args, name: &str) -> CmdResult {
    if args.len() % 2 != 0 {
        return Err(CmdError::Other(format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
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
    ctx.out.int(added);
    Ok(())
}

fn hmset(ctx: &mut Ctx, args: &Args) -> CmdResult {
    check_pairs(args, "hmset")?;
    set_pairs(ctx, args)?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let hash = write_typed::<Hash>(ctx.db(), &args[1], now, true)?.ok_or(CmdError::NoSuchKey)?;
    let added = hash.get(&args[2]).is_none() && hash.insert(&args[2], &args[3]);
    ctx.out.int(added as i64);
    Ok(())
}

fn hget(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let value = read_typed::<Hash>(ctx.db(), &args[1], now)?
        .and_then(|h| h.get(&args[2]).map(<[u8]>::to_vec));
    ctx.out.bulk_or_null(value.as_deref());
    Ok(())
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
    Ok(())
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
    Ok(())
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
    Ok(())
}

fn hkeys(ctx: &mut Ctx, args: &Args) -> CmdResult {
    hkeys_or_vals(ctx, args, true)
}

fn hvals(ctx: &mut Ctx, args: &Args) -> CmdResult {
    hkeys_or_vals(ctx, args, false)
}

fn hdel(ctx: &mut Ctx, args: &Args) -> CmdResult {
    remove_members::<Hash>(ctx, args)
}

fn hexists(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let found =
        read_typed::<Hash>(ctx.db(), &args[1], now)?.is_some_and(|h| h.get(&args[2]).is_some());
    ctx.out.int(found as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let len = read_typed::<Hash>(ctx.db(), &args[1], now)?.map_or(0, Hash::len);
    ctx.out.int(len as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let len = read_typed::<Hash>(ctx.db(), &args[1], now)?
        .and_then(|h| h.get(&args[2]).map(<[u8]>::len))
        .unwrap_or(0);
    ctx.out.int(len as i64);
    Ok(())
}

fn hincrby(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let delta = int_arg(&args[3])?;
    let now = ctx.now;
    let hash = write_typed::<Hash>(ctx.db(), &args[1], now, true)?.ok_or(CmdError::NoSuchKey)?;
    let current = match hash.get(&args[2]) {
        Some(value) => crate::resp::parse::parse_i64(value)
            .ok_or_else(|| CmdError::err("hash value is not an integer"))?,
        None => 0,
    };
    let next = current.checked_add(delta).ok_or(CmdError::Overflow)?;
    hash.insert(&args[2], itoa::Buffer::new().format(next).as_bytes());
    ctx.out.int(next);
    Ok(())
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
    ctx.out.bulk(&sum);
    Ok(())
}

fn hrandfield(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (count, with_values) = random_pair_args(args, "withvalues")?;
    let now = ctx.now;
    let db = &mut ctx.ks.dbs[ctx.client.db];
    let Some(hash) = read_typed::<Hash>(db, &args[1], now)? else {
        reply_no_random(ctx.out, count);
        return Ok(());
    };
    let mut rng = rand::rng();
    let Some(count) = count else {
        match hash.random_pair(&mut rng) {
            Some((field, _)) => ctx.out.bulk(field),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let picked = random_picks(hash.pairs(), count, &mut rng);
    let bulk = |out: &mut Reply, data: &&[u8]| out.bulk(data);
    reply_pairs(ctx.out, &picked, with_values, bulk, bulk);
    Ok(())
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

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "hset",
        arity: -4,
        flags: "write denyoom fast",
        acl: "@write @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RW update", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Set the string value of a hash field",
        since: "2.0.0",
        group: "hash",
        complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
        handler: Some(hset),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hsetnx",
        arity: 4,
        flags: "write denyoom fast",
        acl: "@write @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RW insert", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Set the value of a hash field, only if the field does not exist",
        since: "2.0.0",
        group: "hash",
        complexity: "O(1)",
        handler: Some(hsetnx),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hget",
        arity: 3,
        flags: "readonly fast",
        acl: "@read @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Get the value of a hash field",
        since: "2.0.0",
        group: "hash",
        complexity: "O(1)",
        handler: Some(hget),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hmset",
        arity: -4,
        flags: "write denyoom fast",
        acl: "@write @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RW update", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Set multiple hash fields to multiple values",
        since: "2.0.0",
        group: "hash",
        complexity: "O(N) where N is the number of fields being set.",
        handler: Some(hmset),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hmget",
        arity: -3,
        flags: "readonly fast",
        acl: "@read @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Get the values of all the given hash fields",
        since: "2.0.0",
        group: "hash",
        complexity: "O(N) where N is the number of fields being requested.",
        handler: Some(hmget),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hgetall",
        arity: 2,
        flags: "readonly",
        acl: "@read @hash @slow",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        tips: "nondeterministic_output_order",
        summary: "Get all the fields and values in a hash",
        since: "2.0.0",
        group: "hash",
        complexity: "O(N) where N is the size of the hash.",
        handler: Some(hgetall),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hdel",
        arity: -3,
        flags: "write fast",
        acl: "@write @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RW delete", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Delete one or more hash fields",
        since: "2.0.0",
        group: "hash",
        complexity: "O(N) where N is the number of fields to be removed.",
        handler: Some(hdel),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hexists",
        arity: 3,
        flags: "readonly fast",
        acl: "@read @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RO", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Determine if a hash field exists",
        since: "2.0.0",
        group: "hash",
        complexity: "O(1)",
        handler: Some(hexists),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hlen",
        arity: 2,
        flags: "readonly fast",
        acl: "@read @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RO", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Get the number of fields in a hash",
        since: "2.0.0",
        group: "hash",
        complexity: "O(1)",
        handler: Some(hlen),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hkeys",
        arity: 2,
        flags: "readonly",
        acl: "@read @hash @slow",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        tips: "nondeterministic_output_order",
        summary: "Get all the fields in a hash",
        since: "2.0.0",
        group: "hash",
        complexity: "O(N) where N is the size of the hash.",
        handler: Some(hkeys),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hvals",
        arity: 2,
        flags: "readonly",
        acl: "@read @hash @slow",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        tips: "nondeterministic_output_order",
        summary: "Get all the values in a hash",
        since: "2.0.0",
        group: "hash",
        complexity: "O(N) where N is the size of the hash.",
        handler: Some(hvals),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hincrby",
        arity: 4,
        flags: "write denyoom fast",
        acl: "@write @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RW access update", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Increment the integer value of a hash field by the given number",
        since: "2.0.0",
        group: "hash",
        complexity: "O(1)",
        handler: Some(hincrby),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hincrbyfloat",
        arity: 4,
        flags: "write denyoom fast",
        acl: "@write @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RW access update", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Increment the float value of a hash field by the given amount",
        since: "2.6.0",
        group: "hash",
        complexity: "O(1)",
        handler: Some(hincrbyfloat),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hstrlen",
        arity: 3,
        flags: "readonly fast",
        acl: "@read @hash @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RO", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Get the length of the value of a hash field",
        since: "3.2.0",
        group: "hash",
        complexity: "O(1)",
        handler: Some(hstrlen),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hrandfield",
        arity: -2,
        flags: "readonly",
        acl: "@read @hash @slow",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        tips: "nondeterministic_output",
        summary: "Get one or multiple random fields from a hash",
        since: "6.2.0",
        group: "hash",
        complexity: "O(N) where N is the number of fields returned",
        handler: Some(hrandfield),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hscan",
        arity: -3,
        flags: "readonly",
        acl: "@read @hash @slow",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        tips: "nondeterministic_output",
        summary: "Incrementally iterate hash fields and associated values",
        since: "2.8.0",
        group: "hash",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
        handler: Some(hscan),
        ..CommandSpec::DEFAULT
    },
];
