//! Command failures, rendered with Redis's exact texts.

use super::{Args, CommandSpec};
use thiserror::Error;

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

/// `ERR unknown subcommand 'x'. Try CONTAINER HELP.`, exactly as Redis 7.
pub fn unknown_subcommand(container: &str, sub: &[u8]) -> CmdError {
    CmdError::Other(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncated_lossy(sub, 128),
        container.to_ascii_uppercase()
    ))
}

/// `ERR unknown subcommand or wrong number of arguments for 'x'. Try CONTAINER HELP.`: a
/// subcommand's arguments that fit no form of it, named as the client wrote it.
pub fn subcommand_syntax(args: &Args) -> CmdError {
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&args[1]),
        String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
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
    wrong_arity(spec.full_name())
}

/// `ERR wrong number of arguments for 'name' command`, for a command that counts its own.
pub fn wrong_arity(name: &str) -> CmdError {
    CmdError::Other(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Texts more than one part replies with.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";

/// What others get while a script (or, with `function`, a function) runs past the busy
/// threshold.
pub fn busy(function: bool) -> &'static str {
    match function {
        true => "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
        false => "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    }
}
