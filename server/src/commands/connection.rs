//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, SWAPDB, QUIT, RESET and CLIENT.

use super::help_reply;
use super::{int_arg, is, ArgCursor, Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::client::Client;
use crate::commands::Outcome;
use crate::state::Server;
use slotcache_protocol::acl;
use slotcache_protocol::command::clients::{list_filter, Kill, Killable};
use slotcache_protocol::command::connection::{
    check_client_name, hello_reply, library_attribute, LibraryAttribute,
};
use slotcache_protocol::command::help::CLIENT_HELP;
use slotcache_protocol::command::NOPROTO;
use slotcache_protocol::pause::parse_pause;
use slotcache_protocol::reply_mode::ReplyMode;
use slotcache_protocol::resp::Protocol;
use std::sync::atomic::Ordering;

fn ping(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.len() > 2 {
        return Err(super::arity_error(
            super::Table::get()
                .lookup(b"ping")
                .expect("ping is registered")
                .spec,
        ));
    }
    // A subscribed RESP2 connection gets PING's answer in the shape of a message.
    if ctx.out.proto == Protocol::Resp2 && ctx.client.subscriptions.is_subscribed() {
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(args.get(1).map_or(&b""[..], |m| &m[..]));
        return Ok(Replied);
    }
    match args.get(1) {
        Some(message) => ctx.out.bulk(message),
        None => ctx.out.simple("PONG"),
    }
    Ok(Replied)
}

fn echo(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ctx.out.bulk(&args[1]);
    Ok(Replied)
}

fn auth(ctx: &mut Ctx, args: &Args) -> CmdResult {
    authenticate(ctx.server, ctx.client, args, ctx.now)?;
    ctx.out.ok();
    Ok(Replied)
}

/// AUTH [username] password. An `allow_busy` command: it also runs while a script is busy,
/// as Redis runs it, so a proxy can still open a connection then.
pub fn authenticate(
    server: &Server,
    client: &mut Client,
    args: &Args,
    now: i64,
) -> Result<(), CmdError> {
    let (user, pass): (&[u8], &[u8]) = match args.len() {
        2 => {
            if !server.acl.users.auth_required() {
                return Err(CmdError::Other(acl::AUTH_WITHOUT_PASSWORD.into()));
            }
            (b"default", &args[1])
        }
        3 => (&args[1], &args[2]),
        _ => return Err(CmdError::Syntax),
    };
    super::acl::log_in_client(server, client, &args[0], user, pass, now)
}

fn set_client_name(ctx: &mut Ctx, name: &[u8]) -> Result<(), CmdError> {
    check_client_name(name)?;
    *ctx.client.info.name.lock() = String::from_utf8_lossy(name).into_owned();
    Ok(())
}

fn hello(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut proto = None;
    let mut i = 1;
    if let Some(version) = args.get(1) {
        let version = int_arg(version)
            .map_err(|_| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&version) {
            return Err(CmdError::Other(NOPROTO.into()));
        }
        proto = Some(if version == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        });
        i = 2;
    }
    let mut name = None;
    let mut credentials = None;
    let hello_syntax = |option: &[u8]| {
        CmdError::err(format!(
            "Syntax error in HELLO option '{}'",
            String::from_utf8_lossy(option)
        ))
    };
    let mut cursor = ArgCursor::new(args, i);
    while let Ok(option) = cursor.value() {
        if is(option, "auth") {
            let [user, pass] = cursor.values().map_err(|_| hello_syntax(option))?;
            credentials = Some((user.clone(), pass.clone()));
        } else if is(option, "setname") {
            name = Some(cursor.value().map_err(|_| hello_syntax(option))?.clone());
        } else {
            return Err(hello_syntax(option));
        }
    }
    if let Some((user, pass)) = credentials {
        super::acl::log_in(ctx, &args[0], &user, &pass)?;
    }
    if !ctx.client.authenticated {
        return Err(CmdError::Other("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()));
    }
    if let Some(name) = name {
        set_client_name(ctx, &name)?;
    }
    if let Some(proto) = proto {
        ctx.client.proto = proto;
        ctx.out.proto = proto;
        let resp = if proto == Protocol::Resp3 { 3 } else { 2 };
        ctx.client.info.resp.store(resp, Ordering::Relaxed);
    }
    hello_reply(ctx.out, ctx.client.id, "standalone");
    Ok(Replied)
}

/// A database index argument for SELECT, MOVE and SWAPDB.
pub fn db_index(ctx: &Ctx, arg: &[u8], not_int: CmdError) -> Result<usize, CmdError> {
    let index = int_arg(arg).map_err(|_| not_int)?;
    if index < 0 || index >= ctx.ks.dbs.len() as i64 {
        return Err(CmdError::err("DB index is out of range"));
    }
    Ok(index as usize)
}

/// A Redis Cluster node has database 0 only: what would reach another is refused with
/// `error`, as Redis Cluster refuses it.
pub fn only_db_zero_in_cluster(ctx: &Ctx, error: &str) -> Result<(), CmdError> {
    match ctx.server.routes.get() {
        Some(_) => Err(CmdError::err(error)),
        None => Ok(()),
    }
}

fn select(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if int_arg(&args[1]).map_err(|_| CmdError::NotInteger)? != 0 {
        only_db_zero_in_cluster(ctx, "SELECT is not allowed in cluster mode")?;
    }
    let index = db_index(ctx, &args[1], CmdError::NotInteger)?;
    ctx.client.select(index);
    ctx.out.ok();
    Ok(Replied)
}

fn swapdb(ctx: &mut Ctx, args: &Args) -> CmdResult {
    only_db_zero_in_cluster(ctx, "SWAPDB is not allowed in cluster mode")?;
    let a = db_index(ctx, &args[1], CmdError::err("invalid first DB index"))?;
    let b = db_index(ctx, &args[2], CmdError::err("invalid second DB index"))?;
    ctx.ks.swap_dbs(a, b);
    ctx.out.ok();
    Ok(Replied)
}

fn quit(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.out.ok();
    Ok(Outcome::Close)
}

fn reset(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    super::pubsub::unsubscribe_all(ctx.client, &mut ctx.server.pubsub.lock());
    ctx.client.multi = None;
    ctx.client.multi_failed = false;
    ctx.client.unwatch_all(ctx.ks);
    if ctx.client.tracking.take().is_some() {
        ctx.server.tracking.disable(ctx.client.id);
    }
    ctx.client.caching = false;
    ctx.client.no_touch = false;
    if std::mem::take(&mut ctx.client.monitoring) {
        ctx.server.monitors.remove(ctx.client.id);
    }
    ctx.client.select(0);
    ctx.client.proto = Protocol::Resp2;
    ctx.out.proto = Protocol::Resp2;
    ctx.client.info.resp.store(2, Ordering::Relaxed);
    ctx.client.reply_mode = ReplyMode::On;
    ctx.client.info.name.lock().clear();
    let acl = &ctx.server.acl.users;
    let required = acl.auth_required();
    super::acl::become_user(ctx.client, acl.default_login());
    ctx.client.authenticated = !required;
    ctx.out.simple("RESET");
    Ok(Replied)
}

fn client_id(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(Replied)
}

fn client_setname(ctx: &mut Ctx, args: &Args) -> CmdResult {
    set_client_name(ctx, &args[2])?;
    ctx.out.ok();
    Ok(Replied)
}

fn client_getname(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let name = ctx.client.info.name.lock().clone();
    if name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(name.as_bytes());
    }
    Ok(Replied)
}

fn client_list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let ids = list_filter(args)?;
    let clients: Vec<_> = {
        let registry = ctx.server.clients.lock();
        let mut all: Vec<_> = registry.values().cloned().collect();
        all.sort_by_key(|c| c.id);
        all
    };
    let mut text = String::new();
    for client in clients {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&client.id)) {
            continue;
        }
        let current = (client.id == ctx.client.id).then_some(("client|list", args));
        text.push_str(&client.describe(current));
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(Replied)
}

