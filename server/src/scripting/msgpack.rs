//! The `cmsgpack` library scripts see, with the choices of Redis's bundled lua_cmsgpack:
//! integral numbers as the smallest integer, others as float 32 when exact, tables with keys
//! 1..n as arrays and others as maps, and nesting cut at 16 levels (deeper tables are nil).

use mlua::{Lua, MultiValue, Table, Value};
use rmp::Marker;

/// lua_cmsgpack's LUACMSGPACK_MAX_NESTING.
const MAX_NESTING: usize = 16;

/// Decoding refuses input nested deeper than this, so hostile input cannot exhaust the stack.
const MAX_DECODE_DEPTH: usize = 1000;

fn runtime(message: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(message.into())
}

/// Writes never fail into a Vec.
fn written<T, E: std::fmt::Debug>(result: Result<T, E>) {
    result.expect("writing msgpack into memory");
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    if n.is_finite() && n.fract() == 0.0 && n >= i64::MIN as f64 && n < i64::MAX as f64 {
        let n = n as i64;
        match n >= 0 {
            true => written(rmp::encode::write_uint(out, n as u64)),
            false => written(rmp::encode::write_sint(out, n)),
        }
    } else if (n as f32) as f64 == n {
        written(rmp::encode::write_f32(out, n as f32));
    } else {
        written(rmp::encode::write_f64(out, n));
    }
}

/// lua_cmsgpack's `table_is_an_array`: every key a positive integer, and no holes.
fn is_array(table: &Table) -> mlua::Result<bool> {
    let mut count = 0usize;
    let mut max = 0f64;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let n = match key {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        if n <= 0.0 || n.fract() != 0.0 {
            return Ok(false);
        }
        max = max.max(n);
        count += 1;
    }
    Ok(max == count as f64)
}

fn encode(out: &mut Vec<u8>, value: &Value, level: usize) -> mlua::Result<()> {
    match value {
        Value::Boolean(b) => written(rmp::encode::write_bool(out, *b)),
        Value::Integer(n) => encode_number(out, *n as f64),
        Value::Number(n) => encode_number(out, *n),
        Value::String(s) => {
            let bytes = s.as_bytes();
            written(rmp::encode::write_str_len(out, bytes.len() as u32));
            out.extend_from_slice(&bytes);
        }
        Value::Table(table) if level < MAX_NESTING => {
            if is_array(table)? {
                let len = table.raw_len();
                written(rmp::encode::write_array_len(out, len as u32));
                for i in 1..=len {
                    encode(out, &table.raw_get::<Value>(i)?, level + 1)?;
                }
            } else {
                // Counted, then walked again: holding every pair at once would exhaust the
                // interpreter's reference stack on a big table.
                let count = table.pairs::<Value, Value>().count();
                written(rmp::encode::write_map_len(out, count as u32));
                for pair in table.pairs::<Value, Value>() {
                    let (key, item) = pair?;
                    encode(out, &key, level + 1)?;
                    encode(out, &item, level + 1)?;
                }
            }
        }
        _ => written(rmp::encode::write_nil(out)),
    }
    Ok(())
}

/// Why decoding stopped, in lua_cmsgpack's words.
enum DecodeError {
    Missing,
    BadFormat,
}

