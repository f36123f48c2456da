//! SORT and SORT_RO, as Redis's `sort.c`: the elements of a list, set or sorted set, by their
//! value or by keys a pattern names (`BY weight_*`, `BY data_*->field`), numerically or with
//! ALPHA, in a LIMIT window, replying with them or with keys GET names, or storing the result
//! as a list (STORE).

use super::{Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::engine::list::{End, List};
use crate::engine::{Db, Value};
use slotcache_protocol::command::route::RouteError;
use slotcache_protocol::command::sort::{sort_window, target, SortOptions, Target};

/// The value a pattern names for `element`, or None when nothing is there.
fn lookup(db: &mut Db, pattern: &[u8], element: &[u8], now: i64) -> Option<Vec<u8>> {
    let (key, field) = match target(pattern, element)? {
        Target::Element => return Some(element.to_vec()),
        Target::Key { key, field } => (key, field),
    };
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

fn sort_generic(ctx: &mut Ctx, args: &Args, read_only: bool) -> CmdResult {
    let cluster = ctx.server.routes.get().is_some();
    let full_key_access = super::acl::reaches_every_key(ctx.server, ctx.client, args);
    let mut options = SortOptions::parse(args, read_only, cluster, full_key_access)?;
    if let Some(store) = &options.store {
        if cluster && slotcache_cluster::key_slot(store) != slotcache_cluster::key_slot(&args[1]) {
            return Err(CmdError::Other(RouteError::CrossSlot.to_string()));
        }
    }
    let now = ctx.now;
    let in_script = ctx.client.in_script;
    let db = ctx.db();
    let (elements, is_set) = elements(db, &args[1], now)?;
    options.settle_set_order(is_set, in_script);
    let sorting_by = options.sorting_by().cloned();
    let elements = elements
        .into_iter()
        .map(|element| {
            let by = sorting_by
                .as_ref()
                .and_then(|pattern| lookup(db, pattern, &element, now));
            (element, by)
        })
        .collect();
    let window = sort_window(elements, &options, is_set)?;
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
    Ok(Replied)
}

fn sort(ctx: &mut Ctx, args: &Args) -> CmdResult {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    sort_generic(ctx, args, true)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[("sort", sort), ("sort_ro", sort_ro)];
