//! The set type. Small sets are packed; while every member is an integer they are kept in
//! numeric order, as Redis's intset (so SMEMBERS answers in the same order). Past the thresholds
//! a set becomes a dict of members.

use super::dict::Dict;
use super::limits;
use super::listpack::Listpack;
use rand::Rng;
use slotcache_protocol::resp::parse::parse_i64;

#[derive(Clone)]
pub enum Set {
    /// The listpack's flag bit is set once a member is not an integer.
    Packed(Listpack),
    /// Boxed so the small form, by far the most common, stays small.
    Table(Box<Dict<()>>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Packed(Listpack::new())
    }
}

impl Set {
    pub fn len(&self) -> usize {
        match self {
            Set::Packed(items) => items.len(),
            Set::Table(dict) => dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Packed(items) if !items.flag() => "intset",
            Set::Packed(_) => "listpack",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Packed(items) => items.position(member, 0, 1).is_some(),
            Set::Table(dict) => dict.contains_key(member),
        }
    }

    /// Adds a member; true when it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.contains(member) {
            return false;
        }
        if let Set::Packed(items) = self {
            let number = parse_i64(member);
            if !items.flag() && number.is_some() && items.len() < limits::set_intset_entries() {
                let n = number.unwrap_or_default();
                let at = items
                    .iter()
                    .position(|m| parse_i64(m).is_some_and(|existing| existing > n))
                    .unwrap_or(items.len());
                items.insert(at, member);
                return true;
            }
            let fits = items.len() < limits::set_entries() && member.len() <= limits::set_value();
            if fits {
                items.set_flag(true);
                items.push(member);
                return true;
            }
            let mut dict = Dict::new();
            for existing in items.iter() {
                dict.insert_new(existing, ());
            }
            *self = Set::Table(Box::new(dict));
        }
        match self {
            Set::Table(dict) => {
                dict.insert_new(member, ());
                true
            }
            Set::Packed(_) => unreachable!("converted above"),
        }
    }

    /// Removes a member; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Packed(items) => match items.position(member, 0, 1) {
                Some(i) => {
                    items.remove(i);
                    true
                }
                None => false,
            },
            Set::Table(dict) => dict.remove(member).is_some(),
        }
    }

    /// Members in iteration order.
    pub fn members(&self) -> Vec<&[u8]> {
        match self {
            Set::Packed(items) => items.iter().collect(),
            Set::Table(dict) => dict.iter().map(|(k, _)| k).collect(),
        }
    }

    pub fn random_member<R: Rng>(&self, rng: &mut R) -> Option<&[u8]> {
        match self {
            Set::Packed(items) if !items.is_empty() => items.get(rng.random_range(0..items.len())),
            Set::Packed(_) => None,
            Set::Table(dict) => dict.random_entry(rng).map(|(k, _)| k),
        }
    }

    /// One SSCAN step; a packed set is returned whole with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8])) -> u64 {
        match self {
            Set::Packed(items) => {
                items.iter().for_each(visit);
                0
            }
            Set::Table(dict) => dict.scan(cursor, |member, _| visit(member)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_stay_sorted_until_a_string_arrives() {
        let mut set = Set::default();
        for m in ["10", "-3", "7", "7"] {
            set.insert(m.as_bytes());
        }
        assert_eq!(set.members(), vec![&b"-3"[..], b"7", b"10"]);
        assert_eq!(set.encoding(), "intset");
        set.insert(b"x");
        assert_eq!(set.encoding(), "listpack");
        assert!(set.contains(b"x") && set.contains(b"10"));
        set.insert(&vec![b'y'; limits::set_value() + 1]);
        assert_eq!(set.encoding(), "hashtable");
        assert_eq!(set.len(), 5);
        assert!(set.remove(b"-3"));
        assert!(!set.remove(b"-3"));
    }
}
