//! Scripts this proxy has running at shard servers. Past `busy-reply-threshold`, Redis answers
//! other clients BUSY; through the proxy their requests would instead wait behind the script
//! on the connection they share with it, and PING (which the proxy answers) would not tell.
//! So the proxy answers BUSY itself: to PING, and to requests for a server running an overdue
//! script. SCRIPT KILL and FUNCTION KILL go on connections of their own and still reach it.
//!
//! A script that has been on its way longer than the threshold may only be queued behind
//! others (a pipeline of quick scripts): the server itself is asked, with a PING on a
//! connection of its own, and only its BUSY makes the proxy answer BUSY.

use ahash::AHashMap;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Redis's default `busy-reply-threshold`, in milliseconds.
const DEFAULT_THRESHOLD_MS: u64 = 5000;

/// How long a server may take to answer the PING that asks whether it is busy.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The scripts in flight to one server. The server runs one at a time, in the order they
/// came: the oldest runs, and it started when the one before it ended (or when it was sent).
struct AtServer {
    /// Tokens of the scripts in flight, oldest first, and whether each is a function.
    queue: BTreeMap<u64, bool>,
    /// When the oldest started running, at the earliest.
    head_since: Instant,
    /// The server answered BUSY since the oldest started.
    confirmed: bool,
}

#[derive(Default)]
struct Shared {
    servers: Mutex<AHashMap<Arc<str>, AtServer>>,
    /// How many run: zero, requests skip the lock.
    count: AtomicUsize,
    next: AtomicU64,
    threshold_ms: AtomicU64,
    /// Wakes the watchers, whose waits were timed by the threshold before.
    threshold_changed: tokio::sync::Notify,
}

pub struct Scripts {
    shared: Arc<Shared>,
}

impl Default for Scripts {
    fn default() -> Self {
        let shared = Shared {
            threshold_ms: AtomicU64::new(DEFAULT_THRESHOLD_MS),
            ..Shared::default()
        };
        Scripts {
            shared: Arc::new(shared),
        }
    }
}

/// A script in flight, forgotten when its reply comes (or the request is dropped).
pub struct InFlight {
    shared: Arc<Shared>,
    addr: Arc<str>,
    token: u64,
}

impl Drop for InFlight {
    /// The next script queued for the server starts now at the earliest.
    fn drop(&mut self) {
        if let Some(at) = self.shared.servers.lock().get_mut(&self.addr) {
            at.queue.remove(&self.token);
            at.head_since = Instant::now();
            at.confirmed = false;
        }
        self.shared.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Scripts {
    /// A script (or function) sent to `addr` now. The first one in flight to a server starts
    /// the task that asks it whether it is busy once a script there is overdue.
    pub fn start(&self, addr: Arc<str>, function: bool) -> InFlight {
        let token = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let watched = {
            let mut servers = self.shared.servers.lock();
            let watched = servers.contains_key(&addr);
            let at = servers.entry(addr.clone()).or_insert_with(|| AtServer {
                queue: BTreeMap::new(),
                head_since: Instant::now(),
                confirmed: false,
            });
            if at.queue.is_empty() {
                at.head_since = Instant::now();
            }
            at.queue.insert(token, function);
            watched
        };
        self.shared.count.fetch_add(1, Ordering::Relaxed);
        if !watched {
            tokio::spawn(watch(self.shared.clone(), addr.clone()));
        }
        InFlight {
            shared: self.shared.clone(),
            addr,
            token,
        }
    }

    /// The BUSY error for a request to `addr` (any server for None), if a script runs there
    /// past the threshold, as the server said.
    pub fn busy(&self, addr: Option<&str>) -> Option<&'static str> {
        if self.shared.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let servers = self.shared.servers.lock();
        servers
            .iter()
            .filter(|(at_addr, at)| at.confirmed && addr.is_none_or(|addr| ***at_addr == *addr))
            .find_map(|(_, at)| at.queue.values().next())
            .map(|function| slotcache_protocol::command::busy(*function))
    }

    /// Follows CONFIG SET of `busy-reply-threshold` (or its old name `lua-time-limit`) made
    /// through this proxy.
    pub fn follow_config(&self, args: &[Bytes]) {
        for pair in args.get(2..).unwrap_or_default().chunks(2) {
            let [name, value] = pair else { continue };
            let named = |word: &str| name.eq_ignore_ascii_case(word.as_bytes());
            if named("busy-reply-threshold") || named("lua-time-limit") {
                if let Some(ms) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                    self.shared.threshold_ms.store(ms, Ordering::Relaxed);
                    self.shared.threshold_changed.notify_waiters();
                }
            }
        }
    }
}

