//! Sorted set commands. Every range form (by rank, score or lex, forwards or reversed, with
//! LIMIT) reduces to two partition points and one run of elements, which is O(log n + m) on the
//! large (tree) encoding.

use super::pops::{block_or_give_up, parse_mpop, parse_timeout};
use super::scan::scan_collection;
use super::{index_range, random_picks, ArgCursor, Handler, Table};
use super::{
    int_arg, is, parse_f64, random_pair_args, read_typed, remove_members, reply_no_random,
    reply_pairs, write_typed, Args, CmdError, CmdResult, Ctx, Replied,
};
use crate::engine::value::Typed;
use crate::engine::zset::ZSet;
use crate::engine::ValueType;
use slotcache_protocol::resp::Reply;

/// A member and its score, owned so replies can be written after the keyspace borrow ends.
pub(super) type Scored = (Vec<u8>, f64);

pub(super) fn owned(items: Vec<(&[u8], f64)>) -> Vec<Scored> {
    items.into_iter().map(|(m, s)| (m.to_vec(), s)).collect()
}

/// Members, or member/score pairs (nested in RESP3, flat in RESP2) when `with_scores`.
pub(super) fn reply_scored(out: &mut Reply, items: &[Scored], with_scores: bool) {
    let member = |out: &mut Reply, member: &Vec<u8>| out.bulk(member);
    reply_pairs(out, items, with_scores, member, |out, score| {
        out.double(*score)
    });
}

fn not_float(arg: &[u8]) -> Result<f64, CmdError> {
    parse_f64(arg).ok_or(CmdError::NotFloat)
}

/// Stores `items` at `dst` (deleting it when empty) in the encoding their size calls for.
/// Stores a result at `dst` (ZUNIONSTORE, ZRANGESTORE, GEOSEARCHSTORE...), announced as
/// `event`; an empty result deletes `dst` instead, announced as `del` when it was there.
pub(super) fn store_items(ctx: &mut Ctx, dst: &[u8], items: &[Scored], event: &str) {
    let now = ctx.now;
    if items.is_empty() {
        if ctx.db().remove(dst).is_some() {
            ctx.notify(crate::notify::GENERIC, "del", dst);
        }
        return;
    }
    let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut zset = ZSet::with_capacity(items.len(), longest);
    for (member, score) in items {
        zset.insert(member, *score);
    }
    ctx.db().set(dst, zset.into_value(), now);
    ctx.notify(crate::notify::ZSET, event, dst);
}

/// ZADD's options.
#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

const NAN_SCORE: &str = "resulting score is not a number (NaN)";

fn parse_add_flags(args: &Args) -> Result<(AddFlags, usize), CmdError> {
    let mut flags = AddFlags::default();
    let mut cursor = ArgCursor::new(args, 2);
    cursor.leading(|word| {
        let flag = match word {
            "nx" => &mut flags.nx,
            "xx" => &mut flags.xx,
            "gt" => &mut flags.gt,
            "lt" => &mut flags.lt,
            "ch" => &mut flags.ch,
            "incr" => &mut flags.incr,
            _ => return false,
        };
        *flag = true;
        true
    });
    let i = cursor.position();
    let elements = args.len() - i;
    if elements == 0 || elements % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && elements > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    Ok((flags, i))
}

/// What one ZADD element did.
enum Added {
    New,
    Updated,
    Unchanged,
    Skipped,
}

fn add_one(
    zset: &mut ZSet,
    flags: &AddFlags,
    member: &[u8],
    score: f64,
) -> Result<(Added, f64), CmdError> {
    let mut outcome = Ok((Added::Skipped, score));
    zset.update(member, |current| {
        let Some(current) = current else {
            if flags.xx {
                return None;
            }
            outcome = Ok((Added::New, score));
            return Some(score);
        };
        outcome = Ok((Added::Skipped, current));
        if flags.nx {
            return None;
        }
        let score = if flags.incr { current + score } else { score };
        if score.is_nan() {
            outcome = Err(CmdError::err(NAN_SCORE));
            return None;
        }
        if (flags.lt && score >= current) || (flags.gt && score <= current) {
            return None;
        }
        if score == current {
            outcome = Ok((Added::Unchanged, score));
            return None;
        }
        outcome = Ok((Added::Updated, score));
        Some(score)
    });
    outcome
}

