//! SLOWLOG's log: commands that ran longer than `slowlog-log-slower-than` microseconds, the
//! newest first, at most `slowlog-max-len` of them, with Redis's trimming of long requests.

use crate::client::ClientInfo;
use bytes::Bytes;
use parking_lot::Mutex;
use slotcache_protocol::redact::redacted;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Arguments kept per entry, and bytes per argument, as Redis's SLOWLOG_ENTRY_MAX_*.
const MAX_ARGS: usize = 32;
const MAX_ARG_BYTES: usize = 128;

pub struct Entry {
    pub id: u64,
    /// Unix time in seconds when the command was logged.
    pub time: i64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    pub client_addr: String,
    pub client_name: String,
}

#[derive(Default)]
pub struct SlowLog {
    entries: Mutex<(VecDeque<Entry>, u64)>,
    /// In a cluster, entry ids are the microseconds since the epoch when logged (kept
    /// increasing), so a proxy can put several servers' logs in one order; standalone, they
    /// count from 0 as Redis's do.
    clock_ids: AtomicBool,
}

/// The request as the log keeps it: at most 32 arguments (the last one saying how many more
/// there were) of at most 128 bytes (saying how many more bytes there were).
fn trimmed(args: &[Bytes]) -> Vec<Bytes> {
    let kept = if args.len() > MAX_ARGS {
        MAX_ARGS - 1
    } else {
        args.len()
    };
    let mut out: Vec<Bytes> = args[..kept]
        .iter()
        .map(|arg| match arg.len() > MAX_ARG_BYTES {
            true => {
                let mut short = arg[..MAX_ARG_BYTES].to_vec();
                short.extend_from_slice(
                    format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes(),
                );
                Bytes::from(short)
            }
            false => arg.clone(),
        })
        .collect();
    if args.len() > MAX_ARGS {
        out.push(Bytes::from(format!(
            "... ({} more arguments)",
            args.len() - kept
        )));
    }
    out
}

impl SlowLog {
    /// Logs a command that took `micros` (the caller found it slow enough); `max_len`
    /// bounds the log.
    pub fn record(&self, args: &[Bytes], micros: u64, max_len: u64, client: &ClientInfo) {
        let entry = Entry {
            id: 0,
            time: crate::state::now_ms() / 1000,
            micros,
            args: trimmed(&redacted(args)),
            client_addr: client.addr.to_string(),
            client_name: client.name.lock().clone(),
        };
        let clock = self.clock_ids.load(Ordering::Relaxed).then(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_micros() as u64)
        });
        let mut guard = self.entries.lock();
        let (entries, next_id) = &mut *guard;
        let id = clock.map_or(*next_id, |micros| micros.max(*next_id));
        entries.push_front(Entry { id, ..entry });
        *next_id = id + 1;
        entries.truncate(max_len as usize);
    }

    /// Numbers entries by the clock from now on (the server joined a cluster).
    pub fn use_clock_ids(&self) {
        self.clock_ids.store(true, Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().0.clear();
    }

    /// Reads the entries, the newest first.
    pub fn read<R>(&self, read: impl FnOnce(&VecDeque<Entry>) -> R) -> R {
        read(&self.entries.lock().0)
    }
}
