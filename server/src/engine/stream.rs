//! The stream type: entries ordered by ID, consumer groups with their pending entries, and the
//! counters Redis 7 keeps (entries added, first ID, largest deleted ID) that XINFO and the
//! consumer-group lag are computed from.
//!
//! Redis stores entries in listpack "nodes" of up to `stream-node-max-entries` entries, and
//! approximate trimming (`MAXLEN ~`) only drops whole nodes. To trim exactly where Redis does,
//! the node boundaries are tracked alongside the entries: which entry opened each node, how many
//! entries it holds live and deleted, and roughly how many bytes.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, `None` past the last possible one.
    pub fn incr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId::new(ms + 1, 0)),
            (ms, seq) => Some(StreamId::new(ms, seq + 1)),
        }
    }

    /// The previous ID, `None` before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    pub fn to_bytes(self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }
}

/// An entry's fields and values, alternating.
pub type Fields = Box<[Box<[u8]>]>;

/// One of Redis's listpack nodes, as far as trimming needs to know it.
#[derive(Clone, Debug)]
struct Node {
    live: u64,
    deleted: u64,
    bytes: usize,
    /// The fields of the entry that opened the node (Redis's "master entry").
    master_fields: Vec<Box<[u8]>>,
}

/// A pending entry: delivered to a consumer, not acknowledged yet.
#[derive(Clone, Debug)]
pub struct Pending {
    pub consumer: Vec<u8>,
    pub delivery_time: i64,
    pub delivery_count: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Consumer {
    pub seen_time: i64,
    pub pending: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries the group has read, when known (Redis's `entries_read`, -1 when not).
    pub entries_read: Option<u64>,
    pub pending: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    /// The consumer, created if new; its seen time is refreshed either way.
    pub fn consumer(&mut self, name: &[u8], now: i64) -> &mut Consumer {
        let consumer = self.consumers.entry(name.to_vec()).or_default();
        consumer.seen_time = now;
        consumer
    }

    /// Drops an entry from the group's and its consumer's pending lists.
    pub fn forget(&mut self, id: StreamId) -> Option<Pending> {
        let pending = self.pending.remove(&id)?;
        if let Some(consumer) = self.consumers.get_mut(&pending.consumer) {
            consumer.pending.remove(&id);
        }
        Some(pending)
    }

    /// Gives a pending entry to `consumer` (creating it if `force`), as XCLAIM does.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], time: i64) -> &mut Pending {
        if let Some(previous) = self.pending.get(&id).map(|p| p.consumer.clone()) {
            if previous != consumer {
                if let Some(old) = self.consumers.get_mut(&previous) {
                    old.pending.remove(&id);
                }
            }
        }
        self.consumers
            .entry(consumer.to_vec())
            .or_default()
            .pending
            .insert(id);
        let pending = self.pending.entry(id).or_insert(Pending {
            consumer: consumer.to_vec(),
            delivery_time: time,
            delivery_count: 1,
        });
        pending.consumer = consumer.to_vec();
        pending
    }
}

/// How XADD and XTRIM trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Clone, Debug, Default)]
pub struct Stream {
    entries: BTreeMap<StreamId, Fields>,
    /// Keyed by the ID of the entry that opened the node.
    nodes: BTreeMap<StreamId, Node>,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, Group>,
}

/// Bytes a listpack element of `len` bytes takes (header, payload, back-length), as Redis
/// encodes strings; numbers are counted the same way, which is close enough for node sizing.
fn element_bytes(len: usize) -> usize {
    let header = match len {
        0..=63 => 1,
        64..=4095 => 2,
        _ => 5,
    };
    let encoded = header + len;
    encoded + if encoded < 128 { 1 } else { 2 }
}

/// When a listpack node is full, as Redis's `stream-node-max-bytes` and
/// `stream-node-max-entries` say (0: no bound). Whole nodes are what approximate trimming
/// removes, so XADD and XTRIM with `~` trim as much as Redis does under the same settings.
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for NodeLimits {
    /// Redis's defaults.
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Redis's own bound on a listpack node, whatever `stream-node-max-bytes` says.
const LISTPACK_MAX_BYTES: u64 = 1 << 30;

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Listpack nodes Redis would hold (XINFO's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn get(&self, id: StreamId) -> Option<&Fields> {
        self.entries.get(&id)
    }

    /// The ID XADD `*` generates at `now_ms`.
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Appends an entry whose ID the caller checked is above `last_id`, in a new node when
    /// the last one is full by `limits`.
    pub fn append(&mut self, id: StreamId, fields: &[&[u8]], limits: NodeLimits) {
        let payload: usize = fields.iter().map(|f| f.len()).sum();
        let max_bytes = match limits.max_bytes {
            0 => LISTPACK_MAX_BYTES,
            bytes => bytes.min(LISTPACK_MAX_BYTES),
        };
        let fits = self.nodes.iter().next_back().is_some_and(|(_, node)| {
            ((node.bytes + payload) as u64) < max_bytes
                && (limits.max_entries == 0 || node.live + node.deleted < limits.max_entries)
        });
        if !fits {
            let master_fields: Vec<Box<[u8]>> =
                fields.iter().step_by(2).map(|f| (*f).into()).collect();
            let bytes = 7
                + master_fields
                    .iter()
                    .map(|f| element_bytes(f.len()))
                    .sum::<usize>()
                + 3;
            self.nodes.insert(
                id,
                Node {
                    live: 0,
                    deleted: 0,
                    bytes,
                    master_fields,
                },
            );
        }
        if let Some((_, node)) = self.nodes.iter_mut().next_back() {
            let same_fields = fields.len() / 2 == node.master_fields.len()
                && fields
                    .iter()
                    .step_by(2)
                    .zip(&node.master_fields)
                    .all(|(a, b)| *a == &b[..]);
            let shown: usize = if same_fields {
                fields
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .map(|v| element_bytes(v.len()))
                    .sum()
            } else {
                fields.iter().map(|f| element_bytes(f.len())).sum::<usize>() + 2
            };
            node.bytes += shown + 8;
            node.live += 1;
        }
        self.entries
            .insert(id, fields.iter().map(|f| Box::<[u8]>::from(*f)).collect());
        self.last_id = id;
        self.entries_added += 1;
        if self.entries.len() == 1 {
            self.first_id = id;
        }
    }

    fn node_of(&mut self, id: StreamId) -> Option<(StreamId, &mut Node)> {
        self.nodes
            .range_mut(..=id)
            .next_back()
            .map(|(start, node)| (*start, node))
    }

    /// Removes one entry, counting it deleted in its node (freed once it holds no live entry).
    fn remove_entry(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        if let Some((start, node)) = self.node_of(id) {
            node.live -= 1;
            node.deleted += 1;
            if node.live == 0 {
                self.nodes.remove(&start);
            }
        }
        true
    }

    fn refresh_first_id(&mut self) {
        self.first_id = self.entries.keys().next().copied().unwrap_or_default();
    }

    /// XDEL: true when the entry existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        if !self.remove_entry(id) {
            return false;
        }
        let was_first = id == self.first_id;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if self.entries.is_empty() {
            self.first_id = StreamId::ZERO;
        } else if was_first {
            self.refresh_first_id();
        }
        true
    }

    /// Trims as Redis's `streamTrim`: whole nodes from the head, then (unless `approx`) the
    /// entries of the first node that cannot go whole. `limit` bounds the entries removed
    /// (0: none). Returns how many went.
    pub fn trim(&mut self, strategy: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some((&start, node)) = self.nodes.iter().next() {
            if let Trim::MaxLen(max) = strategy {
                if self.entries.len() as u64 <= max {
                    break;
                }
            }
            let live = node.live;
            if limit > 0 && deleted + live > limit {
                break;
            }
            let node_ids: Vec<StreamId> = match self.nodes.range(start..).nth(1) {
                Some((next, _)) => self
                    .entries
                    .range(start..*next)
                    .map(|(id, _)| *id)
                    .collect(),
                None => self.entries.range(start..).map(|(id, _)| *id).collect(),
            };
            let remove_node = match strategy {
                Trim::MaxLen(max) => self.entries.len() as u64 - live >= max,
                Trim::MinId(min) => node_ids.last().is_some_and(|last| *last < min),
            };
            if remove_node {
                for id in &node_ids {
                    self.entries.remove(id);
                }
                self.nodes.remove(&start);
                deleted += live;
                continue;
            }
            if approx {
                break;
            }
            for id in node_ids {
                let stop = match strategy {
                    Trim::MaxLen(max) => self.entries.len() as u64 <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                self.remove_entry(id);
                deleted += 1;
            }
            break;
        }
        self.refresh_first_id();
        deleted
    }

    /// Entries with IDs in `start..=end`, ascending (or descending when `rev`), at most `count`
    /// of them (0: all).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<(StreamId, &Fields)> {
        if start > end {
            return Vec::new();
        }
        let limit = if count == 0 { usize::MAX } else { count };
        let found = self.entries.range(start..=end).map(|(id, f)| (*id, f));
        if rev {
            found.rev().take(limit).collect()
        } else {
            found.take(limit).collect()
        }
    }

    pub fn first_entry(&self) -> Option<(StreamId, &Fields)> {
        self.entries.iter().next().map(|(id, f)| (*id, f))
    }

    pub fn last_entry(&self) -> Option<(StreamId, &Fields)> {
        self.entries.iter().next_back().map(|(id, f)| (*id, f))
    }

    /// Whether a deleted entry may lie in `start..=end` (Redis's `streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted == StreamId::ZERO {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// How many entries precede `id` since the stream began, when that can be known (Redis's
    /// `streamEstimateDistanceFromFirstEverEntry`).
    pub fn entries_before(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.entries.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted == StreamId::ZERO || self.max_deleted < self.first_id {
            let len = self.entries.len() as u64;
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(self.entries_added - len),
                std::cmp::Ordering::Equal => return Some(self.entries_added - len + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's lag (XINFO GROUPS), when it can be known.
    pub fn lag(&self, group: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = group.entries_read {
            if !self.range_has_tombstones(group.last_id, StreamId::MAX) {
                return Some(self.entries_added.saturating_sub(read));
            }
        }
        self.entries_before(group.last_id)
            .map(|read| self.entries_added.saturating_sub(read))
    }

    /// Advances a group past `id` as a delivery does, keeping its read counter when it can.
    pub fn advance_group(&self, group: &mut Group, id: StreamId) {
        if id <= group.last_id {
            return;
        }
        match group.entries_read {
            Some(read) if !self.range_has_tombstones(id, StreamId::MAX) => {
                group.entries_read = Some(read + 1);
            }
            _ if self.entries_added > 0 => group.entries_read = self.entries_before(id),
            _ => {}
        }
        group.last_id = id;
    }
}

/// Writes numbers and IDs as decimal items for DUMP.
struct Items(Vec<Vec<u8>>);

impl Items {
    fn num(&mut self, n: u64) {
        self.0
            .push(itoa::Buffer::new().format(n).as_bytes().to_vec());
    }

    fn id(&mut self, id: StreamId) {
        self.num(id.ms);
        self.num(id.seq);
    }
}

/// Reads what [`Items`] wrote, failing on anything malformed.
struct Reader<'a, I: Iterator<Item = &'a [u8]>>(I);

impl<'a, I: Iterator<Item = &'a [u8]>> Reader<'a, I> {
    fn bytes(&mut self) -> Option<&'a [u8]> {
        self.0.next()
    }

    fn num(&mut self) -> Option<u64> {
        std::str::from_utf8(self.0.next()?).ok()?.parse().ok()
    }

    fn id(&mut self) -> Option<StreamId> {
        Some(StreamId::new(self.num()?, self.num()?))
    }

    fn time(&mut self) -> Option<i64> {
        std::str::from_utf8(self.0.next()?).ok()?.parse().ok()
    }
}

