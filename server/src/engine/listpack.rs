//! A compact sequence of byte strings in a single allocation, as Redis's listpack: a 4-byte
//! header (entry count, and one flag bit its owner may use), then each entry as a LEB128 length
//! followed by its bytes. The allocation is sized exactly and the handle is one fat pointer, so
//! a small collection costs its bytes and little else. Small hashes, lists, sets and sorted sets live in one
//! of these until they outgrow the `*-max-listpack-*` thresholds; operations are linear, which
//! is what makes them cheap at that size.

#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Listpack {
    /// Empty (no allocation) or the header followed by the entries.
    data: Box<[u8]>,
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

const HEADER: usize = 4;
const FLAG: u32 = 1 << 31;

impl Listpack {
    pub fn new() -> Self {
        Self::default()
    }

    fn header(&self) -> u32 {
        match self.data.get(..HEADER) {
            Some(bytes) => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            None => 0,
        }
    }

    pub fn len(&self) -> usize {
        (self.header() & !FLAG) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The owner's flag bit (sets: "holds a member that is not an integer").
    pub fn flag(&self) -> bool {
        self.header() & FLAG != 0
    }

    pub fn set_flag(&mut self, on: bool) {
        if on != self.flag() {
            let count = self.len();
            let mut data = std::mem::take(&mut self.data).into_vec();
            if data.is_empty() {
                data.resize(HEADER, 0);
            }
            Self::write_header(&mut data, count, on);
            self.data = data.into_boxed_slice();
        }
    }

    fn write_header(data: &mut [u8], count: usize, flag: bool) {
        let header = count as u32 | if flag { FLAG } else { 0 };
        data[..HEADER].copy_from_slice(&header.to_le_bytes());
    }

    fn entries(&self) -> &[u8] {
        self.data.get(HEADER..).unwrap_or(&[])
    }

    /// Bytes of encoded payload.
    pub fn encoded_size(&self) -> usize {
        self.entries().len()
    }

    /// The encoded entries, for DUMP.
    pub fn as_encoded(&self) -> &[u8] {
        self.entries()
    }

    /// Validates and adopts encoded entries from an untrusted source (RESTORE).
    pub fn from_encoded(data: &[u8]) -> Option<Listpack> {
        let mut offset = 0;
        let mut len = 0usize;
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
        if len >= FLAG as usize {
            return None;
        }
        let mut lp = Listpack::new();
        lp.splice(0, 0, data, len as isize);
        Some(lp)
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            data: self.entries(),
            offset: 0,
        }
    }

    fn offset_of(&self, index: usize) -> usize {
        let entries = self.entries();
        let mut offset = 0;
        for _ in 0..index {
            offset = decode_at(entries, offset).1;
        }
        offset
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len() {
            return None;
        }
        let entries = self.entries();
        let (start, end) = decode_at(entries, self.offset_of(index));
        Some(&entries[start..end])
    }

    /// Replaces the entry bytes `start..end` with `replacement` (already encoded), adjusting
    /// the count by `added`. The buffer is reallocated to the exact new size: the allocator's
    /// size classes absorb most of these reallocations in place.
    fn splice(&mut self, start: usize, end: usize, replacement: &[u8], added: isize) {
        let (count, flag) = (self.len(), self.flag());
        let mut data = std::mem::take(&mut self.data).into_vec();
        if data.is_empty() {
            data.resize(HEADER, 0);
        }
        let grow = replacement.len().saturating_sub(end - start);
        data.reserve_exact(grow);
        data.splice(HEADER + start..HEADER + end, replacement.iter().copied());
        let count = count.saturating_add_signed(added);
        Self::write_header(&mut data, count, flag);
        self.data = if count == 0 && !flag {
            Box::default()
        } else {
            data.into_boxed_slice()
        };
    }

    fn encoded(item: &[u8]) -> Vec<u8> {
        let mut encoded = Vec::with_capacity(item.len() + varint_len(item.len()));
        encode_entry(item, &mut encoded);
        encoded
    }

    pub fn push(&mut self, item: &[u8]) {
        let end = self.encoded_size();
        self.splice(end, end, &Self::encoded(item), 1);
    }

    pub fn insert(&mut self, index: usize, item: &[u8]) {
        let offset = self.offset_of(index.min(self.len()));
        self.splice(offset, offset, &Self::encoded(item), 1);
    }

    pub fn remove(&mut self, index: usize) {
        self.remove_range(index, 1);
    }

    /// Removes `count` consecutive entries from `index`.
    pub fn remove_range(&mut self, index: usize, count: usize) {
        let len = self.len();
        if index >= len || count == 0 {
            return;
        }
        let count = count.min(len - index);
        let start = self.offset_of(index);
        let mut end = start;
        for _ in 0..count {
            end = decode_at(self.entries(), end).1;
        }
        self.splice(start, end, &[], -(count as isize));
    }

    pub fn replace(&mut self, index: usize, item: &[u8]) {
        if index >= self.len() {
            return;
        }
        let offset = self.offset_of(index);
        let end = decode_at(self.entries(), offset).1;
        self.splice(offset, end, &Self::encoded(item), 0);
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
