//! HyperLogLog in Redis's own string format, so PFCOUNT gives Redis's exact numbers and a value
//! moved between the two with GET/SET keeps working: a 16-byte header ("HYLL", encoding, cached
//! cardinality), then 16384 6-bit registers either dense or in the sparse run-length opcodes.
//! Hashing (MurmurHash64A, seed 0xadc83b19) and the estimator (Ertl's, as Redis 5+) follow
//! Redis's `hyperloglog.c`.

const P: u32 = 14;
const REGISTERS: usize = 1 << P;
const Q: usize = 64 - P as usize;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
pub const HEADER: usize = 16;
pub const DENSE_SIZE: usize = HEADER + (REGISTERS * BITS).div_ceil(8);
const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;
/// Sparse opcodes: runs of zeros up to 64 (ZERO) or 16384 (XZERO), runs of up to 4 equal
/// values up to 32 (VAL).
const ZERO_MAX: usize = 64;
const XZERO_MAX: usize = 16384;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The registers of an HLL, one byte each.
pub type Registers = Box<[u8; REGISTERS]>;

/// What a corrupt sparse encoding answers, as Redis.
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate() {
            h ^= (byte as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the length of its run of zero bits plus one.
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Whether `data` is a HyperLogLog Redis would accept.
pub fn is_valid(data: &[u8]) -> bool {
    data.len() >= HEADER
        && &data[..4] == b"HYLL"
        && match data[4] {
            ENCODING_DENSE => data.len() == DENSE_SIZE,
            ENCODING_SPARSE => true,
            _ => false,
        }
}

/// A new, empty HLL: sparse, one XZERO opcode, cached cardinality 0.
pub fn empty() -> Vec<u8> {
    let mut data = header(ENCODING_SPARSE);
    push_zeros(&mut data, REGISTERS);
    data
}

fn header(encoding: u8) -> Vec<u8> {
    let mut data = Vec::with_capacity(HEADER + 2);
    data.extend_from_slice(b"HYLL");
    data.extend_from_slice(&[encoding, 0, 0, 0]);
    data.extend_from_slice(&[0; 8]);
    data
}

fn dense_get(registers: &[u8], index: usize) -> u8 {
    let byte = index * BITS / 8;
    let shift = (index * BITS) & 7;
    let b0 = registers[byte] as u16;
    let b1 = registers.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> shift) | (b1 << (8 - shift))) & REGISTER_MAX as u16) as u8
}

fn dense_set(registers: &mut [u8], index: usize, value: u8) {
    let byte = index * BITS / 8;
    let shift = (index * BITS) & 7;
    let value = value as u16;
    let max = REGISTER_MAX as u16;
    registers[byte] &= !((max << shift) as u8);
    registers[byte] |= (value << shift) as u8;
    if let Some(next) = registers.get_mut(byte + 1) {
        *next &= !((max >> (8 - shift)) as u8);
        *next |= (value >> (8 - shift)) as u8;
    }
}

/// Every register of `data`, whatever its encoding.
pub fn registers(data: &[u8]) -> Result<Registers, Corrupt> {
    let mut out: Registers = Box::new([0; REGISTERS]);
    let body = &data[HEADER..];
    if data[4] == ENCODING_DENSE {
        for (index, register) in out.iter_mut().enumerate() {
            *register = dense_get(body, index);
        }
        return Ok(out);
    }
    let mut at = 0usize;
    let mut i = 0;
    while i < body.len() {
        let op = body[i];
        let (len, value) = if op & 0xc0 == 0 {
            i += 1;
            ((op & 0x3f) as usize + 1, 0)
        } else if op & 0xc0 == 0x40 {
            let low = *body.get(i + 1).ok_or(Corrupt)?;
            i += 2;
            ((((op & 0x3f) as usize) << 8 | low as usize) + 1, 0)
        } else {
            i += 1;
            ((op & 0x3) as usize + 1, ((op >> 2) & 0x1f) + 1)
        };
        let run = out.get_mut(at..at + len).ok_or(Corrupt)?;
        run.fill(value);
        at += len;
    }
    if at != REGISTERS {
        return Err(Corrupt);
    }
    Ok(out)
}

fn push_zeros(out: &mut Vec<u8>, mut len: usize) {
    while len > 0 {
        let run = len.min(XZERO_MAX);
        if run > ZERO_MAX {
            let code = run - 1;
            out.push(0x40 | (code >> 8) as u8);
            out.push((code & 0xff) as u8);
        } else {
            out.push((run - 1) as u8);
        }
        len -= run;
    }
}

