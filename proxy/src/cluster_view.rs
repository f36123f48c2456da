//! The cluster as cluster-aware clients see it: proxies presented as Redis Cluster masters.
//! `announce = self`: the proxy a client talks to owns all 16384 slots. `announce = spread`:
//! every live proxy owns an even share, so cluster clients balance over them. Either way any
//! proxy serves any slot, so a client never gets MOVED for a slot the cluster can route.

use crate::session::{Pending, Session};
use crate::Announce;
use bytes::Bytes;
use slotcache_cluster::{key_slot, SLOTS};
use slotcache_protocol::resp::Reply;
use slotcache_protocol::slot::parse_slot;

/// One announced master: its node id, address and slot range.
struct Master {
    id: String,
    host: String,
    port: u16,
    slots: (u16, u16),
    myself: bool,
}

fn split_addr(addr: &str) -> (String, u16) {
    match addr.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().unwrap_or(0)),
        None => (addr.to_string(), 0),
    }
}

/// The masters this proxy announces, in slot order.
fn masters(session: &Session) -> Vec<Master> {
    let proxy = &session.proxy;
    let own_addr = proxy
        .announce_addr
        .clone()
        .unwrap_or_else(|| session.local_addr.clone());
    let mut members = match proxy.announce {
        Announce::Myself => Vec::new(),
        Announce::Spread => proxy.table.proxies(),
    };
    if !members.iter().any(|(id, _)| *id == proxy.id) {
        members.push((proxy.id.clone(), own_addr.clone()));
        members.sort();
    }
    let count = members.len() as u32;
    members
        .into_iter()
        .enumerate()
        .map(|(i, (id, addr))| {
            let myself = id == proxy.id;
            let (host, port) = split_addr(if myself { &own_addr } else { &addr });
            let i = i as u32;
            let slots = SLOTS as u32;
            Master {
                id: crate::node_id(&id),
                host,
                port,
                slots: (
                    (i * slots / count) as u16,
                    ((i + 1) * slots / count - 1) as u16,
                ),
                myself,
            }
        })
        .collect()
}

/// The slots this proxy announces as its own: all of them with `announce = self`.
pub fn own_slots(session: &Session) -> (u16, u16) {
    masters(session)
        .into_iter()
        .find(|master| master.myself)
        .map_or((0, SLOTS - 1), |master| master.slots)
}

pub fn answer(session: &Session, args: &[Bytes]) -> Pending {
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    let wrong_arity = || {
        Pending::Ready(crate::session::error_reply(&format!(
            "ERR wrong number of arguments for 'cluster|{sub}' command"
        )))
    };
    match sub.as_str() {
        "slots" | "shards" | "nodes" | "info" | "myid" if args.len() != 2 => wrong_arity(),
        "keyslot" | "countkeysinslot" if args.len() != 3 => wrong_arity(),
        "getkeysinslot" if args.len() != 4 => wrong_arity(),
        "hotkeys" if args.len() > 3 => wrong_arity(),
        "hotkeys" => crate::cluster_wide::hot_keys(session, args),
        "slots" => session.reply(|out| slots(out, &masters(session))),
        "shards" => session.reply(|out| shards(out, &masters(session))),
        "nodes" => session.reply(|out| out.bulk(nodes(&masters(session)).as_bytes())),
        "info" => {
            let known = masters(session).len();
            session.reply(|out| out.bulk(info(known).as_bytes()))
        }
        "myid" => session.reply(|out| out.bulk(crate::node_id(&session.proxy.id).as_bytes())),
        "keyslot" => session.reply(|out| out.int(key_slot(&args[2]) as i64)),
        "countkeysinslot" | "getkeysinslot" => match parse_slot(&args[2]) {
            Some(slot) => session.forward(slot, args.to_vec()),
            None if sub == "countkeysinslot" => Pending::error("ERR Invalid slot"),
            None => Pending::error("ERR Invalid slot or number of keys"),
        },
        _ => Pending::Ready(crate::session::error_reply(&format!(
            "ERR unknown subcommand '{}'. Try CLUSTER HELP.",
            String::from_utf8_lossy(args.get(1).map_or(&b""[..], |s| &s[..]))
        ))),
    }
}

fn slots(out: &mut Reply, masters: &[Master]) {
    out.array(masters.len());
    for master in masters {
        out.array(3);
        out.int(master.slots.0 as i64);
        out.int(master.slots.1 as i64);
        out.array(4);
        out.bulk(master.host.as_bytes());
        out.int(master.port as i64);
        out.bulk(master.id.as_bytes());
        out.map(0);
    }
}

fn shards(out: &mut Reply, masters: &[Master]) {
    out.array(masters.len());
    for master in masters {
        out.map(2);
        out.bulk(b"slots");
        out.array(2);
        out.int(master.slots.0 as i64);
        out.int(master.slots.1 as i64);
        out.bulk(b"nodes");
        out.array(1);
        out.map(7);
        for (field, value) in [
            ("id", &master.id),
            ("ip", &master.host),
            ("endpoint", &master.host),
        ] {
            out.bulk(field.as_bytes());
            out.bulk(value.as_bytes());
        }
        out.bulk(b"port");
        out.int(master.port as i64);
        out.bulk(b"role");
        out.bulk(b"master");
        out.bulk(b"replication-offset");
        out.int(0);
        out.bulk(b"health");
        out.bulk(b"online");
    }
}

fn nodes(masters: &[Master]) -> String {
    masters
        .iter()
        .map(|m| {
            format!(
                "{} {}:{}@{} {}master - 0 0 1 connected {}-{}\n",
                m.id,
                m.host,
                m.port,
                m.port as u32 + 10000,
                if m.myself { "myself," } else { "" },
                m.slots.0,
                m.slots.1
            )
        })
        .collect()
}

fn info(known_nodes: usize) -> String {
    let slots = SLOTS;
    format!(
        "cluster_state:ok\r\ncluster_slots_assigned:{slots}\r\ncluster_slots_ok:{slots}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{known_nodes}\r\ncluster_size:{known_nodes}\r\ncluster_current_epoch:1\r\ncluster_my_epoch:1\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n"
    )
}
