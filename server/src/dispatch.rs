//! Runs one parsed request: resolution, the checks Redis makes before a command runs (arity,
//! authentication), the handler, CLIENT REPLY suppression and per-command statistics.

use crate::client::Client;
use crate::commands::{arity_error, CmdError, Ctx, Outcome, Replied, Resolved, Table};
use crate::engine::evict::Policy;
use crate::partition::{Keyspace, STANDALONE_PARTITION};
use crate::replication::log::Role;
use crate::state::{latency_bucket, now_ms, Server, Stats, LATENCY_BUCKETS};
use bytes::Bytes;
use slotcache_protocol::command::Flag;
use slotcache_protocol::command::{NOT_IN_MULTI, OOM};
use slotcache_protocol::reply_mode::SUBSCRIPTION_COMMANDS;
use slotcache_protocol::resp::{Protocol, Reply};
use std::time::Instant;

/// Per-command counters gathered during one batch.
struct PendingStat {
    index: usize,
    calls: u64,
    usec: u64,
    failed: u64,
    rejected: u64,
    histogram: [u64; LATENCY_BUCKETS],
}

/// What the commands of one pipelined batch share: one notion of "now" (so expiry is
/// consistent within the batch, as Redis's per-command time snapshot), one clock read per
/// command for its duration, and statistics published once per batch instead of per command.
pub struct Batch {
    now_ms: i64,
    last: Instant,
    pending: Vec<PendingStat>,
    errors: u64,
    memory: MemoryLimit,
    /// `slowlog-log-slower-than` (negative: off) and `slowlog-max-len`, read once per batch.
    slowlog: (i64, u64),
    /// `latency-monitor-threshold` in microseconds (0: off), read once per batch.
    latency_threshold: u64,
}

/// `maxmemory` and its policy, read once per batch.
#[derive(Clone, Copy)]
struct MemoryLimit {
    limit: usize,
    policy: Policy,
    samples: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    pub fn new() -> Batch {
        Batch::with_limit(
            MemoryLimit {
                limit: 0,
                policy: Policy::NoEviction,
                samples: 5,
            },
            (-1, 0),
            0,
        )
    }

    /// A batch that enforces the server's `maxmemory`.
    pub fn for_server(server: &Server) -> Batch {
        let config = server.config.read();
        Batch::with_limit(
            MemoryLimit {
                limit: config.maxmemory as usize,
                policy: Policy::from_name(&config.maxmemory_policy),
                samples: config.maxmemory_samples as usize,
            },
            (config.slowlog_log_slower_than, config.slowlog_max_len),
            config.latency_monitor_threshold.saturating_mul(1000),
        )
    }

    fn with_limit(memory: MemoryLimit, slowlog: (i64, u64), latency_threshold: u64) -> Batch {
        Batch {
            now_ms: now_ms(),
            last: Instant::now(),
            pending: Vec::new(),
            errors: 0,
            memory,
            slowlog,
            latency_threshold,
        }
    }

    /// The latest clock reading: the batch's start until a command ran.
    pub fn clock(&self) -> Instant {
        self.last
    }

    fn stat(&mut self, index: usize) -> &mut PendingStat {
        let position = match self.pending.iter().position(|s| s.index == index) {
            Some(position) => position,
            None => {
                self.pending.push(PendingStat {
                    index,
                    calls: 0,
                    usec: 0,
                    failed: 0,
                    rejected: 0,
                    histogram: [0; LATENCY_BUCKETS],
                });
                self.pending.len() - 1
            }
        };
        &mut self.pending[position]
    }

    /// Microseconds since the previous command of the batch finished.
    fn lap(&mut self) -> u64 {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_micros() as u64;
        self.last = now;
        elapsed
    }

    /// Publishes the batch's counters to the shared statistics.
    pub fn flush(&mut self, server: &Server) {
        for stat in self.pending.drain(..) {
            let shared = &server.command_stats[stat.index];
            Stats::add(&shared.durations.calls, stat.calls);
            Stats::add(&shared.durations.usec, stat.usec);
            Stats::add(&shared.failed, stat.failed);
            Stats::add(&shared.rejected, stat.rejected);
            for (bucket, count) in stat.histogram.iter().enumerate() {
                if *count > 0 {
                    Stats::add(&shared.durations.histogram[bucket], *count);
                }
            }
        }
        Stats::add(&server.stats.errors, self.errors);
        self.errors = 0;
    }
}

