//! Multi-key commands whose keys span partitions (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH): one
//! command per partition, each sent with the other commands of its read that go to the same
//! server, replies merged in the order of the keys. A split MSET is not atomic: each partition
//! applies its part on its own.

use crate::forward::UNEXPECTED_REPLY;
use crate::session::error_reply;
use crate::Proxy;
use bytes::{Bytes, BytesMut};
use slotcache_cluster::key_slot;
use slotcache_protocol::resp::frame::{frame_len, integer};

#[derive(Clone, Copy)]
enum Merge {
    /// MGET: the values, in key order.
    Values,
    /// DEL, UNLINK, EXISTS, TOUCH: the sum of the counts.
    Sum,
    /// MSET: OK when every part is.
    Ok,
}

struct Part {
    /// A slot of the partition, to route by.
    slot: u16,
    args: Vec<Bytes>,
    /// Where each of this part's keys sits among all the keys.
    positions: Vec<usize>,
}

pub struct Split {
    merge: Merge,
    /// The command only reads (MGET, EXISTS, TOUCH).
    reads: bool,
    keys: usize,
    parts: Vec<Part>,
}

/// The per-partition parts of a splittable command, or None when it needs no split (one
/// partition, or a shape the normal path answers, such as a wrong arity).
pub fn split(proxy: &Proxy, name: &str, args: &[Bytes]) -> Option<Split> {
    let (merge, step) = match name {
        "mget" => (Merge::Values, 1),
        "del" | "unlink" | "exists" | "touch" => (Merge::Sum, 1),
        "mset" => (Merge::Ok, 2),
        _ => return None,
    };
    if args.len() < 1 + step || (args.len() - 1) % step != 0 {
        return None;
    }
    let mut parts: Vec<(Option<u32>, Part)> = Vec::new();
    for (index, group) in args[1..].chunks(step).enumerate() {
        let slot = key_slot(&group[0]);
        let partition = proxy.table.partition_of(slot);
        let part = match parts.iter_mut().find(|(p, _)| *p == partition) {
            Some((_, part)) => part,
            None => {
                parts.push((
                    partition,
                    Part {
                        slot,
                        args: vec![args[0].clone()],
                        positions: Vec::new(),
                    },
                ));
                &mut parts.last_mut()?.1
            }
        };
        part.args.extend_from_slice(group);
        part.positions.push(index);
    }
    if parts.len() < 2 {
        return None;
    }
    Some(Split {
        merge,
        reads: matches!(name, "mget" | "exists" | "touch"),
        keys: (args.len() - 1) / step,
        parts: parts.into_iter().map(|(_, part)| part).collect(),
    })
}

/// How the replies of a split command's parts make its reply.
pub struct Merger {
    merge: Merge,
    /// The parts only read.
    pub reads: bool,
    keys: usize,
    /// Per part, where its keys sit among all the keys.
    positions: Vec<Vec<usize>>,
}

impl Split {
    /// The parts, each a command for the leader of its slot, and how to merge their replies.
    pub fn into_parts(self) -> (Merger, Vec<(u16, Vec<Bytes>)>) {
        let mut positions = Vec::with_capacity(self.parts.len());
        let mut parts = Vec::with_capacity(self.parts.len());
        for part in self.parts {
            parts.push((part.slot, part.args));
            positions.push(part.positions);
        }
        let merger = Merger {
            merge: self.merge,
            reads: self.reads,
            keys: self.keys,
            positions,
        };
        (merger, parts)
    }
}

impl Merger {
    /// The command's reply from its parts' replies, in the order of the parts.
    pub fn merge(&self, replies: &[Bytes]) -> Bytes {
        if let Some(error) = replies.iter().find(|r| r.starts_with(b"-")) {
            return error.clone();
        }
        match self.merge {
            Merge::Ok => Bytes::from_static(b"+OK\r\n"),
            Merge::Sum => {
                let total: Option<i64> = replies.iter().map(|r| integer(r)).sum();
                match total {
                    Some(total) => Bytes::from(format!(":{total}\r\n")),
                    None => error_reply(UNEXPECTED_REPLY),
                }
            }
            Merge::Values => merge_values(replies, &self.positions, self.keys)
                .unwrap_or_else(|| error_reply(UNEXPECTED_REPLY)),
        }
    }
}

/// Puts the elements of each part's array reply at their keys' positions.
fn merge_values(replies: &[Bytes], positions: &[Vec<usize>], keys: usize) -> Option<Bytes> {
    let mut values: Vec<Option<&[u8]>> = vec![None; keys];
    for (reply, positions) in replies.iter().zip(positions) {
        let header_end = reply.windows(2).position(|w| w == b"\r\n")? + 2;
        let mut at = header_end;
        for &position in positions {
            let len = frame_len(&reply[at..]).ok()??;
            *values.get_mut(position)? = Some(&reply[at..at + len]);
            at += len;
        }
    }
    let mut out = BytesMut::new();
    out.extend_from_slice(format!("*{keys}\r\n").as_bytes());
    for value in values {
        out.extend_from_slice(value?);
    }
    Some(out.freeze())
}
