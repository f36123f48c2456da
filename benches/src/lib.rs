//! Shared set-up for the criterion benches: a server state and a client to run commands
//! through the real dispatch path without a socket.

use bytes::Bytes;
use slotcache_server::client::{Client, ClientInfo};
use slotcache_server::config::Config;
use slotcache_server::state::Server;
use std::sync::Arc;

pub fn server() -> Server {
    Server::new(Config::default(), 0)
}

pub fn client() -> Client {
    let addr = "127.0.0.1:1".parse().expect("a literal address");
    Client::new(Arc::new(ClientInfo::new(1, addr, addr)), true)
}

pub fn args(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}
