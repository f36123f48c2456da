//! Generic key commands: existence, deletion, expiry, renaming, copying, iteration, OBJECT,
//! DUMP and RESTORE.

use super::connection::{db_index, only_db_zero_in_cluster};
use super::help_reply;
use super::scan::{parse_scan, reply_scan};
use super::{int_arg, is, ArgCursor, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::engine::dump::{deserialize, serialize};
use crate::engine::{Db, Value};
use crate::notify;
use slotcache_protocol::glob;

fn del(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let mut removed = Vec::new();
    for key in &args[1..] {
        if !db.expire_if_needed(key, now) && db.remove(key).is_some() {
            removed.push(key);
        }
    }
    for key in &removed {
        ctx.notify(notify::GENERIC, "del", key);
    }
    ctx.out.int(removed.len() as i64);
    Ok(Replied)
}

fn exists(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let found = args[1..].iter().filter(|key| db.contains(key, now)).count();
    ctx.out.int(found as i64);
    Ok(Replied)
}

fn touch(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let found = args[1..]
        .iter()
        .filter(|key| db.get(key, now).is_some())
        .count();
    ctx.out.int(found as i64);
    Ok(Replied)
}

fn type_(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let name = match ctx.db().peek(&args[1], now) {
        Some(entry) => entry.value.value_type().name(),
        None => "none",
    };
    ctx.out.simple(name);
    Ok(Replied)
}

/// How an EXPIRE-family command reads its time argument.
#[derive(Clone, Copy)]
struct ExpireForm {
    name: &'static str,
    unit_ms: i64,
    absolute: bool,
}

#[derive(Default)]
struct ExpireCondition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_condition(args: &Args) -> Result<ExpireCondition, CmdError> {
    let mut cond = ExpireCondition::default();
    for arg in args {
        if is(arg, "nx") {
            cond.nx = true;
        } else if is(arg, "xx") {
            cond.xx = true;
        } else if is(arg, "gt") {
            cond.gt = true;
        } else if is(arg, "lt") {
            cond.lt = true;
        } else {
            return Err(CmdError::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(arg)
            )));
        }
    }
    if cond.nx && (cond.xx || cond.gt || cond.lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if cond.gt && cond.lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(cond)
}

/// The absolute deadline in ms a relative or absolute time argument means, or the error
/// Redis gives when it overflows.
pub fn deadline_ms(
    value: i64,
    unit_ms: i64,
    absolute: bool,
    now: i64,
    name: &'static str,
) -> Result<i64, CmdError> {
    let ms = value
        .checked_mul(unit_ms)
        .ok_or(CmdError::InvalidExpire(name))?;
    if absolute {
        Ok(ms)
    } else {
        ms.checked_add(now).ok_or(CmdError::InvalidExpire(name))
    }
}

fn generic_expire(ctx: &mut Ctx, args: &Args, form: ExpireForm) -> CmdResult {
    let cond = parse_expire_condition(&args[3..])?;
    let value = int_arg(&args[2])?;
    let now = ctx.now;
    let at = deadline_ms(value, form.unit_ms, form.absolute, now, form.name)?;
    let db = ctx.db();
    if !db.contains(&args[1], now) {
        ctx.out.int(0);
        return Ok(Replied);
    }
    let current = db.deadline(&args[1]);
    let allowed = match current {
        // No TTL counts as an infinite one.
        None => !(cond.xx || cond.gt),
        Some(existing) => !(cond.nx || (cond.gt && at <= existing) || (cond.lt && at >= existing)),
    };
    if !allowed {
        ctx.out.int(0);
        return Ok(Replied);
    }
    if at <= now {
        db.remove(&args[1]);
        ctx.notify(notify::GENERIC, "del", &args[1]);
    } else {
        db.set_deadline(&args[1], at);
        ctx.notify(notify::GENERIC, "expire", &args[1]);
    }
    ctx.out.int(1);
    Ok(Replied)
}

