//! The command table and dispatch. Each family module registers its commands in one static table
//! (name, arity, flags, key positions and key specs, ACL categories, docs, handler); that table
//! alone drives lookup, arity errors, key extraction and the `COMMAND` replies.

pub mod bits;
pub mod catalog;
pub mod cluster;
pub mod connection;
pub mod functions;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod pops;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;

use crate::client::Client;
use crate::engine::value::{Collection, Typed};
use crate::engine::{Db, Keyspace};
use crate::resp::Reply;
use crate::state::Server;
use ahash::AHashMap;
use bytes::Bytes;
use std::sync::OnceLock;
use thiserror::Error;

pub type Args = [Bytes];
pub type CmdResult = Result<(), CmdError>;
pub type Handler = fn(&mut Ctx, &Args) -> CmdResult;

/// Where a key spec starts looking for keys (Redis 7 `begin_search`).
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    Index(i64),
    Keyword(&'static str, i64),
    Unknown,
}

/// How a key spec finds its keys from the start (Redis 7 `find_keys`).
#[derive(Debug, Clone, Copy)]
pub enum Find {
    /// lastkey, keystep, limit
    Range(i64, i64, i64),
    /// keynumidx, firstkey, keystep
    Keynum(i64, i64, i64),
    Unknown,
}

#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub notes: &'static str,
    pub flags: &'static str,
    pub begin: Begin,
    pub find: Find,
}

pub const fn ks(flags: &'static str, begin: Begin, find: Find) -> KeySpec {
    KeySpec {
        notes: "",
        flags,
        begin,
        find,
    }
}

/// A key spec with a note, as Redis documents some of them.
pub const fn ks_noted(
    notes: &'static str,
    flags: &'static str,
    begin: Begin,
    find: Find,
) -> KeySpec {
    KeySpec {
        notes,
        flags,
        begin,
        find,
    }
}

/// One command of the table. Lists are space-separated words to keep the table readable.
pub struct CommandSpec {
    pub name: &'static str,
    pub arity: i64,
    pub flags: &'static str,
    pub acl: &'static str,
    /// Legacy (first key, last key, step), as COMMAND INFO reports them.
    pub keys: (i64, i64, i64),
    pub key_specs: &'static [KeySpec],
    pub tips: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: &'static str,
    pub handler: Option<Handler>,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub const DEFAULT: CommandSpec = CommandSpec {
        name: "",
        arity: 0,
        flags: "",
        acl: "",
        keys: (0, 0, 0),
        key_specs: &[],
        tips: "",
        summary: "",
        since: "",
        group: "",
        complexity: "",
        handler: None,
        subcommands: &[],
    };

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.split(' ').any(|f| f == flag)
    }

    /// The name used in error messages: `get`, or `client|kill` for a subcommand.
    pub fn full_name(&self) -> &'static str {
        self.name
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        (self.arity > 0 && argc == self.arity) || (self.arity < 0 && argc >= -self.arity)
    }

    /// Key positions of a concrete call, from the key specs (COMMAND GETKEYS, routing).
    pub fn key_positions(&self, args: &Args) -> Vec<usize> {
        let argc = args.len() as i64;
        let mut positions = Vec::new();
        for spec in self.key_specs {
            let start = match spec.begin {
                Begin::Index(i) => i,
                Begin::Keyword(word, from) => {
                    let found = if from >= 0 {
                        (from..argc)
                            .find(|&i| args[i as usize].eq_ignore_ascii_case(word.as_bytes()))
                    } else {
                        (1..=(argc + from))
                            .rev()
                            .find(|&i| args[i as usize].eq_ignore_ascii_case(word.as_bytes()))
                    };
                    match found {
                        Some(i) => i + 1,
                        None => continue,
                    }
                }
                Begin::Unknown => continue,
            };
            let (first, last, step) = match spec.find {
                Find::Range(lastkey, step, limit) => {
                    let last = if lastkey >= 0 {
                        start + lastkey
                    } else if limit > 1 {
                        start + (argc - start) / limit - 1
                    } else {
                        argc + lastkey
                    };
                    (start, last, step)
                }
                Find::Keynum(numidx, firstkey, step) => {
                    let Some(n) = args
                        .get((start + numidx) as usize)
                        .and_then(|a| crate::resp::parse::parse_i64(a))
                    else {
                        continue;
                    };
                    let first = start + firstkey;
                    (first, first + (n - 1) * step, step)
                }
                Find::Unknown => continue,
            };
            let mut i = first;
            while i <= last && i < argc && step > 0 {
                if i >= 1 {
                    positions.push(i as usize);
                }
                i += step;
            }
        }
        // SORT's STORE key can stand anywhere: Redis finds it with a procedure of its own.
        if self.name == "sort" {
            positions.extend(sort::store_position(args));
        }
        positions
    }
}