/// What a RESP2 connection may run while subscribed, besides (un)subscribing.
const SUBSCRIBED_CONTEXT: &[&str] = &["ping", "quit", "reset"];

/// Commands that act at once inside MULTI instead of being queued.
const RUN_IN_MULTI: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// Refuses a command before it runs; inside MULTI this also dooms the transaction.
fn reject(
    client: &mut Client,
    batch: &mut Batch,
    index: Option<usize>,
    out: &mut Reply,
    text: &str,
) {
    if let Some(index) = index {
        batch.stat(index).rejected += 1;
    }
    batch.errors += 1;
    if client.multi.is_some() {
        client.multi_failed = true;
    }
    out.error(text);
}

/// Whether this copy answers `spec` for `client` in its replication role.
fn serves(client: &Client, ks: &Keyspace, spec: &crate::commands::CommandSpec) -> bool {
    match ks.log.role() {
        Role::Follower => follower_may_serve(client.readonly, spec),
        // Commands that touch no data still run (PING, CLIENT...) on a connection that last
        // addressed a dropped copy.
        Role::Dropped => follower_may_serve(false, spec),
        Role::Leader if ks.log.handing_over() => follower_may_serve(client.readonly, spec),
        Role::Leader | Role::Standalone => true,
    }
}

/// Whether a request for `command` on `ks`, the copy of partition `pid` the routes sent it
/// to, must wait because the partition's leadership is changing: the copy hands over, or no
/// longer leads while the routes still send the partition's slots here. Redis Cluster's
/// manual failover pauses clients, then redirects them; an error instead would make cluster
/// clients back off and reload their slot maps, and the proxy retry. Once the change lands
/// the request runs again: routed to the new leader (MOVED), or served here when the
/// handover was given up. Inside MULTI nothing waits (the refusal aborts EXEC), and requests
/// refused anyway (wrong arity, not authenticated) are answered at once.
pub fn waits_for_leader(
    server: &Server,
    client: &Client,
    pid: u32,
    ks: &Keyspace,
    command: Option<&Resolved>,
    args: &[Bytes],
) -> bool {
    let Some(spec) = command.map(|resolved| resolved.spec) else {
        return false;
    };
    if client.multi.is_some()
        || !spec.arity_ok(args.len())
        || (!client.authenticated && !spec.flags.has(Flag::NoAuth))
        || serves(client, ks, spec)
    {
        return false;
    }
    match ks.log.role() {
        Role::Leader => ks.log.handing_over(),
        Role::Follower | Role::Dropped => server
            .routes
            .get()
            .is_some_and(|routes| routes.read().leads(pid)),
        Role::Standalone => false,
    }
}

/// Whether a follower copy may answer `spec`: never a write, a read only for a READONLY
/// connection (it may be stale: a read that must see every acknowledged write goes to the
/// leader), and scripts never (they read and write as they go).
fn follower_may_serve(readonly: bool, spec: &crate::commands::CommandSpec) -> bool {
    if spec.flags.has(Flag::Write) {
        return false;
    }
    if spec.flags.has(Flag::Readonly) {
        return readonly;
    }
    !spec.flags.has(Flag::Movablekeys)
}

/// Evicts until the memory counted is within `memory.limit`, starting with the partition
/// `client` addresses; false when nothing more could go.
fn make_room(
    server: &Server,
    client: &Client,
    ks: &mut Keyspace,
    memory: MemoryLimit,
    now: i64,
) -> bool {
    let current = client
        .partition
        .as_ref()
        .map_or(STANDALONE_PARTITION, |(pid, _)| *pid);
    server.evictor.make_room(
        server,
        current,
        ks,
        memory.policy,
        memory.samples,
        memory.limit,
        now,
    )
}

