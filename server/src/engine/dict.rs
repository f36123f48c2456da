//! A chained hash table in the manner of Redis's `dict`: power-of-two buckets, one heap node per
//! entry holding key and value together, and the reverse-binary SCAN cursor that guarantees every
//! entry present for a whole scan is returned even if the table grows or shrinks meanwhile.
//! Open-addressing tables (hashbrown) cannot give that guarantee nor fair random sampling, which
//! RANDOMKEY, active expiry and eviction all rely on.

use super::value::inline_copy;
use rand::Rng;

/// Longest key kept inside the node: 24 bytes with its length and tag, as a boxed one takes.
const KEY_INLINE_CAP: usize = 22;

/// A key, kept inside the node when short (the common case) so a key costs no allocation
/// of its own.
enum Key {
    Inline { len: u8, buf: [u8; KEY_INLINE_CAP] },
    Heap(Box<[u8]>),
}

impl Key {
    fn new(data: &[u8]) -> Key {
        match inline_copy(data) {
            Some((len, buf)) => Key::Inline { len, buf },
            None => Key::Heap(data.into()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(data) => data,
        }
    }
}

struct Node<V> {
    next: Option<Box<Node<V>>>,
    key: Key,
    value: V,
}

type Link<V> = Option<Box<Node<V>>>;

const MIN_BUCKETS: usize = 4;

pub struct Dict<V> {
    buckets: Vec<Link<V>>,
    len: usize,
    hasher: ahash::RandomState,
}

impl<V: Clone> Clone for Dict<V> {
    fn clone(&self) -> Self {
        let mut copy = Dict::new();
        for (key, value) in self.iter() {
            copy.insert_new(key, value.clone());
        }
        copy
    }
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Dict<V> {
    pub fn new() -> Self {
        Dict {
            buckets: Vec::new(),
            len: 0,
            hasher: ahash::RandomState::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn index(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) & (self.buckets.len() - 1)
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut link = &self.buckets[self.index(key)];
        while let Some(node) = link {
            if node.key.as_slice() == key {
                return Some(&node.value);
            }
            link = &node.next;
        }
        None
    }

    /// Starts loading into the cache the bucket `key` falls in, and returns its index for
    /// [`Dict::prefetch_chain`]. With a million keys every lookup misses the cache twice, on
    /// the bucket and on the node; a pipelined batch that announces its keys first waits for
    /// those misses side by side instead of one after another.
    pub fn prefetch_bucket(&self, key: &[u8]) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let index = self.index(key);
        prefetch(&self.buckets[index]);
        Some(index)
    }

    /// Starts loading the first node of bucket `index`'s chain (which holds the key in the
    /// common case of a chain of one).
    pub fn prefetch_chain(&self, index: usize) {
        if let Some(Some(node)) = self.buckets.get(index) {
            let node: *const Node<V> = &**node;
            prefetch(node);
            // A node may straddle two cache lines.
            prefetch(node.cast::<u8>().wrapping_add(size_of::<Node<V>>() - 1));
        }
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.buckets.is_empty() {
            return None;
        }
        let index = self.index(key);
        let mut link = &mut self.buckets[index];
        while let Some(node) = link {
            if node.key.as_slice() == key {
                return Some(&mut node.value);
            }
            link = &mut node.next;
        }
        None
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(key) {
            return Some(std::mem::replace(slot, value));
        }
        self.insert_new(key, value);
        None
    }

    /// Inserts a key known to be absent.
    pub fn insert_new(&mut self, key: &[u8], value: V) {
        if self.len >= self.buckets.len() {
            self.resize((self.len + 1).next_power_of_two().max(MIN_BUCKETS));
        }
        let index = self.index(key);
        let next = self.buckets[index].take();
        self.buckets[index] = Some(Box::new(Node {
            next,
            key: Key::new(key),
            value,
        }));
        self.len += 1;
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        if self.buckets.is_empty() {
            return None;
        }
        let index = self.index(key);
        let mut link = &mut self.buckets[index];
        loop {
            match link {
                None => return None,
                Some(node) if node.key.as_slice() == key => {
                    let mut node = link.take().expect("matched Some");
                    *link = node.next.take();
                    self.len -= 1;
                    self.shrink_if_sparse();
                    return Some(node.value);
                }
                Some(node) => link = &mut node.next,
            }
        }
    }

    /// Shrinks when under a tenth full, as Redis's `htNeedsResize`.
    fn shrink_if_sparse(&mut self) {
        let size = self.buckets.len();
        if size > MIN_BUCKETS && self.len * 10 < size {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    fn resize(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.buckets, (0..size).map(|_| None).collect());
        for mut link in old {
            while let Some(mut node) = link {
                link = node.next.take();
                let index = self.index(node.key.as_slice());
                node.next = self.buckets[index].take();
                self.buckets[index] = Some(node);
            }
        }
    }

    /// Drops everything, returning the old contents so a caller can free them elsewhere
    /// (`FLUSHALL ASYNC`).
    pub fn take(&mut self) -> Dict<V> {
        std::mem::take(self)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.buckets
            .iter()
            .flat_map(|bucket| ChainIter { link: bucket })
    }

    /// Visits the bucket at `cursor` and returns the next cursor (0 when the scan is complete).
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &V)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        let bucket = &self.buckets[(cursor & mask) as usize];
        for (key, value) in (ChainIter { link: bucket }) {
            visit(key, value);
        }
        next_cursor(cursor, mask)
    }