fn client_info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut text = ctx.client.info.describe(Some(("client|info", args)));
    text.push('\n');
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(Replied)
}

fn client_kill(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let registry: Vec<_> = ctx.server.clients.lock().values().cloned().collect();
    let kill = Kill::parse(args, |name| ctx.server.acl.users.read().get(name).is_some())?;
    let (mut killed, mut outcome) = (0, Replied);
    for client in &registry {
        let (addr, laddr) = (client.addr.to_string(), client.laddr.to_string());
        let user = client.user.lock().clone();
        let killable = Killable {
            id: client.id,
            addr: &addr,
            laddr: &laddr,
            age: client.created.elapsed().as_secs(),
            user: user.as_bytes(),
        };
        if kill.matches(&killable, ctx.client.id) {
            // This connection gets its reply first, as in Redis.
            match client.id == ctx.client.id {
                true => outcome = Outcome::Close,
                false => client.kill(),
            }
            killed += 1;
        }
    }
    if let Kill::Addr(_) = kill {
        if killed == 0 {
            return Err(CmdError::err("No such client"));
        }
        ctx.out.ok();
        return Ok(outcome);
    }
    if let Kill::Filters { filters, .. } = &kill {
        killed += kill_replication_links(ctx, filters);
    }
    ctx.out.int(killed);
    Ok(outcome)
}

