//! The replication stream's messages, each a flat RESP array of bulk strings, so both ends
//! read them with the request parser and its limits.

use super::log::{Effect, Record};
use bytes::{Bytes, BytesMut};
use slotcache_protocol::resp::request::{encode, put_array_header, put_bulk};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Follower → leader, before `Sync` when the cluster has an internal credential: its
    /// secret. The replication port serves nobody without it.
    Auth {
        secret: Bytes,
    },
    /// Follower → leader, first: attach to `pid` as led at `epoch`, from `next` (the follower's
    /// last record was written in `last_epoch`).
    Sync {
        pid: u32,
        epoch: u64,
        next: u64,
        last_epoch: u64,
        node: String,
    },
    /// Leader: the stream continues from the follower's offset.
    Continue,
    /// Leader: a snapshot of the partition as of `next` follows (`Snapshot` messages up to
    /// a `SnapshotEnd`), then the records from `next`.
    Full {
        next: u64,
        last_epoch: u64,
        now: i64,
    },
    /// Part of a snapshot: effects recreating keys of database `db`.
    Snapshot {
        db: usize,
        effects: Vec<Effect>,
    },
    /// The snapshot is whole.
    SnapshotEnd,
    Record(Record),
    /// Follower: every record before `next` is applied, and the latest heartbeat it took
    /// carried `stamp` (0: none yet).
    Ack {
        next: u64,
        stamp: u64,
    },
    /// Leader: this stream cannot be served (not leading, another epoch).
    Refused(String),
    /// Leader, on a stream with nothing to send for a while: it is alive and reachable, so a
    /// follower can tell a quiet leader from a paused or cut-off one. The follower echoes
    /// `stamp` in its acknowledgements: the leader learns when it sent what the follower
    /// answers, not when the answer reached it (a paused leader finds old answers waiting).
    Heartbeat {
        stamp: u64,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed replication message: {0}")]
pub struct WireError(&'static str);

impl Message {
    pub fn encode(&self) -> Bytes {
        let mut fields: Vec<Bytes> = Vec::new();
        let number = |n: i128| Bytes::from(n.to_string());
        match self {
            Message::Sync {
                pid,
                epoch,
                next,
                last_epoch,
                node,
            } => {
                fields.push(Bytes::from_static(b"sync"));
                fields.extend(
                    [
                        *pid as i128,
                        *epoch as i128,
                        *next as i128,
                        *last_epoch as i128,
                    ]
                    .map(number),
                );
                fields.push(Bytes::from(node.clone()));
            }
            Message::Auth { secret } => {
                fields.push(Bytes::from_static(b"auth"));
                fields.push(secret.clone());
            }
            Message::Continue => fields.push(Bytes::from_static(b"continue")),
            Message::Full {
                next,
                last_epoch,
                now,
            } => {
                fields.push(Bytes::from_static(b"full"));
                fields.extend([*next as i128, *last_epoch as i128, *now as i128].map(number));
            }
            Message::Snapshot { db, effects } => {
                fields.push(Bytes::from_static(b"snapshot"));
                fields.push(number(*db as i128));
                push_effects(&mut fields, effects);
            }
            Message::SnapshotEnd => fields.push(Bytes::from_static(b"snapshot-end")),
            Message::Record(record) => {
                let mut effects = EncodedEffects::default();
                record
                    .effects
                    .iter()
                    .for_each(|effect| effects.push(effect));
                let mut out = BytesMut::new();
                effects.seal(&mut out, record.offset, record.epoch, record.now, record.db);
                return out.freeze();
            }
            Message::Ack { next, stamp } => {
                fields.push(Bytes::from_static(b"ack"));
                fields.push(number(*next as i128));
                fields.push(number(*stamp as i128));
            }
            Message::Refused(why) => {
                fields.push(Bytes::from_static(b"refused"));
                fields.push(Bytes::from(why.clone()));
            }
            Message::Heartbeat { stamp } => {
                fields.push(Bytes::from_static(b"heartbeat"));
                fields.push(number(*stamp as i128));
            }
        }
        encode(&fields)
    }

    pub fn decode(fields: Vec<Bytes>) -> Result<Message, WireError> {
        let mut fields = fields.into_iter();
        let kind = fields.next().ok_or(WireError("empty"))?;
        let message = match &kind[..] {
            b"sync" => Message::Sync {
                pid: number(fields.next())?,
                epoch: number(fields.next())?,
                next: number(fields.next())?,
                last_epoch: number(fields.next())?,
                node: String::from_utf8_lossy(&fields.next().ok_or(WireError("node"))?)
                    .into_owned(),
            },
            b"auth" => Message::Auth {
                secret: fields.next().ok_or(WireError("secret"))?,
            },
            b"continue" => Message::Continue,
            b"full" => Message::Full {
                next: number(fields.next())?,
                last_epoch: number(fields.next())?,
                now: number(fields.next())?,
            },
            b"snapshot" => Message::Snapshot {
                db: number(fields.next())?,
                effects: take_effects(&mut fields)?,
            },
            b"snapshot-end" => Message::SnapshotEnd,
            b"record" => Message::Record(Record {
                offset: number(fields.next())?,
                epoch: number(fields.next())?,
                now: number(fields.next())?,
                db: number(fields.next())?,
                effects: take_effects(&mut fields)?,
            }),
            // Servers of an earlier version send neither stamp: 0.
            b"ack" => Message::Ack {
                next: number(fields.next())?,
                stamp: optional_number(fields.next())?,
            },
            b"heartbeat" => Message::Heartbeat {
                stamp: optional_number(fields.next())?,
            },
            b"refused" => Message::Refused(
                String::from_utf8_lossy(&fields.next().unwrap_or_default()).into_owned(),
            ),
            _ => return Err(WireError("unknown kind")),
        };
        Ok(message)
    }
}

/// A record's effects, encoded as the tail of its `record` message as they are recorded: the
/// backlog keeps records encoded, ready to send, in a few large buffers rather than as many
/// small allocations (freeing those as the backlog turned over cost more than recording).
#[derive(Debug, Default)]
pub struct EncodedEffects {
    body: BytesMut,
    effects: usize,
    fields: usize,
}

impl EncodedEffects {
    pub fn push(&mut self, effect: &[Bytes]) {
        let mut digits = itoa::Buffer::new();
        put_bulk(&mut self.body, digits.format(effect.len()).as_bytes());
        for arg in effect {
            put_bulk(&mut self.body, arg);
        }
        self.effects += 1;
        self.fields += 1 + effect.len();
    }

    pub fn is_empty(&self) -> bool {
        self.effects == 0
    }

    /// Bytes encoded so far.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Appends the whole `record` message to `out`, and starts over empty.
    pub fn seal(&mut self, out: &mut BytesMut, offset: u64, epoch: u64, now: i64, db: usize) {
        let mut digits = itoa::Buffer::new();
        out.reserve(64 + self.body.len());
        put_array_header(out, 6 + self.fields);
        put_bulk(out, b"record");
        put_bulk(out, digits.format(offset).as_bytes());
        put_bulk(out, digits.format(epoch).as_bytes());
        put_bulk(out, digits.format(now).as_bytes());
        put_bulk(out, digits.format(db).as_bytes());
        put_bulk(out, digits.format(self.effects).as_bytes());
        out.extend_from_slice(&self.body);
        if self.body.capacity() > RETAINED_CAPACITY {
            // One huge record (a big MSET) must not keep its room for the partition's life.
            self.body = BytesMut::new();
        } else {
            self.body.clear();
        }
        (self.effects, self.fields) = (0, 0);
    }
}

/// The most room a record's buffer keeps between records.
const RETAINED_CAPACITY: usize = 1024 * 1024;

fn push_effects(fields: &mut Vec<Bytes>, effects: &[Effect]) {
    fields.push(Bytes::from(effects.len().to_string()));
    for effect in effects {
        fields.push(Bytes::from(effect.len().to_string()));
        fields.extend(effect.iter().cloned());
    }
}

fn take_effects(fields: &mut impl Iterator<Item = Bytes>) -> Result<Vec<Effect>, WireError> {
    let count: usize = number(fields.next())?;
    let mut effects = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let len: usize = number(fields.next())?;
        let effect: Effect = fields.by_ref().take(len).collect();
        if effect.len() != len || len == 0 {
            return Err(WireError("short effect"));
        }
        effects.push(effect);
    }
    Ok(effects)
}

fn number<T: std::str::FromStr>(field: Option<Bytes>) -> Result<T, WireError> {
    let field = field.ok_or(WireError("missing field"))?;
    std::str::from_utf8(&field)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(WireError("not a number"))
}

/// A trailing number a peer of an earlier version leaves out: 0.
fn optional_number(field: Option<Bytes>) -> Result<u64, WireError> {
    field.map_or(Ok(0), |field| number(Some(field)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotcache_protocol::resp::{ParseLimits, RequestParser};

    fn round_trip(message: Message) {
        let mut input = BytesMut::from(&message.encode()[..]);
        let fields = RequestParser::default()
            .next_request(&mut input, &ParseLimits::default())
            .expect("parses")
            .expect("complete");
        assert_eq!(Message::decode(fields), Ok(message));
    }

    #[test]
    fn every_message_survives_the_wire() {
        let effect = |line: &str| -> Effect {
            line.split(' ')
                .map(|w| Bytes::from(w.to_string()))
                .collect()
        };
        round_trip(Message::Auth {
            secret: Bytes::from_static(b"s3cret"),
        });
        round_trip(Message::Sync {
            pid: 3,
            epoch: 7,
            next: 42,
            last_epoch: 6,
            node: "server-1".into(),
        });
        round_trip(Message::Continue);
        round_trip(Message::Full {
            next: 9,
            last_epoch: 2,
            now: 1_700_000_000_000,
        });
        round_trip(Message::Snapshot {
            db: 0,
            effects: vec![effect("RESTORE k 0 xyz ABSTTL REPLACE")],
        });
        round_trip(Message::SnapshotEnd);
        round_trip(Message::Record(Record {
            offset: 5,
            epoch: 2,
            now: -1,
            db: 0,
            effects: vec![effect("SET a 1"), effect("MULTI-ARG x y z")],
        }));
        round_trip(Message::Ack { next: 6, stamp: 9 });
        round_trip(Message::Heartbeat { stamp: 12 });
        round_trip(Message::Refused("not leading".into()));
    }

    #[test]
    fn a_huge_record_does_not_keep_its_room() {
        let huge = Bytes::from(vec![b'x'; 2 * RETAINED_CAPACITY]);
        let mut effects = EncodedEffects::default();
        effects.push(&[
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k"),
            huge.clone(),
        ]);
        let mut out = BytesMut::new();
        effects.seal(&mut out, 4, 1, 0, 0);
        assert!(effects.is_empty());
        assert_eq!(effects.len(), 0);
        assert!(effects.body.capacity() <= RETAINED_CAPACITY);
        let fields = RequestParser::default()
            .next_request(&mut out, &ParseLimits::default())
            .expect("parses")
            .expect("whole");
        let Ok(Message::Record(record)) = Message::decode(fields) else {
            panic!("not a record")
        };
        assert_eq!(record.offset, 4);
        assert_eq!(record.effects[0][2], huge);
    }

    #[test]
    fn malformed_messages_are_errors() {
        let fields = |line: &str| -> Vec<Bytes> {
            line.split(' ')
                .map(|w| Bytes::from(w.to_string()))
                .collect()
        };
        assert!(Message::decode(fields("record 1 2 3 0 1 5 SET a")).is_err());
        assert!(Message::decode(fields("ack x")).is_err());
        assert!(Message::decode(fields("auth")).is_err());
        assert!(Message::decode(fields("hello")).is_err());
        assert!(Message::decode(fields("record 1 2 3 0 1 0")).is_err());
    }
}
