//! CLIENT LIST, CLIENT INFO and CLIENT KILL as Redis 7 answers them, for the shard server's
//! connections and the proxy's alike: one line per client with Redis's fields, the filters
//! LIST takes and the filters KILL matches.

use super::{is, ArgCursor, Args, CmdError};
use crate::resp::parse::parse_i64;
use bytes::Bytes;

/// What a CLIENT LIST line tells of one connection.
pub struct ClientLine<'a> {
    pub id: u64,
    pub addr: &'a str,
    pub laddr: &'a str,
    pub name: &'a str,
    pub age: u64,
    pub idle: u64,
    pub db: usize,
    /// The command it runs now, or ran last (`NULL` before any).
    pub cmd: &'a str,
    /// The arguments of the command it runs now (the one asking), which Redis still counts
    /// in its query buffer (`qbuf`) and argument memory (`argv-mem`).
    pub current_args: &'a [Bytes],
    pub resp: u8,
    /// The ACL user it runs as.
    pub user: &'a str,
    pub lib_name: &'a str,
    pub lib_ver: &'a str,
}

impl ClientLine<'_> {
    /// The line, with Redis 7's fields in Redis's order.
    pub fn format(&self) -> String {
        let args = self.current_args;
        let argv_mem: usize = args.iter().map(|a| a.len()).sum();
        let digits = |n: usize| n.to_string().len();
        let qbuf = match args.len() {
            0 => 0,
            n => {
                3 + digits(n)
                    + args
                        .iter()
                        .map(|a| 5 + digits(a.len()) + a.len())
                        .sum::<usize>()
            }
        };
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags=N db={} sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free=0 argv-mem={} multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
            self.id, self.addr, self.laddr, self.name, self.age, self.idle, self.db, qbuf,
            argv_mem, self.cmd, self.user, self.resp, self.lib_name, self.lib_ver,
        )
    }
}

const CLIENT_TYPES: [&str; 5] = ["normal", "master", "replica", "slave", "pubsub"];

/// CLIENT LIST's filters: the ids asked for (None: every client; a type other than normal
/// lists none of these connections).
pub fn list_filter(args: &Args) -> Result<Option<Vec<u64>>, CmdError> {
    let mut ids: Option<Vec<u64>> = None;
    ArgCursor::new(args, 2).options(|word, cursor| {
        match word {
            "type" => {
                let kind = cursor.value()?;
                if !CLIENT_TYPES.iter().any(|k| is(kind, k)) {
                    return Err(CmdError::err(format!(
                        "Unknown client type '{}'",
                        String::from_utf8_lossy(kind)
                    )));
                }
                if !is(kind, "normal") {
                    ids = Some(Vec::new());
                }
            }
            "id" if !cursor.is_done() => {
                let mut wanted = Vec::new();
                for arg in cursor.take(cursor.rest().len())? {
                    match parse_i64(arg) {
                        Some(id) if id > 0 => wanted.push(id as u64),
                        _ => return Err(CmdError::err("Invalid client ID")),
                    }
                }
                ids = Some(wanted);
            }
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    Ok(ids)
}

/// What CLIENT KILL kills.
pub enum Kill {
    /// The old form, `CLIENT KILL addr:port`: that one client, or the error "No such client".
    Addr(String),
    /// `CLIENT KILL <filter> <value> ...`.
    Filters {
        skip_me: bool,
        filters: Vec<(String, String)>,
    },
}

/// One client as KILL's filters look at it.
pub struct Killable<'a> {
    pub id: u64,
    pub addr: &'a str,
    pub laddr: &'a str,
    pub age: u64,
    pub user: &'a [u8],
}

impl Kill {
    /// `user_exists` tells whether a USER filter names a user.
    pub fn parse(args: &Args, user_exists: impl Fn(&[u8]) -> bool) -> Result<Kill, CmdError> {
        if args.len() == 3 {
            return Ok(Kill::Addr(String::from_utf8_lossy(&args[2]).into_owned()));
        }
        if args.len() % 2 != 0 {
            return Err(CmdError::Syntax);
        }
        let mut skip_me = true;
        let mut filters: Vec<(String, String)> = Vec::new();
        for pair in args[2..].chunks(2) {
            let key = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&pair[1]).into_owned();
            match key.as_str() {
                "id" => {
                    if !matches!(parse_i64(&pair[1]), Some(id) if id > 0) {
                        return Err(CmdError::err("client-id should be greater than 0"));
                    }
                }
                "skipme" => match value.to_ascii_lowercase().as_str() {
                    "yes" => skip_me = true,
                    "no" => skip_me = false,
                    _ => return Err(CmdError::Syntax),
                },
                "type" => {
                    if !CLIENT_TYPES.contains(&value.as_str()) {
                        return Err(CmdError::err(format!("Unknown client type '{value}'")));
                    }
                }
                "user" if !user_exists(&pair[1]) => {
                    return Err(CmdError::err(format!("No such user '{value}'")));
                }
                "addr" | "laddr" | "user" | "maxage" => {}
                _ => return Err(CmdError::Syntax),
            }
            filters.push((key, value));
        }
        Ok(Kill::Filters { skip_me, filters })
    }

    /// Whether `client` is to be killed; `me`: the id of the connection asking.
    pub fn matches(&self, client: &Killable, me: u64) -> bool {
        match self {
            Kill::Addr(addr) => client.addr == addr,
            Kill::Filters { skip_me, filters } => {
                !(*skip_me && client.id == me)
                    && filters.iter().all(|(key, value)| match key.as_str() {
                        "id" => client.id.to_string() == *value,
                        "addr" => client.addr == value,
                        "laddr" => client.laddr == value,
                        "user" => client.user == value.as_bytes(),
                        "type" => value == "normal",
                        "maxage" => value.parse::<u64>().is_ok_and(|age| client.age >= age),
                        _ => true,
                    })
            }
        }
    }
}
