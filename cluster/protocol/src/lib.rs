//! What every part of slotcache speaks, kept apart from any engine or network code so that the
//! shard server, the proxy and the tools share one copy: the RESP wire format, the command
//! catalog (arity, flags, key specs, docs) with key extraction and slot routing, glob matching.

pub mod acl;
pub mod command;
pub mod glob;
pub mod internal;
pub mod limits;
pub mod password;
pub mod pause;
pub mod protected_mode;
pub mod pubsub;
pub mod redact;
pub mod reply_mode;
pub mod resp;
pub mod slot;
pub mod tls;
pub mod topology;

pub use slot::{hash_tag, key_slot, SLOTS};
