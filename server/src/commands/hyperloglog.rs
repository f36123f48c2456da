//! HyperLogLog commands over string values in Redis's HLL format (see `engine::hll`).

use super::{ks, ks_noted, Args, Begin, CmdError, CmdResult, CommandSpec, Ctx, Find};
use crate::engine::hll::{self, Corrupt};
use crate::engine::value::Value;
use crate::engine::Db;

fn not_hll() -> CmdError {
    CmdError::Other("WRONGTYPE Key is not a valid HyperLogLog string value.".into())
}

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> CmdError {
        CmdError::Other("INVALIDOBJ Corrupted HLL object detected".into())
    }
}

/// The HLL at `key`: `None` when absent, WRONGTYPE for another type or a string that is not
/// an HLL.
fn read_hll(db: &mut Db, key: &[u8], now: i64) -> Result<Option<Vec<u8>>, CmdError> {
    let Some(entry) = db.get(key, now) else {
        return Ok(None);
    };
    if !entry.value.is_string() {
        return Err(CmdError::WrongType);
    }
    let data = entry.value.to_vec();
    if !hll::is_valid(&data) {
        return Err(not_hll());
    }
    Ok(Some(data))
}

fn sparse_max_bytes(ctx: &Ctx) -> usize {
    ctx.server.config.read().hll_sparse_max_bytes as usize
}

fn pfadd(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let max_bytes = sparse_max_bytes(ctx);
    let now = ctx.now;
    let db = ctx.db();
    let (mut data, created) = match read_hll(db, &args[1], now)? {
        Some(data) => (data, false),
        None => (hll::empty(), true),
    };
    let changed = hll::add(&mut data, args[2..].iter().map(|a| &a[..]), max_bytes)?;
    if created || changed {
        hll::invalidate_cache(&mut data);
        db.set_keep_ttl(&args[1], Value::from_bytes(&data), now);
    }
    ctx.out.int((created || changed) as i64);
    Ok(())
}

fn pfcount(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    if args.len() == 2 {
        let Some(mut data) = read_hll(db, &args[1], now)? else {
            ctx.out.int(0);
            return Ok(());
        };
        let count = match hll::cached(&data) {
            Some(count) => count,
            None => {
                let registers = hll::registers(&data)?;
                let count = hll::count(&registers);
                hll::set_cached(&mut data, count);
                db.set_keep_ttl(&args[1], Value::from_bytes(&data), now);
                count
            }
        };
        ctx.out.int(count as i64);
        return Ok(());
    }
    let mut union = hll::registers(&hll::empty())?;
    for key in &args[1..] {
        if let Some(data) = read_hll(db, key, now)? {
            merge_into(&mut union, &hll::registers(&data)?);
        }
    }
    ctx.out.int(hll::count(&union) as i64);
    Ok(())
}

fn merge_into(union: &mut hll::Registers, other: &hll::Registers) {
    for (mine, theirs) in union.iter_mut().zip(other.iter()) {
        *mine = (*mine).max(*theirs);
    }
}

/// PFMERGE: the destination's own registers count too, and the result is dense as soon as any
/// input was, as Redis.
fn pfmerge(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let max_bytes = sparse_max_bytes(ctx);
    let now = ctx.now;
    let db = ctx.db();
    let mut union = hll::registers(&hll::empty())?;
    let mut dense = false;
    let mut previous = None;
    for (i, key) in args[1..].iter().enumerate() {
        if let Some(data) = read_hll(db, key, now)? {
            dense |= hll::is_dense(&data);
            merge_into(&mut union, &hll::registers(&data)?);
            if i == 0 {
                previous = Some(data);
            }
        }
    }
    let mut data = hll::encode(&union, dense, max_bytes);
    if let Some(previous) = previous {
        hll::keep_cache_bytes(&mut data, &previous);
    }
    hll::invalidate_cache(&mut data);
    db.set_keep_ttl(&args[1], Value::from_bytes(&data), now);
    ctx.out.ok();
    Ok(())
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "pfadd",
        arity: -2,
        flags: "write denyoom fast",
        acl: "@write @hyperloglog @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RW insert", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Adds the specified elements to the specified HyperLogLog.",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: "O(1) to add every element.",
        handler: Some(pfadd),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pfcount",
        arity: -2,
        flags: "readonly",
        acl: "@read @hyperloglog @slow",
        keys: (1, -1, 1),
        key_specs: &[ks_noted("RW because it may change the internal representation of the key, and propagate to replicas", "RW access", Begin::Index(1), Find::Range(-1, 1, 0))],
        summary: "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
        handler: Some(pfcount),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pfmerge",
        arity: -2,
        flags: "write denyoom",
        acl: "@write @hyperloglog @slow",
        keys: (1, -1, 1),
        key_specs: &[ks("RW access insert", Begin::Index(1), Find::Range(0, 1, 0)), ks("RO access", Begin::Index(2), Find::Range(-1, 1, 0))],
        summary: "Merge N different HyperLogLogs into a single one.",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: "O(N) to merge N HyperLogLogs, but with high constant times.",
        handler: Some(pfmerge),
        ..CommandSpec::DEFAULT
    },
];
