//! MONITOR: connections that see every command the server runs, as Redis formats them
//! (`+<seconds>.<micros> [<db> <addr>] "arg" ...`), after it ran.

use crate::client::{ClientInfo, Notice};
use bytes::Bytes;
use parking_lot::Mutex;
use slotcache_protocol::redact::redacted;
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct Monitors {
    clients: Mutex<Vec<Arc<ClientInfo>>>,
    count: AtomicUsize,
}

/// Redis's `sdscatrepr`: a quoted string with C escapes for what is not printable.
pub fn quoted(text: &mut String, arg: &[u8]) {
    text.push('"');
    for &byte in arg {
        match byte {
            b'\\' => text.push_str("\\\\"),
            b'"' => text.push_str("\\\""),
            b'\n' => text.push_str("\\n"),
            b'\r' => text.push_str("\\r"),
            b'\t' => text.push_str("\\t"),
            7 => text.push_str("\\a"),
            8 => text.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => text.push(b as char),
            b => {
                let _ = write!(text, "\\x{b:02x}");
            }
        }
    }
    text.push('"');
}

impl Monitors {
    /// Whether anyone monitors: when nobody does, commands skip formatting entirely.
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub fn add(&self, info: &Arc<ClientInfo>) {
        let mut clients = self.clients.lock();
        if !clients.iter().any(|c| c.id == info.id) {
            clients.push(info.clone());
            self.count.store(clients.len(), Ordering::Relaxed);
        }
    }

    pub fn remove(&self, id: u64) {
        let mut clients = self.clients.lock();
        clients.retain(|c| c.id != id);
        self.count.store(clients.len(), Ordering::Relaxed);
    }

    /// Sends one command to every monitor. `source`: the client's address, or `None` for a
    /// script's commands (shown as `lua`).
    pub fn feed(&self, db: usize, source: Option<std::net::SocketAddr>, args: &[Bytes]) {
        if !self.active() {
            return;
        }
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = format!(
            "+{}.{:06} [{db} ",
            since_epoch.as_secs(),
            since_epoch.subsec_micros()
        );
        match source {
            Some(addr) => {
                let _ = write!(line, "{addr}] ");
            }
            None => line.push_str("lua] "),
        }
        for (i, arg) in redacted(args).iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            quoted(&mut line, arg);
        }
        line.push_str("\r\n");
        let line = Bytes::from(line);
        for monitor in self.clients.lock().iter() {
            monitor.send(Notice::Monitor(line.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_as_redis_does() {
        let mut text = String::new();
        super::quoted(&mut text, b"a \"b\"\n\x01\\");
        assert_eq!(text, r#""a \"b\"\n\x01\\""#);
    }
}
