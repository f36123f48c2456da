//! DUMP/RESTORE payloads: type byte, body, 2-byte format version, then an 8-byte FNV-1a
//! checksum of all that. Collection bodies are the listpack encoding of their items, so
//! RESTORE validates untrusted input with the same decoder it uses everywhere.

use super::hash::Hash;
use super::list::{End, List};
use super::listpack::Listpack;
use super::set::Set;
use super::stream::Stream;
use super::value::Value;
use super::zset::ZSet;
use std::borrow::Cow;

const VERSION: u16 = 1;
const TYPE_STRING: u8 = 0;
const TYPE_HASH: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_LIST: u8 = 3;
const TYPE_ZSET: u8 = 4;
const TYPE_STREAM: u8 = 5;

pub fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// A collection's type byte and its items as DUMP lays them out (hash: field, value, ...;
/// sorted set: member, then the score's eight little-endian bytes).
/// Items are borrowed where the collection holds them as they are dumped.
fn collection_items(value: &Value) -> Option<(u8, Vec<Cow<'_, [u8]>>)> {
    fn borrowed(items: Vec<&[u8]>) -> Vec<Cow<'_, [u8]>> {
        items.into_iter().map(Cow::Borrowed).collect()
    }
    match value {
        Value::Hash(hash) => Some((
            TYPE_HASH,
            borrowed(hash.pairs().into_iter().flat_map(|(f, v)| [f, v]).collect()),
        )),
        Value::Set(set) => Some((TYPE_SET, borrowed(set.members()))),
        Value::List(list) => Some((TYPE_LIST, borrowed(list.items().collect()))),
        Value::Stream(stream) => Some((
            TYPE_STREAM,
            stream.to_items().into_iter().map(Cow::Owned).collect(),
        )),
        Value::ZSet(zset) => Some((
            TYPE_ZSET,
            zset.entries()
                .into_iter()
                .flat_map(|(m, s)| [Cow::Borrowed(m), Cow::Owned(s.to_le_bytes().to_vec())])
                .collect(),
        )),
        _ => None,
    }
}

pub fn serialize(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match collection_items(value) {
        Some((kind, items)) => {
            out.push(kind);
            let mut packed = Listpack::new();
            for item in items {
                packed.push(&item);
            }
            out.extend_from_slice(packed.as_encoded());
        }
        None => {
            out.push(TYPE_STRING);
            out.extend_from_slice(&value.to_vec());
        }
    }
    out.extend_from_slice(&VERSION.to_le_bytes());
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

pub fn deserialize(data: &[u8]) -> Option<Value> {
    if data.len() < 11 {
        return None;
    }
    let (body, sum) = data.split_at(data.len() - 8);
    if checksum(body).to_le_bytes() != sum {
        return None;
    }
    let (payload, version) = body.split_at(body.len() - 2);
    if u16::from_le_bytes([version[0], version[1]]) != VERSION {
        return None;
    }
    let (&kind, body) = payload.split_first()?;
    if kind == TYPE_STRING {
        return Some(Value::from_bytes(body));
    }
    let items = Listpack::from_encoded(body)?;
    if kind == TYPE_STREAM {
        return Stream::from_items(items.iter()).map(|s| Value::Stream(Box::new(s)));
    }
    if items.is_empty() {
        return None;
    }
    match kind {
        TYPE_HASH => {
            if items.len() % 2 != 0 {
                return None;
            }
            let mut hash = Hash::default();
            let mut entries = items.iter();
            while let (Some(field), Some(value)) = (entries.next(), entries.next()) {
                hash.insert(field, value);
            }
            Some(Value::Hash(hash))
        }
        TYPE_SET => {
            let mut set = Set::default();
            for member in items.iter() {
                set.insert(member);
            }
            Some(Value::Set(set))
        }
        TYPE_LIST => {
            let mut list = List::default();
            for item in items.iter() {
                list.push(End::Tail, item);
            }
            Some(Value::List(list))
        }
        TYPE_ZSET => {
            if items.len() % 2 != 0 {
                return None;
            }
            let mut zset = ZSet::with_capacity(items.len() / 2, 0);
            let mut entries = items.iter();
            while let (Some(member), Some(score)) = (entries.next(), entries.next()) {
                let score = f64::from_le_bytes(score.try_into().ok()?);
                if score.is_nan() {
                    return None;
                }
                zset.insert(member, score);
            }
            Some(Value::ZSet(zset))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let mut hash = Hash::default();
        hash.insert(b"f", b"v");
        let dumped = serialize(&Value::Hash(hash));
        let Some(Value::Hash(back)) = deserialize(&dumped) else {
            panic!("hash did not round-trip")
        };
        assert_eq!(back.get(b"f"), Some(&b"v"[..]));
        let mut bad = dumped.clone();
        bad[2] ^= 1;
        assert!(deserialize(&bad).is_none());
        assert!(deserialize(&serialize(&Value::from_bytes(b"hello"))).is_some());
    }
}
