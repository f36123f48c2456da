//! The ACL log (ACL LOG): recent refusals and failed logins, newest first, with repeats of
//! the same refusal within a minute folded into one entry, as Redis keeps it.

use crate::resp::Reply;
use std::collections::VecDeque;

/// Why an entry was logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

/// Where the refused call came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    /// The command, key or channel refused, or the command that failed to log in.
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Milliseconds since the epoch of the latest occurrence.
    pub millis: i64,
    /// CLIENT LIST's line of the latest client.
    pub client_info: String,
}

/// Entries this close in time fold into one (Redis's `ACL_LOG_GROUPING_MAX_TIME_DELTA`).
const GROUPING_MILLIS: i64 = 60_000;

pub struct AclLog {
    entries: VecDeque<Entry>,
    /// `acllog-max-len`.
    pub max_len: usize,
}

impl Default for AclLog {
    fn default() -> AclLog {
        AclLog {
            entries: VecDeque::new(),
            max_len: 128,
        }
    }
}

impl AclLog {
    /// Adds an entry, or counts it on a similar one among the newest ten.
    pub fn add(&mut self, entry: Entry) {
        let similar = self.entries.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && (e.millis - entry.millis).abs() <= GROUPING_MILLIS
                && e.object == entry.object
                && e.username == entry.username
        });
        if let Some(at) = similar {
            let mut known = self.entries.remove(at).expect("found above");
            known.count += 1;
            known.millis = entry.millis;
            known.client_info = entry.client_info;
            self.entries.push_front(known);
            return;
        }
        self.entries.push_front(entry);
        self.trim();
    }

    /// Drops the oldest entries past `max_len`.
    pub fn trim(&mut self) {
        self.entries.truncate(self.max_len);
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// ACL LOG [count]'s reply: the newest `count` entries.
    pub fn write(&self, count: usize, now_millis: i64, out: &mut Reply) {
        let shown = count.min(self.entries.len());
        out.array(shown);
        for e in self.entries.iter().take(shown) {
            out.map(7);
            out.bulk(b"count");
            out.int(e.count as i64);
            out.bulk(b"reason");
            out.bulk(match e.reason {
                Reason::Command => b"command".as_slice(),
                Reason::Key => b"key",
                Reason::Channel => b"channel",
                Reason::Auth => b"auth",
            });
            out.bulk(b"context");
            out.bulk(match e.context {
                Context::Toplevel => b"toplevel".as_slice(),
                Context::Multi => b"multi",
                Context::Lua => b"lua",
            });
            out.bulk(b"object");
            out.bulk(&e.object);
            out.bulk(b"username");
            out.bulk(&e.username);
            out.bulk(b"age-seconds");
            out.double((now_millis - e.millis) as f64 / 1000.0);
            out.bulk(b"client-info");
            out.bulk(e.client_info.as_bytes());
        }
    }
}
