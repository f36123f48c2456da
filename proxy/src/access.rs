//! Who a proxy client is and what it may run: AUTH and HELLO AUTH against the proxy's ACL
//! users (the shared `slotcache_protocol::acl`), the check made before a request is
//! answered, queued or routed, so a refused command never reaches a shard server, and the
//! ACL command.

use crate::backend::Via;
use crate::request::Command;
use crate::session::{Pending, Session};
use bytes::Bytes;
use slotcache_protocol::acl::command::{self, Caller, Change};
use slotcache_protocol::acl::{self, Context, Login};
use slotcache_protocol::command::KeyAccess;
use slotcache_protocol::command::{arity_error, Flag, Resolved, Table};
use std::time::{SystemTime, UNIX_EPOCH};

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A new client's login: the default user, and whether it must AUTH first.
pub fn first_login(proxy: &crate::Proxy) -> (Login, bool) {
    let users = &proxy.acl.users;
    (users.default_login(), !users.auth_required())
}

/// The user whose rules a shard server must apply to this client's scripts, since only the
/// server sees the calls a script makes: the client's own, unless it may run everything. None
/// too in a cluster without an internal credential, which has no way to vouch for a user.
pub fn script_user(session: &mut Session) -> Option<Vec<u8>> {
    slotcache_protocol::internal::installed()?;
    let user = session.login.user(&session.proxy.acl.users).ok()?;
    (!user.allows_all()).then(|| user.name.to_vec())
}

impl Session {
    /// The lanes this client's scripts run on: ones logged in on behalf of its user when the
    /// shard server must hold the script's calls to the user's rules (see
    /// `access::script_user`). A tracking client's scripts then leave its own lanes, so what
    /// they read is not tracked for it.
    pub fn script_via(&mut self) -> Via {
        match crate::access::script_user(self) {
            Some(user) => Via {
                resp: self.resp,
                own: Some(self.proxy.lanes_on_behalf_of(&user)),
                reads: false,
            },
            None => self.via(),
        }
    }
}

fn context(session: &Session) -> Context {
    match session.transaction.is_some() {
        true => Context::Multi,
        false => Context::Toplevel,
    }
}

/// The reply a request gets before anything else is done with it, if any: NOAUTH for an
/// unauthenticated client, NOPERM (logged) for what its user may not run, nothing (and the
/// connection closed) for a deleted user. A refusal while queueing fails the transaction.
pub fn refusal(session: &mut Session, command: Command, args: &[Bytes]) -> Option<Pending> {
    let spec = command.well_formed(args)?;
    if !session.authenticated && !spec.flags.has(Flag::NoAuth) {
        return Some(Pending::error("NOAUTH Authentication required."));
    }
    let index = command.index?;
    let resolved = Resolved { spec, index };
    let Ok(user) = session.login.user(&session.proxy.acl.users) else {
        // Deleted since: Redis closes such connections at once.
        session.quit = true;
        return Some(Pending::Ready(Bytes::new()));
    };
    if user.allows_all() {
        return None;
    }
    let denied = user.check(resolved, args).err()?;
    let name = user.name.clone();
    let context = context(session);
    session.proxy.acl.log_refusal(
        denied,
        context,
        spec,
        args,
        &name,
        session.me.describe(),
        now_millis(),
    );
    if let Some(transaction) = session.transaction.as_mut() {
        transaction.refuse();
    }
    Some(Pending::error(&acl::refusal(denied, spec)))
}

/// The queued commands of a transaction checked again at EXEC: for each, None if the user
/// may still run it, else EXEC's error for it (logged in the ACL LOG, context `multi`).
pub fn recheck(session: &mut Session, queued: &[Vec<Bytes>]) -> Vec<Option<String>> {
    let users = &session.proxy.acl.users;
    let Ok(user) = session.login.user(users) else {
        return vec![None; queued.len()];
    };
    if user.allows_all() {
        return vec![None; queued.len()];
    }
    let table = Table::get();
    queued
        .iter()
        .map(|args| {
            let resolved = table.resolve(args).ok()?;
            let denied = user.check(resolved, args).err()?;
            session.proxy.acl.log_refusal(
                denied,
                Context::Multi,
                resolved.spec,
                args,
                &user.name,
                session.me.describe(),
                now_millis(),
            );
            Some(acl::exec_refusal(denied))
        })
        .collect()
}

/// Whether the client's user reaches every key with this call, as Redis's
/// `ACLUserCheckCmdWithUnrestrictedKeyAccess` (SORT's BY and GET patterns).
pub fn reaches_every_key(session: &mut Session, command: Command, args: &[Bytes]) -> bool {
    let (Some(spec), Some(index)) = (command.well_formed(args), command.index) else {
        return true;
    };
    match session.login.user(&session.proxy.acl.users) {
        Ok(user) => user.reaches_every_key(Resolved { spec, index }, args, KeyAccess::READ),
        Err(_) => false,
    }
}

