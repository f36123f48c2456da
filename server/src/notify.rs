//! Keyspace notifications (`notify-keyspace-events`): commands that change keys publish
//! `__keyspace@<db>__:<key>` → event and `__keyevent@<db>__:<event>` → key, for the classes
//! the setting enables, with Redis's event names.

use crate::state::Server;
use bytes::Bytes;
use std::sync::atomic::{AtomicU32, Ordering};

/// Redis's NOTIFY_* bits.
pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// `A`: every class but key misses and new keys.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The classes `notify-keyspace-events` enables, for this process (a server's setting).
static FLAGS: AtomicU32 = AtomicU32::new(0);

/// The classes in force.
pub fn flags() -> u32 {
    FLAGS.load(Ordering::Relaxed)
}

pub fn set_flags(flags: u32) {
    FLAGS.store(flags, Ordering::Relaxed);
    // Expiry, eviction and new keys are seen by the databases, which record them meanwhile.
    let recording = flags & (EXPIRED | EVICTED | NEW) != 0 && flags & (KEYSPACE | KEYEVENT) != 0;
    crate::engine::db::record_events(recording);
}

/// Redis's `keyspaceEventsStringToFlags`; None for an unknown class letter.
pub fn parse(classes: &str) -> Option<u32> {
    classes.chars().try_fold(0, |flags, class| {
        Some(
            flags
                | match class {
                    'A' => ALL,
                    'g' => GENERIC,
                    '$' => STRING,
                    'l' => LIST,
                    's' => SET,
                    'h' => HASH,
                    'z' => ZSET,
                    'x' => EXPIRED,
                    'e' => EVICTED,
                    'K' => KEYSPACE,
                    'E' => KEYEVENT,
                    't' => STREAM,
                    'm' => KEY_MISS,
                    'd' => MODULE,
                    'n' => NEW,
                    _ => return None,
                },
        )
    })
}

/// Redis's `keyspaceEventsFlagsToString`.
pub fn format(flags: u32) -> String {
    let mut text = String::new();
    if flags & ALL == ALL {
        text.push('A');
    } else {
        for (bit, class) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                text.push(class);
            }
        }
    }
    for (bit, class) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            text.push(class);
        }
    }
    text
}

/// Publishes one event of `class` about `key` in database `db`, if the setting asks for it.
pub fn event(server: &Server, class: u32, event: &str, key: &[u8], db: usize) {
    let flags = flags();
    if flags & class == 0 {
        return;
    }
    let pubsub = server.pubsub.lock();
    if flags & KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{db}__:").into_bytes();
        channel.extend_from_slice(key);
        pubsub.publish(
            false,
            &Bytes::from(channel),
            &Bytes::copy_from_slice(event.as_bytes()),
        );
    }
    if flags & KEYEVENT != 0 {
        let channel = Bytes::from(format!("__keyevent@{db}__:{event}"));
        pubsub.publish(false, &channel, &Bytes::copy_from_slice(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_read_and_print_as_redis_does() {
        for (given, shown) in [
            ("gKE", "gKE"),
            ("$lshzxeKE", "$lshzxeKE"),
            ("KA", "AK"),
            ("EA", "AE"),
            ("", ""),
        ] {
            assert_eq!(format(parse(given).unwrap()), shown, "{given}");
        }
        assert_eq!(parse("Kq"), None);
    }
}