/// What the watcher of a server does next.
#[derive(Debug, PartialEq)]
enum Next {
    /// No script is in flight there any more: the watcher ends.
    Stop,
    /// Look again after this long.
    Wait(Duration),
    /// The oldest script is overdue: ask the server.
    Probe,
}

impl Shared {
    fn threshold(&self) -> Duration {
        Duration::from_millis(self.threshold_ms.load(Ordering::Relaxed))
    }

    fn next(&self, addr: &str) -> Next {
        let mut servers = self.servers.lock();
        let Some(at) = servers.get(addr) else {
            return Next::Stop;
        };
        if at.queue.is_empty() {
            servers.remove(addr);
            return Next::Stop;
        }
        let threshold = self.threshold();
        if at.confirmed {
            // Busy until the script ends, which resets the state; look now and then.
            return Next::Wait(threshold.max(Duration::from_millis(100)));
        }
        match (at.head_since + threshold).checked_duration_since(Instant::now()) {
            Some(wait) if !wait.is_zero() => Next::Wait(wait),
            _ => Next::Probe,
        }
    }

    /// The server's answer to the probe sent at `asked`: BUSY confirms the oldest script
    /// overdue, anything else means it is not yet (it was queued, or just started).
    fn probed(&self, addr: &str, asked: Instant, busy: bool) {
        if let Some(at) = self.servers.lock().get_mut(addr) {
            if busy {
                at.confirmed = at.head_since <= asked;
            } else {
                at.head_since = at.head_since.max(asked);
            }
        }
    }
}

/// Asks `addr` whether it is busy each time a script in flight there is overdue, until none is
/// in flight.
async fn watch(shared: Arc<Shared>, addr: Arc<str>) {
    loop {
        // Listening before the look, so a change made after it still wakes this watcher.
        let changed = shared.threshold_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        match shared.next(&addr) {
            Next::Stop => return,
            Next::Wait(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = changed => {}
                }
            }
            Next::Probe => {
                let asked = Instant::now();
                let probe = crate::backend::call_dedicated(&addr, 2, b"*1\r\n$4\r\nPING\r\n", 1);
                let busy = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                    Ok(Ok(replies)) => replies.first().is_some_and(|r| r.starts_with(b"-BUSY")),
                    _ => false,
                };
                shared.probed(&addr, asked, busy);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn busy_only_once_the_server_says_so_and_while_running() {
        let scripts = Scripts::default();
        let args: Vec<Bytes> = ["CONFIG", "SET", "lua-time-limit", "0"]
            .into_iter()
            .map(Bytes::from)
            .collect();
        scripts.follow_config(&args);
        assert!(scripts.busy(None).is_none());
        let running = scripts.start("a:1".into(), true);
        let shared = &scripts.shared;
        assert_eq!(shared.next("a:1"), Next::Probe);
        // Not busy yet at the server: no BUSY from the proxy either.
        shared.probed("a:1", Instant::now(), false);
        assert!(scripts.busy(None).is_none());
        shared.probed("a:1", Instant::now(), true);
        assert!(scripts.busy(Some("a:1")).unwrap().contains("FUNCTION KILL"));
        assert!(scripts.busy(Some("b:1")).is_none());
        assert!(scripts.busy(None).is_some());
        drop(running);
        assert!(scripts.busy(None).is_none());
        assert_eq!(shared.next("a:1"), Next::Stop);
    }

    #[tokio::test]
    async fn a_script_queued_behind_another_starts_when_it_ends() {
        let scripts = Scripts::default();
        let first = scripts.start("a:1".into(), false);
        let _queued = scripts.start("a:1".into(), true);
        let asked = Instant::now();
        scripts.shared.probed("a:1", asked, true);
        assert!(scripts.busy(Some("a:1")).unwrap().contains("SCRIPT KILL"));
        drop(first);
        // The queued one is not known to be busy; a BUSY to a probe sent before it started
        // does not count for it.
        assert!(scripts.busy(Some("a:1")).is_none());
        scripts.shared.probed("a:1", asked, true);
        assert!(scripts.busy(Some("a:1")).is_none());
        assert!(matches!(scripts.shared.next("a:1"), Next::Wait(_)));
    }
}
