//! CLIENT PAUSE's state, shared by the shard server and the proxy: every command (ALL) or
//! those that may write (WRITE) wait until a deadline or CLIENT UNPAUSE, as in Redis (an
//! operator's hand-off: nothing changes while it holds). What may write is decided from the
//! command's flags ([`may_write`]); a held request stays first in its connection's queue.

use crate::command::{is, Args, CmdError, CommandSpec, Flag};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What a pause holds; ALL holds whatever WRITE holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    Write,
    All,
}

#[derive(Clone, Copy, Debug)]
struct Hold {
    mode: PauseMode,
    until: Instant,
}

/// A process's pause, and the connections it holds.
pub struct ClientPause {
    hold: watch::Sender<Option<Hold>>,
    /// Set by a pause, so a process never paused pays one relaxed load per command.
    ever: AtomicBool,
    /// Connections whose command waits for the pause (INFO's `blocked_clients`).
    waiting: Arc<AtomicUsize>,
}

impl Default for ClientPause {
    fn default() -> Self {
        ClientPause {
            hold: watch::channel(None).0,
            ever: AtomicBool::new(false),
            waiting: Arc::default(),
        }
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]'s arguments: the mode and the milliseconds, with Redis's
/// errors.
pub fn parse_pause(args: &Args) -> Result<(PauseMode, u64), CmdError> {
    let mode = match args.get(3) {
        _ if args.len() > 4 => return Err(crate::command::subcommand_syntax(args)),
        None => PauseMode::All,
        Some(mode) if is(mode, "write") => PauseMode::Write,
        Some(mode) if is(mode, "all") => PauseMode::All,
        Some(_) => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    Ok((mode, millis_arg(&args[2])?))
}

/// A timeout in milliseconds (WAIT, XREAD BLOCK, CLIENT PAUSE), with Redis's errors.
pub fn millis_arg(arg: &[u8]) -> Result<u64, CmdError> {
    let millis = crate::resp::parse::parse_i64(arg)
        .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    u64::try_from(millis).map_err(|_| CmdError::err("timeout is negative"))
}

impl ClientPause {
    /// CLIENT PAUSE: holds `mode` for `millis`. A pause in force keeps the stricter mode and
    /// the later end, as in Redis.
    pub fn pause(&self, mode: PauseMode, millis: u64) {
        let until = Instant::now() + Duration::from_millis(millis);
        self.hold.send_modify(|hold| {
            *hold = Some(match *hold {
                Some(held) if held.until > Instant::now() => Hold {
                    mode: held.mode.max(mode),
                    until: held.until.max(until),
                },
                _ => Hold { mode, until },
            });
        });
        self.ever.store(true, Ordering::Release);
    }

    /// CLIENT UNPAUSE: every held command goes on.
    pub fn unpause(&self) {
        self.hold.send_replace(None);
    }

    /// The mode in force now, if any.
    pub fn mode(&self) -> Option<PauseMode> {
        if !self.ever.load(Ordering::Acquire) {
            return None;
        }
        let hold = (*self.hold.borrow())?;
        (hold.until > Instant::now()).then_some(hold.mode)
    }

    /// How many connections wait for the pause to end.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Resolves once no pause of `needed` or stricter holds; the connection waiting for it is
    /// counted meanwhile.
    pub fn released(&self, needed: PauseMode) -> impl std::future::Future<Output = ()> + 'static {
        let mut changes = self.hold.subscribe();
        let waiting = Waiting::count(&self.waiting);
        async move {
            let _waiting = waiting;
            loop {
                let hold = *changes.borrow_and_update();
                let Some(hold) = hold.filter(|h| h.mode >= needed && h.until > Instant::now())
                else {
                    return;
                };
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep_until(hold.until.into()) => {}
                }
            }
        }
    }
}

/// One held connection, counted while it waits.
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn count(counter: &Arc<AtomicUsize>) -> Waiting {
        counter.fetch_add(1, Ordering::Relaxed);
        Waiting(counter.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The weakest pause that holds a command: WRITE for one that may write (by its flags, Redis's
/// hidden `may_replicate` included), ALL for the rest.
pub fn needed_for(may_write: bool) -> PauseMode {
    match may_write {
        true => PauseMode::Write,
        false => PauseMode::All,
    }
}

/// Whether a command's flags say it may write: a write, or one that may replicate (PUBLISH,
/// PFCOUNT, a script without declared flags).
pub fn may_write(spec: &CommandSpec) -> bool {
    spec.flags.has(Flag::Write) || spec.flags.has(Flag::MayReplicate)
}
