//! Stored values. Strings keep payloads of up to 38 bytes and integers inline in the 40-byte
//! value, so a typical cache entry costs one heap node and nothing more: one allocation and
//! one cache miss fewer per read than a separate buffer (a million keys with 32-byte values:
//! 80-byte nodes, where a 64-byte node and a 32-byte buffer took 96).

use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::stream::Stream;
use super::zset::ZSet;
use slotcache_protocol::resp::parse::parse_i64;

/// Longest string stored inline: what fills the 40 bytes a value takes once strings of a
/// typical cache's size fit (Redis keeps strings of up to 44 bytes with their object).
pub const INLINE_CAP: usize = 38;

/// Strings up to this length are reported as `embstr` by OBJECT ENCODING, as Redis does.
const EMBSTR_LIMIT: usize = 44;

/// A non-string type held in one variant of [`Value`]; lets the command families share typed
/// lookups (and WRONGTYPE) instead of each matching on `Value`.
pub trait Typed: Default {
    fn of(value: &Value) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    fn into_value(self) -> Value;
}

/// A type whose key goes away with its last member (all but streams).
pub trait Collection: Typed {
    fn is_empty(&self) -> bool;
    /// Removes a member (a field, for hashes); true when it was there.
    fn remove_member(&mut self, member: &[u8]) -> bool;
}

macro_rules! typed {
    ($type:ty, $variant:ident, $stored:expr) => {
        impl Typed for $type {
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(inner) => Some(inner),
                    _ => None,
                }
            }

            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(inner) => Some(inner),
                    _ => None,
                }
            }

            fn into_value(self) -> Value {
                Value::$variant($stored(self))
            }
        }
    };
}

macro_rules! collection {
    ($type:ty, $variant:ident) => {
        typed!($type, $variant, std::convert::identity);

        impl Collection for $type {
            fn is_empty(&self) -> bool {
                <$type>::is_empty(self)
            }

            fn remove_member(&mut self, member: &[u8]) -> bool {
                <$type>::remove(self, member)
            }
        }
    };
}

collection!(Hash, Hash);
collection!(Set, Set);
collection!(List, List);
collection!(ZSet, ZSet);
typed!(Stream, Stream, Box::new);

/// `data` as an inline buffer of `CAP` bytes and its length, if it fits in one.
pub fn inline_copy<const CAP: usize>(data: &[u8]) -> Option<(u8, [u8; CAP])> {
    if data.len() > CAP {
        return None;
    }
    let mut buf = [0u8; CAP];
    buf[..data.len()].copy_from_slice(data);
    Some((data.len() as u8, buf))
}

#[derive(Clone)]
pub enum Value {
    /// A string that reads as a canonical 64-bit integer.
    Int(i64),
    /// A short string stored in place.
    Inline {
        len: u8,
        buf: [u8; INLINE_CAP],
    },
    /// A longer string; `buf.len()` is the capacity, `len` the used part, so APPEND and SETRANGE
    /// grow it geometrically instead of copying every time.
    Heap {
        len: u32,
        buf: Box<[u8]>,
    },
    /// Collections are a packed listpack or a boxed table, 16 bytes either way, so they sit in
    /// the value itself.
    Hash(Hash),
    Set(Set),
    List(List),
    ZSet(ZSet),
    /// Streams are large and rare: boxed so they cost the other values nothing.
    Stream(Box<Stream>),
}

/// A Redis data type, as TYPE and SCAN TYPE name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    Hash,
    Set,
    List,
    ZSet,
    Stream,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::List => "list",
            ValueType::ZSet => "zset",
            ValueType::Stream => "stream",
        }
    }
}

impl Value {
    /// Stores bytes with the most compact encoding: integer, inline or heap.
    pub fn from_bytes(data: &[u8]) -> Value {
        if data.len() <= 20 {
            if let Some(n) = parse_i64(data) {
                return Value::Int(n);
            }
        }
        Self::from_bytes_raw(data)
    }

