//! The command catalog both sides read: every command's spec (name, arity, flags, key specs,
//! ACL categories, docs), looked up once per request, with key extraction, slot routing, the
//! `COMMAND` replies and Redis's exact error texts. Handlers live with the shard server; this
//! crate only describes what a call means.

pub mod catalog;
pub mod clients;
pub mod connection;
mod cursor;
mod error;
mod flags;
pub mod help;
pub mod route;
pub mod sort;
mod spec;
pub mod specs;
pub mod stats;
mod table;
pub mod tracking;

pub use cursor::ArgCursor;
pub use error::{
    arity_error, busy, subcommand_syntax, unknown_command, unknown_subcommand, wrong_arity,
    CmdError, EXECABORT, EXEC_WITHOUT_MULTI, NOPROTO, NOT_IN_MULTI, OOM,
};
pub use flags::{Flag, Flags};
pub use spec::{ks, ks_noted, Begin, CommandSpec, Find, KeyAccess, KeySpec};
pub use table::{Resolved, Table};

use bytes::Bytes;

/// A request: the command name, then its arguments.
pub type Args = [Bytes];

/// The Redis version clients are told; 7.x turns on RESP3 and the 7.0 command set in clients.
pub const REDIS_VERSION: &str = "7.0.15";

/// Case-insensitive comparison of an argument with an option keyword.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}
