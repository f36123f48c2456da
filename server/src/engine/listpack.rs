//! A compact sequence of byte strings in a single allocation, as Redis's listpack: each entry is
//! a LEB128 length followed by its bytes. Small hashes, lists, sets and sorted sets live in one
//! of these until they outgrow the `*-max-listpack-*` thresholds; operations are linear, which
//! is what makes them cheap at that size.

#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Listpack {
    data: Vec<u8>,
    len: usize,
}

fn varint_len(n: usize) -> usize {
    let mut n = n >> 7;
    let mut bytes = 1;
    while n > 0 {
        n >>= 7;
        bytes += 1;
    }
    bytes
}

fn encode_entry(item: &[u8], out: &mut Vec<u8>) {
    let mut n = item.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(item);
}

/// Decodes the entry at `offset`: (start of bytes, end of bytes).
fn decode_at(data: &[u8], offset: usize) -> (usize, usize) {
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = offset;
    loop {
        let byte = data[i];
        len |= ((byte & 0x7f) as usize) << shift;
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (i, i + len)
}

impl Listpack {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of encoded payload.
    pub fn encoded_size(&self) -> usize {
        self.data.len()
    }

    /// The encoded form, for DUMP.
    pub fn as_encoded(&self) -> &[u8] {
        &self.data
    }

    /// Validates and adopts an encoded form from an untrusted source (RESTORE).
    pub fn from_encoded(data: &[u8]) -> Option<Listpack> {
        let mut offset = 0;
        let mut len = 0;
        while offset < data.len() {
            let mut size = 0usize;
            let mut shift = 0;
            loop {
                let byte = *data.get(offset)?;
                offset += 1;
                if shift > 28 {
                    return None;
                }
                size |= ((byte & 0x7f) as usize) << shift;
                if byte & 0x80 == 0 {
                    break;
                }
                shift += 7;
            }
            offset = offset.checked_add(size)?;
            if offset > data.len() {
                return None;
            }
            len += 1;
        }
        Some(Listpack {
            data: data.to_vec(),
            len,
        })
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            data: &self.data,
            offset: 0,
        }
    }

    fn offset_of(&self, index: usize) -> usize {
        let mut offset = 0;
        for _ in 0..index {
            offset = decode_at(&self.data, offset).1;
        }
        offset
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (start, end) = decode_at(&self.data, self.offset_of(index));
        Some(&self.data[start..end])
    }

    /// Makes room for `extra` bytes with at most a quarter of slack: small collections are
    /// many, so doubling's up-to-half waste would dominate their footprint.
    fn reserve(&mut self, extra: usize) {
        let free = self.data.capacity() - self.data.len();
        if free < extra {
            self.data.reserve_exact(extra.max(self.data.len() / 4));
        }
    }

    pub fn push(&mut self, item: &[u8]) {
        self.reserve(item.len() + varint_len(item.len()));
        encode_entry(item, &mut self.data);
        self.len += 1;
    }

    pub fn insert(&mut self, index: usize, item: &[u8]) {
        let offset = self.offset_of(index.min(self.len));
        let mut encoded = Vec::with_capacity(item.len() + varint_len(item.len()));
        encode_entry(item, &mut encoded);
        self.reserve(encoded.len());
        self.data.splice(offset..offset, encoded);
        self.len += 1;
    }

    pub fn remove(&mut self, index: usize) {
        if index >= self.len {
            return;
        }
        let offset = self.offset_of(index);
        let end = decode_at(&self.data, offset).1;
        self.data.drain(offset..end);
        self.len -= 1;
    }

    /// Removes `count` consecutive entries from `index`.
    pub fn remove_range(&mut self, index: usize, count: usize) {
        if index >= self.len || count == 0 {
            return;
        }
        let count = count.min(self.len - index);
        let start = self.offset_of(index);
        let mut end = start;
        for _ in 0..count {
            end = decode_at(&self.data, end).1;
        }
        self.data.drain(start..end);
        self.len -= count;
    }

    pub fn replace(&mut self, index: usize, item: &[u8]) {
        if index >= self.len {
            return;
        }
        let offset = self.offset_of(index);
        let end = decode_at(&self.data, offset).1;
        let mut encoded = Vec::with_capacity(item.len() + varint_len(item.len()));
        encode_entry(item, &mut encoded);
        self.reserve(encoded.len().saturating_sub(end - offset));
        self.data.splice(offset..end, encoded);
    }

    /// Index of the first entry equal to `item`, looking at every `step`-th entry from `from`
    /// (step 2 walks the fields of field/value pairs).
    pub fn position(&self, item: &[u8], from: usize, step: usize) -> Option<usize> {
        self.iter()
            .enumerate()
            .skip(from)
            .step_by(step.max(1))
            .find(|(_, entry)| *entry == item)
            .map(|(i, _)| i)
    }
}

pub struct Iter<'a> {
    data: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.offset >= self.data.len() {
            return None;
        }
        let (start, end) = decode_at(self.data, self.offset);
        self.offset = end;
        Some(&self.data[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(lp: &Listpack) -> Vec<Vec<u8>> {
        lp.iter().map(|e| e.to_vec()).collect()
    }

    #[test]
    fn push_insert_remove_replace() {
        let mut lp = Listpack::new();
        lp.push(b"a");
        lp.push(&[b'x'; 300]);
        lp.insert(0, b"first");
        lp.insert(3, b"last");
        assert_eq!(lp.len(), 4);
        assert_eq!(lp.get(1), Some(&b"a"[..]));
        assert_eq!(lp.get(2).map(<[u8]>::len), Some(300));
        lp.replace(2, b"short");
        lp.remove(0);
        assert_eq!(
            items(&lp),
            vec![b"a".to_vec(), b"short".to_vec(), b"last".to_vec()]
        );
        assert_eq!(lp.position(b"last", 0, 1), Some(2));
        assert_eq!(lp.position(b"short", 0, 2), None);
        let copy = Listpack::from_encoded(lp.as_encoded()).unwrap();
        assert_eq!(copy, lp);
        assert!(Listpack::from_encoded(&[5, b'a']).is_none());
        assert!(Listpack::from_encoded(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_none());
        lp.remove_range(0, 5);
        assert!(lp.is_empty());
        assert_eq!(lp.encoded_size(), 0);
    }
}