/// ZADD and ZINCRBY (ZADD INCR with a fixed shape).
fn add(ctx: &mut Ctx, args: &Args, flags: AddFlags, first: usize) -> CmdResult {
    let pairs: Vec<(f64, &[u8])> = args[first..]
        .chunks(2)
        .map(|pair| Ok((not_float(&pair[0])?, &pair[1][..])))
        .collect::<Result<_, CmdError>>()?;
    let now = ctx.now;
    let (db, out) = ctx.db_and_out();
    let Some(zset) = write_typed::<ZSet>(db, &args[1], now, !flags.xx)? else {
        if flags.incr {
            out.null();
        } else {
            out.int(0);
        }
        return Ok(Replied);
    };
    let (mut added, mut updated) = (0, 0);
    let mut last = None;
    for (score, member) in pairs {
        let (outcome, score) = add_one(zset, &flags, member, score)?;
        match outcome {
            Added::New => added += 1,
            Added::Updated => updated += 1,
            Added::Unchanged => {}
            Added::Skipped => continue,
        }
        last = Some(score);
    }
    if flags.incr {
        match last {
            Some(score) => out.double(score),
            None => out.null(),
        }
    } else {
        out.int(if flags.ch { added + updated } else { added });
    }
    if added + updated > 0 {
        let event = if flags.incr { "zincr" } else { "zadd" };
        ctx.notify(crate::notify::ZSET, event, &args[1]);
    }
    Ok(Replied)
}

pub(super) fn zadd(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (flags, first) = parse_add_flags(args)?;
    add(ctx, args, flags, first)
}

fn zincrby(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    add(ctx, args, flags, 2)
}

fn zrem(ctx: &mut Ctx, args: &Args) -> CmdResult {
    remove_members::<ZSet>(ctx, args, crate::notify::ZSET)
}

fn zscore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    match read_typed::<ZSet>(ctx.db(), &args[1], now)?.and_then(|z| z.score(&args[2])) {
        Some(score) => ctx.out.double(score),
        None => ctx.out.null(),
    }
    Ok(Replied)
}

fn zmscore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let scores: Vec<Option<f64>> = match read_typed::<ZSet>(ctx.db(), &args[1], now)? {
        Some(zset) => args[2..].iter().map(|m| zset.score(m)).collect(),
        None => vec![None; args.len() - 2],
    };
    ctx.out.array(scores.len());
    for score in scores {
        match score {
            Some(score) => ctx.out.double(score),
            None => ctx.out.null(),
        }
    }
    Ok(Replied)
}

fn zcard(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let len = read_typed::<ZSet>(ctx.db(), &args[1], now)?.map_or(0, ZSet::len);
    ctx.out.int(len as i64);
    Ok(Replied)
}

/// A score or lex interval, as the element predicates its two ends give.
trait Interval {
    /// Holds for the elements below the interval (a prefix of the order).
    fn below(&self, score: f64, member: &[u8]) -> bool;
    /// Holds for the elements not above the interval (a prefix of the order).
    fn not_above(&self, score: f64, member: &[u8]) -> bool;
    fn is_empty(&self) -> bool;

    /// The ranks [start, end) the interval covers.
    fn ranks(&self, zset: &ZSet) -> (usize, usize) {
        if self.is_empty() {
            return (0, 0);
        }
        let start = zset.count_while(|s, m| self.below(s, m));
        let end = zset.count_while(|s, m| self.not_above(s, m));
        (start, end.max(start))
    }
}

#[derive(Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

struct ScoreRange {
    min: ScoreBound,
    max: ScoreBound,
}

fn parse_score_bound(arg: &[u8]) -> Option<ScoreBound> {
    match arg.split_first() {
        Some((b'(', rest)) => Some(ScoreBound {
            value: parse_f64(rest.trim_ascii_start())?,
            exclusive: true,
        }),
        _ => Some(ScoreBound {
            value: parse_f64(arg)?,
            exclusive: false,
        }),
    }
}

/// Both ends of a range, or `error` when either does not parse.
fn parse_bounds<B>(
    min: &[u8],
    max: &[u8],
    bound: fn(&[u8]) -> Option<B>,
    error: &str,
) -> Result<(B, B), CmdError> {
    match (bound(min), bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(CmdError::err(error)),
    }
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        let (min, max) = parse_bounds(min, max, parse_score_bound, "min or max is not a float")?;
        Ok(ScoreRange { min, max })
    }
}