/// A command failure; rendered with Redis's exact texts.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CmdError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(&'static str),
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    TooBig,
    /// Any other error, with its prefix (`ERR ...`, `NOAUTH ...`).
    #[error("{0}")]
    Other(String),
}

impl CmdError {
    pub fn err(text: impl Into<String>) -> CmdError {
        CmdError::Other(format!("ERR {}", text.into()))
    }
}

/// Everything a handler may touch while it runs.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub client: &'a mut Client,
    pub ks: &'a mut Keyspace,
    pub out: &'a mut Reply,
    /// Milliseconds since the epoch, fixed for the duration of one command as Redis's
    /// `commandTimeSnapshot`, so a command sees one consistent notion of "expired".
    pub now: i64,
}

impl Ctx<'_> {
    pub fn db(&mut self) -> &mut Db {
        &mut self.ks.dbs[self.client.db]
    }

    /// The database and the reply at once, to reply while borrowing a value.
    pub fn db_and_out(&mut self) -> (&mut Db, &mut Reply) {
        (&mut self.ks.dbs[self.client.db], &mut *self.out)
    }
}

/// Every family's table, in one list.
fn families() -> [&'static [CommandSpec]; 19] {
    [
        cluster::COMMANDS,
        connection::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        lists::COMMANDS,
        zsets::COMMANDS,
        hyperloglog::COMMANDS,
        streams::COMMANDS,
        scripting::COMMANDS,
        functions::COMMANDS,
        transactions::COMMANDS,
        pubsub::COMMANDS,
        server::COMMANDS,
        memory::COMMANDS,
        slowlog::COMMANDS,
        keys::COMMANDS,
        sort::COMMANDS,
        strings::COMMANDS,
        bits::COMMANDS,
    ]
}

/// A command resolved from the table, with its index for per-command statistics.
#[derive(Clone, Copy)]
pub struct Resolved {
    pub spec: &'static CommandSpec,
    pub index: usize,
}

pub struct Table {
    by_name: AHashMap<Vec<u8>, Resolved>,
    /// Every top-level command and subcommand, in stats order.
    pub all: Vec<&'static CommandSpec>,
    pub top_level: Vec<&'static CommandSpec>,
}

impl Table {
    fn build() -> Table {
        let mut by_name = AHashMap::new();
        let mut all = Vec::new();
        let mut top_level = Vec::new();
        for family in families() {
            for spec in family {
                top_level.push(spec);
                let index = all.len();
                all.push(spec);
                by_name.insert(spec.name.as_bytes().to_vec(), Resolved { spec, index });
                for sub in spec.subcommands {
                    let index = all.len();
                    all.push(sub);
                    by_name.insert(sub.name.as_bytes().to_vec(), Resolved { spec: sub, index });
                }
            }
        }
        top_level.sort_by_key(|s| s.name);
        Table {
            by_name,
            all,
            top_level,
        }
    }

