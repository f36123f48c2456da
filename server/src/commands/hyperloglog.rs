//! HyperLogLog commands over string values in Redis's HLL format (see `engine::hll`).

use super::{Args, CmdError, CmdResult, Ctx, Handler, Replied};
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

/// The HLL at `key`, read in place: `None` when absent, WRONGTYPE for another type or a
/// string that is not an HLL.
fn hll_at<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a [u8]>, CmdError> {
    let Some(entry) = db.get(key, now) else {
        return Ok(None);
    };
    if !entry.value.is_string() {
        return Err(CmdError::WrongType);
    }
    match entry.value.stored_bytes() {
        Some(data) if hll::is_valid(data) => Ok(Some(data)),
        _ => Err(not_hll()),
    }
}

/// The HLL at `key` for changing in place (the caller checked it with [`hll_at`]).
fn hll_mut<'a>(db: &'a mut Db, key: &[u8], len: usize, now: i64) -> Result<&'a mut [u8], CmdError> {
    let entry = db.get_mut(key, now).ok_or(CmdError::NoSuchKey)?;
    Ok(entry.value.bytes_mut(len))
}

fn sparse_max_bytes(ctx: &Ctx) -> usize {
    ctx.server.config.read().hll_sparse_max_bytes as usize
}

/// PFADD: a dense HLL grows in place; a sparse one is re-encoded when a register grew. A new
/// key counts as a change even with no elements, as in Redis.
fn pfadd(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let max_bytes = sparse_max_bytes(ctx);
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let key = &args[1];
    let elements = || args[2..].iter().map(|a| &a[..]);
    let changed = match hll_at(db, key, now)? {
        None => {
            let empty = hll::empty();
            let mut data = hll::add_sparse(&empty, elements(), max_bytes)?.unwrap_or(empty);
            hll::invalidate_cache(&mut data);
            db.set_keep_ttl(key, Value::from_bytes(&data), now);
            true
        }
        Some(data) if hll::is_dense(data) => {
            let len = data.len();
            hll::add_dense(hll_mut(db, key, len, now)?, elements())
        }
        Some(data) => match hll::add_sparse(data, elements(), max_bytes)? {
            Some(encoded) => {
                db.set_keep_ttl(key, Value::from_bytes(&encoded), now);
                true
            }
            None => false,
        },
    };
    out.int(changed as i64);
    if changed {
        ctx.notify(crate::notify::STRING, "pfadd", key);
    }
    Ok(Replied)
}

/// PFCOUNT: one key answers from (and refreshes) its cached cardinality; several are merged.
fn pfcount(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    if args.len() == 2 {
        let Some(data) = hll_at(db, &args[1], now)? else {
            out.int(0);
            return Ok(Replied);
        };
        let count = match hll::cached(data) {
            Some(count) => count,
            None => {
                let count = hll::count(&*hll::registers(data)?);
                let len = data.len();
                hll::set_cached(hll_mut(db, &args[1], len, now)?, count);
                count
            }
        };
        out.int(count as i64);
        return Ok(Replied);
    }
    let mut union = hll::zero_registers();
    for key in &args[1..] {
        if let Some(data) = hll_at(db, key, now)? {
            merge_into(&mut union, &hll::registers(data)?);
        }
    }
    out.int(hll::count(&union) as i64);
    Ok(Replied)
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
    let mut union = hll::zero_registers();
    let mut dense = false;
    let mut destination_header = None;
    for (i, key) in args[1..].iter().enumerate() {
        if let Some(data) = hll_at(db, key, now)? {
            dense |= hll::is_dense(data);
            merge_into(&mut union, &hll::registers(data)?);
            if i == 0 {
                destination_header = Some(data[..hll::HEADER].to_vec());
            }
        }
    }
    let mut data = hll::encode(&union, dense, max_bytes);
    if let Some(header) = destination_header {
        hll::keep_cache_bytes(&mut data, &header);
    }
    hll::invalidate_cache(&mut data);
    db.set_keep_ttl(&args[1], Value::from_bytes(&data), now);
    ctx.notify(crate::notify::STRING, "pfadd", &args[1]);
    ctx.out.ok();
    Ok(Replied)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] =
    &[("pfadd", pfadd), ("pfcount", pfcount), ("pfmerge", pfmerge)];
