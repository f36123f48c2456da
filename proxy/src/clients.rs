//! The proxy's clients as CLIENT LIST, CLIENT INFO and CLIENT KILL see them (the proxy's own
//! connections, in Redis's format, shared with the shard server), and where each one's
//! messages go (a tracking client's redirection).

use crate::outbox::Outbox;
use crate::session::{Pending, Session};
use bytes::Bytes;
use parking_lot::Mutex;
use slotcache_protocol::command::clients::{list_filter, ClientLine, Kill, Killable};
use slotcache_protocol::command::CmdError;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// A connected client, as other clients see it.
pub struct Connected {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    created: Instant,
    /// Where messages for it go (Pub/Sub, redirected invalidations).
    pub messages: Outbox,
    pub state: Mutex<ClientState>,
    /// CLIENT KILL from another connection.
    pub killed: Notify,
}

/// What changes as a client runs commands.
pub struct ClientState {
    pub name: Bytes,
    pub lib_name: String,
    pub lib_ver: String,
    pub resp: u8,
    /// The ACL user it runs as.
    pub user: String,
    /// Its last command (`container|sub` for a subcommand), and when it came.
    pub last_command: String,
    pub last_interaction: Instant,
}

impl Connected {
    pub fn new(id: u64, addr: String, laddr: String, messages: Outbox) -> Connected {
        let now = Instant::now();
        Connected {
            id,
            addr,
            laddr,
            created: now,
            messages,
            state: Mutex::new(ClientState {
                name: Bytes::new(),
                lib_name: String::new(),
                lib_ver: String::new(),
                resp: 2,
                user: "default".into(),
                last_command: "NULL".into(),
                last_interaction: now,
            }),
            killed: Notify::new(),
        }
    }

    /// Notes the command this client runs now.
    pub fn running(&self, name: &str, args: &[Bytes]) {
        let mut state = self.state.lock();
        state.last_interaction = Instant::now();
        state.last_command.clear();
        state.last_command.push_str(name);
        if let Some(sub) = args.get(1).filter(|_| is_container(name)) {
            state.last_command.push('|');
            state
                .last_command
                .push_str(&String::from_utf8_lossy(sub).to_ascii_lowercase());
        }
    }

    /// Its CLIENT LIST line, as the ACL log shows the client.
    pub fn describe(&self) -> String {
        self.line(None)
    }

    /// Its CLIENT LIST line; `current`: the arguments of the CLIENT LIST or INFO it runs.
    fn line(&self, current: Option<&[Bytes]>) -> String {
        let state = self.state.lock();
        ClientLine {
            id: self.id,
            addr: &self.addr,
            laddr: &self.laddr,
            name: &String::from_utf8_lossy(&state.name),
            age: self.created.elapsed().as_secs(),
            idle: state.last_interaction.elapsed().as_secs(),
            db: 0,
            cmd: &state.last_command,
            current_args: current.unwrap_or_default(),
            resp: state.resp,
            user: &state.user,
            lib_name: &state.lib_name,
            lib_ver: &state.lib_ver,
        }
        .format()
    }
}

/// Commands whose CLIENT LIST name includes their subcommand.
fn is_container(name: &str) -> bool {
    matches!(
        name,
        "client"
            | "config"
            | "cluster"
            | "command"
            | "function"
            | "script"
            | "memory"
            | "object"
            | "pubsub"
            | "slowlog"
            | "latency"
            | "xinfo"
            | "xgroup"
            | "acl"
    )
}

impl Session {
    fn listed(&self) -> Vec<Arc<Connected>> {
        let mut all: Vec<_> = self.proxy.clients.lock().values().cloned().collect();
        all.sort_by_key(|c| c.id);
        all
    }

    pub fn client_list(&self, args: &[Bytes]) -> Result<Pending, CmdError> {
        let ids = list_filter(args)?;
        let mut text = String::new();
        for client in self.listed() {
            if ids.as_ref().is_some_and(|ids| !ids.contains(&client.id)) {
                continue;
            }
            text.push_str(&client.line((client.id == self.id).then_some(args)));
            text.push('\n');
        }
        Ok(self.reply(|out| out.verbatim("txt", text.as_bytes())))
    }

    pub fn client_info(&self, args: &[Bytes]) -> Pending {
        let mut text = self.me.line(Some(args));
        text.push('\n');
        self.reply(|out| out.verbatim("txt", text.as_bytes()))
    }

    /// CLIENT KILL: this proxy's clients that match; the asking one is closed after its reply.
    pub fn client_kill(&mut self, args: &[Bytes]) -> Result<Pending, CmdError> {
        let kill = Kill::parse(args, |name| self.proxy.acl.users.read().get(name).is_some())?;
        let mut killed = 0;
        for client in self.listed() {
            let user = client.state.lock().user.clone();
            let killable = Killable {
                id: client.id,
                addr: &client.addr,
                laddr: &client.laddr,
                age: client.created.elapsed().as_secs(),
                user: user.as_bytes(),
            };
            if kill.matches(&killable, self.id) {
                match client.id == self.id {
                    true => self.quit = true,
                    false => client.killed.notify_one(),
                }
                killed += 1;
            }
        }
        Ok(match kill {
            Kill::Addr(_) if killed == 0 => return Err(CmdError::err("No such client")),
            Kill::Addr(_) => self.reply(|out| out.ok()),
            Kill::Filters { .. } => self.reply(|out| out.int(killed)),
        })
    }
}
