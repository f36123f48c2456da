//! Conversions between Lua values and RESP as Redis 7.0 defines them, and the `bit` library
//! scripts expect.

use bytes::Bytes;
use mlua::{Lua, Table, Value};
use slotcache_protocol::resp::reply::format_double;
use slotcache_protocol::resp::Reply;

/// Deepest nesting converted either way; deeper (or cyclic) values are an error.
const MAX_DEPTH: usize = 256;

pub fn error_table_value(lua: &Lua, message: &str) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.raw_set("err", message)?;
    Ok(table)
}

pub fn error_table(lua: &Lua, message: &str) -> mlua::Result<Value> {
    error_table_value(lua, message).map(Value::Table)
}

/// A `redis.call` failure raised into Lua; its message is already the reply's text.
#[derive(Debug)]
pub struct ScriptError(pub String);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptError {}

/// The message of a [`ScriptError`] inside an error from Rust, if that is what it is.
pub fn script_error(err: &mlua::Error) -> Option<String> {
    match err {
        mlua::Error::ExternalError(inner) => {
            inner.downcast_ref::<ScriptError>().map(|e| e.0.clone())
        }
        mlua::Error::CallbackError { cause, .. } => script_error(cause),
        _ => None,
    }
}

/// The message of an error raised from Rust (a hook or callback).
pub fn error_text(err: &mlua::Error) -> String {
    match err {
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        other => other.to_string(),
    }
}

/// A `redis.call` argument: strings as they are, numbers as `%.17g` (Redis 7.0's choice, which
/// keeps their precision), anything else refused.
pub fn lua_to_arg(value: &Value) -> Option<Bytes> {
    match value {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Number(n) => Some(Bytes::from(format_double(*n))),
        Value::Integer(n) => Some(Bytes::from(n.to_string())),
        _ => None,
    }
}

