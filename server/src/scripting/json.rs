//! The `cjson` library scripts see (lua-cjson as Redis bundles it), on serde_json, with the
//! settings scripts may change: nesting limits each way and whether NaN and infinities encode.

use mlua::{Lua, Table, Value};
use serde_json::Value as Json;
use slotcache_protocol::resp::reply::format_double;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// lua-cjson's defaults.
const DEFAULT_MAX_DEPTH: usize = 1000;

/// The settings a script changes with `cjson.encode_max_depth` and the like; they last for the
/// interpreter's life, as in Redis.
struct Settings {
    encode_max_depth: AtomicUsize,
    decode_max_depth: AtomicUsize,
    encode_invalid_numbers: AtomicBool,
}

fn runtime(message: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(message.into())
}

fn from_lua(value: &Value, depth: usize, settings: &Settings) -> mlua::Result<Json> {
    let max_depth = settings.encode_max_depth.load(Ordering::Relaxed);
    if depth > max_depth {
        return Err(runtime(format!(
            "Cannot serialise, excessive nesting ({depth})"
        )));
    }
    Ok(match value {
        Value::Nil => Json::Null,
        Value::LightUserData(ptr) if ptr.0.is_null() => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(n) => Json::from(*n),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Json::from(*n as i64),
        Value::Number(n) => match serde_json::Number::from_f64(*n) {
            Some(number) => Json::Number(number),
            // serde_json has no token for them: allowed, they encode as null.
            None if settings.encode_invalid_numbers.load(Ordering::Relaxed) => Json::Null,
            None => return Err(runtime("Cannot serialise number: must not be NaN or Inf")),
        },
        Value::String(s) => Json::String(s.to_string_lossy()),
        Value::Table(table) => {
            if depth + 1 > max_depth {
                return Err(runtime(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                )));
            }
            let len = table.raw_len();
            // Walked, not collected: holding every pair at once would exhaust the
            // interpreter's reference stack on a big table.
            if len > 0 && table.pairs::<Value, Value>().count() == len {
                let mut items = Vec::with_capacity(len);
                for i in 1..=len {
                    items.push(from_lua(&table.raw_get::<Value>(i)?, depth + 1, settings)?);
                }
                Json::Array(items)
            } else {
                let mut map = serde_json::Map::new();
                for pair in table.pairs::<Value, Value>() {
                    let (key, item) = pair?;
                    let key = match key {
                        Value::String(s) => s.to_string_lossy(),
                        Value::Number(n) => format_double(n),
                        Value::Integer(n) => n.to_string(),
                        _ => {
                            return Err(runtime(
                                "Cannot serialise table: table key must be a number or string",
                            ))
                        }
                    };
                    map.insert(key, from_lua(&item, depth + 1, settings)?);
                }
                Json::Object(map)
            }
        }
        _ => return Err(runtime("Cannot serialise: type not supported")),
    })
}

/// How deep arrays and objects nest in a decoded document.
fn depth(json: &Json) -> usize {
    match json {
        Json::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Json::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn to_lua(lua: &Lua, json: &Json) -> mlua::Result<Value> {
    Ok(match json {
        Json::Null => Value::NULL,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or_default()),
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(table)
        }
        Json::Object(map) => {
            let table = lua.create_table_with_capacity(0, map.len())?;
            for (key, item) in map {
                table.raw_set(key.as_str(), to_lua(lua, item)?)?;
            }
            Value::Table(table)
        }
    })
}

/// A depth setter: sets the limit when given one, and returns it.
fn depth_setting(
    lua: &Lua,
    settings: &Arc<Settings>,
    pick: fn(&Settings) -> &AtomicUsize,
) -> mlua::Result<mlua::Function> {
    let settings = settings.clone();
    lua.create_function(move |_, depth: Option<i64>| {
        let setting = pick(&settings);
        if let Some(depth) = depth {
            if !(1..=i32::MAX as i64).contains(&depth) {
                return Err(runtime(
                    "bad argument #1 to '?' (expected integer between 1 and 2147483647)",
                ));
            }
            setting.store(depth as usize, Ordering::Relaxed);
        }
        Ok(setting.load(Ordering::Relaxed))
    })
}

/// `cjson.encode`, `decode`, `null` and the settings functions.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let settings = Arc::new(Settings {
        encode_max_depth: AtomicUsize::new(DEFAULT_MAX_DEPTH),
        decode_max_depth: AtomicUsize::new(DEFAULT_MAX_DEPTH),
        encode_invalid_numbers: AtomicBool::new(false),
    });
    let table = lua.create_table()?;
    let encoding = settings.clone();
    table.raw_set(
        "encode",
        lua.create_function(move |_, value: Value| {
            serde_json::to_string(&from_lua(&value, 0, &encoding)?)
                .map_err(|err| runtime(err.to_string()))
        })?,
    )?;
    let decoding = settings.clone();
    table.raw_set(
        "decode",
        lua.create_function(move |lua, text: mlua::String| {
            let json: Json = serde_json::from_slice(&text.as_bytes())
                .map_err(|err| runtime(format!("Expected value but found invalid token: {err}")))?;
            let found = depth(&json);
            if found > decoding.decode_max_depth.load(Ordering::Relaxed) {
                return Err(runtime(format!(
                    "Found too many nested data structures ({found})"
                )));
            }
            to_lua(lua, &json)
        })?,
    )?;
    table.raw_set("null", Value::NULL)?;
    table.raw_set(
        "encode_max_depth",
        depth_setting(lua, &settings, |s| &s.encode_max_depth)?,
    )?;
    table.raw_set(
        "decode_max_depth",
        depth_setting(lua, &settings, |s| &s.decode_max_depth)?,
    )?;
    let invalid = settings.clone();
    table.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |_, allow: Option<Value>| {
            if let Some(allow) = allow {
                let on = !matches!(allow, Value::Boolean(false) | Value::Nil);
                invalid.encode_invalid_numbers.store(on, Ordering::Relaxed);
            }
            Ok(invalid.encode_invalid_numbers.load(Ordering::Relaxed))
        })?,
    )?;
    // The encoder keeps no buffer between calls: the setting is accepted and reported.
    table.raw_set(
        "encode_keep_buffer",
        lua.create_function(|_, keep: Option<bool>| Ok(keep.unwrap_or(true)))?,
    )?;
    Ok(table)
}