impl Interval for ScoreRange {
    fn below(&self, score: f64, _member: &[u8]) -> bool {
        if self.min.exclusive {
            score <= self.min.value
        } else {
            score < self.min.value
        }
    }

    fn not_above(&self, score: f64, _member: &[u8]) -> bool {
        if self.max.exclusive {
            score < self.max.value
        } else {
            score <= self.max.value
        }
    }

    fn is_empty(&self) -> bool {
        self.min.value > self.max.value
            || (self.min.value == self.max.value && (self.min.exclusive || self.max.exclusive))
    }
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(PartialEq)]
enum LexBound {
    Lowest,
    Highest,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

struct LexRange {
    min: LexBound,
    max: LexBound,
}

fn parse_lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg.split_first()? {
        (b'-', []) => Some(LexBound::Lowest),
        (b'+', []) => Some(LexBound::Highest),
        (b'[', rest) => Some(LexBound::Inclusive(rest.to_vec())),
        (b'(', rest) => Some(LexBound::Exclusive(rest.to_vec())),
        _ => None,
    }
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
        let (min, max) = parse_bounds(
            min,
            max,
            parse_lex_bound,
            "min or max not valid string range item",
        )?;
        Ok(LexRange { min, max })
    }
}

impl Interval for LexRange {
    fn below(&self, _score: f64, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Inclusive(min) => member < &min[..],
            LexBound::Exclusive(min) => member <= &min[..],
        }
    }

    fn not_above(&self, _score: f64, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Inclusive(max) => member <= &max[..],
            LexBound::Exclusive(max) => member < &max[..],
        }
    }

    /// As Redis's `sdscmplex`: `-` sorts below and `+` above everything, themselves included
    /// only when the same; an empty or half-open point interval is empty.
    fn is_empty(&self) -> bool {
        use std::cmp::Ordering::*;
        use LexBound::*;
        let order = match (&self.min, &self.max) {
            (a, b) if a == b && matches!(a, Lowest | Highest) => Equal,
            (Lowest, _) | (_, Highest) => Less,
            (Highest, _) | (_, Lowest) => Greater,
            (Inclusive(a) | Exclusive(a), Inclusive(b) | Exclusive(b)) => a.cmp(b),
        };
        let open = |b: &LexBound| !matches!(b, Inclusive(_));
        order == Greater || (order == Equal && (open(&self.min) || open(&self.max)))
    }
}

fn count_in(ctx: &mut Ctx, args: &Args, interval: &dyn Interval) -> CmdResult {
    let now = ctx.now;
    let count = read_typed::<ZSet>(ctx.db(), &args[1], now)?.map_or(0, |zset| {
        let (start, end) = interval.ranks(zset);
        end - start
    });
    ctx.out.int(count as i64);
    Ok(Replied)
}

fn zcount(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let range = ScoreRange::parse(&args[2], &args[3])?;
    count_in(ctx, args, &range)
}

fn zlexcount(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let range = LexRange::parse(&args[2], &args[3])?;
    count_in(ctx, args, &range)
}

/// Start and stop ranks as Redis normalizes them: the first rank and how many follow.
fn rank_span(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    index_range(start, stop, len).map(|(first, last)| (first, last - first + 1))
}

/// The elements of an interval in order (descending when `rev`), after LIMIT's offset and
/// count (a negative count takes all, a negative offset nothing).
fn select(zset: &ZSet, interval: &dyn Interval, rev: bool, offset: i64, limit: i64) -> Vec<Scored> {
    let (start, end) = interval.ranks(zset);
    let available = (end - start) as i64;
    if offset < 0 || offset >= available {
        return Vec::new();
    }
    let count = if limit < 0 {
        available - offset
    } else {
        limit.min(available - offset)
    } as usize;
    let from = if rev { zset.len() - end } else { start } + offset as usize;
    owned(zset.range(from, count, rev))
}

#[derive(Clone, Copy, PartialEq)]
enum RangeBy {
    Rank,
    Score,
    Lex,
}

/// The shape of a ZRANGE-family call: what the command fixes, the rest left to its options.
struct RangeForm {
    /// Index of the source key.
    key_at: usize,
    by: Option<RangeBy>,
    rev: Option<bool>,
    /// ZRANGESTORE's destination.
    dst: Option<usize>,
}