fn expire(ctx: &mut Ctx, args: &Args) -> CmdResult {
    generic_expire(
        ctx,
        args,
        ExpireForm {
            name: "expire",
            unit_ms: 1000,
            absolute: false,
        },
    )
}

fn pexpire(ctx: &mut Ctx, args: &Args) -> CmdResult {
    generic_expire(
        ctx,
        args,
        ExpireForm {
            name: "pexpire",
            unit_ms: 1,
            absolute: false,
        },
    )
}

fn expireat(ctx: &mut Ctx, args: &Args) -> CmdResult {
    generic_expire(
        ctx,
        args,
        ExpireForm {
            name: "expireat",
            unit_ms: 1000,
            absolute: true,
        },
    )
}

fn pexpireat(ctx: &mut Ctx, args: &Args) -> CmdResult {
    generic_expire(
        ctx,
        args,
        ExpireForm {
            name: "pexpireat",
            unit_ms: 1,
            absolute: true,
        },
    )
}

/// TTL-family reply: -2 missing, -1 no deadline, else `shown(deadline)`.
fn ttl_reply(ctx: &mut Ctx, key: &[u8], shown: impl Fn(i64, i64) -> i64) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let reply = if !db.contains(key, now) {
        -2
    } else {
        match db.deadline(key) {
            None => -1,
            Some(at) => shown(at, now),
        }
    };
    ctx.out.int(reply);
    Ok(Replied)
}

fn ttl(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ttl_reply(ctx, &args[1], |at, now| ((at - now).max(0) + 500) / 1000)
}

fn pttl(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ttl_reply(ctx, &args[1], |at, now| (at - now).max(0))
}

fn expiretime(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ttl_reply(ctx, &args[1], |at, _| at / 1000)
}

fn pexpiretime(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ttl_reply(ctx, &args[1], |at, _| at)
}

fn persist(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let done = db.contains(&args[1], now) && db.persist(&args[1]);
    if done {
        ctx.notify(notify::GENERIC, "persist", &args[1]);
    }
    ctx.out.int(done as i64);
    Ok(Replied)
}

/// Moves `from` to `to` inside one database keeping its TTL. False if `to` exists and `nx`.
fn rename_within(
    db: &mut Db,
    from: &[u8],
    to: &[u8],
    nx: bool,
    now: i64,
) -> Result<bool, CmdError> {
    if !db.contains(from, now) {
        return Err(CmdError::NoSuchKey);
    }
    if from == to {
        return Ok(!nx);
    }
    if nx && db.contains(to, now) {
        return Ok(false);
    }
    let deadline = db.deadline(from);
    let value = db.remove(from).ok_or(CmdError::NoSuchKey)?;
    db.set(to, value, now);
    if let Some(at) = deadline {
        db.set_deadline(to, at);
    }
    Ok(true)
}

/// The events of a rename that happened.
fn notify_rename(ctx: &mut Ctx, args: &Args) {
    ctx.notify(notify::GENERIC, "rename_from", &args[1]);
    ctx.notify(notify::GENERIC, "rename_to", &args[2]);
}

fn rename(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    rename_within(ctx.db(), &args[1], &args[2], false, now)?;
    notify_rename(ctx, args);
    ctx.out.ok();
    Ok(Replied)
}

fn renamenx(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let done = rename_within(ctx.db(), &args[1], &args[2], true, now)?;
    if done {
        notify_rename(ctx, args);
    }
    ctx.out.int(done as i64);
    Ok(Replied)
}

