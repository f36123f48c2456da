//! Bit commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
//! Bits are numbered from the most significant bit of the first byte, as in Redis.

use super::strings::{read_string, string_for_update, MAX_STRING};
use super::{int_arg, is, ArgCursor, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::engine::Value;
use slotcache_protocol::resp::parse::parse_i64;

fn offset_error() -> CmdError {
    CmdError::err("bit offset is not an integer or out of range")
}

/// A bit offset argument; `#N` means N times `width` when `width` is given (BITFIELD).
fn bit_offset(arg: &[u8], width: Option<u32>) -> Result<u64, CmdError> {
    let (hash, digits) = match (arg.first(), width) {
        (Some(b'#'), Some(_)) => (true, &arg[1..]),
        _ => (false, arg),
    };
    let mut offset = parse_i64(digits).ok_or_else(offset_error)?;
    if hash {
        offset = offset
            .checked_mul(width.unwrap_or(1) as i64)
            .ok_or_else(offset_error)?;
    }
    if offset < 0 || (offset as u64) >> 3 >= MAX_STRING as u64 {
        return Err(offset_error());
    }
    Ok(offset as u64)
}

fn get_bit(data: &[u8], bit: u64) -> u8 {
    let byte = (bit >> 3) as usize;
    match data.get(byte) {
        Some(b) => (b >> (7 - (bit & 7))) & 1,
        None => 0,
    }
}

fn set_bit(data: &mut [u8], bit: u64, on: bool) {
    let byte = (bit >> 3) as usize;
    let mask = 1u8 << (7 - (bit & 7));
    if on {
        data[byte] |= mask;
    } else {
        data[byte] &= !mask;
    }
}

fn setbit(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let offset = bit_offset(&args[2], None)?;
    let on = match args[3].as_ref() {
        b"1" => true,
        b"0" => false,
        _ => return Err(CmdError::err("bit is not an integer or out of range")),
    };
    let now = ctx.now;
    let existed = ctx.db().contains(&args[1], now);
    let value = string_for_update(ctx.db(), &args[1], now, true)?.ok_or(CmdError::NoSuchKey)?;
    let needed = (offset >> 3) as usize + 1;
    let grows = needed > value.str_len();
    let len = value.str_len().max(needed);
    let data = value.bytes_mut(len);
    let old = get_bit(data, offset);
    set_bit(data, offset, on);
    // As Redis: a change only when the key is new, grew, or the bit flipped.
    if !existed || grows || old != u8::from(on) {
        ctx.notify(crate::notify::STRING, "setbit", &args[1]);
    }
    ctx.out.int(old as i64);
    Ok(Replied)
}

fn getbit(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let offset = bit_offset(&args[2], None)?;
    let now = ctx.now;
    let bit = match read_string(ctx.db(), &args[1], now)? {
        Some(value) => get_bit(value.as_bytes(&mut itoa::Buffer::new()), offset),
        None => 0,
    };
    ctx.out.int(bit as i64);
    Ok(Replied)
}

/// Resolves a BITCOUNT/BITPOS range into inclusive bit positions, or None when empty.
/// `end` None means "to the end"; `in_bits` selects the BIT unit over BYTE.
fn bit_range(start: i64, end: Option<i64>, in_bits: bool, len_bytes: usize) -> Option<(u64, u64)> {
    let total = if in_bits {
        len_bytes as i64 * 8
    } else {
        len_bytes as i64
    };
    let end_value = end.unwrap_or(total - 1);
    let mut s = if start < 0 { total + start } else { start };
    let mut e = if end_value < 0 {
        total + end_value
    } else {
        end_value
    };
    s = s.max(0);
    e = e.max(0);
    if e >= total {
        e = total - 1;
    }
    if s > e {
        return None;
    }
    if in_bits {
        Some((s as u64, e as u64))
    } else {
        Some((s as u64 * 8, e as u64 * 8 + 7))
    }
}

fn unit_is_bit(arg: Option<&bytes::Bytes>) -> Result<bool, CmdError> {
    match arg {
        None => Ok(false),
        Some(a) if is(a, "bit") => Ok(true),
        Some(a) if is(a, "byte") => Ok(false),
        Some(_) => Err(CmdError::Syntax),
    }
}

fn count_ones(data: &[u8], from: u64, to: u64) -> u64 {
    let (first_byte, last_byte) = ((from >> 3) as usize, (to >> 3) as usize);
    let mut total: u64 = data[first_byte..=last_byte]
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum();
    // Remove the bits of the edge bytes that fall outside the range.
    for bit in (first_byte as u64 * 8)..from {
        total -= get_bit(data, bit) as u64;
    }
    for bit in (to + 1)..(last_byte as u64 * 8 + 8) {
        total -= get_bit(data, bit) as u64;
    }
    total
}

fn bitcount(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let mut digits = itoa::Buffer::new();
    let Some(value) = read_string(ctx.db(), &args[1], now)? else {
        ctx.out.int(0);
        return Ok(Replied);
    };
    let data = value.as_bytes(&mut digits).to_vec();
    let range = match args.len() {
        2 => bit_range(0, None, false, data.len()),
        4 | 5 => {
            let start = int_arg(&args[2])?;
            let end = int_arg(&args[3])?;
            let in_bits = unit_is_bit(args.get(4))?;
            // BITCOUNT (not BITPOS) treats an inverted all-negative range as empty.
            if start < 0 && end < 0 && start > end {
                None
            } else {
                bit_range(start, Some(end), in_bits, data.len())
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let count = range.map_or(0, |(from, to)| count_ones(&data, from, to));
    ctx.out.int(count as i64);
    Ok(Replied)
}

fn bitpos(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let bit = int_arg(&args[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::err("The bit argument must be 1 or 0."));
    }
    let now = ctx.now;
    let mut digits = itoa::Buffer::new();
    let Some(value) = read_string(ctx.db(), &args[1], now)? else {
        ctx.out.int(if bit == 1 { -1 } else { 0 });
        return Ok(Replied);
    };
    let data = value.as_bytes(&mut digits).to_vec();
    let (range, end_given) = match args.len() {
        3 => (bit_range(0, None, false, data.len()), false),
        4..=6 => {
            let start = int_arg(&args[3])?;
            let in_bits = unit_is_bit(args.get(5))?;
            let end = args.get(4).map(|a| int_arg(a)).transpose()?;
            (bit_range(start, end, in_bits, data.len()), end.is_some())
        }
        _ => return Err(CmdError::Syntax),
    };
    let Some((from, to)) = range else {
        ctx.out.int(-1);
        return Ok(Replied);
    };
    let found = (from..=to).find(|&i| get_bit(&data, i) == bit as u8);
    let pos = match found {
        Some(pos) => pos as i64,
        // Without an explicit end the string counts as padded with zeros on the right.
        None if bit == 0 && !end_given => ((to >> 3) as i64 + 1) * 8,
        None => -1,
    };
    ctx.out.int(pos);
    Ok(Replied)
}

fn bitop(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let op = &args[1];
    let op = ["and", "or", "xor", "not"]
        .into_iter()
        .find(|name| is(op, name))
        .ok_or(CmdError::Syntax)?;
    let sources = &args[3..];
    if op == "not" && sources.len() != 1 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let now = ctx.now;
    let db = ctx.db();
    let mut inputs = Vec::with_capacity(sources.len());
    for key in sources {
        inputs.push(
            read_string(db, key, now)?
                .map(|v| v.to_vec())
                .unwrap_or_default(),
        );
    }
    let len = inputs.iter().map(Vec::len).max().unwrap_or(0);
    let mut result = vec![0u8; len];
    for (i, out) in result.iter_mut().enumerate() {
        let byte = |input: &Vec<u8>| input.get(i).copied().unwrap_or(0);
        *out = match op {
            "not" => !byte(&inputs[0]),
            "and" => inputs.iter().map(byte).fold(0xff, |acc, b| acc & b),
            "or" => inputs.iter().map(byte).fold(0, |acc, b| acc | b),
            _ => inputs.iter().map(byte).fold(0, |acc, b| acc ^ b),
        };
    }
    if result.is_empty() {
        if db.remove(&args[2]).is_some() {
            ctx.notify(crate::notify::GENERIC, "del", &args[2]);
        }
    } else {
        db.set(&args[2], Value::from_bytes(&result), now);
        ctx.notify(crate::notify::STRING, "set", &args[2]);
    }
    ctx.out.int(len as i64);
    Ok(Replied)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy)]
struct FieldType {
    signed: bool,
    bits: u32,
}

enum FieldOp {
    Get(FieldType, u64),
    Set(FieldType, u64, i64, Overflow),
    Incr(FieldType, u64, i64, Overflow),
}

fn field_type(arg: &[u8]) -> Result<FieldType, CmdError> {
    let error = || {
        CmdError::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') | Some(b'I') => true,
        Some(b'u') | Some(b'U') => false,
        _ => return Err(error()),
    };
    let bits = parse_i64(&arg[1..]).ok_or_else(error)?;
    let max = if signed { 64 } else { 63 };
    if bits < 1 || bits > max {
        return Err(error());
    }
    Ok(FieldType {
        signed,
        bits: bits as u32,
    })
}

fn read_field(data: &[u8], offset: u64, ty: FieldType) -> i64 {
    let mut value: u64 = 0;
    for j in 0..ty.bits as u64 {
        value = (value << 1) | get_bit(data, offset + j) as u64;
    }
    if ty.signed && ty.bits < 64 && value & (1 << (ty.bits - 1)) != 0 {
        value |= u64::MAX << ty.bits;
    }
    value as i64
}

fn write_field(data: &mut [u8], offset: u64, ty: FieldType, value: i64) {
    let value = value as u64;
    for j in 0..ty.bits as u64 {
        let on = (value >> (ty.bits as u64 - 1 - j)) & 1 == 1;
        set_bit(data, offset + j, on);
    }
}

/// `value + incr` within the field's range under the overflow policy; None when it overflows
/// under FAIL. Mirrors Redis's check{Signed,Unsigned}BitfieldOverflow.
fn field_add(value: i64, incr: i64, ty: FieldType, policy: Overflow) -> Option<i64> {
    let bits = ty.bits;
    if ty.signed {
        let max: i64 = if bits == 64 {
            i64::MAX
        } else {
            (1i64 << (bits - 1)) - 1
        };
        let min = -max - 1;
        let max_incr = max.wrapping_sub(value);
        let min_incr = min.wrapping_sub(value);
        let wrap = || {
            let c = (value as u64).wrapping_add(incr as u64);
            let c = if bits < 64 {
                let mask = u64::MAX << bits;
                if c & (1 << (bits - 1)) != 0 {
                    c | mask
                } else {
                    c & !mask
                }
            } else {
                c
            };
            c as i64
        };
        if value > max
            || (bits != 64 && incr > max_incr)
            || (value >= 0 && incr > 0 && incr > max_incr)
        {
            return match policy {
                Overflow::Wrap => Some(wrap()),
                Overflow::Sat => Some(max),
                Overflow::Fail => None,
            };
        }
        if value < min
            || (bits != 64 && incr < min_incr)
            || (value < 0 && incr < 0 && incr < min_incr)
        {
            return match policy {
                Overflow::Wrap => Some(wrap()),
                Overflow::Sat => Some(min),
                Overflow::Fail => None,
            };
        }
        Some(value.wrapping_add(incr))
    } else {
        let uvalue = value as u64;
        let max: u64 = (1u64 << bits) - 1;
        let max_incr = max.wrapping_sub(uvalue) as i64;
        let min_incr = (uvalue as i64).wrapping_neg();
        let wrap = || (uvalue.wrapping_add(incr as u64) & !(u64::MAX << bits)) as i64;
        if uvalue > max || incr > max_incr {
            return match policy {
                Overflow::Wrap => Some(wrap()),
                Overflow::Sat => Some(max as i64),
                Overflow::Fail => None,
            };
        }
        if incr < 0 && incr < min_incr {
            return match policy {
                Overflow::Wrap => Some(wrap()),
                Overflow::Sat => Some(0),
                Overflow::Fail => None,
            };
        }
        Some((uvalue as i64).wrapping_add(incr))
    }
}

fn parse_field_ops(args: &Args, readonly: bool) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut policy = Overflow::Wrap;
    ArgCursor::new(args, 2).options(|word, cursor| {
        match word {
            "get" => {
                let [ty, offset] = cursor.values()?;
                let ty = field_type(ty)?;
                ops.push(FieldOp::Get(ty, bit_offset(offset, Some(ty.bits))?));
            }
            "set" | "incrby" => {
                let [ty, offset, value] = cursor.values()?;
                if readonly {
                    return Err(CmdError::err(
                        "BITFIELD_RO only supports the GET subcommand",
                    ));
                }
                let ty = field_type(ty)?;
                let offset = bit_offset(offset, Some(ty.bits))?;
                let value = int_arg(value)?;
                ops.push(match word {
                    "set" => FieldOp::Set(ty, offset, value, policy),
                    _ => FieldOp::Incr(ty, offset, value, policy),
                });
            }
            "overflow" => {
                let choices = [
                    ("wrap", Overflow::Wrap),
                    ("sat", Overflow::Sat),
                    ("fail", Overflow::Fail),
                ];
                policy = cursor
                    .choice(&choices)?
                    .ok_or_else(|| CmdError::err("Invalid OVERFLOW type specified"))?;
            }
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    Ok(ops)
}

fn run_bitfield(ctx: &mut Ctx, args: &Args, readonly: bool) -> CmdResult {
    let ops = parse_field_ops(args, readonly)?;
    let now = ctx.now;
    let writes = ops.iter().any(|op| !matches!(op, FieldOp::Get(..)));
    let key = &args[1];
    let db = ctx.db();
    let (mut data, existed) = match read_string(db, key, now)? {
        Some(value) => (value.to_vec(), true),
        None => (Vec::new(), false),
    };
    // As Redis: a change when a write creates the key, grows it, or changes a field.
    let mut changed = false;
    let mut results: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    for op in &ops {
        match *op {
            FieldOp::Get(ty, offset) => results.push(Some(read_field(&data, offset, ty))),
            FieldOp::Set(ty, offset, value, policy) | FieldOp::Incr(ty, offset, value, policy) => {
                let end = ((offset + ty.bits as u64 + 7) >> 3) as usize;
                if data.len() < end {
                    data.resize(end, 0);
                    changed = true;
                }
                let old = read_field(&data, offset, ty);
                let is_set = matches!(op, FieldOp::Set(..));
                let new = if is_set {
                    field_add(value, 0, ty, policy)
                } else {
                    field_add(old, value, ty, policy)
                };
                match new {
                    Some(new) => {
                        changed |= !is_set || new != old || !existed;
                        write_field(&mut data, offset, ty, new);
                        results.push(Some(if is_set { old } else { new }));
                    }
                    None => results.push(None),
                }
            }
        }
    }
    if writes {
        db.set_keep_ttl(key, Value::from_bytes(&data), now);
    }
    if changed {
        ctx.notify(crate::notify::STRING, "setbit", key);
    }
    ctx.out.array(results.len());
    for result in results {
        match result {
            Some(n) => ctx.out.int(n),
            None => ctx.out.null(),
        }
    }
    Ok(Replied)
}

fn bitfield(ctx: &mut Ctx, args: &Args) -> CmdResult {
    run_bitfield(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx, args: &Args) -> CmdResult {
    run_bitfield(ctx, args, true)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("setbit", setbit),
    ("getbit", getbit),
    ("bitcount", bitcount),
    ("bitpos", bitpos),
    ("bitop", bitop),
    ("bitfield", bitfield),
    ("bitfield_ro", bitfield_ro),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_overflow_policies() {
        let u8t = FieldType {
            signed: false,
            bits: 8,
        };
        let i8t = FieldType {
            signed: true,
            bits: 8,
        };
        assert_eq!(field_add(250, 10, u8t, Overflow::Wrap), Some(4));
        assert_eq!(field_add(250, 10, u8t, Overflow::Sat), Some(255));
        assert_eq!(field_add(250, 10, u8t, Overflow::Fail), None);
        assert_eq!(field_add(5, -10, u8t, Overflow::Sat), Some(0));
        assert_eq!(field_add(120, 10, i8t, Overflow::Wrap), Some(-126));
        assert_eq!(field_add(-120, -10, i8t, Overflow::Sat), Some(-128));
        assert_eq!(field_add(-1, 0, u8t, Overflow::Wrap), Some(255));
    }

    #[test]
    fn fields_round_trip() {
        let mut data = vec![0u8; 4];
        let i5 = FieldType {
            signed: true,
            bits: 5,
        };
        write_field(&mut data, 3, i5, -7);
        assert_eq!(read_field(&data, 3, i5), -7);
        assert_eq!(bit_range(-1, Some(-2), false, 10), None);
        assert_eq!(bit_range(-1, Some(i64::MIN), false, 1), Some((0, 7)));
        assert_eq!(bit_range(0, None, false, 2), Some((0, 15)));
    }
}