/// ZRANGE, ZRANGESTORE, ZREVRANGE, Z[REV]RANGEBYSCORE and Z[REV]RANGEBYLEX, as Redis's
/// `zrangeGenericCommand`.
fn range_generic(ctx: &mut Ctx, args: &Args, form: RangeForm) -> CmdResult {
    let (mut by, mut rev) = (form.by, form.rev);
    let mut with_scores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    ArgCursor::new(args, form.key_at + 3).options(|word, cursor| {
        match word {
            "withscores" if form.dst.is_none() => with_scores = true,
            "limit" => {
                let [first, count] = cursor.values()?;
                (offset, limit) = (int_arg(first)?, int_arg(count)?);
            }
            "rev" if rev.is_none() => rev = Some(true),
            "bylex" if by.is_none() => by = Some(RangeBy::Lex),
            "byscore" if by.is_none() => by = Some(RangeBy::Score),
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    let by = by.unwrap_or(RangeBy::Rank);
    let rev = rev.unwrap_or(false);
    if limit != -1 && by == RangeBy::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == RangeBy::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut low, mut high) = (&args[form.key_at + 1], &args[form.key_at + 2]);
    if rev && by != RangeBy::Rank {
        std::mem::swap(&mut low, &mut high);
    }
    let interval: Option<Box<dyn Interval>> = match by {
        RangeBy::Rank => None,
        RangeBy::Score => Some(Box::new(ScoreRange::parse(low, high)?)),
        RangeBy::Lex => Some(Box::new(LexRange::parse(low, high)?)),
    };
    let ranks = match by {
        RangeBy::Rank => Some((int_arg(low)?, int_arg(high)?)),
        _ => None,
    };
    let now = ctx.now;
    let db = ctx.db();
    let items = match read_typed::<ZSet>(db, &args[form.key_at], now)? {
        None => Vec::new(),
        Some(zset) => match (interval, ranks) {
            (Some(interval), _) => select(zset, interval.as_ref(), rev, offset, limit),
            (None, Some((start, stop))) => rank_span(start, stop, zset.len())
                .map(|(from, count)| owned(zset.range(from, count, rev)))
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        },
    };
    match form.dst {
        Some(dst) => {
            store_items(ctx, &args[dst], &items, "zrangestore");
            ctx.out.int(items.len() as i64);
        }
        None => reply_scored(ctx.out, &items, with_scores),
    }
    Ok(Replied)
}

fn zrange(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let form = RangeForm {
        key_at: 1,
        by: None,
        rev: None,
        dst: None,
    };
    range_generic(ctx, args, form)
}

fn zrangestore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let form = RangeForm {
        key_at: 2,
        by: None,
        rev: None,
        dst: Some(1),
    };
    range_generic(ctx, args, form)
}

/// ZREVRANGE and the BYSCORE/BYLEX commands, which fix the kind of range and the direction by
/// their name.
fn fixed_range(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let name = args[0].to_ascii_lowercase();
    let by = if name.ends_with(b"byscore") {
        RangeBy::Score
    } else if name.ends_with(b"bylex") {
        RangeBy::Lex
    } else {
        RangeBy::Rank
    };
    let form = RangeForm {
        key_at: 1,
        by: Some(by),
        rev: Some(name.starts_with(b"zrev")),
        dst: None,
    };
    range_generic(ctx, args, form)
}

/// ZRANK and ZREVRANK, with Redis 7.2's WITHSCORE.
fn rank(ctx: &mut Ctx, args: &Args, rev: bool) -> CmdResult {
    let with_score = match args.len() {
        3 => false,
        4 if is(&args[3], "withscore") => true,
        4 => return Err(CmdError::Syntax),
        _ => {
            let spec = Table::get().lookup(&args[0]).map(|r| r.spec);
            return Err(spec.map_or(CmdError::Syntax, super::arity_error));
        }
    };
    let now = ctx.now;
    let found = read_typed::<ZSet>(ctx.db(), &args[1], now)?.and_then(|zset| {
        let rank = zset.rank(&args[2])?;
        let rank = if rev { zset.len() - 1 - rank } else { rank };
        Some((rank, zset.score(&args[2]).unwrap_or_default()))
    });
    match (found, with_score) {
        (Some((rank, score)), true) => {
            ctx.out.array(2);
            ctx.out.int(rank as i64);
            ctx.out.double(score);
        }
        (Some((rank, _)), false) => ctx.out.int(rank as i64),
        (None, true) => ctx.out.null_array(),
        (None, false) => ctx.out.null(),
    }
    Ok(Replied)
}

fn zrank(ctx: &mut Ctx, args: &Args) -> CmdResult {
    rank(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &Args) -> CmdResult {
    rank(ctx, args, true)
}

/// Removes the given ranks [from, from + count) and deletes the key once empty; `event`
/// announces a removal.
fn remove_ranks(
    ctx: &mut Ctx,
    key: &[u8],
    event: &str,
    pick: impl Fn(&ZSet) -> Option<(usize, usize)>,
) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let Some(zset) = write_typed::<ZSet>(db, key, now, false)? else {
        ctx.out.int(0);
        return Ok(Replied);
    };
    let doomed: Vec<Vec<u8>> = match pick(zset) {
        Some((from, count)) => zset
            .range(from, count, false)
            .into_iter()
            .map(|(m, _)| m.to_vec())
            .collect(),
        None => Vec::new(),
    };
    for member in &doomed {
        zset.remove(member);
    }
    let emptied = zset.is_empty();
    if emptied {
        db.remove(key);
    }
    if !doomed.is_empty() {
        ctx.notify(crate::notify::ZSET, event, key);
        if emptied {
            ctx.notify(crate::notify::GENERIC, "del", key);
        }
    }
    ctx.out.int(doomed.len() as i64);
    Ok(Replied)
}

fn zremrangebyrank(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (start, stop) = (int_arg(&args[2])?, int_arg(&args[3])?);
    remove_ranks(ctx, &args[1], "zremrangebyrank", |zset| {
        rank_span(start, stop, zset.len())
    })
}

fn remove_interval(ctx: &mut Ctx, key: &[u8], event: &str, interval: &dyn Interval) -> CmdResult {
    remove_ranks(ctx, key, event, |zset| {
        let (start, end) = interval.ranks(zset);
        Some((start, end - start))
    })
}

fn zremrangebyscore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let range = ScoreRange::parse(&args[2], &args[3])?;
    remove_interval(ctx, &args[1], "zremrangebyscore", &range)
}

