//! What the list and sorted-set pop commands share: the arguments of the MPOP forms, blocking
//! timeouts, and registering a blocked client (its waiting lives in `crate::blocking`).

use super::{int_arg, is, ArgCursor, Args, CmdError, Ctx};
use crate::blocking::BlockRequest;
use crate::commands::{Outcome, Replied};
use crate::engine::ValueType;
use std::ops::Range;
use std::time::{Duration, Instant};

/// A count that must be positive, with the error text that names the argument.
pub fn positive(arg: &[u8], text: &str) -> Result<usize, CmdError> {
    match int_arg(arg) {
        Ok(n) if n >= 1 => Ok(n as usize),
        _ => Err(CmdError::err(text)),
    }
}

/// LMPOP/ZMPOP arguments from `numkeys` on: the keys, whether the first of `ends` (LEFT, MIN)
/// was named rather than the second, and the count.
pub fn parse_mpop(
    args: &Args,
    numkeys_at: usize,
    ends: [&str; 2],
) -> Result<(Range<usize>, bool, usize), CmdError> {
    let numkeys = positive(&args[numkeys_at], "numkeys should be greater than 0")?;
    let where_at = (numkeys_at + 1).saturating_add(numkeys);
    if where_at >= args.len() {
        return Err(CmdError::Syntax);
    }
    let first = if is(&args[where_at], ends[0]) {
        true
    } else if is(&args[where_at], ends[1]) {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    ArgCursor::new(args, where_at + 1).options(|word, cursor| match word {
        "count" if count.is_none() => {
            count = Some(positive(cursor.value()?, "count should be greater than 0")?);
            Ok(())
        }
        _ => Err(CmdError::Syntax),
    })?;
    Ok((numkeys_at + 1..where_at, first, count.unwrap_or(1)))
}

/// A blocking command's timeout in seconds, as Redis parses it.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Instant>, CmdError> {
    let seconds = super::parse_f64(arg)
        .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
    // Redis 7.0 converts to integer milliseconds first, so what overflows reads as negative.
    let in_range =
        (seconds * 1000.0).partial_cmp(&(i64::MAX as f64)) == Some(std::cmp::Ordering::Less);
    if seconds < 0.0 || !in_range {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok((seconds > 0.0).then(|| Instant::now() + Duration::from_secs_f64(seconds)))
}

/// Nothing to serve: block on `keys` until one holds a `kind`, or, inside EXEC or a script
/// where nothing may block, answer at once (a null array, or a null for BLMOVE and
/// BRPOPLPUSH). A wait that times out is always answered with a null array, as Redis 7.0
/// answers every key wait.
pub fn block_or_give_up(
    ctx: &mut Ctx,
    keys: &Args,
    deadline: Option<Instant>,
    kind: ValueType,
    null_array: bool,
) -> Outcome {
    if ctx.client.in_exec || ctx.client.in_script {
        if null_array {
            ctx.out.null_array();
        } else {
            ctx.out.null();
        }
        return Replied;
    }
    Outcome::Block(BlockRequest {
        keys: keys.iter().map(|k| k.to_vec()).collect(),
        deadline,
        kind,
        replay: None,
        null_array_on_timeout: true,
        fails_when_gone: false,
    })
}