/// Evicts at once what a new `maxmemory` (or policy) asks for, as Redis's CONFIG SET does.
pub fn evict_now(server: &Server, client: &Client, ks: &mut Keyspace, now: i64) {
    let memory = Batch::for_server(server).memory;
    if memory.limit > 0 && server.evictor.counted_memory() > memory.limit {
        make_room(server, client, ks, memory, now);
    }
}

pub fn execute(
    server: &Server,
    client: &mut Client,
    ks: &mut Keyspace,
    out: &mut Reply,
    args: &[Bytes],
    batch: &mut Batch,
) -> Outcome {
    let command = Table::get().resolve(args);
    execute_resolved(server, client, ks, out, args, command, batch)
}

/// [`execute`] for a request already looked up in the table.
pub fn execute_resolved(
    server: &Server,
    client: &mut Client,
    ks: &mut Keyspace,
    out: &mut Reply,
    args: &[Bytes],
    command: Result<Resolved, CmdError>,
    batch: &mut Batch,
) -> Outcome {
    client.reply_mode.begin();
    let mark = out.buf.len();
    ks.log.begin();
    let outcome = run(server, client, ks, out, args, command, batch);
    ks.log.end(batch.now_ms, client.db);
    if out.buf.get(mark) == Some(&b'-') {
        server.stats.count_error(&out.buf[mark..]);
    }
    if client
        .reply_mode
        .end(args.first().map_or(&[][..], |name| name))
    {
        out.buf.truncate(mark);
    }
    outcome
}