impl Stream {
    /// The whole stream as a flat list of items, for DUMP.
    pub fn to_items(&self) -> Vec<Vec<u8>> {
        let mut out = Items(Vec::new());
        out.id(self.last_id);
        out.id(self.first_id);
        out.id(self.max_deleted);
        out.num(self.entries_added);
        out.num(self.entries.len() as u64);
        for (id, fields) in &self.entries {
            out.id(*id);
            out.num(fields.len() as u64);
            out.0.extend(fields.iter().map(|f| f.to_vec()));
        }
        out.num(self.groups.len() as u64);
        for (name, group) in &self.groups {
            out.0.push(name.clone());
            out.id(group.last_id);
            out.num(group.entries_read.map_or(u64::MAX, |n| n));
            out.num(group.pending.len() as u64);
            for (id, pending) in &group.pending {
                out.id(*id);
                out.0.push(pending.consumer.clone());
                out.0.push(pending.delivery_time.to_string().into_bytes());
                out.num(pending.delivery_count);
            }
            out.num(group.consumers.len() as u64);
            for (name, consumer) in &group.consumers {
                out.0.push(name.clone());
                out.0.push(consumer.seen_time.to_string().into_bytes());
            }
        }
        out.0
    }

    /// Rebuilds a stream from [`Stream::to_items`]; `None` when the items do not describe one.
    pub fn from_items<'a>(items: impl Iterator<Item = &'a [u8]>) -> Option<Stream> {
        let mut read = Reader(items);
        let (last_id, first_id, max_deleted) = (read.id()?, read.id()?, read.id()?);
        let entries_added = read.num()?;
        let mut stream = Stream::default();
        for _ in 0..read.num()? {
            let id = read.id()?;
            let count = read.num()?;
            if count % 2 != 0 || id <= stream.last_id && !stream.entries.is_empty() {
                return None;
            }
            let fields = (0..count)
                .map(|_| read.bytes())
                .collect::<Option<Vec<_>>>()?;
            stream.append(id, &fields, NodeLimits::default());
        }
        for _ in 0..read.num()? {
            let name = read.bytes()?.to_vec();
            let mut group = Group {
                last_id: read.id()?,
                entries_read: Some(read.num()?).filter(|n| *n != u64::MAX),
                ..Group::default()
            };
            for _ in 0..read.num()? {
                let id = read.id()?;
                let consumer = read.bytes()?.to_vec();
                let (delivery_time, delivery_count) = (read.time()?, read.num()?);
                group
                    .consumers
                    .entry(consumer.clone())
                    .or_default()
                    .pending
                    .insert(id);
                group.pending.insert(
                    id,
                    Pending {
                        consumer,
                        delivery_time,
                        delivery_count,
                    },
                );
            }
            for _ in 0..read.num()? {
                let name = read.bytes()?.to_vec();
                group.consumers.entry(name).or_default().seen_time = read.time()?;
            }
            stream.groups.insert(name, group);
        }
        if read.bytes().is_some() {
            return None;
        }
        stream.last_id = last_id;
        stream.first_id = first_id;
        stream.max_deleted = max_deleted;
        stream.entries_added = entries_added;
        Some(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: u64) -> Stream {
        let mut stream = Stream::default();
        for i in 1..=n {
            stream.append(StreamId::new(i, 0), &[b"f", b"v"], NodeLimits::default());
        }
        stream
    }

    #[test]
    fn approximate_trimming_drops_whole_nodes_only() {
        let mut stream = filled(250);
        assert_eq!(stream.node_count(), 3);
        assert_eq!(stream.trim(Trim::MaxLen(120), true, 0), 100);
        assert_eq!(stream.len(), 150);
        assert_eq!(stream.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(stream.len(), 120);
        assert_eq!(stream.first_id, StreamId::new(131, 0));
        assert_eq!(
            stream.trim(Trim::MinId(StreamId::new(200, 0)), false, 0),
            69
        );
        assert_eq!(stream.first_id, StreamId::new(200, 0));
    }

    #[test]
    fn deletions_leave_tombstones_and_counters() {
        let mut stream = filled(3);
        assert!(stream.delete(StreamId::new(1, 0)));
        assert!(!stream.delete(StreamId::new(1, 0)));
        assert_eq!(stream.first_id, StreamId::new(2, 0));
        assert_eq!(stream.max_deleted, StreamId::new(1, 0));
        assert_eq!(stream.entries_before(StreamId::new(2, 0)), Some(2));
        assert!(!stream.range_has_tombstones(StreamId::ZERO, StreamId::MAX));
        assert!(stream.delete(StreamId::new(3, 0)));
        assert!(stream.range_has_tombstones(StreamId::ZERO, StreamId::MAX));
    }
}
