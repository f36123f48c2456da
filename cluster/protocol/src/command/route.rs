//! Slot routing: the command of a request, and the slot its keys hash to.

use super::{arity_error, CommandSpec, Table};
use crate::key_slot;
use bytes::Bytes;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("CROSSSLOT Keys in request don't hash to the same slot")]
    CrossSlot,
    /// Unknown command or wrong arity: the reply Redis would give.
    #[error("{0}")]
    Command(String),
}

/// The command of `args`, and the slot its keys hash to (None for a keyless request). Keys
/// count as together when `together(first_slot, slot)` holds for each; Redis Cluster's rule,
/// which the proxy applies, is slot equality.
pub fn route_request(
    args: &[Bytes],
    together: impl Fn(u16, u16) -> bool,
) -> Result<(&'static CommandSpec, Option<u16>), RouteError> {
    let table = Table::get();
    let resolved = table
        .resolve(args)
        .map_err(|err| RouteError::Command(err.to_string()))?;
    route_resolved(resolved.spec, args, together)
}

/// [`route_request`] for a request whose command was resolved already.
pub fn route_resolved(
    spec: &'static CommandSpec,
    args: &[Bytes],
    together: impl Fn(u16, u16) -> bool,
) -> Result<(&'static CommandSpec, Option<u16>), RouteError> {
    if !spec.arity_ok(args.len()) {
        return Err(RouteError::Command(arity_error(spec).to_string()));
    }
    Ok((spec, slot_of(spec, args, together)?))
}

/// The slot the keys of a call of `spec` (resolved, of the right arity) hash to; None for a
/// keyless call, CROSSSLOT when they are not together.
pub fn slot_of(
    spec: &CommandSpec,
    args: &[Bytes],
    together: impl Fn(u16, u16) -> bool,
) -> Result<Option<u16>, RouteError> {
    if spec.has_one_key_first() {
        // Most commands, routed without listing positions.
        return Ok(args.get(1).map(|key| key_slot(key)));
    }
    let mut first = None;
    for position in spec.key_positions(args) {
        let slot = key_slot(&args[position]);
        match first {
            None => first = Some(slot),
            Some(first) if together(first, slot) => {}
            Some(_) => return Err(RouteError::CrossSlot),
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slot of a request under Redis Cluster's rule.
    fn request_slot(args: &[Bytes]) -> Result<Option<u16>, RouteError> {
        route_request(args, |a, b| a == b).map(|(_, slot)| slot)
    }

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
