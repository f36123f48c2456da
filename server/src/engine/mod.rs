//! The in-memory engine: databases of keys and values, their types and encodings, expiry,
//! eviction's sampling and snapshots. It knows nothing of connections, replication or routing;
//! a partition (`crate::partition`) puts databases together with what those need.

pub mod capture;
pub mod db;
pub mod dict;
pub mod dump;
pub mod evict;
pub mod geohash;
pub mod hash;
pub mod hll;
pub mod hot;
pub mod limits;
pub mod list;
pub mod listpack;
pub mod longdouble;
pub mod rank_tree;
pub mod set;
pub mod stream;
pub mod value;
pub mod zset;

pub use capture::StepBudget;
pub use db::{Db, DbStats, Entry, WatchMark};
pub use value::{Value, ValueType};
