//! INFO through the proxy: the proxy's own sections, then the shard servers' totalled as a
//! Redis Cluster user would total its masters: `stats` counters and `memory` figures summed,
//! `keyspace` summed per database (each server counts the keys of the partitions it leads,
//! so every key counts once), and one line per server in `# Shards` with its own figures.
//! `# Clients` counts the proxy's own clients, and the clients blocked at the servers (where
//! a proxy's blocking commands wait).

use crate::session::{Pending, Session};
use crate::Proxy;
use bytes::Bytes;
use futures_util::future::{join_all, FutureExt};
use slotcache_protocol::resp::frame::text;
use slotcache_protocol::resp::request::encode;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// The shard servers' sections that are totalled, as INFO names them.
const TOTALLED: [&str; 3] = ["memory", "stats", "keyspace"];

/// Fields of a server's INFO, by section (lower case) and then in order.
type Sections = BTreeMap<String, Vec<(String, String)>>;

fn parse(info: &str) -> Sections {
    let mut sections = Sections::new();
    let mut current = String::new();
    for line in info.lines() {
        if let Some(name) = line.strip_prefix("# ") {
            current = name.trim().to_ascii_lowercase();
            sections.entry(current.clone()).or_default();
        } else if let Some((key, value)) = line.split_once(':') {
            sections
                .entry(current.clone())
                .or_default()
                .push((key.to_string(), value.trim().to_string()));
        }
    }
    sections
}

/// Which sections INFO's arguments ask for: none, `default`, `all` or `everything` mean every
/// section; otherwise those named, in any case.
struct Selection(Option<Vec<String>>);

impl Selection {
    fn of(args: &[Bytes]) -> Selection {
        let names: Vec<String> = args[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .collect();
        let everything = names.is_empty()
            || names
                .iter()
                .any(|n| matches!(n.as_str(), "all" | "default" | "everything"));
        Selection((!everything).then_some(names))
    }

    fn wants(&self, section: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == section))
    }
}

/// Fields that count the same thing at every server, so the cluster's figure is the largest:
/// a BCAST client follows its prefixes at every leader.
const LARGEST: [&str; 1] = ["tracking_total_prefixes"];

/// Sums each integer field over the servers (takes the largest of [`LARGEST`]), in the first
/// server's order.
fn sum_fields(servers: &[Sections], section: &str) -> Vec<(String, i64)> {
    let mut totals: Vec<(String, i64)> = Vec::new();
    for fields in servers.iter().filter_map(|s| s.get(section)) {
        for (key, value) in fields {
            let Ok(number) = value.parse::<i64>() else {
                continue;
            };
            match totals.iter_mut().find(|(k, _)| k == key) {
                Some((_, total)) if LARGEST.contains(&key.as_str()) => {
                    *total = (*total).max(number)
                }
                Some((_, total)) => *total += number,
                None => totals.push((key.clone(), number)),
            }
        }
    }
    totals
}

/// `db0:keys=N,expires=E,avg_ttl=0` lines summed per database.
fn sum_keyspace(servers: &[Sections]) -> BTreeMap<String, (i64, i64)> {
    let mut dbs = BTreeMap::new();
    for fields in servers.iter().filter_map(|s| s.get("keyspace")) {
        for (db, value) in fields {
            let field = |name: &str| -> i64 {
                value
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            };
            let entry = dbs.entry(db.clone()).or_insert((0, 0));
            entry.0 += field("keys");
            entry.1 += field("expires");
        }
    }
    dbs
}

fn field<'a>(server: &'a Sections, section: &str, key: &str) -> &'a str {
    server
        .get(section)
        .and_then(|fields| fields.iter().find(|(k, _)| k == key))
        .map_or("0", |(_, v)| v.as_str())
}