fn copy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut target_db = ctx.client.db;
    let mut replace = false;
    ArgCursor::new(args, 3).options(|word, cursor| {
        match word {
            "replace" => replace = true,
            "db" => target_db = db_index(ctx, cursor.value()?, CmdError::NotInteger)?,
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    if target_db != 0 || ctx.client.db != 0 {
        only_db_zero_in_cluster(
            ctx,
            "Copying to another database is not allowed in cluster mode",
        )?;
    }
    let (src, dst) = (&args[1], &args[2]);
    if target_db == ctx.client.db && src == dst {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let now = ctx.now;
    let source_db = ctx.client.db;
    let Some(entry) = ctx.ks.dbs[source_db].peek(src, now) else {
        ctx.out.int(0);
        return Ok(Replied);
    };
    let value = entry.value.clone();
    let deadline = ctx.ks.dbs[source_db].deadline(src);
    let target = &mut ctx.ks.dbs[target_db];
    if target.contains(dst, now) && !replace {
        ctx.out.int(0);
        return Ok(Replied);
    }
    target.set(dst, value, now);
    if let Some(at) = deadline {
        target.set_deadline(dst, at);
    }
    ctx.notify_in(target_db, notify::GENERIC, "copy_to", dst);
    ctx.out.int(1);
    Ok(Replied)
}

fn move_(ctx: &mut Ctx, args: &Args) -> CmdResult {
    only_db_zero_in_cluster(ctx, "MOVE is not allowed in cluster mode")?;
    let target_db = db_index(ctx, &args[2], CmdError::NotInteger)?;
    let source_db = ctx.client.db;
    if target_db == source_db {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let now = ctx.now;
    let key = &args[1];
    if !ctx.ks.dbs[source_db].contains(key, now) || ctx.ks.dbs[target_db].contains(key, now) {
        ctx.out.int(0);
        return Ok(Replied);
    }
    let deadline = ctx.ks.dbs[source_db].deadline(key);
    let Some(value) = ctx.ks.dbs[source_db].remove(key) else {
        ctx.out.int(0);
        return Ok(Replied);
    };
    let target = &mut ctx.ks.dbs[target_db];
    target.set(key, value, now);
    if let Some(at) = deadline {
        target.set_deadline(key, at);
    }
    // As Redis: the key's arrival (`new`) first, then its departure and its arrival.
    ctx.announce_created(target_db);
    ctx.notify(notify::GENERIC, "move_from", key);
    ctx.notify_in(target_db, notify::GENERIC, "move_to", key);
    ctx.out.int(1);
    Ok(Replied)
}

fn keys(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let pattern = &args[1];
    let all = pattern.as_ref() == b"*";
    let db = ctx.db();
    let found: Vec<Vec<u8>> = db
        .keys()
        .map(|(key, _)| key)
        .filter(|key| all || glob::matches(pattern, key, false))
        .map(|key| key.to_vec())
        .collect();
    // Expired keys met on the way are deleted, as Redis's KEYS does.
    let live: Vec<Vec<u8>> = found
        .into_iter()
        .filter(|key| !db.expire_if_needed(key, now))
        .collect();
    ctx.out.bulks(live.iter());
    Ok(Replied)
}

fn scan(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let opts = parse_scan(args, 1, true)?;
    let now = ctx.now;
    let db = ctx.db();
    let (cursor, found) = opts.collect(|cursor, found| {
        db.scan(cursor, now, |key, entry| {
            let type_ok = opts
                .type_filter
                .as_ref()
                .is_none_or(|t| entry.value.value_type().name() == t);
            if opts.matches(key) && type_ok {
                found.push(key.to_vec());
            }
        })
    });
    reply_scan(ctx.out, cursor, &found);
    Ok(Replied)
}

fn randomkey(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let now = ctx.now;
    let key = ctx.db().random_key(&mut rand::rng(), now);
    ctx.out.bulk_or_null(key.as_deref());
    Ok(Replied)
}

pub(super) fn is_lfu(ctx: &Ctx) -> bool {
    ctx.server.config.read().maxmemory_policy.ends_with("lfu")
}

pub(super) const POLICY_NOTE: &str = "Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

fn object_encoding(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    match ctx.db().peek(&args[2], now) {
        Some(entry) => {
            let encoding = entry.value.encoding();
            ctx.out.bulk(encoding.as_bytes())
        }
        None => ctx.out.null(),
    }
    Ok(Replied)
}

fn object_refcount(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let shared_ints = !ctx
        .server
        .config
        .read()
        .maxmemory_policy
        .starts_with("allkeys")
        && !ctx
            .server
            .config
            .read()
            .maxmemory_policy
            .starts_with("volatile");
    match ctx.db().peek(&args[2], now) {
        // Redis shares the integers 0..9999 and reports them as immortal.
        Some(entry) => match entry.value {
            Value::Int(n) if shared_ints && (0..10000).contains(&n) => ctx.out.int(i32::MAX as i64),
            _ => ctx.out.int(1),
        },
        None => ctx.out.null(),
    }
    Ok(Replied)
}

fn object_idletime(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let lfu = is_lfu(ctx);
    let Some(entry) = ctx.db().peek(&args[2], now) else {
        ctx.out.null();
        return Ok(Replied);
    };
    let idle = entry.idle_seconds(now);
    if lfu {
        return Err(CmdError::err(format!(
            "An LFU maxmemory policy is selected, idle time not tracked. {POLICY_NOTE}"
        )));
    }
    ctx.out.int(idle as i64);
    Ok(Replied)
}

fn object_freq(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let lfu = is_lfu(ctx);
    let Some(frequency) = ctx.db().peek(&args[2], now).map(|e| e.frequency(now)) else {
        ctx.out.null();
        return Ok(Replied);
    };
    if !lfu {
        return Err(CmdError::err(format!(
            "An LFU maxmemory policy is not selected, access frequency not tracked. {POLICY_NOTE}"
        )));
    }
    ctx.out.int(frequency as i64);
    Ok(Replied)
}

fn object_help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    )
}

fn dump(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    match ctx.db().peek(&args[1], now) {
        Some(entry) => {
            let data = serialize(&entry.value);
            ctx.out.bulk(&data)
        }
        None => ctx.out.null(),
    }
    Ok(Replied)
}

fn restore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut replace = false;
    let mut absttl = false;
    let (mut idle, mut frequency) = (None, None);
    ArgCursor::new(args, 4).options(|word, cursor| {
        match word {
            "replace" => replace = true,
            "absttl" => absttl = true,
            "idletime" => {
                let invalid = CmdError::err("Invalid IDLETIME value, must be >= 0");
                idle = Some(cursor.next_count(invalid)? as u64);
            }
            "freq" => {
                let freq = u8::try_from(cursor.next_i64()?)
                    .map_err(|_| CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"))?;
                frequency = Some(freq);
            }
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    let now = ctx.now;
    let key = &args[1];
    if !replace && ctx.db().contains(key, now) {
        return Err(CmdError::Other(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let ttl = int_arg(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let value = deserialize(&args[3])
        .ok_or_else(|| CmdError::err("DUMP payload version or checksum are wrong"))?;
    let deadline = match ttl {
        0 => None,
        _ if absttl => Some(ttl),
        _ => Some(ttl.saturating_add(now)),
    };
    let db = ctx.db();
    if deadline.is_some_and(|at| at <= now) {
        db.remove(key);
    } else {
        db.set(key, value, now);
        if let Some(at) = deadline {
            db.set_deadline(key, at);
        }
        if let Some(entry) = db.get_mut(key, now) {
            entry.set_access(now, idle, frequency);
        }
    }
    ctx.out.ok();
    Ok(Replied)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("del", del),
    ("unlink", del),
    ("exists", exists),
    ("type", type_),
    ("touch", touch),
    ("expire", expire),
    ("pexpire", pexpire),
    ("expireat", expireat),
    ("pexpireat", pexpireat),
    ("ttl", ttl),
    ("pttl", pttl),
    ("expiretime", expiretime),
    ("pexpiretime", pexpiretime),
    ("persist", persist),
    ("rename", rename),
    ("renamenx", renamenx),
    ("copy", copy),
    ("move", move_),
    ("keys", keys),
    ("scan", scan),
    ("randomkey", randomkey),
    ("object|freq", object_freq),
    ("object|help", object_help),
    ("object|encoding", object_encoding),
    ("object|idletime", object_idletime),
    ("object|refcount", object_refcount),
    ("dump", dump),
    ("restore", restore),
];
