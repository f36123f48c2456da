//! ACL on the shard server: the ACL command (answered by the shared `slotcache_protocol::acl`),
//! logging in, the check before each command, and closing the connections of users that were
//! deleted or lost channels.

use super::{Args, CmdError, CmdResult, Ctx, Handler, Outcome, Replied, Resolved};
use crate::client::Client;
use crate::config::Config;
use crate::state::Server;
use slotcache_protocol::acl::command::{self, Caller, Change};
use slotcache_protocol::acl::{self, Acl, Context, Denied, Login};
use slotcache_protocol::command::KeyAccess;
use slotcache_protocol::internal::{self, InternalLogin};

/// Applies the ACL settings of the configuration; `requirepass` only when it is given, as
/// it resets the default user's passwords.
pub fn follow_config(acl: &Acl, config: &Config) {
    follow_settings(acl, config);
    acl.users
        .change(|users| users.set_requirepass(config.requirepass.as_bytes()));
}

/// `acl-pubsub-default` and `acllog-max-len`.
pub fn follow_settings(acl: &Acl, config: &Config) {
    acl.users.change(|users| {
        users.all_channels_by_default = config.acl_pubsub_default == "allchannels";
    });
    let mut log = acl.log.lock();
    log.max_len = config.acllog_max_len as usize;
    log.trim();
}

/// Loads `aclfile` at start.
pub fn load_file(server: &Server) -> Result<(), String> {
    let file = server.config.read().aclfile.clone();
    if file.is_empty() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("Error loading ACLs, opening file '{file}': {e}"))?;
    server.acl.users.change(|users| users.load(&text, &file))
}

fn acl(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = ctx.server.config.read().aclfile.clone();
    let username = ctx.client.info.user.lock().clone();
    let caller = Caller {
        username: username.as_bytes(),
        acl_file: (!file.is_empty()).then_some(file.as_str()),
        now_millis: ctx.now,
    };
    let change = command::run(&ctx.server.acl, &caller, args, ctx.out)?;
    Ok(cut_off(ctx.server, ctx.client, change))
}

/// Closes what an ACL change no longer allows: connections of deleted users, and
/// subscribers whose channels were taken away. This connection gets its reply first.
fn cut_off(server: &Server, me: &Client, change: Change) -> Outcome {
    let gone: Vec<Vec<u8>> = match change {
        Change::Deleted(names) => names,
        Change::Loaded => {
            let users = server.acl.users.read();
            let clients = server.clients.lock();
            clients
                .values()
                .map(|c| c.user.lock().as_bytes().to_vec())
                .filter(|name| users.get(name).is_none() && name != internal::USER.as_bytes())
                .collect()
        }
        Change::User {
            name,
            before: Some(_),
        } => {
            let users = server.acl.users.read();
            let Some(user) = users.get(&name) else {
                return Replied;
            };
            let refused = server.pubsub.lock().refused(|info, channel, is_pattern| {
                *info.user.lock().as_bytes() != name[..] || user.allows_channel(channel, is_pattern)
            });
            refused.iter().for_each(|info| info.kill());
            return match refused.iter().any(|info| info.id == me.id) {
                true => Outcome::Close,
                false => Replied,
            };
        }
        Change::User { .. } | Change::Nothing => return Replied,
    };
    let mut outcome = Replied;
    for client in server.clients.lock().values() {
        if gone
            .iter()
            .any(|name| *client.user.lock().as_bytes() == name[..])
        {
            match client.id == me.id {
                true => outcome = Outcome::Close,
                false => client.kill(),
            }
        }
    }
    outcome
}

/// Follows a user of the cluster's shared ones in etcd (`hex_name` as its key names it):
/// defines it, or removes it and closes its connections. In a cluster without an internal
/// credential (made before there was one) the default user stays the server's own, since
/// proxies reach the servers as it.
pub fn follow_shared_user(server: &Server, hex_name: &str, description: Option<&[u8]>) {
    let Some(name) = slotcache_cluster::store::Keys::user_name(hex_name) else {
        return;
    };
    if name == b"default" && internal::installed().is_none() {
        return;
    }
    let users = &server.acl.users;
    match description {
        Some(rules) => {
            if let Err(error) = users.change(|users| users.define(&name, rules)) {
                tracing::warn!(%error, user = %String::from_utf8_lossy(&name), "shared user refused");
            }
        }
        None if users.change(|users| users.remove(&name)) => {
            for client in server.clients.lock().values() {
                if *client.user.lock().as_bytes() == name[..] {
                    client.kill();
                }
            }
        }
        None => {}
    }
}

