//! Children of `slotcache up` must not outlive it, even when it is killed hard (SIGKILL leaves
//! it no chance to clean up). Each child is told its parent's pid and exits as soon as it has
//! been re-parented; programs that are not ours (etcd) run under `slotcache supervise`, which
//! does the same on their behalf.

use std::time::Duration;

/// Set by `slotcache up` in its children's environment.
pub const PARENT_ENV: &str = "SLOTCACHE_PARENT_PID";

const CHECK_EVERY: Duration = Duration::from_millis(300);

/// Whether the process named by [`PARENT_ENV`] is still our parent.
fn parent_alive(expected: u32) -> bool {
    std::os::unix::process::parent_id() == expected
}

/// What every slotcache binary does first: logs to stderr (filtered by `RUST_LOG`, `info` by
/// default), turns transparent huge pages off, and exits with its parent when `slotcache up`
/// started it.
pub fn start_process() {
    disable_transparent_huge_pages();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    exit_with_parent();
}

/// As Redis does by default (`disable-thp yes`): the allocator asks for huge pages, and one
/// byte touched then makes 2 MB resident. Measured: 10,000 idle client connections took a
/// server 350 MB with them and 100 MB without.
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    let failed = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0;
    if failed {
        tracing::debug!("transparent huge pages stay as the system sets them");
    }
}

/// If started by `slotcache up`, exits when that parent goes away.
pub fn exit_with_parent() {
    let Some(expected) = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return;
    };
    std::thread::spawn(move || loop {
        if !parent_alive(expected) {
            std::process::exit(0);
        }
        std::thread::sleep(CHECK_EVERY);
    });
}

/// Runs `program` with `args` until it exits or our parent goes away or closes our stdin (then
/// it is killed).
/// The parent closing our stdin asks for an orderly stop, which a SIGKILL (all `Child::kill`
/// can send) would not give us the chance to pass on.
pub fn supervise(program: &str, args: &[String]) -> std::io::Result<i32> {
    let expected = std::os::unix::process::parent_id();
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .spawn()?;
    let stdin_closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stdin_closed.clone();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        flag.store(true, std::sync::atomic::Ordering::Release);
    });
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.code().unwrap_or(1));
        }
        if !parent_alive(expected) || stdin_closed.load(std::sync::atomic::Ordering::Acquire) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(0);
        }
        std::thread::sleep(CHECK_EVERY);
    }
}