/// Checks, runs and accounts for one command; what the handler left to do is returned.
fn run(
    server: &Server,
    client: &mut Client,
    ks: &mut Keyspace,
    out: &mut Reply,
    args: &[Bytes],
    command: Result<Resolved, CmdError>,
    batch: &mut Batch,
) -> Outcome {
    let resolved = match command {
        Ok(resolved) => resolved,
        Err(err) => {
            reject(client, batch, None, out, &err.to_string());
            return Replied;
        }
    };
    let spec = resolved.spec;
    if !spec.arity_ok(args.len()) {
        reject(
            client,
            batch,
            Some(resolved.index),
            out,
            &arity_error(spec).to_string(),
        );
        return Replied;
    }
    if !client.authenticated && !spec.flags.has(Flag::NoAuth) {
        reject(
            client,
            batch,
            Some(resolved.index),
            out,
            "NOAUTH Authentication required.",
        );
        return Replied;
    }
    let context = crate::commands::acl::context(client);
    if let Err(denied) = crate::commands::acl::check(server, client, resolved, args, context) {
        let refusal = match client.in_exec {
            true => slotcache_protocol::acl::exec_refusal(denied),
            false => slotcache_protocol::acl::refusal(denied, spec),
        };
        reject(client, batch, Some(resolved.index), out, &refusal);
        return Replied;
    }
    if client.proto == Protocol::Resp2
        && client.subscriptions.is_subscribed()
        && !SUBSCRIBED_CONTEXT.contains(&spec.name)
        && !SUBSCRIPTION_COMMANDS.contains(&spec.name)
    {
        reject(
            client,
            batch,
            Some(resolved.index),
            out,
            &format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            ),
        );
        return Replied;
    }
    let writes = spec.flags.has(Flag::Write);
    if !serves(client, ks, spec) {
        // This copy stopped leading (or was dropped) after the request was routed to it, or
        // is about to, and the request waited for the change as long as it may (see
        // [`waits_for_leader`]): the proxy retries at the new leader. Inside MULTI the
        // refusal comes at queueing, as Redis Cluster's redirects, so EXEC aborts the whole
        // transaction.
        let refusal = match ks.log.role() {
            Role::Leader => "CLUSTERDOWN The partition's leader is handing over; retry",
            _ => "CLUSTERDOWN The partition's leader changed; retry",
        };
        reject(client, batch, Some(resolved.index), out, refusal);
        return Replied;
    }
    // Inside EXEC the transaction was checked whole before it ran. Nothing is evicted while
    // CLIENT PAUSE holds deletions, as in Redis.
    let memory = batch.memory;
    if memory.limit > 0
        && !client.in_exec
        && !crate::engine::db::deletions_held(batch.now_ms)
        && server.evictor.counted_memory() > memory.limit
    {
        let room = make_room(server, client, ks, memory, batch.now_ms);
        // Queueing in MULTI uses memory too: under OOM Redis refuses every command but
        // EXEC, DISCARD, QUIT and RESET there.
        let queues =
            client.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "quit" | "reset");
        if !room && (spec.flags.has(Flag::Denyoom) || queues) {
            reject(client, batch, Some(resolved.index), out, OOM);
            return Replied;
        }
    }
    // What eviction let go is invalidated before the reply, as in Redis.
    if server.tracking.active() && !client.in_exec && !client.in_script {
        crate::tracking::hooks::after_command(server, client, ks, out);
    }
    if client.multi.is_some() && !RUN_IN_MULTI.contains(&spec.name) && spec.flags.has(Flag::NoMulti)
    {
        reject(client, batch, Some(resolved.index), out, NOT_IN_MULTI);
        return Replied;
    }
    if let Some(queue) = client.multi.as_mut() {
        if !RUN_IN_MULTI.contains(&spec.name) {
            queue.push(args.to_vec());
            out.simple("QUEUED");
            return Replied;
        }
    }
    if let Some(refusal) = writes.then(|| ks.log.write_refusal()).flatten() {
        reject(client, batch, Some(resolved.index), out, refusal);
        return Replied;
    }
    let Some(handler) = crate::commands::handler(resolved) else {
        return Replied;
    };
    client.last_command = resolved.index;
    let monitored = server.monitors.active()
        && !spec.flags.has(Flag::Admin)
        && !client
            .info
            .killed
            .load(std::sync::atomic::Ordering::Relaxed);
    // Scripts are shown before the commands they run, as in Redis.
    if monitored && spec.flags.has(Flag::SkipMonitor) && spec.group == "scripting" {
        server
            .monitors
            .feed(client.db, Some(client.info.addr), args);
    }
    let mark = out.buf.len();
    let result = {
        let mut ctx = Ctx {
            server,
            client,
            ks,
            out,
            now: batch.now_ms,
        };
        // CLIENT NO-TOUCH leaves access records alone, except for TOUCH itself.
        match ctx.client.no_touch && spec.name != "touch" {
            true => crate::engine::db::untouched(|| handler(&mut ctx, args)),
            false => handler(&mut ctx, args),
        }
    };
    ks.commands_run += 1;
    match (&result, writes) {
        (Ok(_), true) => ks.log.effect(spec, args),
        _ => ks.log.discard_substitute(),
    }
    if result.is_ok() {
        crate::tracking::hooks::after_run(server, client, spec, args);
    }
    if monitored && !spec.flags.has(Flag::SkipMonitor) {
        server
            .monitors
            .feed(client.db, Some(client.info.addr), args);
    }
    let usec = batch.lap();
    // A command that blocked is counted (and logged) once, when it runs again to be served.
    if let Ok(outcome @ Outcome::Block(_)) = result {
        return outcome;
    }
    let (slower_than, max_len) = batch.slowlog;
    if slower_than >= 0 && usec as i64 >= slower_than && !spec.flags.has(Flag::SkipSlowlog) {
        server.slowlog.record(args, usec, max_len, &client.info);
    }
    if batch.latency_threshold > 0 && usec >= batch.latency_threshold {
        let event = match spec.flags.has(Flag::Fast) {
            true => "fast-command",
            false => "command",
        };
        server
            .latency
            .record(event, batch.now_ms / 1000, usec / 1000);
    }
    let failed = result.is_err();
    let stat = batch.stat(resolved.index);
    stat.calls += 1;
    stat.usec += usec;
    stat.histogram[latency_bucket(usec)] += 1;
    match result {
        Ok(outcome) => outcome,
        Err(err) => {
            out.buf.truncate(mark);
            out.error(&err.to_string());
            stat.failed += failed as u64;
            batch.errors += 1;
            Replied
        }
    }
}
