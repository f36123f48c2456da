//! The list type: a listpack while small, a deque of owned items past the thresholds.

use super::limits;
use super::listpack::Listpack;
use std::collections::VecDeque;

#[derive(Clone)]
pub enum List {
    Packed(Listpack),
    /// Boxed so the small form, by far the most common, stays small.
    Deque(Box<VecDeque<Box<[u8]>>>),
}

impl Default for List {
    fn default() -> Self {
        List::Packed(Listpack::new())
    }
}

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Head,
    Tail,
}

impl List {
    pub fn len(&self) -> usize {
        match self {
            List::Packed(lp) => lp.len(),
            List::Deque(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Grows out of the packed form before an insert of `item` would exceed its limits.
    fn make_room(&mut self, item: &[u8]) {
        if let List::Packed(lp) = self {
            let (max_items, max_bytes) = limits::list_bounds();
            // Past 128 items linear access gets slow whatever the byte budget allows.
            if lp.len() >= max_items.min(128) || lp.encoded_size() + item.len() > max_bytes {
                *self = List::Deque(Box::new(lp.iter().map(Box::from).collect()));
            }
        }
    }

    pub fn push(&mut self, end: End, item: &[u8]) {
        self.make_room(item);
        match (self, end) {
            (List::Packed(lp), End::Head) => lp.insert(0, item),
            (List::Packed(lp), End::Tail) => lp.push(item),
            (List::Deque(items), End::Head) => items.push_front(item.into()),
            (List::Deque(items), End::Tail) => items.push_back(item.into()),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        match self {
            List::Packed(lp) => {
                let index = if end == End::Head { 0 } else { len - 1 };
                let item = lp.get(index)?.to_vec();
                lp.remove(index);
                Some(item)
            }
            List::Deque(items) => {
                let item = if end == End::Head {
                    items.pop_front()
                } else {
                    items.pop_back()
                };
                item.map(Vec::from)
            }
        }
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        match self {
            List::Packed(lp) => lp.get(index),
            List::Deque(items) => items.get(index).map(|b| &**b),
        }
    }

    pub fn set(&mut self, index: usize, item: &[u8]) {
        self.make_room(item);
        match self {
            List::Packed(lp) => lp.replace(index, item),
            List::Deque(items) => {
                if let Some(slot) = items.get_mut(index) {
                    *slot = item.into();
                }
            }
        }
    }

    pub fn insert(&mut self, index: usize, item: &[u8]) {
        self.make_room(item);
        match self {
            List::Packed(lp) => lp.insert(index, item),
            List::Deque(items) => items.insert(index, item.into()),
        }
    }

    /// Removes the first item equal to `item`; true when there was one.
    pub fn remove(&mut self, item: &[u8]) -> bool {
        let found = self.items().position(|i| i == item);
        match found {
            Some(index) => {
                self.remove_at(index);
                true
            }
            None => false,
        }
    }

    pub fn remove_at(&mut self, index: usize) {
        match self {
            List::Packed(lp) => lp.remove(index),
            List::Deque(items) => {
                items.remove(index);
            }
        }
    }

    /// Items front to back.
    pub fn items(&self) -> Box<dyn DoubleEndedIterator<Item = &[u8]> + '_> {
        match self {
            List::Packed(lp) => Box::new(lp.iter().collect::<Vec<_>>().into_iter()),
            List::Deque(items) => Box::new(items.iter().map(|b| &**b)),
        }
    }

    /// Keeps only the inclusive range `start..=end` (empty when `start > end`).
    pub fn retain_range(&mut self, start: usize, end: Option<usize>) {
        let len = self.len();
        let (keep_from, keep_to) = match end {
            Some(end) if start <= end && start < len => (start, end.min(len - 1) + 1),
            _ => (0, 0),
        };
        match self {
            List::Packed(lp) => {
                lp.remove_range(keep_to, len - keep_to);
                lp.remove_range(0, keep_from);
            }
            List::Deque(items) => {
                items.truncate(keep_to);
                items.drain(..keep_from.min(items.len()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_and_conversion() {
        let mut list = List::default();
        for i in 0..200 {
            list.push(
                if i % 2 == 0 { End::Head } else { End::Tail },
                format!("{i}").as_bytes(),
            );
        }
        assert!(matches!(list, List::Deque(_)));
        assert_eq!(list.len(), 200);
        assert_eq!(list.pop(End::Head), Some(b"198".to_vec()));
        assert_eq!(list.pop(End::Tail), Some(b"199".to_vec()));
        list.retain_range(1, Some(2));
        assert_eq!(list.items().collect::<Vec<_>>(), vec![&b"194"[..], b"192"]);
        list.retain_range(5, Some(1));
        assert!(list.is_empty());
    }
}