    pub fn get() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(Table::build)
    }

    /// Case-insensitive lookup of a top-level command, or of `container|sub`.
    pub fn lookup(&self, name: &[u8]) -> Option<Resolved> {
        if name.len() > 64 {
            return None;
        }
        let mut lower = [0u8; 64];
        let lower = &mut lower[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&lower[..]).copied()
    }

    /// Resolves a call to its command or subcommand, or the error Redis gives.
    pub fn resolve(&self, args: &Args) -> Result<Resolved, CmdError> {
        let Some(top) = self.lookup(&args[0]) else {
            return Err(unknown_command(args));
        };
        if top.spec.subcommands.is_empty() {
            return Ok(top);
        }
        if args.len() < 2 {
            // A container that also runs bare (COMMAND) answers itself.
            if top.spec.handler.is_some() {
                return Ok(top);
            }
            return Err(arity_error(top.spec));
        }
        let mut full = top.spec.name.as_bytes().to_vec();
        full.push(b'|');
        full.extend_from_slice(&args[1]);
        self.lookup(&full)
            .ok_or_else(|| unknown_subcommand(top.spec.name, &args[1]))
    }
}

/// `ERR unknown subcommand 'x'. Try CONTAINER HELP.`, exactly as Redis 7.
pub fn unknown_subcommand(container: &str, sub: &[u8]) -> CmdError {
    CmdError::Other(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncated_lossy(sub, 128),
        container.to_ascii_uppercase()
    ))
}