fn zremrangebylex(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let range = LexRange::parse(&args[2], &args[3])?;
    remove_interval(ctx, &args[1], "zremrangebylex", &range)
}

/// A key and what was popped from it.
type Popped = (Vec<u8>, Vec<Scored>);

/// Pops up to `count` lowest (or highest) elements from the first non-empty sorted set of
/// `keys`; WRONGTYPE stops the search at the first key of another type, as Redis.
fn pop_first(
    ctx: &mut Ctx,
    keys: &Args,
    highest: bool,
    count: usize,
) -> Result<Option<Popped>, CmdError> {
    let now = ctx.now;
    for key in keys {
        let db = ctx.db();
        let Some(zset) = write_typed::<ZSet>(db, key, now, false)? else {
            continue;
        };
        let popped = owned(zset.range(0, count, highest));
        for (member, _) in &popped {
            zset.remove(member);
        }
        let emptied = zset.is_empty();
        if emptied {
            db.remove(key);
        }
        if !popped.is_empty() {
            let event = if highest { "zpopmax" } else { "zpopmin" };
            ctx.notify(crate::notify::ZSET, event, key);
            if emptied {
                ctx.notify(crate::notify::GENERIC, "del", key);
            }
        }
        return Ok(Some((key.to_vec(), popped)));
    }
    Ok(None)
}

/// ZPOPMIN and ZPOPMAX: flat pairs, nested in RESP3 only when a count was given.
fn pop(ctx: &mut Ctx, args: &Args, highest: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        None => None,
        Some(arg) => match int_arg(arg) {
            Ok(n) if n >= 0 => Some(n as usize),
            _ => return Err(CmdError::err("value is out of range, must be positive")),
        },
    };
    let popped = pop_first(ctx, &args[1..2], highest, count.unwrap_or(1))?;
    let items = popped.map(|(_, items)| items).unwrap_or_default();
    if count.is_some() {
        reply_scored(ctx.out, &items, true);
    } else {
        ctx.out.array(items.len() * 2);
        for (member, score) in &items {
            ctx.out.bulk(member);
            ctx.out.double(*score);
        }
    }
    Ok(Replied)
}

