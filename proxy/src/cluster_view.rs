//! The cluster as cluster-aware clients see it: proxies presented as Redis Cluster masters.
//! `announce = self`: the proxy a client talks to owns all 16384 slots. `announce = spread`:
//! every live proxy owns an even share, so cluster clients balance over them. Either way any
//! proxy serves any slot, so a client never gets MOVED for a slot the cluster can route.

use crate::session::{Pending, Session};
use crate::Announce;
use bytes::Bytes;
use slotcache_cluster::{key_slot, SLOTS};
use slotcache_protocol::slot::parse_slot;
use slotcache_protocol::topology::{self, node_id, Node, Shard};

/// The masters this proxy announces, in slot order, one range each.
fn masters(session: &Session) -> Vec<Shard> {
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
            let (i, slots) = (i as u32, SLOTS as u32);
            Shard {
                slots: vec![(
                    (i * slots / count) as u16,
                    ((i + 1) * slots / count - 1) as u16,
                )],
                master: Node::new(&id, if myself { &own_addr } else { &addr }, myself),
                replicas: Vec::new(),
            }
        })
        .collect()
}

/// The slots this proxy announces as its own: all of them with `announce = self`.
pub fn own_slots(session: &Session) -> (u16, u16) {
    masters(session)
        .into_iter()
        .find(|shard| shard.master.myself)
        .map_or((0, SLOTS - 1), |shard| shard.slots[0])
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
        "slots" => session.reply(|out| topology::slots(out, &masters(session))),
        "shards" => session.reply(|out| topology::shards(out, &masters(session))),
        "nodes" => session.reply(|out| out.bulk(topology::nodes(&masters(session)).as_bytes())),
        "info" => {
            let masters = masters(session);
            session.reply(|out| out.bulk(topology::info(&masters, masters.len()).as_bytes()))
        }
        "myid" => session.reply(|out| out.bulk(node_id(&session.proxy.id).as_bytes())),
        "keyslot" => session.reply(|out| out.int(key_slot(&args[2]) as i64)),
        "countkeysinslot" | "getkeysinslot" => match parse_slot(&args[2]) {
            Some(slot) => session.forward(slot, args.to_vec(), true),
            None if sub == "countkeysinslot" => Pending::error("ERR Invalid slot"),
            None => Pending::error("ERR Invalid slot or number of keys"),
        },
        _ => Pending::Ready(crate::session::error_reply(&format!(
            "ERR unknown subcommand '{}'. Try CLUSTER HELP.",
            String::from_utf8_lossy(args.get(1).map_or(&b""[..], |s| &s[..]))
        ))),
    }
}
