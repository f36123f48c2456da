//! String commands: GET/SET and their variants, counters, ranges and LCS.

use super::keys::deadline_ms;
use super::{int_arg, ArgCursor, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::engine::{longdouble, Db, Value};
use crate::notify;
use slotcache_protocol::command::wrong_arity;

/// Maximum string size, as Redis's default `proto-max-bulk-len`.
pub const MAX_STRING: usize = 512 * 1024 * 1024;

/// The string at `key`, `None` if absent, WRONGTYPE if it holds another type.
pub fn read_string<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: i64,
) -> Result<Option<&'a Value>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(entry) if entry.value.is_string() => Ok(Some(&entry.value)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn get(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let mut digits = itoa::Buffer::new();
    let (db, out) = ctx.db_and_out();
    match read_string(db, &args[1], now)? {
        Some(value) => out.bulk(value.as_bytes(&mut digits)),
        None => out.null(),
    }
    Ok(Replied)
}

/// What to do with the TTL when a string is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TtlAction {
    Clear,
    Keep,
    Set(i64),
    Persist,
}

/// A TTL option as parsed, before its value is read: Redis reports syntax errors in the
/// options before errors in the value (and GETEX looks the key up in between).
#[derive(Clone, Copy, PartialEq, Eq)]
enum TtlOption {
    Keep,
    Persist,
    /// The argument at `arg` in units of `unit_ms`, relative or absolute.
    At {
        arg: usize,
        unit_ms: i64,
        absolute: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    IfAbsent,
    IfPresent,
}

/// Parses `word`, when it is one of EX/PX/EXAT/PXAT (with its value from `cursor`) or
/// KEEPTTL or PERSIST where allowed; false when it is none of them.
fn parse_ttl_option(
    word: &str,
    cursor: &mut ArgCursor,
    ttl: &mut Option<TtlOption>,
    allow_keep: bool,
    allow_persist: bool,
) -> Result<bool, CmdError> {
    let at = |unit_ms, absolute| TtlOption::At {
        arg: cursor.position(),
        unit_ms,
        absolute,
    };
    let option = match word {
        "ex" => at(1000, false),
        "px" => at(1, false),
        "exat" => at(1000, true),
        "pxat" => at(1, true),
        "keepttl" if allow_keep => TtlOption::Keep,
        "persist" if allow_persist => TtlOption::Persist,
        _ => return Ok(false),
    };
    if let TtlOption::At { .. } = option {
        cursor.value()?;
    }
    // Repeating the same option is allowed (the last value wins); mixing two is not.
    let same_kind = |a: &TtlOption, b: &TtlOption| match (a, b) {
        (
            TtlOption::At {
                unit_ms: u1,
                absolute: a1,
                ..
            },
            TtlOption::At {
                unit_ms: u2,
                absolute: a2,
                ..
            },
        ) => u1 == u2 && a1 == a2,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    };
    if ttl
        .as_ref()
        .is_some_and(|existing| !same_kind(existing, &option))
    {
        return Err(CmdError::Syntax);
    }
    *ttl = Some(option);
    Ok(true)
}

/// Reads a parsed TTL option's value.
fn resolve_ttl(
    args: &Args,
    ttl: Option<TtlOption>,
    now: i64,
    command: &'static str,
) -> Result<TtlAction, CmdError> {
    Ok(match ttl {
        None => TtlAction::Clear,
        Some(TtlOption::Keep) => TtlAction::Keep,
        Some(TtlOption::Persist) => TtlAction::Persist,
        Some(TtlOption::At {
            arg,
            unit_ms,
            absolute,
        }) => {
            let value = int_arg(&args[arg])?;
            if value <= 0 {
                return Err(CmdError::InvalidExpire(command));
            }
            TtlAction::Set(deadline_ms(value, unit_ms, absolute, now, command)?)
        }
    })
}

/// Writes a string honouring the TTL action.
fn store(db: &mut Db, key: &[u8], value: Value, ttl: TtlAction, now: i64) {
    match ttl {
        TtlAction::Keep => db.set_keep_ttl(key, value, now),
        // A deadline already past leaves a logically expired key, reclaimed lazily or by the
        // sweep, as Redis 7.0 does (DBSIZE counts it until then).
        TtlAction::Set(at) => {
            db.set(key, value, now);
            db.set_deadline(key, at);
        }
        TtlAction::Clear | TtlAction::Persist => db.set(key, value, now),
    }
}

fn set(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let mut condition = Condition::Always;
    let mut ttl = None;
    let mut want_old = false;
    ArgCursor::new(args, 3).options(|word, cursor| {
        if parse_ttl_option(word, cursor, &mut ttl, true, false)? {
            return Ok(());
        }
        match word {
            "nx" if condition != Condition::IfPresent => condition = Condition::IfAbsent,
            "xx" if condition != Condition::IfAbsent => condition = Condition::IfPresent,
            "get" => want_old = true,
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    let ttl = resolve_ttl(args, ttl, now, "set")?;
    let key = &args[1];
    let db = ctx.db();
    let old = if want_old {
        read_string(db, key, now)?.map(|v| v.to_vec())
    } else {
        None
    };
    let exists = if want_old {
        old.is_some()
    } else {
        db.contains(key, now)
    };
    let allowed = match condition {
        Condition::Always => true,
        Condition::IfAbsent => !exists,
        Condition::IfPresent => exists,
    };
    if allowed {
        store(db, key, Value::from_bytes(&args[2]), ttl, now);
        ctx.notify(notify::STRING, "set", key);
        if matches!(ttl, TtlAction::Set(_)) {
            ctx.notify(notify::GENERIC, "expire", key);
        }
    }
    match (want_old, old, allowed) {
        (true, Some(old), _) => ctx.out.bulk(&old),
        (true, None, _) | (false, _, false) => ctx.out.null(),
        (false, _, true) => ctx.out.ok(),
    }
    Ok(Replied)
}

fn setnx(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let absent = !db.contains(&args[1], now);
    if absent {
        db.set(&args[1], Value::from_bytes(&args[2]), now);
        ctx.notify(notify::STRING, "set", &args[1]);
    }
    ctx.out.int(absent as i64);
    Ok(Replied)
}

fn set_with_expire(ctx: &mut Ctx, args: &Args, unit_ms: i64, command: &'static str) -> CmdResult {
    let value = int_arg(&args[2])?;
    if value <= 0 {
        return Err(CmdError::InvalidExpire(command));
    }
    let now = ctx.now;
    let at = deadline_ms(value, unit_ms, false, now, command)?;
    store(
        ctx.db(),
        &args[1],
        Value::from_bytes(&args[3]),
        TtlAction::Set(at),
        now,
    );
    ctx.notify(notify::STRING, "set", &args[1]);
    ctx.notify(notify::GENERIC, "expire", &args[1]);
    ctx.out.ok();
    Ok(Replied)
}

fn setex(ctx: &mut Ctx, args: &Args) -> CmdResult {
    set_with_expire(ctx, args, 1000, "setex")
}

fn psetex(ctx: &mut Ctx, args: &Args) -> CmdResult {
    set_with_expire(ctx, args, 1, "psetex")
}

fn getset(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let old = read_string(db, &args[1], now)?.map(|v| v.to_vec());
    db.set(&args[1], Value::from_bytes(&args[2]), now);
    ctx.notify(notify::STRING, "set", &args[1]);
    ctx.out.bulk_or_null(old.as_deref());
    Ok(Replied)
}

fn getdel(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let old = read_string(db, &args[1], now)?.map(|v| v.to_vec());
    match old {
        Some(old) => {
            db.remove(&args[1]);
            ctx.notify(notify::GENERIC, "del", &args[1]);
            ctx.out.bulk(&old)
        }
        None => ctx.out.null(),
    }
    Ok(Replied)
}

fn getex(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let mut ttl = None;
    ArgCursor::new(args, 2).options(|word, cursor| {
        match parse_ttl_option(word, cursor, &mut ttl, false, true)? {
            true => Ok(()),
            false => Err(CmdError::Syntax),
        }
    })?;
    let key = &args[1];
    let db = ctx.db();
    let Some(value) = read_string(db, key, now)?.map(|v| v.to_vec()) else {
        ctx.out.null();
        return Ok(Replied);
    };
    match resolve_ttl(args, ttl, now, "getex")? {
        TtlAction::Set(at) if at <= now => {
            db.remove(key);
            ctx.notify(notify::GENERIC, "del", key);
        }
        TtlAction::Set(at) => {
            db.set_deadline(key, at);
            ctx.notify(notify::GENERIC, "expire", key);
        }
        TtlAction::Persist => {
            if db.persist(key) {
                ctx.notify(notify::GENERIC, "persist", key);
            }
        }
        TtlAction::Clear | TtlAction::Keep => {}
    }
    ctx.out.bulk(&value);
    Ok(Replied)
}

fn mget(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let mut digits = itoa::Buffer::new();
    ctx.out.array(args.len() - 1);
    for key in &args[1..] {
        let db = &mut ctx.ks.dbs[ctx.client.db];
        match db.get(key, now) {
            Some(entry) if entry.value.is_string() => {
                ctx.out.bulk(entry.value.as_bytes(&mut digits))
            }
            _ => ctx.out.null(),
        }
    }
    Ok(Replied)
}

fn check_pairs(args: &Args, name: &str) -> Result<(), CmdError> {
    if args.len() % 2 == 0 {
        return Err(wrong_arity(name));
    }
    Ok(())
}

/// MSET's stores, each followed by its event (a key's `new` comes before its `set`).
fn set_pairs(ctx: &mut Ctx, args: &Args, now: i64) {
    for pair in args[1..].chunks(2) {
        ctx.db().set(&pair[0], Value::from_bytes(&pair[1]), now);
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
}

fn mset(ctx: &mut Ctx, args: &Args) -> CmdResult {
    check_pairs(args, "mset")?;
    let now = ctx.now;
    set_pairs(ctx, args, now);
    ctx.out.ok();
    Ok(Replied)
}

fn msetnx(ctx: &mut Ctx, args: &Args) -> CmdResult {
    check_pairs(args, "msetnx")?;
    let now = ctx.now;
    let db = ctx.db();
    if args[1..].chunks(2).any(|pair| db.contains(&pair[0], now)) {
        ctx.out.int(0);
        return Ok(Replied);
    }
    set_pairs(ctx, args, now);
    ctx.out.int(1);
    Ok(Replied)
}

/// The string at `key` for in-place modification, created empty when absent if `create`.
pub fn string_for_update<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: i64,
    create: bool,
) -> Result<Option<&'a mut Value>, CmdError> {
    if !db.contains(key, now) {
        if !create {
            return Ok(None);
        }
        db.set(key, Value::from_bytes(b""), now);
    }
    match db.get_mut(key, now) {
        Some(entry) if entry.value.is_string() => Ok(Some(&mut entry.value)),
        Some(_) => Err(CmdError::WrongType),
        None => Ok(None),
    }
}

fn append(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    if let Some(entry) = db.get(&args[1], now) {
        if !entry.value.is_string() {
            return Err(CmdError::WrongType);
        }
        if entry.value.str_len() + args[2].len() > MAX_STRING {
            return Err(CmdError::TooBig);
        }
    }
    let value = string_for_update(db, &args[1], now, true)?.ok_or(CmdError::NoSuchKey)?;
    let old_len = value.str_len();
    let new_len = old_len + args[2].len();
    value.bytes_mut(new_len)[old_len..].copy_from_slice(&args[2]);
    ctx.notify(notify::STRING, "append", &args[1]);
    ctx.out.int(new_len as i64);
    Ok(Replied)
}

fn strlen(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let len = read_string(ctx.db(), &args[1], now)?.map_or(0, |v| v.str_len());
    ctx.out.int(len as i64);
    Ok(Replied)
}

fn incr_by(ctx: &mut Ctx, key: &[u8], delta: i64) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let current = match read_string(db, key, now)? {
        Some(value) => value.as_int().ok_or(CmdError::NotInteger)?,
        None => 0,
    };
    let next = current.checked_add(delta).ok_or(CmdError::Overflow)?;
    db.set_keep_ttl(key, Value::Int(next), now);
    ctx.notify(notify::STRING, "incrby", key);
    ctx.out.int(next);
    Ok(Replied)
}

fn incr(ctx: &mut Ctx, args: &Args) -> CmdResult {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &Args) -> CmdResult {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let delta = int_arg(&args[2])?;
    incr_by(ctx, &args[1], delta)
}

fn decrby(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let delta = int_arg(&args[2])?;
    if delta == i64::MIN {
        return Err(CmdError::err("decrement would overflow"));
    }
    incr_by(ctx, &args[1], -delta)
}

fn incrbyfloat(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let current = match read_string(db, &args[1], now)? {
        Some(value) => value.to_vec(),
        None => b"0".to_vec(),
    };
    let sum = longdouble::add(&current, &args[2]).map_err(|err| match err {
        longdouble::AddError::NotAFloat => CmdError::NotFloat,
        longdouble::AddError::NanOrInfinity => {
            CmdError::err("increment would produce NaN or Infinity")
        }
    })?;
    db.set_keep_ttl(&args[1], Value::from_bytes(&sum), now);
    ctx.notify(notify::STRING, "incrbyfloat", &args[1]);
    ctx.out.bulk(&sum);
    Ok(Replied)
}

/// Clamps a Redis-style inclusive [start, end] range with negative indexes onto `len`.
pub fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

fn getrange(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let start = int_arg(&args[2])?;
    let end = int_arg(&args[3])?;
    let now = ctx.now;
    let mut digits = itoa::Buffer::new();
    let bytes = match read_string(ctx.db(), &args[1], now)? {
        Some(value) => {
            let bytes = value.as_bytes(&mut digits);
            match clamp_range(start, end, bytes.len()) {
                Some((s, e)) => bytes[s..=e].to_vec(),
                None => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    ctx.out.bulk(&bytes);
    Ok(Replied)
}

fn setrange(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let offset = int_arg(&args[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as usize;
    let data = &args[3];
    let now = ctx.now;
    let db = ctx.db();
    let exists = read_string(db, &args[1], now)?.is_some();
    if data.is_empty() {
        let len = read_string(db, &args[1], now)?.map_or(0, |v| v.str_len());
        ctx.out.int(len as i64);
        return Ok(Replied);
    }
    if offset + data.len() > MAX_STRING {
        return Err(CmdError::TooBig);
    }
    let value = string_for_update(db, &args[1], now, !exists)?.ok_or(CmdError::NoSuchKey)?;
    let new_len = value.str_len().max(offset + data.len());
    value.bytes_mut(new_len)[offset..offset + data.len()].copy_from_slice(data);
    ctx.notify(notify::STRING, "setrange", &args[1]);
    ctx.out.int(new_len as i64);
    Ok(Replied)
}

/// LCS options.
struct LcsOptions {
    len_only: bool,
    idx: bool,
    min_match_len: usize,
    with_match_len: bool,
}

fn lcs(ctx: &mut Ctx, args: &Args) -> CmdResult {
    // Key types are checked before the options, as Redis does.
    let now = ctx.now;
    let db = ctx.db();
    let mut fetch = |key: &[u8]| -> Result<Vec<u8>, CmdError> {
        match db.get(key, now) {
            None => Ok(Vec::new()),
            Some(entry) if entry.value.is_string() => Ok(entry.value.to_vec()),
            Some(_) => Err(CmdError::err(
                "The specified keys must contain string values",
            )),
        }
    };
    let a = fetch(&args[1])?;
    let b = fetch(&args[2])?;
    let mut opts = LcsOptions {
        len_only: false,
        idx: false,
        min_match_len: 0,
        with_match_len: false,
    };
    ArgCursor::new(args, 3).options(|word, cursor| {
        match word {
            "len" => opts.len_only = true,
            "idx" => opts.idx = true,
            "withmatchlen" => opts.with_match_len = true,
            "minmatchlen" => opts.min_match_len = cursor.next_i64()?.max(0) as usize,
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    if opts.len_only && opts.idx {
        return Err(CmdError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    if (a.len() + 1).saturating_mul(b.len() + 1) > (u32::MAX as usize) {
        return Err(CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // Dynamic programming table of LCS lengths of prefixes, as Redis computes it.
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[a.len() * width + b.len()] as usize;
    if opts.len_only {
        ctx.out.int(total as i64);
        return Ok(Replied);
    }
    // Walk back from the end collecting the common string and the matching ranges.
    let mut result = vec![0u8; total];
    let mut matches: Vec<((usize, usize), (usize, usize))> = Vec::new();
    let (mut i, mut j, mut idx) = (a.len(), b.len(), total);
    let mut current: Option<((usize, usize), (usize, usize))> = None;
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            idx -= 1;
            result[idx] = a[i - 1];
            current = match current {
                Some(((a_start, a_end), (b_start, b_end))) if a_start == i && b_start == j => {
                    Some(((i - 1, a_end), (j - 1, b_end)))
                }
                other => {
                    if let Some(range) = other {
                        matches.push(range);
                    }
                    Some(((i - 1, i - 1), (j - 1, j - 1)))
                }
            };
            i -= 1;
            j -= 1;
        } else if table[(i - 1) * width + j] > table[i * width + j - 1] {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    if let Some(range) = current {
        matches.push(range);
    }
    if !opts.idx {
        ctx.out.bulk(&result);
        return Ok(Replied);
    }
    let kept: Vec<_> = matches
        .into_iter()
        .filter(|((s, e), _)| e - s + 1 >= opts.min_match_len)
        .collect();
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"matches");
    out.array(kept.len());
    for ((a_start, a_end), (b_start, b_end)) in kept {
        out.array(if opts.with_match_len { 3 } else { 2 });
        out.array(2);
        out.int(a_start as i64);
        out.int(a_end as i64);
        out.array(2);
        out.int(b_start as i64);
        out.int(b_end as i64);
        if opts.with_match_len {
            out.int((a_end - a_start + 1) as i64);
        }
    }
    out.bulk(b"len");
    out.int(total as i64);
    Ok(Replied)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("get", get),
    ("set", set),
    ("setnx", setnx),
    ("setex", setex),
    ("psetex", psetex),
    ("getset", getset),
    ("getdel", getdel),
    ("getex", getex),
    ("mget", mget),
    ("mset", mset),
    ("msetnx", msetnx),
    ("append", append),
    ("strlen", strlen),
    ("incr", incr),
    ("decr", decr),
    ("incrby", incrby),
    ("decrby", decrby),
    ("incrbyfloat", incrbyfloat),
    ("getrange", getrange),
    ("substr", getrange),
    ("setrange", setrange),
    ("lcs", lcs),
];
