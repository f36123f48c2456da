//! Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, TIME, CONFIG and COMMAND.

use super::help_reply;
use super::{
    arity_error, is, Args, CmdError, CmdResult, CommandSpec, Ctx, Handler, Replied, Table,
};
use crate::commands::Outcome;
use crate::config::{Config, PARAMS};
use crate::engine::evict::Policy;
use crate::engine::{Db, DbStats};
use crate::memory::{human, peak_memory, rss_bytes, used_memory};
use crate::partition::{Keyspace, STANDALONE_PARTITION};
use crate::replication::log::{backlogs_bytes, Role};
use crate::state::now_us;
use crate::state::Server;
use slotcache_protocol::command::catalog::Catalog;
use slotcache_protocol::command::REDIS_VERSION;
use slotcache_protocol::glob;
use std::fmt::Write;
use std::sync::atomic::Ordering;

fn dbsize(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let len = ctx.db().len();
    ctx.out.int(len as i64);
    Ok(Replied)
}

/// `[ASYNC|SYNC]`: true for ASYNC.
fn flush_mode(args: &Args) -> Result<bool, CmdError> {
    match args.get(1) {
        None => Ok(false),
        Some(mode) if args.len() == 2 && is(mode, "async") => Ok(true),
        Some(mode) if args.len() == 2 && is(mode, "sync") => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

/// Frees a flushed database on another thread when ASYNC was asked, as Redis's lazyfree.
fn dispose(old: Db, lazy: bool) {
    if lazy {
        old.free_elsewhere();
    }
}

fn flushdb(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let lazy = flush_mode(args)?;
    let old = ctx.db().take();
    dispose(old, lazy);
    crate::tracking::hooks::flushed(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(Replied)
}

fn flushall(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let lazy = flush_mode(args)?;
    for db in ctx.ks.dbs.iter_mut() {
        let old = db.take();
        dispose(old, lazy);
    }
    crate::tracking::hooks::flushed(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(Replied)
}

/// MONITOR: from now on the connection is sent every command the server runs.
fn monitor(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    ctx.client.monitoring = true;
    ctx.server.monitors.add(&ctx.client.info);
    ctx.out.ok();
    Ok(Replied)
}

fn time(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let us = now_us();
    ctx.out.array(2);
    ctx.out.bulk_int(us / 1_000_000);
    ctx.out.bulk_int(us % 1_000_000);
    Ok(Replied)
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "errorstats",
    "cluster",
    "keyspace",
];

fn info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut wanted: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let everything = wanted.iter().any(|w| w == "all" || w == "everything");
    if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    let mut text = String::new();
    let sections: &[&str] = &[
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "commandstats",
        "errorstats",
        "cluster",
        "keyspace",
    ];
    for section in sections {
        let included = if everything {
            true
        } else {
            wanted.iter().any(|w| w == section)
        };
        if !included {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        write_section(ctx, section, &mut text);
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(Replied)
}

fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(11), ticks(12))
}

/// Calls `visit` with every hosted copy: the one this command holds as it is, each other one
/// once its lock comes free within 20 ms (a copy whose lock stays busy, because another
/// connection holds it, is left out rather than waited for).
fn visit_copies(ctx: &Ctx, mut visit: impl FnMut(u32, &Keyspace)) {
    let current = ctx
        .client
        .partition
        .as_ref()
        .map_or(STANDALONE_PARTITION, |(pid, _)| *pid);
    for (pid, keyspace) in ctx.server.engine.all() {
        if pid == current {
            visit(pid, ctx.ks);
        } else if let Some(ks) = keyspace.try_lock_for(std::time::Duration::from_millis(20)) {
            visit(pid, &ks);
        }
    }
}

/// What INFO's `stats` and `keyspace` count: the counters and the keys of the copies this
/// server leads (as a Redis Cluster master shows its own slots'), and how many keys it follows.
#[derive(Default)]
pub(super) struct Holdings {
    stats: DbStats,
    /// Per database: keys and keys with a TTL.
    pub led: Vec<(usize, usize)>,
    follower_keys: usize,
}

pub(super) fn holdings(ctx: &Ctx) -> Holdings {
    let mut all = Holdings::default();
    visit_copies(ctx, |_, ks| {
        let leads = matches!(ks.log.role(), Role::Standalone | Role::Leader);
        if leads {
            all.stats.add(&ks.stats());
        }
        if all.led.len() < ks.dbs.len() {
            all.led.resize(ks.dbs.len(), (0, 0));
        }
        for (i, db) in ks.dbs.iter().enumerate() {
            match leads {
                true => {
                    all.led[i].0 += db.len();
                    all.led[i].1 += db.volatile_len();
                }
                false => all.follower_keys += db.len(),
            }
        }
    });
    all
}

/// Clients blocked on keys of any copy this server holds, or held by CLIENT PAUSE.
fn blocked_clients(ctx: &Ctx) -> usize {
    let mut blocked = ctx.server.pause.waiting();
    visit_copies(ctx, |_, ks| blocked += ks.waiters.blocked_clients());
    blocked
}

/// In cluster mode, a line per hosted copy: `partition<id>:role=leader|follower,epoch=E,
/// offset=O,keys=K` (the next log offset and the keys it holds), which `slotcache status`
/// shows as sync progress and `node drain --wait` as keys still to move; a leader's line ends
/// with `reads=lease|barrier`, how its reads are proven current now.
fn write_partition_copies(ctx: &Ctx, text: &mut String) {
    if ctx.server.replication.get().is_none() {
        return;
    }
    visit_copies(ctx, |pid, ks| {
        let role = match ks.log.role() {
            Role::Leader => "leader",
            _ => "follower",
        };
        let _ = write!(
            text,
            "partition{pid}:role={role},epoch={},offset={},keys={}",
            ks.log.epoch(),
            ks.log.next_offset(),
            ks.dbs.iter().map(|db| db.len()).sum::<usize>()
        );
        if ks.log.role() == Role::Leader {
            let reads = if ks.log.reads_under_lease() {
                "lease"
            } else {
                "barrier"
            };
            let _ = write!(text, ",reads={reads}");
        }
        text.push_str("\r\n");
    });
}

fn write_section(ctx: &mut Ctx, section: &str, text: &mut String) {
    let server = ctx.server;
    let config = server.config.read().clone();
    let stats = &server.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let uptime = server.started.elapsed().as_secs();
    let links = server.replication.get().map(|r| &r.links);
    match section {
        "server" => {
            let _ = write!(
                text,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nslotcache_version:{}\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:\r\nio_threads_active:0\r\n",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                server.run_id,
                server.tcp_port,
                now_us(),
                uptime,
                uptime / 86400,
                config.hz,
                config.hz,
                (ctx.now / 1000) & ((1 << 24) - 1),
                std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            );
        }
        "clients" => {
            let _ = write!(
                text,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:0\r\n",
                server.clients.lock().len(),
                config.maxclients,
                blocked_clients(ctx),
                server.tracking.state.lock().totals().3,
            );
        }
        "memory" => {
            let used = used_memory();
            let rss = rss_bytes();
            let peak = peak_memory();
            let _ = write!(
                text,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:mimalloc\r\nmem_not_counted_for_evict:{}\r\nmem_replication_backlog:{}\r\nnumber_of_cached_scripts:{}\r\nlazyfree_pending_objects:0\r\n",
                human(used),
                human(rss),
                human(peak),
                config.maxmemory,
                human(config.maxmemory as usize),
                config.maxmemory_policy,
                if used > 0 { rss as f64 / used as f64 } else { 0.0 },
                server.evictor.not_counted(used),
                backlogs_bytes(),
                server.scripts.cached(),
            );
        }
        "persistence" => {
            let changes = server.saves.changes_since(holdings(ctx).stats.changes);
            let _ = write!(
                text,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{changes}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\nrdb_last_bgsave_time_sec:-1\r\nrdb_current_bgsave_time_sec:-1\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:0\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\naof_rewrites_consecutive_failures:0\r\naof_last_write_status:ok\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
                server.saves.last(),
                server.saves.count(),
            );
        }
        "stats" => {
            let ks = holdings(ctx).stats;
            let tracking = server.tracking.state.lock().totals();
            let _ = write!(
                text,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\ntotal_error_replies:{}\r\n",
                load(&stats.connections_received),
                server.commands_processed(),
                load(&stats.net_input_bytes),
                load(&stats.net_output_bytes),
                load(&stats.rejected_connections),
                ks.expired_keys,
                ks.evicted_keys,
                ks.keyspace_hits,
                ks.keyspace_misses,
                links.map_or(0, |l| load(&l.sync_full)),
                links.map_or(0, |l| load(&l.sync_partial_ok)),
                links.map_or(0, |l| load(&l.sync_partial_err)),
                tracking.0,
                tracking.1,
                tracking.2,
                load(&stats.errors),
            );
        }
        "replication" => {
            let _ = write!(
                text,
                "# Replication\r\nrole:master\r\nconnected_slaves:{}\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                links.map_or(0, |l| l.followers.load(Ordering::Relaxed)),
                server.run_id,
            );
            write_partition_copies(ctx, text);
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            let _ = write!(
                text,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"
            );
        }
        "commandstats" => {
            text.push_str("# Commandstats\r\n");
            let table = Table::get();
            for (spec, counters) in table.all.iter().zip(&server.command_stats) {
                let calls = load(&counters.durations.calls);
                let rejected = load(&counters.rejected);
                if calls == 0 && rejected == 0 {
                    continue;
                }
                let usec = load(&counters.durations.usec);
                let per_call = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    text,
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={}\r\n",
                    spec.name,
                    load(&counters.failed),
                );
            }
        }
        "errorstats" => {
            text.push_str("# Errorstats\r\n");
            let mut codes: Vec<(String, u64)> = stats
                .error_codes
                .lock()
                .iter()
                .map(|(code, n)| (code.clone(), *n))
                .collect();
            codes.sort();
            for (code, count) in codes {
                let _ = write!(text, "errorstat_{code}:count={count}\r\n");
            }
        }
        "cluster" => {
            // A shard server is never a Redis Cluster node itself (the proxies present the
            // cluster); in cluster mode it lists the partitions it hosts.
            text.push_str("# Cluster\r\ncluster_enabled:0\r\n");
            if config.etcd.is_some() {
                let hosted: Vec<String> = server
                    .engine
                    .all()
                    .into_iter()
                    .map(|(pid, _)| pid)
                    .filter(|pid| *pid != crate::partition::STANDALONE_PARTITION)
                    .map(|pid| pid.to_string())
                    .collect();
                let _ = write!(
                    text,
                    "slotcache_partitions:{}\r\nslotcache_follower_keys:{}\r\n",
                    hosted.join(","),
                    holdings(ctx).follower_keys
                );
            }
        }
        "keyspace" => {
            text.push_str("# Keyspace\r\n");
            for (i, (keys, expires)) in holdings(ctx).led.into_iter().enumerate() {
                if keys > 0 {
                    let _ = write!(text, "db{i}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
        }
        _ => {}
    }
}

fn config_get(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let config = ctx.server.config.read().clone();
    let found: Vec<_> = PARAMS
        .iter()
        .filter(|p| {
            args[2..]
                .iter()
                .any(|pattern| glob::matches(pattern, p.name.as_bytes(), true))
        })
        .collect();
    ctx.out.map(found.len());
    for param in found {
        ctx.out.bulk(param.name.as_bytes());
        ctx.out.bulk((param.get)(&config).as_bytes());
    }
    Ok(Replied)
}

fn config_set(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() % 2 != 0 {
        return Err(arity_error(ctx_spec("config|set")));
    }
    let mut config = ctx.server.config.read().clone();
    let mut named = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        if named.contains(&name) {
            return Err(CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            )));
        }
        named.push(name.clone());
        let Some(param) = PARAMS.iter().find(|p| p.name == name) else {
            return Err(CmdError::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        let Some(set) = param.set else {
            return Err(CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            )));
        };
        set(&mut config, &String::from_utf8_lossy(&pair[1])).map_err(|why| {
            CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        })?;
    }
    apply_tls(ctx.server, &config, &named)?;
    crate::engine::db::set_lfu_mode(Policy::from_name(&config.maxmemory_policy).is_lfu());
    crate::engine::limits::apply(config.encoding_limits());
    crate::notify::set_flags(config.notify_keyspace_events);
    ctx.server.pubsub.lock().output_limit = config.client_output_buffer_limit.pubsub;
    super::acl::follow_settings(&ctx.server.acl, &config);
    if named.iter().any(|name| name == "requirepass") {
        let password = config.requirepass.as_bytes();
        ctx.server
            .acl
            .users
            .change(|users| users.set_requirepass(password));
    }
    *ctx.server.config.write() = config;
    if named.iter().any(|name| name.starts_with("maxmemory")) {
        crate::dispatch::evict_now(ctx.server, ctx.client, ctx.ks, ctx.now);
    }
    ctx.out.ok();
    Ok(Replied)
}

/// Gives the TLS ports the certificates CONFIG SET named, before anything else is applied:
/// files that do not make a configuration fail the whole CONFIG SET, as in Redis.
fn apply_tls(server: &Server, config: &Config, named: &[String]) -> Result<(), CmdError> {
    let acceptor = server.tls.get();
    let reconfigured = config.tls.reconfigured(acceptor.map(|a| &**a), named);
    if let (Some(acceptor), Some(new)) = (acceptor, reconfigured.map_err(CmdError::err)?) {
        acceptor.adopt(new);
    }
    Ok(())
}

fn ctx_spec(name: &str) -> &'static CommandSpec {
    Table::get()
        .lookup(name.as_bytes())
        .map(|r| r.spec)
        .expect("command is in the table")
}

fn config_resetstat(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.server.reset_stats();
    for db in ctx.ks.dbs.iter_mut() {
        db.stats.reset();
    }
    ctx.out.ok();
    Ok(Replied)
}

fn config_help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ],
    )
}

