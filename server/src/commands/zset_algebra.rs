//! ZUNION, ZINTER, ZDIFF (and their STORE forms) and ZINTERCARD: sorted-set algebra over
//! sorted sets and plain sets, with WEIGHTS and AGGREGATE.

use super::zsets::{owned, reply_scored, store_items, Scored};
use super::{int_arg, parse_f64, ArgCursor, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::engine::set::Set;
use crate::engine::value::Value;
use crate::engine::zset::ZSet;
use crate::engine::Db;

#[derive(Clone, Copy, PartialEq)]
enum Algebra {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, value: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let sum = acc + value;
                if sum.is_nan() {
                    0.0
                } else {
                    sum
                }
            }
            Aggregate::Min => acc.min(value),
            Aggregate::Max => acc.max(value),
        }
    }
}

/// An input of ZUNION and friends, read in place: a sorted set, a plain set (every score 1),
/// or nothing.
enum Source<'a> {
    Missing,
    Sorted(&'a ZSet),
    Plain(&'a Set),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Sorted(zset) => zset.len(),
            Source::Plain(set) => set.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Sorted(zset) => zset.score(member),
            Source::Plain(set) => set.contains(member).then_some(1.0),
        }
    }

    fn entries(&self) -> Vec<(&[u8], f64)> {
        match self {
            Source::Missing => Vec::new(),
            Source::Sorted(zset) => zset.entries(),
            Source::Plain(set) => set.members().into_iter().map(|m| (m, 1.0)).collect(),
        }
    }
}

/// A parsed ZUNION/ZINTER/ZDIFF/ZINTERCARD call.
struct AlgebraCall {
    /// Where the input keys are in the arguments.
    keys: std::ops::Range<usize>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
    limit: usize,
}

/// Reads the inputs (WRONGTYPE first, as Redis) then the options after them.
fn parse_algebra(
    ctx: &mut Ctx,
    args: &Args,
    numkeys_at: usize,
    op: Algebra,
    store: bool,
    card_only: bool,
) -> Result<AlgebraCall, CmdError> {
    let numkeys = int_arg(&args[numkeys_at])?;
    if numkeys < 1 {
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&args[0]).to_lowercase()
        )));
    }
    if numkeys > (args.len() - numkeys_at - 1) as i64 {
        return Err(CmdError::Syntax);
    }
    let numkeys = numkeys as usize;
    let keys = numkeys_at + 1..numkeys_at + 1 + numkeys;
    let now = ctx.now;
    let db = ctx.db();
    for key in &args[keys.clone()] {
        if let Some(entry) = db.get(key, now) {
            if !matches!(entry.value, Value::ZSet(_) | Value::Set(_)) {
                return Err(CmdError::WrongType);
            }
        }
    }
    let mut call = AlgebraCall {
        keys,
        weights: vec![1.0; numkeys],
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
    };
    let options = op != Algebra::Diff && !card_only;
    ArgCursor::new(args, numkeys_at + 1 + numkeys).options(|word, cursor| {
        match word {
            "weights" if options => {
                for (weight, arg) in call.weights.iter_mut().zip(cursor.take(numkeys)?) {
                    *weight = parse_f64(arg)
                        .ok_or_else(|| CmdError::err("weight value is not a float"))?;
                }
            }
            "aggregate" if options => {
                let choices = [
                    ("sum", Aggregate::Sum),
                    ("min", Aggregate::Min),
                    ("max", Aggregate::Max),
                ];
                call.aggregate = cursor.choice(&choices)?.ok_or(CmdError::Syntax)?;
            }
            "withscores" if !store && !card_only => call.with_scores = true,
            "limit" if card_only => {
                call.limit = super::intercard_limit(cursor)?;
            }
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    Ok(call)
}

fn weighted(score: f64, weight: f64) -> f64 {
    let value = score * weight;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

/// The resulting elements, in (score, member) order. Union and intersection visit the inputs
/// from the smallest, as Redis, so sums of infinities come out the same. The inputs are read
/// where they are (`parse_algebra` already expired and type-checked them).
fn combine(db: &Db, args: &Args, call: &AlgebraCall, op: Algebra) -> Vec<Scored> {
    let sources: Vec<Source> = args[call.keys.clone()]
        .iter()
        .map(|key| match db.peek_entry(key).map(|e| &e.value) {
            Some(Value::ZSet(zset)) => Source::Sorted(zset),
            Some(Value::Set(set)) => Source::Plain(set),
            _ => Source::Missing,
        })
        .collect();
    let mut result = ZSet::Sorted(Box::default());
    let inputs: Vec<(&Source, f64)> = sources.iter().zip(call.weights.iter().copied()).collect();
    let mut by_size = inputs.clone();
    by_size.sort_by_key(|(source, _)| source.len());
    match op {
        Algebra::Union => {
            for (source, weight) in &by_size {
                for (member, score) in source.entries() {
                    let value = weighted(score, *weight);
                    let total = match result.score(member) {
                        Some(acc) => call.aggregate.apply(acc, value),
                        None => value,
                    };
                    result.insert(member, total);
                }
            }
        }
        Algebra::Inter => {
            if let Some(((smallest, weight), rest)) = by_size.split_first() {
                'members: for (member, score) in smallest.entries() {
                    let mut total = weighted(score, *weight);
                    for (other, other_weight) in rest {
                        match other.score(member) {
                            Some(score) => {
                                total = call.aggregate.apply(total, weighted(score, *other_weight))
                            }
                            None => continue 'members,
                        }
                    }
                    result.insert(member, total);
                }
            }
        }
        Algebra::Diff => {
            if let Some(((first, _), rest)) = inputs.split_first() {
                for (member, score) in first.entries() {
                    if rest.iter().all(|(other, _)| other.score(member).is_none()) {
                        result.insert(member, score);
                    }
                }
            }
        }
    }
    owned(result.entries())
}

/// ZUNION, ZINTER, ZDIFF and their STORE forms, told apart by name.
fn zset_algebra(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let name = args[0].to_ascii_lowercase();
    let op = if name.starts_with(b"zunion") {
        Algebra::Union
    } else if name.starts_with(b"zinter") {
        Algebra::Inter
    } else {
        Algebra::Diff
    };
    let store = name.ends_with(b"store");
    let call = parse_algebra(ctx, args, if store { 2 } else { 1 }, op, store, false)?;
    let items = combine(ctx.db(), args, &call, op);
    if store {
        let event = String::from_utf8_lossy(&name).into_owned();
        store_items(ctx, &args[1], &items, &event);
        ctx.out.int(items.len() as i64);
    } else {
        reply_scored(ctx.out, &items, call.with_scores);
    }
    Ok(Replied)
}

fn zintercard(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let call = parse_algebra(ctx, args, 1, Algebra::Inter, false, true)?;
    let count = combine(ctx.db(), args, &call, Algebra::Inter).len();
    let count = if call.limit > 0 {
        count.min(call.limit)
    } else {
        count
    };
    ctx.out.int(count as i64);
    Ok(Replied)
}

/// The handlers of the family's algebra commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("zunion", zset_algebra),
    ("zinter", zset_algebra),
    ("zdiff", zset_algebra),
    ("zunionstore", zset_algebra),
    ("zinterstore", zset_algebra),
    ("zdiffstore", zset_algebra),
    ("zintercard", zintercard),
];