/// A Lua number as C's `(long long)` cast gives it on x86: out of range or NaN is the minimum.
fn c_integer(n: f64) -> i64 {
    // 2^63: the first double past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// A script's return value as a reply (Redis's `luaReplyToRedisReply`).
pub fn lua_to_reply(out: &mut Reply, value: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match value {
        Value::Nil => out.null(),
        Value::Boolean(true) => out.int(1),
        Value::Boolean(false) => out.null(),
        Value::Number(n) => out.int(c_integer(*n)),
        Value::Integer(n) => out.int(*n),
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Table(table) => table_to_reply(out, table, depth),
        _ => out.null(),
    }
}

fn table_to_reply(out: &mut Reply, table: &Table, depth: usize) {
    if let Ok(Value::String(message)) = table.raw_get::<Value>("err") {
        out.error(&message.to_string_lossy());
        return;
    }
    if let Ok(Value::String(status)) = table.raw_get::<Value>("ok") {
        out.simple(&status.to_string_lossy());
        return;
    }
    let mut items = Vec::new();
    while let Ok(item) = table.raw_get::<Value>(items.len() + 1) {
        if item.is_nil() {
            break;
        }
        items.push(item);
    }
    out.array(items.len());
    for item in &items {
        lua_to_reply(out, item, depth + 1);
    }
}

/// The final error of a failed script: `<message> script: <sha>, on @user_script:<line>.`
pub fn error_message(value: &Value, sha: &str) -> String {
    let Value::Table(table) = value else {
        return format!("ERR Error running script {sha}");
    };
    let field = |name: &str| -> String {
        match table.raw_get::<Value>(name) {
            Ok(Value::String(s)) => s.to_string_lossy(),
            Ok(Value::Number(n)) => format_double(n),
            Ok(Value::Integer(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    let message = field("err");
    let source = field("source");
    if source.is_empty() {
        return format!("{message} script: {sha}");
    }
    format!("{message} script: {sha}, on {source}:{}.", field("line"))
}

/// A command's RESP2 reply as Lua values (Redis's `redisProtocolToLuaType`).
pub fn reply_to_lua(lua: &Lua, reply: &[u8]) -> mlua::Result<Value> {
    let mut at = 0;
    parse(lua, reply, &mut at, 0)
}

fn line<'a>(data: &'a [u8], at: &mut usize) -> mlua::Result<&'a [u8]> {
    let rest = data.get(*at..).unwrap_or_default();
    let end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(|| mlua::Error::RuntimeError("truncated reply".into()))?;
    *at += end + 2;
    Ok(&rest[..end])
}

fn number(text: &[u8]) -> mlua::Result<i64> {
    slotcache_protocol::resp::parse::parse_i64(text)
        .ok_or_else(|| mlua::Error::RuntimeError("malformed reply length".into()))
}

fn parse(lua: &Lua, data: &[u8], at: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(mlua::Error::RuntimeError("reply nested too deeply".into()));
    }
    let kind = *data
        .get(*at)
        .ok_or_else(|| mlua::Error::RuntimeError("truncated reply".into()))?;
    *at += 1;
    let head = line(data, at)?;
    match kind {
        b'+' => {
            let table = lua.create_table()?;
            table.raw_set("ok", lua.create_string(head)?)?;
            Ok(Value::Table(table))
        }
        b'-' => error_table(lua, &String::from_utf8_lossy(head)),
        b':' => Ok(Value::Number(number(head)? as f64)),
        b'$' => {
            let len = number(head)?;
            if len < 0 {
                return Ok(Value::Boolean(false));
            }
            let start = *at;
            let end = start + len as usize;
            let bytes = data
                .get(start..end)
                .ok_or_else(|| mlua::Error::RuntimeError("truncated reply".into()))?;
            *at = end + 2;
            Ok(Value::String(lua.create_string(bytes)?))
        }
        b'*' => {
            let len = number(head)?;
            if len < 0 {
                return Ok(Value::Boolean(false));
            }
            let table = lua.create_table_with_capacity(len as usize, 0)?;
            for i in 0..len {
                table.raw_set(i + 1, parse(lua, data, at, depth + 1)?)?;
            }
            Ok(Value::Table(table))
        }
        _ => Err(mlua::Error::RuntimeError("unexpected reply type".into())),
    }
}

/// LuaBitOp's conversion: round to nearest, keep the low 32 bits.
fn to_bit(n: f64) -> i32 {
    (n.round_ties_even() as i64) as u32 as i32
}

/// Argument `index` (0-based) of bit function `name` as LuaBitOp checks it: a number, or a
/// string that reads as one.
fn bit_arg(args: &[Value], index: usize, name: &str) -> mlua::Result<i32> {
    let value = args.get(index).unwrap_or(&Value::Nil);
    let number = match value {
        Value::Number(n) => Some(*n),
        Value::Integer(n) => Some(*n as f64),
        Value::String(s) => {
            let text = s.to_string_lossy();
            let text = text.trim();
            match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok().map(|n| n as f64),
                None => text.parse().ok(),
            }
        }
        _ => None,
    };
    number.map(to_bit).ok_or_else(|| {
        mlua::Error::RuntimeError(format!(
            "bad argument #{} to '{name}' (number expected, got {})",
            index + 1,
            if value.is_nil() {
                "no value"
            } else {
                value.type_name()
            }
        ))
    })
}

/// The `bit` library (LuaBitOp) on 32-bit integers.
pub fn bit(lua: &Lua) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    let fold = |lua: &Lua, name: &'static str, op: fn(i32, i32) -> i32| {
        lua.create_function(move |_, args: mlua::Variadic<Value>| {
            let mut acc = bit_arg(&args, 0, name)?;
            for i in 1..args.len() {
                acc = op(acc, bit_arg(&args, i, name)?);
            }
            Ok(acc as f64)
        })
    };
    table.raw_set("band", fold(lua, "band", |a, b| a & b)?)?;
    table.raw_set("bor", fold(lua, "bor", |a, b| a | b)?)?;
    table.raw_set("bxor", fold(lua, "bxor", |a, b| a ^ b)?)?;
    let shift = |lua: &Lua, name: &'static str, op: fn(i32, u32) -> i32| {
        lua.create_function(move |_, args: mlua::Variadic<Value>| {
            let (x, n) = (bit_arg(&args, 0, name)?, bit_arg(&args, 1, name)?);
            Ok(op(x, n as u32 & 31) as f64)
        })
    };
    table.raw_set(
        "lshift",
        shift(lua, "lshift", |x, n| ((x as u32) << n) as i32)?,
    )?;
    table.raw_set(
        "rshift",
        shift(lua, "rshift", |x, n| ((x as u32) >> n) as i32)?,
    )?;
    table.raw_set("arshift", shift(lua, "arshift", |x, n| x >> n)?)?;
    table.raw_set(
        "rol",
        shift(lua, "rol", |x, n| (x as u32).rotate_left(n) as i32)?,
    )?;
    table.raw_set(
        "ror",
        shift(lua, "ror", |x, n| (x as u32).rotate_right(n) as i32)?,
    )?;
    let unary = |lua: &Lua, name: &'static str, op: fn(i32) -> i32| {
        lua.create_function(move |_, args: mlua::Variadic<Value>| {
            Ok(op(bit_arg(&args, 0, name)?) as f64)
        })
    };
    table.raw_set("tobit", unary(lua, "tobit", |x| x)?)?;
    table.raw_set("bnot", unary(lua, "bnot", |x| !x)?)?;
    table.raw_set("bswap", unary(lua, "bswap", i32::swap_bytes)?)?;
    table.raw_set(
        "tohex",
        lua.create_function(|_, args: mlua::Variadic<Value>| {
            let value = bit_arg(&args, 0, "tohex")? as u32 as u64;
            let digits = if args.len() > 1 {
                bit_arg(&args, 1, "tohex")?
            } else {
                8
            };
            let width = digits.unsigned_abs().min(8) as usize;
            let masked = if width >= 8 {
                value
            } else {
                value & ((1u64 << (4 * width)) - 1)
            };
            Ok(if digits < 0 {
                format!("{masked:0width$X}")
            } else {
                format!("{masked:0width$x}")
            })
        })?,
    )?;
    Ok(table)
}