fn command(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Catalog::server().command(ctx.out);
    Ok(Replied)
}

fn command_count(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Catalog::server().count(ctx.out);
    Ok(Replied)
}

fn command_info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    Catalog::server().info(ctx.out, &args[2..]);
    Ok(Replied)
}

fn command_docs(ctx: &mut Ctx, args: &Args) -> CmdResult {
    Catalog::server().docs(ctx.out, &args[2..]);
    Ok(Replied)
}

fn command_getkeys(ctx: &mut Ctx, args: &Args) -> CmdResult {
    Catalog::server().getkeys(ctx.out, &args[2..])?;
    Ok(Replied)
}

fn command_list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    Catalog::server().list(ctx.out, &args[2..])?;
    Ok(Replied)
}

fn command_help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    Catalog::help(ctx.out);
    Ok(Replied)
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: there is nothing to save, so the process
/// ends at once (ABORT has no shutdown in progress to cancel).
fn shutdown(_ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut abort = false;
    for arg in &args[1..] {
        if is(arg, "abort") {
            abort = true;
        } else if !["nosave", "save", "now", "force"]
            .iter()
            .any(|w| is(arg, w))
        {
            return Err(CmdError::Syntax);
        }
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    shutdown_now()
}

/// Ends the process, as SHUTDOWN does.
pub fn shutdown_now() -> ! {
    tracing::warn!("SHUTDOWN requested: exiting");
    std::process::exit(0)
}

/// WAIT's arguments: the replicas wanted and the timeout in milliseconds (0: no timeout).
fn parse_wait(args: &Args) -> Result<(usize, u64), CmdError> {
    let wanted =
        slotcache_protocol::resp::parse::parse_i64(&args[1]).ok_or(CmdError::NotInteger)?;
    let timeout = super::millis_arg(&args[2])?;
    Ok((usize::try_from(wanted).unwrap_or(0), timeout))
}

/// WAIT: the connection waits, as for a blocking command, until enough replicas have every
/// write made so far (`net::wait_for_replicas`); inside a transaction, where it cannot wait,
/// how many have them now.
fn wait(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (wanted, timeout) = parse_wait(args)?;
    if !ctx.client.in_exec {
        let deadline = (timeout > 0)
            .then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout));
        return Ok(Outcome::AwaitReplicas { wanted, deadline });
    }
    let have = crate::replication::progress_at(ctx.server, ctx.client, ctx.ks)
        .map_or(0, |(progress, head)| progress.replicas_at(head));
    ctx.out.int(have as i64);
    Ok(Replied)
}