/// Logs in as `name` with `password`, or logs the failure (under `command`, AUTH or HELLO
/// as typed) and returns AUTH's error.
pub fn log_in(ctx: &mut Ctx, command: &[u8], name: &[u8], password: &[u8]) -> Result<(), CmdError> {
    log_in_client(ctx.server, ctx.client, command, name, password, ctx.now)
}

/// [`log_in`] outside a command's context: AUTH while a script runs past the busy threshold.
pub fn log_in_client(
    server: &Server,
    client: &mut Client,
    command: &[u8],
    name: &[u8],
    password: &[u8],
    now: i64,
) -> Result<(), CmdError> {
    match internal::login_of(name, password) {
        Some(InternalLogin::Internal) => {
            // A proxy, controller, CLI or follower: no user's rules apply to it.
            *client.info.user.lock() = internal::USER.to_string();
            client.login = None;
            client.authenticated = true;
            return Ok(());
        }
        Some(InternalLogin::OnBehalfOf(user)) => {
            // A proxy running a client's script: the client's user's rules apply.
            let login = server.acl.users.login_as(user);
            let login = login.ok_or_else(|| CmdError::Other(acl::WRONGPASS.into()))?;
            become_user(client, login);
            return Ok(());
        }
        None => {}
    }
    let Some(login) = server.acl.users.authenticate(name, password) else {
        server.acl.log_failed_auth(
            command,
            name,
            context(client),
            client.info.describe(None),
            now,
        );
        return Err(CmdError::Other(acl::WRONGPASS.into()));
    };
    become_user(client, login);
    Ok(())
}

/// The connection runs as `login` from now on.
pub fn become_user(client: &mut Client, login: Login) {
    *client.info.user.lock() = String::from_utf8_lossy(login.name()).into_owned();
    client.login = Some(login);
    client.authenticated = true;
}

/// Where a command runs, for the ACL log.
pub fn context(client: &Client) -> Context {
    match client.multi.is_some() || client.in_exec {
        true => Context::Multi,
        false => Context::Toplevel,
    }
}

/// Whether the connection's user reaches every key with this call, as Redis's
/// `ACLUserCheckCmdWithUnrestrictedKeyAccess`: SORT's BY and GET patterns name keys that the
/// check before the command never saw.
pub fn reaches_every_key(server: &Server, client: &mut Client, args: &Args) -> bool {
    let Some(login) = client.login.as_mut() else {
        return true;
    };
    let Ok(user) = login.user(&server.acl.users) else {
        return false;
    };
    match super::Table::get().resolve(args) {
        Ok(command) => user.reaches_every_key(command, args, KeyAccess::READ),
        Err(_) => true,
    }
}

/// Whether the connection's user may run the call; a refusal is logged.
pub fn check(
    server: &Server,
    client: &mut Client,
    command: Resolved,
    args: &Args,
    context: Context,
) -> Result<(), Denied> {
    let Some(login) = client.login.as_mut() else {
        return Ok(());
    };
    let Ok(user) = login.user(&server.acl.users) else {
        // Deleted since: ACL DELUSER closes such connections; refuse until it does.
        client.info.kill();
        return Err(Denied::Command);
    };
    if user.allows_all() {
        return Ok(());
    }
    let denied = match user.check(command, args) {
        Ok(()) => return Ok(()),
        Err(denied) => denied,
    };
    let name = user.name.clone();
    server.acl.log_refusal(
        denied,
        context,
        command.spec,
        args,
        &name,
        client.info.describe(Some((command.spec.name, args))),
        crate::state::now_ms(),
    );
    Err(denied)
}

pub const HANDLERS: &[(&str, Handler)] = &[
    ("acl|cat", acl),
    ("acl|deluser", acl),
    ("acl|dryrun", acl),
    ("acl|genpass", acl),
    ("acl|getuser", acl),
    ("acl|help", acl),
    ("acl|list", acl),
    ("acl|load", acl),
    ("acl|log", acl),
    ("acl|save", acl),
    ("acl|setuser", acl),
    ("acl|users", acl),
    ("acl|whoami", acl),
];
