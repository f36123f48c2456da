//! The cluster's shared vocabulary, used by servers, proxies and the controller alike.

pub mod slot;

pub use slot::{hash_tag, key_slot, SLOTS};
