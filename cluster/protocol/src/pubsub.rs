//! Pub/sub's vocabulary: the three namespaces and the confirmations a subscriber receives.

use crate::resp::Reply;

/// The three namespaces: channels, patterns, and shard channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The reply words: (subscribe, unsubscribe, message).
    pub fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe", "message"),
            Kind::Pattern => ("psubscribe", "punsubscribe", "pmessage"),
            Kind::Shard => ("ssubscribe", "sunsubscribe", "smessage"),
        }
    }
}

/// A (un)subscribe confirmation: the word, the channel or pattern, and the count after it.
pub fn confirm(out: &mut Reply, word: &str, name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(word.as_bytes());
    out.bulk_or_null(name);
    out.int(count as i64);
}