/// The sparse encoding of `registers`, or `None` when it needs the dense one (a value over 32,
/// or longer than `max_bytes` as `hll-sparse-max-bytes`).
fn encode_sparse(registers: &[u8; REGISTERS], max_bytes: usize) -> Option<Vec<u8>> {
    let mut out = header(ENCODING_SPARSE);
    let mut i = 0;
    while i < REGISTERS {
        let value = registers[i];
        let run = registers[i..].iter().take_while(|&&r| r == value).count();
        if value == 0 {
            push_zeros(&mut out, run);
        } else {
            if value > VAL_MAX_VALUE {
                return None;
            }
            let mut left = run;
            while left > 0 {
                let len = left.min(VAL_MAX_LEN);
                out.push(0x80 | ((value - 1) << 2) | (len - 1) as u8);
                left -= len;
            }
        }
        if out.len() > max_bytes {
            return None;
        }
        i += run;
    }
    Some(out)
}

fn encode_dense(registers: &[u8; REGISTERS]) -> Vec<u8> {
    let mut out = header(ENCODING_DENSE);
    out.resize(DENSE_SIZE, 0);
    for (index, &value) in registers.iter().enumerate() {
        if value != 0 {
            dense_set(&mut out[HEADER..], index, value);
        }
    }
    out
}

/// `registers` encoded as Redis would hold them: sparse while it fits, unless `dense`.
pub fn encode(registers: &[u8; REGISTERS], dense: bool, max_bytes: usize) -> Vec<u8> {
    let sparse = if dense {
        None
    } else {
        encode_sparse(registers, max_bytes)
    };
    sparse.unwrap_or_else(|| encode_dense(registers))
}

pub fn is_dense(data: &[u8]) -> bool {
    data[4] == ENCODING_DENSE
}

/// Carries the cached-cardinality bytes over to a re-encoding, as Redis's in-place updates
/// leave them (stale, once marked so).
pub fn keep_cache_bytes(encoded: &mut [u8], previous: &[u8]) {
    encoded[8..16].copy_from_slice(&previous[8..16]);
}

/// Marks the cached cardinality stale after the registers changed.
pub fn invalidate_cache(data: &mut [u8]) {
    data[15] |= 0x80;
}

/// Adds elements to a dense HLL in place; true when a register grew (the cached cardinality
/// is then marked stale).
pub fn add_dense<'a>(data: &mut [u8], elements: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut changed = false;
    for element in elements {
        let (index, count) = pattern(element);
        if dense_get(&data[HEADER..], index) < count {
            dense_set(&mut data[HEADER..], index, count);
            changed = true;
        }
    }
    if changed {
        invalidate_cache(data);
    }
    changed
}

/// Adds elements to a sparse HLL: its new encoding (promoted to dense past `max_bytes`, the
/// cache bytes carried over and marked stale) when a register grew, `None` when none did.
pub fn add_sparse<'a>(
    data: &[u8],
    elements: impl Iterator<Item = &'a [u8]>,
    max_bytes: usize,
) -> Result<Option<Vec<u8>>, Corrupt> {
    let mut regs = registers(data)?;
    let mut changed = false;
    for element in elements {
        let (index, count) = pattern(element);
        if regs[index] < count {
            regs[index] = count;
            changed = true;
        }
    }
    if !changed {
        return Ok(None);
    }
    let mut encoded = encode(&regs, false, max_bytes);
    keep_cache_bytes(&mut encoded, data);
    invalidate_cache(&mut encoded);
    Ok(Some(encoded))
}

/// Registers all zero, to merge into.
pub fn zero_registers() -> Registers {
    Box::new([0; REGISTERS])
}

/// The cardinality PFCOUNT last stored in the header, if still valid.
pub fn cached(data: &[u8]) -> Option<u64> {
    (data[15] & 0x80 == 0).then(|| u64::from_le_bytes(data[8..16].try_into().unwrap_or_default()))
}

pub fn set_cached(data: &mut [u8], count: u64) {
    data[8..16].copy_from_slice(&count.to_le_bytes());
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate of a register set (Ertl's improved estimator, as Redis).
pub fn count(registers: &[u8; REGISTERS]) -> u64 {
    let mut histogram = [0u32; 64];
    for &r in registers.iter() {
        histogram[r as usize] += 1;
    }
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_and_dense_agree_and_estimate_well() {
        let empty = empty();
        assert_eq!(registers(&empty).map(|r| count(&r)), Ok(0));
        let elements: Vec<Vec<u8>> = (0..20_000).map(|i| format!("e{i}").into_bytes()).collect();
        let sparse = add_sparse(&empty, elements.iter().map(Vec::as_slice), usize::MAX)
            .unwrap()
            .expect("registers grew");
        let regs = registers(&sparse).unwrap();
        let dense = encode(&regs, true, 3000);
        assert_eq!(dense.len(), DENSE_SIZE);
        assert_eq!(registers(&dense).unwrap(), regs);
        let estimate = count(&regs) as f64;
        assert!((estimate - 20_000.0).abs() / 20_000.0 < 0.03, "{estimate}");
        let mut truncated = sparse.clone();
        truncated.pop();
        assert_eq!(registers(&truncated), Err(Corrupt));
    }
}