fn zpopmin(ctx: &mut Ctx, args: &Args) -> CmdResult {
    pop(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx, args: &Args) -> CmdResult {
    pop(ctx, args, true)
}

/// ZMPOP's reply: the key and its elements as [member, score] pairs in both protocols.
fn reply_mpop(out: &mut Reply, key: &[u8], items: &[Scored]) {
    out.array(2);
    out.bulk(key);
    out.array(items.len());
    for (member, score) in items {
        out.array(2);
        out.bulk(member);
        out.double(*score);
    }
}

fn zmpop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (keys, lowest, count) = parse_mpop(args, 1, ["min", "max"])?;
    match pop_first(ctx, &args[keys], !lowest, count)? {
        Some((key, items)) => reply_mpop(ctx.out, &key, &items),
        None => ctx.out.null_array(),
    }
    Ok(Replied)
}

/// BZPOPMIN and BZPOPMAX: [key, member, score], or block.
fn blocking_pop(ctx: &mut Ctx, args: &Args, highest: bool) -> CmdResult {
    let deadline = parse_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    match pop_first(ctx, keys, highest, 1)? {
        Some((key, items)) => {
            let (member, score) = &items[0];
            ctx.out.array(3);
            ctx.out.bulk(&key);
            ctx.out.bulk(member);
            ctx.out.double(*score);
        }
        None => return Ok(block_or_give_up(ctx, keys, deadline, ValueType::ZSet, true)),
    }
    Ok(Replied)
}

fn bzpopmin(ctx: &mut Ctx, args: &Args) -> CmdResult {
    blocking_pop(ctx, args, false)
}

fn bzpopmax(ctx: &mut Ctx, args: &Args) -> CmdResult {
    blocking_pop(ctx, args, true)
}

fn bzmpop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let deadline = parse_timeout(&args[1])?;
    let (keys, lowest, count) = parse_mpop(args, 2, ["min", "max"])?;
    match pop_first(ctx, &args[keys.clone()], !lowest, count)? {
        Some((key, items)) => reply_mpop(ctx.out, &key, &items),
        None => {
            return Ok(block_or_give_up(
                ctx,
                &args[keys],
                deadline,
                ValueType::ZSet,
                true,
            ))
        }
    }
    Ok(Replied)
}

fn zrandmember(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (count, with_scores) = random_pair_args(args, "withscores")?;
    let now = ctx.now;
    let Some(zset) = read_typed::<ZSet>(ctx.db(), &args[1], now)? else {
        reply_no_random(ctx.out, count);
        return Ok(Replied);
    };
    let mut rng = rand::rng();
    let Some(count) = count else {
        let member = zset.random_entry(&mut rng).map(|(m, _)| m.to_vec());
        ctx.out.bulk_or_null(member.as_deref());
        return Ok(Replied);
    };
    let picked = owned(random_picks(zset.entries(), count, &mut rng));
    reply_scored(ctx.out, &picked, with_scores);
    Ok(Replied)
}

fn zscan(ctx: &mut Ctx, args: &Args) -> CmdResult {
    scan_collection::<ZSet>(ctx, args, |zset, cursor, opts, found| {
        zset.scan(cursor, |member, score| {
            if opts.matches(member) {
                found.push(member.to_vec());
                found.push(slotcache_protocol::resp::reply::format_double(score).into_bytes());
            }
        })
    })
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("zadd", zadd),
    ("zincrby", zincrby),
    ("zrem", zrem),
    ("zscore", zscore),
    ("zmscore", zmscore),
    ("zcard", zcard),
    ("zcount", zcount),
    ("zlexcount", zlexcount),
    ("zrange", zrange),
    ("zrangestore", zrangestore),
    ("zrevrange", fixed_range),
    ("zrangebyscore", fixed_range),
    ("zrevrangebyscore", fixed_range),
    ("zrangebylex", fixed_range),
    ("zrevrangebylex", fixed_range),
    ("zrank", zrank),
    ("zrevrank", zrevrank),
    ("zremrangebyrank", zremrangebyrank),
    ("zremrangebyscore", zremrangebyscore),
    ("zremrangebylex", zremrangebylex),
    ("zpopmin", zpopmin),
    ("zpopmax", zpopmax),
    ("zmpop", zmpop),
    ("bzpopmin", bzpopmin),
    ("bzpopmax", bzpopmax),
    ("bzmpop", bzmpop),
    ("zrandmember", zrandmember),
    ("zscan", zscan),
];