    /// [`Dict::scan`] with the values mutable.
    pub fn scan_mut(&mut self, cursor: u64, mut visit: impl FnMut(&[u8], &mut V)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        let mut link = &mut self.buckets[(cursor & mask) as usize];
        while let Some(node) = link {
            visit(node.key.as_slice(), &mut node.value);
            link = &mut node.next;
        }
        next_cursor(cursor, mask)
    }

    /// A random entry, fair across keys: random non-empty bucket, then a random node of its chain.
    pub fn random_entry<R: Rng>(&self, rng: &mut R) -> Option<(&[u8], &V)> {
        if self.len == 0 {
            return None;
        }
        let mask = self.buckets.len() - 1;
        loop {
            let bucket = &self.buckets[rng.random::<u64>() as usize & mask];
            let chain_len = ChainIter { link: bucket }.count();
            if chain_len == 0 {
                continue;
            }
            let pick = rng.random_range(0..chain_len);
            return (ChainIter { link: bucket }).nth(pick);
        }
    }
}

impl<V> Dict<V> {
    /// Up to `count` entries starting from a random bucket and walking on, as Redis's
    /// `dictGetSomeKeys`: cheap, not uniform, good enough for eviction sampling.
    pub fn sample<R: Rng>(&self, rng: &mut R, count: usize) -> Vec<(&[u8], &V)> {
        let mut out = Vec::with_capacity(count.min(self.len));
        if self.len == 0 {
            return out;
        }
        let mask = self.buckets.len() - 1;
        let mut index = rng.random::<u64>() as usize & mask;
        for _ in 0..=mask {
            for entry in (ChainIter {
                link: &self.buckets[index],
            }) {
                if out.len() == count {
                    return out;
                }
                out.push(entry);
            }
            index = (index + 1) & mask;
        }
        out
    }
}

struct ChainIter<'a, V> {
    link: &'a Link<V>,
}

impl<'a, V> Iterator for ChainIter<'a, V> {
    type Item = (&'a [u8], &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let node = self.link.as_ref()?;
        self.link = &node.next;
        Some((node.key.as_slice(), &node.value))
    }
}

impl<V> Drop for Dict<V> {
    /// Unlinks chains iteratively so a pathological chain cannot overflow the stack.
    fn drop(&mut self) {
        for bucket in self.buckets.iter_mut() {
            let mut link = bucket.take();
            while let Some(mut node) = link {
                link = node.next.take();
            }
        }
    }
}

/// Asks the CPU to bring `address`'s cache line in, without waiting for it.
#[inline(always)]
fn prefetch<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing into the program and never faults,
    // whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(address.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// The cursor after `cursor`: the reversed cursor incremented over the bits of `mask` only.
fn next_cursor(cursor: u64, mask: u64) -> u64 {
    let mut v = cursor | !mask;
    v = v.reverse_bits();
    v = v.wrapping_add(1);
    v.reverse_bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn compact_nodes() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
        assert_eq!(std::mem::size_of::<Node<i64>>(), 40);
        // One 80-byte allocation per key, the value inline up to 38 bytes.
        assert_eq!(std::mem::size_of::<Node<crate::engine::db::Entry>>(), 80);
    }

    #[test]
    fn long_and_short_keys() {
        let mut d = Dict::new();
        let long = vec![b'x'; 100];
        d.insert(&long, 1);
        d.insert(b"short", 2);
        assert_eq!(d.get(&long), Some(&1));
        assert_eq!(d.get(b"short"), Some(&2));
        assert_eq!(d.remove(&long), Some(1));
    }

    #[test]
    fn insert_get_remove() {
        let mut d = Dict::new();
        for i in 0..1000u32 {
            assert!(d.insert(format!("k{i}").as_bytes(), i).is_none());
        }
        assert_eq!(d.len(), 1000);
        assert_eq!(d.insert(b"k5", 55), Some(5));
        assert_eq!(d.get(b"k5"), Some(&55));
        for i in 0..1000u32 {
            assert!(d.remove(format!("k{i}").as_bytes()).is_some());
        }
        assert!(d.is_empty());
        assert!(d.bucket_count() <= MIN_BUCKETS);
        assert!(d.remove(b"k1").is_none());
    }

    #[test]
    fn scan_survives_growth_and_shrink() {
        let mut d = Dict::new();
        for i in 0..500u32 {
            d.insert(format!("k{i}").as_bytes(), ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            step += 1;
            // Grow mid-scan, then shrink: keys present throughout must all be seen.
            if step == 50 {
                for i in 500..5000u32 {
                    d.insert(format!("k{i}").as_bytes(), ());
                }
            }
            if step == 300 {
                for i in 500..5000u32 {
                    d.remove(format!("k{i}").as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500u32 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
        }
    }

    #[test]
    fn random_entries() {
        let mut d = Dict::new();
        let mut rng = rand::rng();
        assert!(d.random_entry(&mut rng).is_none());
        for i in 0..100u32 {
            d.insert(&i.to_be_bytes(), i);
        }
        let (k, v) = d.random_entry(&mut rng).unwrap();
        assert_eq!(k, v.to_be_bytes());
        assert_eq!(d.sample(&mut rng, 20).len(), 20);
        assert_eq!(d.sample(&mut rng, 500).len(), 100);
    }
}