/// Reads msgpack values off the front of a byte slice.
struct Cursor<'a> {
    input: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.input.len() < n {
            return Err(DecodeError::Missing);
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(head)
    }

    fn uint(&mut self, bytes: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(bytes)?
            .iter()
            .fold(0u64, |n, &b| (n << 8) | b as u64))
    }

    fn sint(&mut self, bytes: usize) -> Result<i64, DecodeError> {
        let n = self.uint(bytes)?;
        let shift = 64 - 8 * bytes as u32;
        Ok(((n << shift) as i64) >> shift)
    }

    /// A count of items, each at least one byte: more than the input holds cannot be.
    fn count(&mut self, bytes: usize, per_item: usize) -> Result<usize, DecodeError> {
        let n = self.uint(bytes)? as usize;
        match n.saturating_mul(per_item) > self.input.len() {
            true => Err(DecodeError::Missing),
            false => Ok(n),
        }
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> Result<mlua::Result<Value>, DecodeError> {
        if depth > MAX_DECODE_DEPTH {
            return Err(DecodeError::BadFormat);
        }
        let marker = Marker::from_u8(self.take(1)?[0]);
        let number = |n: f64| Ok(Ok(Value::Number(n)));
        match marker {
            Marker::Null => Ok(Ok(Value::Nil)),
            Marker::True => Ok(Ok(Value::Boolean(true))),
            Marker::False => Ok(Ok(Value::Boolean(false))),
            Marker::FixPos(n) => number(n as f64),
            Marker::FixNeg(n) => number(n as f64),
            Marker::U8 => number(self.uint(1)? as f64),
            Marker::U16 => number(self.uint(2)? as f64),
            Marker::U32 => number(self.uint(4)? as f64),
            Marker::U64 => number(self.uint(8)? as f64),
            Marker::I8 => number(self.sint(1)? as f64),
            Marker::I16 => number(self.sint(2)? as f64),
            Marker::I32 => number(self.sint(4)? as f64),
            Marker::I64 => number(self.sint(8)? as f64),
            Marker::F32 => number(f32::from_bits(self.uint(4)? as u32) as f64),
            Marker::F64 => number(f64::from_bits(self.uint(8)?)),
            Marker::FixStr(n) => self.string(lua, n as usize),
            Marker::Str8 | Marker::Bin8 | Marker::Str16 | Marker::Bin16 => {
                let width = if matches!(marker, Marker::Str8 | Marker::Bin8) {
                    1
                } else {
                    2
                };
                let n = self.uint(width)? as usize;
                self.string(lua, n)
            }
            Marker::Str32 | Marker::Bin32 => {
                let n = self.uint(4)? as usize;
                self.string(lua, n)
            }
            Marker::FixArray(n) => self.table(lua, n as usize, depth, false),
            Marker::Array16 | Marker::Array32 => {
                let n = self.count(if marker == Marker::Array16 { 2 } else { 4 }, 1)?;
                self.table(lua, n, depth, false)
            }
            Marker::FixMap(n) => self.table(lua, n as usize, depth, true),
            Marker::Map16 | Marker::Map32 => {
                let n = self.count(if marker == Marker::Map16 { 2 } else { 4 }, 2)?;
                self.table(lua, n, depth, true)
            }
            _ => Err(DecodeError::BadFormat),
        }
    }

    fn string(&mut self, lua: &Lua, len: usize) -> Result<mlua::Result<Value>, DecodeError> {
        let bytes = self.take(len)?;
        Ok(lua.create_string(bytes).map(Value::String))
    }

    /// An array (keys 1 to `len`) or, when `keyed`, a map of `len` pairs, as a Lua table.
    fn table(
        &mut self,
        lua: &Lua,
        len: usize,
        depth: usize,
        keyed: bool,
    ) -> Result<mlua::Result<Value>, DecodeError> {
        let table = match lua.create_table() {
            Ok(table) => table,
            Err(err) => return Ok(Err(err)),
        };
        for i in 1..=len {
            let key = match keyed {
                true => self.value(lua, depth + 1)?,
                false => Ok(Value::Integer(i as i64)),
            };
            let item = self.value(lua, depth + 1)?;
            let stored = key.and_then(|key| match key {
                // A nil key cannot be stored; lua_cmsgpack's settable would fail the same way.
                Value::Nil => Err(runtime("table index is nil")),
                key => table.raw_set(key, item?),
            });
            if let Err(err) = stored {
                return Ok(Err(err));
            }
        }
        Ok(Ok(Value::Table(table)))
    }
}

