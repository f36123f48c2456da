//! The hash type: a listpack of field/value pairs while small, a dict past the thresholds.

use super::dict::Dict;
use super::limits;
use super::listpack::Listpack;
use rand::Rng;

#[derive(Clone)]
pub enum Hash {
    /// Fields and values alternate, in insertion order (as Redis's listpack).
    Packed(Listpack),
    /// Boxed so the small form, by far the most common, stays small.
    Table(Box<Dict<Box<[u8]>>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Packed(Listpack::new())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(lp) => lp.len() / 2,
            Hash::Table(dict) => dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(lp) => lp.position(field, 0, 2).and_then(|i| lp.get(i + 1)),
            Hash::Table(dict) => dict.get(field).map(|v| &**v),
        }
    }

    /// Sets a field; true when it is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Hash::Packed(lp) = self {
            let max_value = limits::hash_value();
            let fits = field.len() <= max_value && value.len() <= max_value;
            if let Some(i) = lp.position(field, 0, 2) {
                if fits {
                    lp.replace(i + 1, value);
                    return false;
                }
            } else if fits && lp.len() / 2 < limits::hash_entries() {
                lp.push(field);
                lp.push(value);
                return true;
            }
            self.convert_to_table();
        }
        match self {
            Hash::Table(dict) => dict.insert(field, value.into()).is_none(),
            Hash::Packed(_) => unreachable!("converted above"),
        }
    }

    fn convert_to_table(&mut self) {
        if let Hash::Packed(lp) = self {
            let mut dict = Dict::new();
            let mut entries = lp.iter();
            while let (Some(field), Some(value)) = (entries.next(), entries.next()) {
                dict.insert(field, value.into());
            }
            *self = Hash::Table(Box::new(dict));
        }
    }

    /// Removes a field; true when it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(lp) => match lp.position(field, 0, 2) {
                Some(i) => {
                    lp.remove_range(i, 2);
                    true
                }
                None => false,
            },
            Hash::Table(dict) => dict.remove(field).is_some(),
        }
    }

    /// Field/value pairs in the order HGETALL returns them.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        match self {
            Hash::Packed(lp) => {
                let mut out = Vec::with_capacity(lp.len() / 2);
                let mut entries = lp.iter();
                while let (Some(field), Some(value)) = (entries.next(), entries.next()) {
                    out.push((field, value));
                }
                out
            }
            Hash::Table(dict) => dict.iter().map(|(k, v)| (k, &**v)).collect(),
        }
    }

    /// One HSCAN step; a packed hash is returned whole with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            Hash::Packed(_) => {
                for (field, value) in self.pairs() {
                    visit(field, value);
                }
                0
            }
            Hash::Table(dict) => dict.scan(cursor, |field, value| visit(field, value)),
        }
    }

    pub fn random_pair<R: Rng>(&self, rng: &mut R) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Packed(lp) => {
                if lp.is_empty() {
                    return None;
                }
                let i = rng.random_range(0..lp.len() / 2) * 2;
                Some((lp.get(i)?, lp.get(i + 1)?))
            }
            Hash::Table(dict) => dict.random_entry(rng).map(|(k, v)| (k, &**v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_past_thresholds_and_keeps_contents() {
        let mut h = Hash::default();
        for i in 0..limits::hash_entries() {
            assert!(h.insert(format!("f{i}").as_bytes(), b"v"));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.insert(b"f0", b"updated"));
        assert!(h.insert(b"one-more", b"v"));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), limits::hash_entries() + 1);
        assert_eq!(h.get(b"f0"), Some(&b"updated"[..]));
        let mut big = Hash::default();
        big.insert(b"f", &vec![b'x'; limits::hash_value() + 1]);
        assert_eq!(big.encoding(), "hashtable");
        assert!(big.remove(b"f"));
        assert!(big.is_empty());
    }
}