/// SAVE and BGSAVE [SCHEDULE]: there is nothing to write (see [`crate::persistence`]); the
/// save is recorded, for LASTSAVE and INFO.
fn save(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    record_save(ctx);
    ctx.out.ok();
    Ok(Replied)
}

fn bgsave(ctx: &mut Ctx, args: &Args) -> CmdResult {
    match &args[1..] {
        [] => {}
        [option] if is(option, "schedule") => {}
        _ => return Err(CmdError::Syntax),
    }
    record_save(ctx);
    ctx.out.simple("Background saving started");
    Ok(Replied)
}

fn record_save(ctx: &mut Ctx) {
    let changes = holdings(ctx).stats.changes;
    ctx.server.saves.record(ctx.now / 1000, changes);
}

fn lastsave(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.out.int(ctx.server.saves.last());
    Ok(Replied)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("wait", wait),
    ("info", info),
    ("dbsize", dbsize),
    ("flushdb", flushdb),
    ("flushall", flushall),
    ("monitor", monitor),
    ("time", time),
    ("config|help", config_help),
    ("config|resetstat", config_resetstat),
    ("config|get", config_get),
    ("config|set", config_set),
    ("command", command),
    ("command|info", command_info),
    ("command|getkeys", command_getkeys),
    ("command|list", command_list),
    ("command|count", command_count),
    ("command|help", command_help),
    ("command|docs", command_docs),
    ("shutdown", shutdown),
    ("save", save),
    ("bgsave", bgsave),
    ("lastsave", lastsave),
];
