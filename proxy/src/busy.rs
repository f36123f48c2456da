//! Scripts this proxy has running at shard servers. Past `busy-reply-threshold`, Redis answers
//! other clients BUSY; through the proxy their requests would instead wait behind the script
//! on the connection they share with it, and PING (which the proxy answers) would not tell.
//! So the proxy answers BUSY itself: to PING, and to requests for a server running an overdue
//! script. SCRIPT KILL and FUNCTION KILL go on connections of their own and still reach it.

use ahash::AHashMap;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Redis's default `busy-reply-threshold`, in milliseconds.
const DEFAULT_THRESHOLD_MS: u64 = 5000;

struct Running {
    addr: Arc<str>,
    since: Instant,
    function: bool,
}

pub struct Scripts {
    running: Mutex<AHashMap<u64, Running>>,
    /// How many run: zero, requests skip the lock.
    count: AtomicUsize,
    next: AtomicU64,
    threshold_ms: AtomicU64,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            running: Mutex::default(),
            count: AtomicUsize::new(0),
            next: AtomicU64::new(0),
            threshold_ms: AtomicU64::new(DEFAULT_THRESHOLD_MS),
        }
    }
}

/// A script in flight, forgotten when its reply comes (or the request is dropped).
pub struct InFlight<'a> {
    scripts: &'a Scripts,
    token: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.scripts.running.lock().remove(&self.token);
        self.scripts.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Scripts {
    /// A script (or function) sent to `addr` now.
    pub fn start(&self, addr: Arc<str>, function: bool) -> InFlight<'_> {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let running = Running {
            addr,
            since: Instant::now(),
            function,
        };
        self.running.lock().insert(token, running);
        self.count.fetch_add(1, Ordering::Relaxed);
        InFlight {
            scripts: self,
            token,
        }
    }

    /// The BUSY error for a request to `addr` (any server for None), if a script there has
    /// run past the threshold.
    pub fn busy(&self, addr: Option<&str>) -> Option<&'static str> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let threshold = Duration::from_millis(self.threshold_ms.load(Ordering::Relaxed));
        let running = self.running.lock();
        running
            .values()
            .find(|r| addr.is_none_or(|addr| *r.addr == *addr) && r.since.elapsed() >= threshold)
            .map(|r| slotcache_protocol::command::busy(r.function))
    }

    /// Follows CONFIG SET of `busy-reply-threshold` (or its old name `lua-time-limit`) made
    /// through this proxy.
    pub fn follow_config(&self, args: &[bytes::Bytes]) {
        for pair in args.get(2..).unwrap_or_default().chunks(2) {
            let [name, value] = pair else { continue };
            let named = |word: &str| name.eq_ignore_ascii_case(word.as_bytes());
            if named("busy-reply-threshold") || named("lua-time-limit") {
                if let Some(ms) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                    self.threshold_ms.store(ms, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_only_past_the_threshold_and_while_running() {
        let scripts = Scripts::default();
        let args: Vec<bytes::Bytes> = ["CONFIG", "SET", "lua-time-limit", "0"]
            .into_iter()
            .map(bytes::Bytes::from)
            .collect();
        assert!(scripts.busy(None).is_none());
        let running = scripts.start("a:1".into(), true);
        scripts.follow_config(&args);
        assert!(scripts.busy(Some("a:1")).unwrap().contains("FUNCTION KILL"));
        assert!(scripts.busy(Some("b:1")).is_none());
        assert!(scripts.busy(None).is_some());
        drop(running);
        assert!(scripts.busy(None).is_none());
    }
}