/// lua_cmsgpack's `mp_unpack_full`: up to `limit` values from `offset` (both 0: all, and no
/// offset returned); otherwise the offset of what follows (-1 at the end) comes first.
fn unpack(lua: &Lua, input: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    if offset < 0 || limit < 0 {
        return Err(runtime(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            input.len()
        )));
    }
    if offset as usize > input.len() {
        return Err(runtime(format!(
            "Start offset {offset} greater than input length {}.",
            input.len()
        )));
    }
    let all = limit == 0 && offset == 0;
    let limit = if all { usize::MAX } else { limit as usize };
    let mut cursor = Cursor {
        input: &input[offset as usize..],
    };
    let mut values = Vec::new();
    while !cursor.input.is_empty() && values.len() < limit {
        match cursor.value(lua, 0) {
            Ok(value) => values.push(value?),
            Err(DecodeError::Missing) => return Err(runtime("Missing bytes in input.")),
            Err(DecodeError::BadFormat) => return Err(runtime("Bad data format in input.")),
        }
    }
    if !all {
        let next = match cursor.input.is_empty() {
            true => -1.0,
            false => (input.len() - cursor.input.len()) as f64,
        };
        values.insert(0, Value::Number(next));
    }
    Ok(values.into_iter().collect())
}

/// `cmsgpack.pack`, `unpack`, `unpack_one` and `unpack_limit`.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(runtime("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for arg in args.iter() {
                encode(&mut out, arg, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    table.raw_set(
        "unpack",
        lua.create_function(|lua, input: mlua::String| unpack(lua, &input.as_bytes(), 0, 0))?,
    )?;
    table.raw_set(
        "unpack_one",
        lua.create_function(|lua, (input, offset): (mlua::String, Option<i64>)| {
            unpack(lua, &input.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    table.raw_set(
        "unpack_limit",
        lua.create_function(
            |lua, (input, limit, offset): (mlua::String, i64, Option<i64>)| {
                unpack(lua, &input.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lua: &Lua, code: &str) -> mlua::Result<Value> {
        lua.globals().set("cmsgpack", library(lua)?)?;
        lua.load(code).eval()
    }

    #[test]
    fn packs_as_lua_cmsgpack_does() {
        let lua = Lua::new();
        let hex = r#"local e = cmsgpack.pack(%s) local h = ""
            for i = 1, #e do h = h .. string.format("%02x", string.byte(e, i)) end return h"#;
        for (value, expected) in [
            ("0.1", "cb3fb999999999999a"),
            ("0.5", "ca3f000000"),
            ("-1099511627776", "d3ffffff0000000000"),
            ("200", "ccc8"),
            ("-5", "fb"),
            ("{1, 2}", "920102"),
            ("{}", "90"),
            ("'ab'", "a26162"),
            ("true, nil", "c3c0"),
        ] {
            let got = run(&lua, &hex.replace("%s", value)).unwrap();
            assert_eq!(got.to_string().unwrap(), expected, "packing {value}");
        }
    }

    #[test]
    fn unpacks_with_offsets() {
        let lua = Lua::new();
        let code = r#"local e = cmsgpack.pack("a", {x = 1}, 3)
            local o1, a = cmsgpack.unpack_one(e)
            local o2, t = cmsgpack.unpack_one(e, o1)
            local o3, n = cmsgpack.unpack_limit(e, 1, o2)
            return a .. t.x .. n .. o3"#;
        assert_eq!(run(&lua, code).unwrap().to_string().unwrap(), "a13-1");
    }

    #[test]
    fn hostile_input_is_refused_without_allocating() {
        let lua = Lua::new();
        // An array header claiming 4 billion items, a map claiming as many pairs, and nesting
        // far past any stack: errors, not allocations or a crash.
        for input in [
            "'\\221\\255\\255\\255\\255'",
            "'\\223\\255\\255\\255\\255'",
            "string.rep('\\145', 100000)",
            "'\\193'",
        ] {
            let err = run(&lua, &format!("return cmsgpack.unpack({input})")).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("Missing bytes") || text.contains("Bad data format"),
                "{input}: {text}"
            );
        }
    }
}