    /// Stores bytes without trying the integer form (for values about to be mutated).
    fn from_bytes_raw(data: &[u8]) -> Value {
        if let Some((len, buf)) = inline_copy(data) {
            Value::Inline { len, buf }
        } else {
            Value::Heap {
                len: data.len() as u32,
                buf: data.into(),
            }
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Int(_) | Value::Inline { .. } | Value::Heap { .. } => ValueType::String,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::List(_) => ValueType::List,
            Value::ZSet(_) => ValueType::ZSet,
            Value::Stream(_) => ValueType::Stream,
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(
            self,
            Value::Int(_) | Value::Inline { .. } | Value::Heap { .. }
        )
    }

    /// The string's bytes, formatting integers on the fly into `scratch` (empty for other
    /// types: callers check the type first).
    pub fn as_bytes<'a>(&'a self, scratch: &'a mut itoa::Buffer) -> &'a [u8] {
        match self {
            Value::Int(n) => scratch.format(*n).as_bytes(),
            Value::Inline { len, buf } => &buf[..*len as usize],
            Value::Heap { len, buf } => &buf[..*len as usize],
            _ => &[],
        }
    }

    /// The bytes of a string stored as bytes (not as an integer), read in place.
    pub fn stored_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Inline { len, buf } => Some(&buf[..*len as usize]),
            Value::Heap { len, buf } => Some(&buf[..*len as usize]),
            _ => None,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes(&mut itoa::Buffer::new()).to_vec()
    }

    pub fn str_len(&self) -> usize {
        match self {
            Value::Int(n) => itoa::Buffer::new().format(*n).len(),
            Value::Inline { len, .. } => *len as usize,
            Value::Heap { len, .. } => *len as usize,
            _ => 0,
        }
    }

    /// The integer a string holds, if it holds one (INCR's view).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Inline { len, buf } => parse_i64(&buf[..*len as usize]),
            Value::Heap { len, buf } if *len <= 20 => parse_i64(&buf[..*len as usize]),
            _ => None,
        }
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline { .. } => "embstr",
            Value::Heap { len, buf }
                if *len as usize <= EMBSTR_LIMIT && buf.len() == *len as usize =>
            {
                "embstr"
            }
            Value::Heap { .. } => "raw",
            Value::Hash(hash) => hash.encoding(),
            Value::Set(set) => set.encoding(),
            Value::List(list) => list.encoding(),
            Value::ZSet(zset) => zset.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Mutable access to the string bytes, resized to `new_len` (zero-filled when growing).
    /// Capacity grows geometrically so repeated APPENDs stay linear overall.
    pub fn bytes_mut(&mut self, new_len: usize) -> &mut [u8] {
        let current = self.to_vec_if_not_heap();
        if let Some(data) = current {
            let mut buf = vec![0u8; new_len.max(data.len())].into_boxed_slice();
            buf[..data.len()].copy_from_slice(&data);
            *self = Value::Heap {
                len: data.len() as u32,
                buf,
            };
        }
        let Value::Heap { len, buf } = self else {
            unreachable!("converted to heap above")
        };
        if new_len > buf.len() {
            let capacity = if new_len < 1024 * 1024 {
                new_len * 2
            } else {
                new_len + 1024 * 1024
            };
            let mut grown = vec![0u8; capacity].into_boxed_slice();
            grown[..*len as usize].copy_from_slice(&buf[..*len as usize]);
            *buf = grown;
        } else if new_len > *len as usize {
            buf[*len as usize..new_len].fill(0);
        }
        *len = new_len as u32;
        &mut buf[..new_len]
    }

    fn to_vec_if_not_heap(&self) -> Option<Vec<u8>> {
        match self {
            Value::Heap { .. } => None,
            other => Some(other.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_layout() {
        assert_eq!(std::mem::size_of::<Value>(), 40);
    }

    #[test]
    fn encodings() {
        assert_eq!(Value::from_bytes(b"123").encoding(), "int");
        assert_eq!(Value::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'x'; 40]).encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'x'; 45]).encoding(), "raw");
    }

    #[test]
    fn grow_in_place() {
        let mut v = Value::from_bytes(b"12");
        v.bytes_mut(4)[2..].copy_from_slice(b"ab");
        assert_eq!(v.to_vec(), b"12ab");
        for _ in 0..100 {
            let len = v.str_len();
            v.bytes_mut(len + 1)[len] = b'z';
        }
        assert_eq!(v.str_len(), 104);
        assert_eq!(v.encoding(), "raw");
    }
}