fn truncated_lossy(data: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&data[..data.len().min(max)]).into_owned()
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `, exactly as Redis 7.
pub fn unknown_command(args: &Args) -> CmdError {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        truncated_lossy(&args[0], 128)
    );
    let mut budget = 128usize;
    for arg in &args[1..] {
        if budget == 0 {
            break;
        }
        let shown = arg.len().min(budget);
        text.push('\'');
        text.push_str(&truncated_lossy(arg, shown));
        text.push_str("' ");
        budget -= shown;
    }
    CmdError::Other(text)
}

pub fn arity_error(spec: &CommandSpec) -> CmdError {
    CmdError::Other(format!(
        "ERR wrong number of arguments for '{}' command",
        spec.full_name()
    ))
}

/// The collection at `key` for reading (counts a keyspace hit or miss): `None` when the key is
/// absent, WRONGTYPE when it holds another type.
pub fn read_typed<'a, T: Typed>(
    db: &'a mut Db,
    key: &[u8],
    now: i64,
) -> Result<Option<&'a T>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(entry) => T::of(&entry.value).map(Some).ok_or(CmdError::WrongType),
    }
}

/// The collection at `key` for writing, created empty when absent if `create`.
pub fn write_typed<'a, T: Typed>(
    db: &'a mut Db,
    key: &[u8],
    now: i64,
    create: bool,
) -> Result<Option<&'a mut T>, CmdError> {
    if !db.contains(key, now) {
        if !create {
            return Ok(None);
        }
        db.set(key, T::default().into_value(), now);
    }
    match db.get_mut(key, now) {
        Some(entry) => T::of_mut(&mut entry.value)
            .map(Some)
            .ok_or(CmdError::WrongType),
        None => Ok(None),
    }
}

/// HDEL, SREM and the like: removes the members named from `args[2..]`, deletes the key once
/// the collection is empty, and replies with how many were removed.
pub fn remove_members<T: Collection>(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let Some(collection) = write_typed::<T>(db, &args[1], now, false)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = args[2..]
        .iter()
        .filter(|m| collection.remove_member(m))
        .count();
    if collection.is_empty() {
        db.remove(&args[1]);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// The count argument of HRANDFIELD, SRANDMEMBER and ZRANDMEMBER, in Redis's range
/// (-LONG_MAX..=LONG_MAX).
pub fn random_count(arg: Option<&Bytes>) -> Result<Option<i64>, CmdError> {
    let Some(arg) = arg else { return Ok(None) };
    match int_arg(arg)? {
        i64::MIN => Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        count => Ok(Some(count)),
    }
}

/// What HRANDFIELD, SRANDMEMBER and ZRANDMEMBER answer for a missing key: an empty array when
/// a count was given, else null.
pub fn reply_no_random(out: &mut Reply, count: Option<i64>) {
    match count {
        Some(_) => out.array(0),
        None => out.null(),
    }
}

/// HRANDFIELD/ZRANDMEMBER arguments: the count, and whether `word` (WITHVALUES, WITHSCORES)
/// asks for the second half of each pair.
pub fn random_pair_args(args: &Args, word: &str) -> Result<(Option<i64>, bool), CmdError> {
    let count = random_count(args.get(2))?;
    let with_second = match args.len() {
        2 | 3 => false,
        4 if is(&args[3], word) => true,
        _ => return Err(CmdError::Syntax),
    };
    if with_second && count.is_some_and(|c| !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&c)) {
        return Err(CmdError::err("value is out of range"));
    }
    Ok((count, with_second))
}

/// Pairs as RESP3 nests them ([a, b] each) or RESP2 flattens them; first halves only unless
/// `both`.
pub fn reply_pairs<A, B>(
    out: &mut Reply,
    pairs: &[(A, B)],
    both: bool,
    first: impl Fn(&mut Reply, &A),
    second: impl Fn(&mut Reply, &B),
) {
    let nested = both && out.proto == crate::resp::Protocol::Resp3;
    out.array(if both && !nested {
        pairs.len() * 2
    } else {
        pairs.len()
    });
    for (a, b) in pairs {
        if nested {
            out.array(2);
        }
        first(out, a);
        if both {
            second(out, b);
        }
    }
}

/// The elements HRANDFIELD, SRANDMEMBER and ZRANDMEMBER return for a count: a negative count
/// asks for that many independent picks (repeats allowed), a positive one for that many
/// distinct elements, or all of them.
pub fn random_picks<T: Clone>(mut all: Vec<T>, count: i64, rng: &mut impl rand::Rng) -> Vec<T> {
    if all.is_empty() {
        return all;
    }
    if count < 0 {
        return (0..count.unsigned_abs())
            .map(|_| all[rng.random_range(0..all.len())].clone())
            .collect();
    }
    let count = count as usize;
    if count < all.len() {
        // A partial Fisher-Yates shuffle.
        for i in 0..count {
            let j = rng.random_range(i..all.len());
            all.swap(i, j);
        }
        all.truncate(count);
    }
    all
}

/// Resolves start and stop indexes (negative ones count from the end) against a length, as
/// LRANGE, ZRANGE and their kin do: the inclusive range, or None when it selects nothing.
pub fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// Parses an integer argument with Redis's strict rules.
pub fn int_arg(arg: &[u8]) -> Result<i64, CmdError> {
    crate::resp::parse::parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Parses a float argument as Redis's `getDoubleFromObject` (`strtod`, no NaN, no spaces).
pub fn parse_f64(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let value = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ if lower.contains("inf") || lower.contains("nan") => return None,
        _ => text.parse::<f64>().ok()?,
    };
    (!value.is_nan()).then_some(value)
}

/// Case-insensitive comparison of an argument with an option keyword.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn every_command_has_a_handler() {
        for spec in &Table::get().all {
            assert!(
                spec.handler.is_some() || !spec.subcommands.is_empty(),
                "{} must have a handler or subcommands",
                spec.name
            );
        }
    }

    #[test]
    fn key_positions_from_specs() {
        let table = Table::get();
        let keys = |words: &[&str]| {
            let a = args(words);
            table.resolve(&a).unwrap().spec.key_positions(&a)
        };
        assert_eq!(keys(&["GET", "a"]), vec![1]);
        assert_eq!(keys(&["MSET", "a", "1", "b", "2"]), vec![1, 3]);
        assert_eq!(keys(&["DEL", "a", "b", "c"]), vec![1, 2, 3]);
        assert_eq!(keys(&["BITOP", "AND", "d", "a", "b"]), vec![2, 3, 4]);
        assert_eq!(keys(&["LCS", "a", "b"]), vec![1, 2]);
        assert_eq!(keys(&["PING"]), Vec::<usize>::new());
    }

    #[test]
    fn unknown_command_text() {
        let err = unknown_command(&args(&["foo", "a", "b"]));
        assert_eq!(
            err.to_string(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
    }
}