/// The reply: the proxy's sections and the servers' totals that `selection` wants, then
/// `# Shards`, one line per server.
fn compose(
    own: Vec<(&'static str, String)>,
    held: usize,
    servers: &[(Arc<str>, Sections)],
    selection: &Selection,
) -> String {
    let all: Vec<Sections> = servers.iter().map(|(_, s)| s.clone()).collect();
    let mut sections: Vec<String> = own
        .into_iter()
        .filter(|(name, _)| selection.wants(name))
        .map(|(name, mut text)| {
            if name == "clients" {
                // Clients blocked at the servers (the proxy's blocked clients wait there), and
                // those CLIENT PAUSE holds here.
                let blocked: i64 = sum_fields(&all, "clients")
                    .into_iter()
                    .find_map(|(key, total)| (key == "blocked_clients").then_some(total))
                    .unwrap_or(0)
                    + held as i64;
                let _ = write!(text, "blocked_clients:{blocked}\r\n");
            }
            text
        })
        .collect();
    for section in TOTALLED.into_iter().filter(|s| selection.wants(s)) {
        let mut text = String::new();
        match section {
            "memory" => {
                text.push_str("# Memory\r\n");
                for (key, total) in sum_fields(&all, "memory") {
                    let _ = write!(text, "{key}:{total}\r\n");
                }
                if let Some(first) = all.first() {
                    let policy = field(first, "memory", "maxmemory_policy");
                    let _ = write!(text, "maxmemory_policy:{policy}\r\n");
                }
            }
            "stats" => {
                text.push_str("# Stats\r\n");
                for (key, total) in sum_fields(&all, "stats") {
                    let _ = write!(text, "{key}:{total}\r\n");
                }
            }
            _ => {
                text.push_str("# Keyspace\r\n");
                for (db, (keys, expires)) in sum_keyspace(&all) {
                    let _ = write!(text, "{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
        }
        sections.push(text);
    }
    if selection.wants("shards") {
        let mut text = String::from("# Shards\r\n");
        for (i, (addr, server)) in servers.iter().enumerate() {
            let keys: i64 = sum_keyspace(std::slice::from_ref(server))
                .values()
                .map(|(k, _)| k)
                .sum();
            let _ = write!(
                text,
                "shard{i}:addr={addr},used_memory={},maxmemory={},evicted_keys={},expired_keys={},keyspace_hits={},keyspace_misses={},keys={keys}\r\n",
                field(server, "memory", "used_memory"),
                field(server, "memory", "maxmemory"),
                field(server, "stats", "evicted_keys"),
                field(server, "stats", "expired_keys"),
                field(server, "stats", "keyspace_hits"),
                field(server, "stats", "keyspace_misses"),
            );
        }
        sections.push(text);
    }
    sections.join("\r\n")
}

/// INFO [section ...]: asks every shard server leading a partition for what is totalled.
pub fn answer(session: &Session, args: &[Bytes]) -> Pending {
    let proxy: Arc<Proxy> = session.proxy.clone();
    let proto = session.proto();
    let selection = Selection::of(args);
    Pending::Forwarded(
        async move {
            let own = proxy.info_sections();
            let request = encode(&[Bytes::from_static(b"INFO"), Bytes::from_static(b"all")]);
            let from_servers =
                TOTALLED.into_iter().any(|s| selection.wants(s)) || selection.wants("shards");
            let addrs = match from_servers {
                true => proxy.table.leader_addrs(),
                false => Vec::new(),
            };
            let replies = join_all(addrs.iter().map(|addr| {
                let proxy = proxy.clone();
                let request = request.clone();
                async move { proxy.backends.call_many(addr, 2, request, 1).await }
            }))
            .await;
            let servers: Vec<(Arc<str>, Sections)> = addrs
                .into_iter()
                .zip(replies)
                .filter_map(|(addr, reply)| {
                    let reply = reply.ok()?;
                    let info = String::from_utf8_lossy(text(&reply)?).into_owned();
                    Some((addr, parse(&info)))
                })
                .collect();
            let info = compose(own, proxy.pause.waiting(), &servers, &selection);
            crate::session::reply_in(proto, |out| out.bulk(info.as_bytes()))
        }
        .boxed(),
    )
}