/// CLIENT KILL TYPE replica|slave|master (no other filter): the replication streams this
/// server serves, or follows. Their followers attach again from their offsets.
fn kill_replication_links(ctx: &Ctx, filters: &[(String, String)]) -> i64 {
    let (Some(replication), [(key, kind)]) = (ctx.server.replication.get(), filters) else {
        return 0;
    };
    if key != "type" {
        return 0;
    }
    let cut = match kind.as_str() {
        "replica" | "slave" => replication.links.cut_followers(),
        "master" => replication.links.cut_leaders(),
        _ => 0,
    };
    cut as i64
}

fn client_setinfo(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let value = String::from_utf8_lossy(&args[3]).into_owned();
    match library_attribute(args)? {
        LibraryAttribute::Name => *ctx.client.info.lib_name.lock() = value,
        LibraryAttribute::Version => *ctx.client.info.lib_ver.lock() = value,
    }
    ctx.out.ok();
    Ok(Replied)
}

fn client_no_evict(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if !is(&args[2], "on") && !is(&args[2], "off") {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(Replied)
}

/// CLIENT NO-TOUCH ON|OFF (Redis 7.2): see [`crate::engine::db::untouched`].
fn client_no_touch(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ctx.client.no_touch = match () {
        _ if is(&args[2], "on") => true,
        _ if is(&args[2], "off") => false,
        _ => return Err(CmdError::Syntax),
    };
    ctx.out.ok();
    Ok(Replied)
}

fn client_reply(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if !ctx.client.reply_mode.set(&args[2]) {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(Replied)
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: the waiter is looked for in this connection's keyspace,
/// then in every other one not busy (a script's keyspace is skipped).
fn client_unblock(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let id = int_arg(&args[2])? as u64;
    let error = match args.get(3) {
        None => false,
        Some(mode) if is(mode, "timeout") && args.len() == 4 => false,
        Some(mode) if is(mode, "error") && args.len() == 4 => true,
        Some(_) => {
            return Err(CmdError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let mut unblocked = crate::blocking::unblock_now(ctx.ks, id, error);
    if !unblocked {
        for (_, keyspace) in ctx.server.engine.all() {
            if let Some(mut ks) = keyspace.try_lock() {
                if crate::blocking::unblock_now(&mut ks, id, error) {
                    unblocked = true;
                    break;
                }
            }
        }
    }
    ctx.out.int(unblocked as i64);
    Ok(Replied)
}

/// CLIENT PAUSE timeout [WRITE|ALL]: see [`crate::pause`].
fn client_pause(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (mode, millis) = parse_pause(args)?;
    ctx.server.pause.pause(mode, millis);
    ctx.out.ok();
    Ok(Replied)
}

fn client_unpause(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    ctx.server.pause.unpause();
    ctx.out.ok();
    Ok(Replied)
}

fn client_help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(ctx, "CLIENT", CLIENT_HELP)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("ping", ping),
    ("echo", echo),
    ("hello", hello),
    ("auth", auth),
    ("select", select),
    ("swapdb", swapdb),
    ("quit", quit),
    ("reset", reset),
    ("client|setname", client_setname),
    ("client|reply", client_reply),
    ("client|getname", client_getname),
    ("client|info", client_info),
    ("client|setinfo", client_setinfo),
    ("client|help", client_help),
    ("client|list", client_list),
    ("client|id", client_id),
    ("client|kill", client_kill),
    ("client|unblock", client_unblock),
    ("client|no-evict", client_no_evict),
    ("client|no-touch", client_no_touch),
    ("client|pause", client_pause),
    ("client|unpause", client_unpause),
];
