//! The cluster's shared vocabulary, used by servers, proxies and the controller alike: slot
//! math, the records kept in etcd, and the client layer over etcd.

pub mod admin;
pub mod allocator;
pub mod config_file;
pub mod controller;
pub mod controller_stats;
pub mod credential;
pub mod dashboard;
pub mod keys;
pub mod lease;
pub mod offsets;
pub mod operations;
pub mod placement;
pub mod records;
pub mod routing;
pub mod store;
pub mod supervision;
pub mod survey;
pub mod suspicion;
pub mod throwaway_tls;
pub mod tls_settings;

pub use slotcache_protocol::slot;
pub use slotcache_protocol::{hash_tag, key_slot, SLOTS};
