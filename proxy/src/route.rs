//! Request → slot. A request addresses one slot when all its keys hash to it; keyless requests
//! address none; requests whose keys span slots are refused exactly as Redis Cluster does.

use bytes::Bytes;
use slotcache_cluster::key_slot;
use slotcache_server::commands::{CmdError, Table};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("CROSSSLOT Keys in request don't hash to the same slot")]
    CrossSlot,
    /// Unknown command or wrong arity: the reply Redis would give.
    #[error("{0}")]
    Command(String),
}

impl From<CmdError> for RouteError {
    fn from(err: CmdError) -> Self {
        RouteError::Command(err.to_string())
    }
}

/// The slot every key of `args` hashes to, or None for a keyless request.
pub fn request_slot(args: &[Bytes]) -> Result<Option<u16>, RouteError> {
    let table = Table::get();
    let resolved = table.resolve(args)?;
    if !resolved.spec.arity_ok(args.len()) {
        return Err(slotcache_server::commands::arity_error(resolved.spec).into());
    }
    let mut slot = None;
    for position in resolved.spec.key_positions(args) {
        let this = key_slot(&args[position]);
        match slot {
            None => slot = Some(this),
            Some(s) if s == this => {}
            Some(_) => return Err(RouteError::CrossSlot),
        }
    }
    Ok(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect()
    }

    #[test]
    fn single_and_multi_key_requests() {
        assert_eq!(request_slot(&args("GET foo")), Ok(Some(12182)));
        assert_eq!(request_slot(&args("PING")), Ok(None));
        let tagged = request_slot(&args("MSET {u1}a 1 {u1}b 2")).unwrap();
        assert_eq!(tagged, Some(key_slot(b"u1")));
        assert_eq!(
            request_slot(&args("MSET a 1 b 2")),
            Err(RouteError::CrossSlot)
        );
        assert_eq!(
            request_slot(&args("BITOP AND {t}d {t}a {t}b")),
            Ok(Some(key_slot(b"t")))
        );
        assert_eq!(
            request_slot(&args("RENAME a b")).unwrap_err().to_string(),
            "CROSSSLOT Keys in request don't hash to the same slot"
        );
    }

    #[test]
    fn bad_requests_get_redis_errors() {
        assert_eq!(
            request_slot(&args("GET")).unwrap_err().to_string(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert!(request_slot(&args("NOSUCH x"))
            .unwrap_err()
            .to_string()
            .starts_with("ERR unknown command 'NOSUCH'"));
    }
}
