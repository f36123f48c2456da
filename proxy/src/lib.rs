//! The proxy. So far its routing core: which slot a request addresses, from the shared
//! command table's key specs, with Redis Cluster's CROSSSLOT rule.

pub mod route;