/// Logs in as `name`, or logs the failure under `command` (AUTH or HELLO as typed) and
/// returns AUTH's error.
pub fn log_in(
    session: &mut Session,
    command: &[u8],
    name: &[u8],
    password: &[u8],
) -> Result<(), String> {
    match session.proxy.acl.users.authenticate(name, password) {
        Some(login) => {
            become_user(session, login);
            Ok(())
        }
        None => {
            let context = context(session);
            let info = session.me.describe();
            let acl = &session.proxy.acl;
            acl.log_failed_auth(command, name, context, info, now_millis());
            Err(acl::WRONGPASS.into())
        }
    }
}

/// The client runs as `login` from now on.
pub fn become_user(session: &mut Session, login: Login) {
    session.me.state.lock().user = String::from_utf8_lossy(login.name()).into_owned();
    session.login = login;
    session.authenticated = true;
}

/// RESET: back to the default user, unauthenticated if it has a password.
pub fn reset(session: &mut Session) {
    let (login, open) = first_login(&session.proxy);
    become_user(session, login);
    session.authenticated = open;
}

/// AUTH [user] password.
pub fn auth(session: &mut Session, args: &[Bytes]) -> Pending {
    let (name, password): (&[u8], &[u8]) = match args.len() {
        2 if !session.proxy.acl.users.auth_required() => {
            return Pending::error(acl::AUTH_WITHOUT_PASSWORD)
        }
        2 => (b"default", &args[1]),
        3 => (&args[1], &args[2]),
        _ => return Pending::error("ERR syntax error"),
    };
    match log_in(session, &args[0], name, password) {
        Ok(()) => session.reply(|out| out.ok()),
        Err(error) => Pending::error(&error),
    }
}

/// A user changed through this proxy, for etcd: its name, and its rules as ACL LIST writes
/// them (None: deleted).
pub type Publisher = tokio::sync::mpsc::UnboundedSender<(Vec<u8>, Option<Vec<u8>>)>;

/// Shares a change made here with every proxy and server, through etcd.
fn publish(proxy: &crate::Proxy, change: &Change) {
    let Some(publisher) = proxy.shared_users.get() else {
        return;
    };
    let users = proxy.acl.users.read();
    let changed: Vec<(Vec<u8>, Option<Vec<u8>>)> = match change {
        Change::User { name, .. } => {
            vec![(name.clone(), users.get(name).map(|u| u.describe()))]
        }
        Change::Deleted(names) => names.iter().map(|n| (n.clone(), None)).collect(),
        Change::Loaded | Change::Nothing => Vec::new(),
    };
    for change in changed {
        // The receiver lives as long as the process.
        let _ = publisher.send(change);
    }
}

/// Follows a user of the cluster's shared ones (`hex_name` as etcd's key names it): defines
/// it, or removes it and closes its clients.
pub fn follow_user(proxy: &crate::Proxy, hex_name: &str, description: Option<&[u8]>) {
    let Some(name) = slotcache_cluster::store::Keys::user_name(hex_name) else {
        return;
    };
    match description {
        Some(rules) => {
            if let Err(error) = proxy.acl.users.change(|users| users.define(&name, rules)) {
                tracing::warn!(%error, user = %String::from_utf8_lossy(&name), "shared user refused");
            }
        }
        None => {
            if proxy.acl.users.change(|users| users.remove(&name)) {
                close_clients_of(proxy, &[name], None);
            }
        }
    }
}

/// Closes the clients of deleted users; `me` (the asking client) is closed after its reply.
fn close_clients_of(proxy: &crate::Proxy, names: &[Vec<u8>], me: Option<&mut Session>) {
    let me_id = me.as_ref().map(|s| s.id);
    let mut close_me = false;
    for client in proxy.clients.lock().values() {
        let user = client.state.lock().user.clone();
        if names.iter().any(|name| name[..] == *user.as_bytes()) {
            match Some(client.id) == me_id {
                true => close_me = true,
                false => client.killed.notify_one(),
            }
        }
    }
    if let Some(me) = me {
        me.quit |= close_me;
    }
}

/// ACL <subcommand>: answered by this proxy for its own users.
pub fn acl_command(session: &mut Session, command: Command, args: &[Bytes]) -> Pending {
    let resolved = Table::get().resolve(args);
    if let Err(error) = &resolved {
        return Pending::error(&error.to_string());
    }
    if command.well_formed(args).is_none() {
        let spec = resolved.expect("resolved above").spec;
        return Pending::error(&arity_error(spec).to_string());
    }
    let username = session.me.state.lock().user.clone();
    let caller = Caller {
        username: username.as_bytes(),
        acl_file: None,
        now_millis: now_millis(),
    };
    let mut out = slotcache_protocol::resp::Reply::new(session.proto());
    let change = match command::run(&session.proxy.acl, &caller, args, &mut out) {
        Ok(change) => change,
        Err(error) => return Pending::error(&error.to_string()),
    };
    publish(&session.proxy, &change);
    if let Change::Deleted(names) = &change {
        let proxy = session.proxy.clone();
        close_clients_of(&proxy, names, Some(session));
    }
    Pending::Ready(out.buf.freeze())
}
