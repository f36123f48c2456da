//! SORT and SORT_RO, as Redis's `sort.c`: the elements of a list, set or sorted set, by their
//! value or by keys a pattern names (`BY weight_*`, `BY data_*->field`), numerically or with
//! ALPHA, in a LIMIT window, replying with them or with keys GET names, or storing the result
//! as a list (STORE).

use super::{int_arg, is, parse_f64, Args, CmdError, CmdResult, Ctx, Handler};
use crate::engine::list::{End, List};
use crate::engine::{Db, Value};
use bytes::Bytes;
use slotcache_protocol::command::route::RouteError;
use std::cmp::Ordering;

struct Options {
    by: Option<Bytes>,
    /// BY without a `*`: the elements keep their order.
    dont_sort: bool,
    limit: Option<(i64, i64)>,
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

fn parse(args: &Args, read_only: bool, cluster: bool) -> Result<Options, CmdError> {
    let mut options = Options {
        by: None,
        dont_sort: false,
        limit: None,
        gets: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
    };
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        let arg = &args[i];
        if is(arg, "asc") {
            options.desc = false;
        } else if is(arg, "desc") {
            options.desc = true;
        } else if is(arg, "alpha") {
            options.alpha = true;
        } else if is(arg, "limit") && left >= 2 {
            options.limit = Some((int_arg(&args[i + 1])?, int_arg(&args[i + 2])?));
            i += 2;
        } else if is(arg, "store") && left >= 1 && !read_only {
            options.store = Some(args[i + 1].clone());
            i += 1;
        } else if is(arg, "by") && left >= 1 {
            let pattern = &args[i + 1];
            if !pattern.contains(&b'*') {
                options.dont_sort = true;
            } else if cluster {
                return Err(CmdError::err("BY option of SORT denied in Cluster mode."));
            }
            options.by = Some(pattern.clone());
            i += 1;
        } else if is(arg, "get") && left >= 1 {
            if cluster {
                return Err(CmdError::err("GET option of SORT denied in Cluster mode."));
            }
            options.gets.push(args[i + 1].clone());
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(options)
}

/// The value a pattern names for `element`: `#` is the element itself; otherwise the first
/// `*` is replaced by it, and `->field` reads a hash field. None when nothing is there.
fn lookup(db: &mut Db, pattern: &[u8], element: &[u8], now: i64) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|at| at + 2 < after.len());
    let (suffix, field) = match arrow {
        Some(at) => (&after[..at], Some(&after[at + 2..])),
        None => (after, None),
    };
    let key = [&pattern[..star], element, suffix].concat();
    let entry = db.get(&key, now)?;
    match (&entry.value, field) {
        (Value::Hash(hash), Some(field)) => hash.get(field).map(<[u8]>::to_vec),
        (Value::Hash(_), None) | (_, Some(_)) => None,
        (value, None) if value.value_type() == crate::engine::ValueType::String => {
            let mut scratch = itoa::Buffer::new();
            Some(value.as_bytes(&mut scratch).to_vec())
        }
        _ => None,
    }
}

/// The elements to sort, in the collection's own order.
fn elements(db: &mut Db, key: &[u8], now: i64) -> Result<(Vec<Vec<u8>>, bool), CmdError> {
    let Some(entry) = db.get(key, now) else {
        return Ok((Vec::new(), false));
    };
    Ok(match &entry.value {
        Value::List(list) => (list.items().map(<[u8]>::to_vec).collect(), false),
        Value::Set(set) => (
            set.members().into_iter().map(<[u8]>::to_vec).collect(),
            true,
        ),
        Value::ZSet(zset) => (
            zset.range(0, zset.len(), false)
                .into_iter()
                .map(|(member, _)| member.to_vec())
                .collect(),
            false,
        ),
        _ => return Err(CmdError::WrongType),
    })
}

/// An element with what it sorts by.
struct Item {
    element: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx, args: &Args, read_only: bool) -> CmdResult {
    let cluster = ctx.server.routes.get().is_some();
    let mut options = parse(args, read_only, cluster)?;
    if let Some(store) = &options.store {
        if cluster && slotcache_cluster::key_slot(store) != slotcache_cluster::key_slot(&args[1]) {
            return Err(CmdError::Other(RouteError::CrossSlot.to_string()));
        }
    }
    let now = ctx.now;
    let in_script = ctx.client.in_script;
    let db = ctx.db();
    let (elements, is_set) = elements(db, &args[1], now)?;
    // A set's order is the server's own: unsorted output would differ between a script's run
    // and its replicas, so it is sorted as ALPHA there, as Redis does.
    if options.dont_sort && is_set && (options.store.is_some() || in_script) {
        options.dont_sort = false;
        options.alpha = true;
        options.by = None;
    }
    let sorting_by = options.by.clone().filter(|_| !options.dont_sort);
    let mut items = Vec::with_capacity(elements.len());
    for element in elements {
        let by = match &sorting_by {
            Some(pattern) => lookup(db, pattern, &element, now),
            None => None,
        };
        let mut score = 0.0;
        if !options.dont_sort && !options.alpha {
            let text = match &sorting_by {
                Some(_) => by.as_deref(),
                None => Some(&element[..]),
            };
            if let Some(text) = text {
                let trimmed = text.trim_ascii_start();
                score = parse_f64(trimmed).ok_or_else(|| {
                    CmdError::err("One or more scores can't be converted into double")
                })?;
            }
        }
        items.push(Item { element, score, by });
    }
    if !options.dont_sort {
        let by_pattern = sorting_by.is_some();
        let alpha = options.alpha;
        items.sort_by(|a, b| {
            let order = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.element.cmp(&b.element))
            } else if by_pattern {
                a.by.cmp(&b.by)
            } else {
                a.element.cmp(&b.element)
            };
            if options.desc {
                order.reverse()
            } else {
                order
            }
        });
    } else if options.desc && !is_set {
        items.reverse();
    }
    // LIMIT's window, clamped as Redis clamps it.
    let len = items.len() as i64;
    let (offset, count) = options.limit.unwrap_or((0, -1));
    let mut start = offset.max(0);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let window: Vec<Item> = match start <= end {
        true => items
            .into_iter()
            .skip(start as usize)
            .take((end - start + 1) as usize)
            .collect(),
        false => Vec::new(),
    };
    let mut output: Vec<Option<Vec<u8>>> = Vec::new();
    for item in &window {
        if options.gets.is_empty() {
            output.push(Some(item.element.clone()));
        }
        for pattern in &options.gets {
            output.push(lookup(db, pattern, &item.element, now));
        }
    }
    match &options.store {
        Some(store) => {
            if output.is_empty() {
                db.remove(store);
                db.touch(store);
            } else {
                let mut list = List::default();
                for value in &output {
                    list.push(End::Tail, value.as_deref().unwrap_or_default());
                }
                db.set(store, Value::List(list), now);
            }
            ctx.out.int(output.len() as i64);
        }
        None => {
            ctx.out.array(output.len());
            for value in &output {
                ctx.out.bulk_or_null(value.as_deref());
            }
        }
    }
    Ok(())
}

fn sort(ctx: &mut Ctx, args: &Args) -> CmdResult {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    sort_generic(ctx, args, true)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[("sort", sort), ("sort_ro", sort_ro)];
