//! slotcache's shard server: an in-memory, Redis 7 compatible engine behind a RESP front.

pub mod blocking;
pub mod client;
pub mod commands;
pub mod commits;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod eviction;
pub mod latency;
pub mod membership;
pub mod memory;
pub mod metrics;
pub mod monitor;
pub mod net;
pub mod notify;
pub mod partition;
pub mod pause;
pub mod persistence;
pub mod prefetch;
pub mod pubsub;
pub mod replication;
pub mod routing;
pub mod scripting;
pub mod slowlog;
pub mod state;
pub mod tracking;

#[global_allocator]
static GLOBAL: memory::CountingAlloc = memory::CountingAlloc;
