//! CLUSTER: the slot questions a shard server answers about the partition a connection
//! addresses. A shard server is no Redis Cluster node (the proxies present the cluster), so
//! these run only in cluster mode, and the proxy is their caller: COUNTKEYSINSLOT and
//! GETKEYSINSLOT are routed to the slot's partition, and PARTITION points the connection's
//! keyless requests (SCAN, KEYS, DBSIZE, RANDOMKEY, FLUSHALL) at one partition. DIGEST
//! fingerprints any copy this server hosts, leader or follower, to compare replicas. HOTKEYS
//! names the database's hottest keys by their LFU counters (the proxy merges every
//! partition's).

use super::{Args, CmdError, CmdResult, Ctx, Handler, Replied};
use crate::engine::dump::{checksum, serialize};
use crate::partition::Keyspace;
use slotcache_cluster::key_slot;
use slotcache_protocol::resp::parse::parse_i64;
use slotcache_protocol::slot::parse_slot;
use slotcache_protocol::topology;

fn cluster_mode(ctx: &Ctx) -> Result<(), CmdError> {
    routes(ctx).map(|_| ())
}

fn routes<'a>(ctx: &Ctx<'a>) -> Result<&'a parking_lot::RwLock<crate::routing::Routes>, CmdError> {
    ctx.server
        .routes
        .get()
        .ok_or_else(|| CmdError::err("This instance has cluster support disabled"))
}

/// The placement this server watches, as a Redis Cluster node describes its cluster.
fn topology_of(ctx: &Ctx) -> Result<Vec<topology::Shard>, CmdError> {
    let with_replicas = ctx.server.config.read().cluster_announce_replicas;
    Ok(routes(ctx)?.read().topology(with_replicas))
}

/// CLUSTER SLOTS, SHARDS, NODES, INFO and MYID: direct mode, where cluster clients seeded
/// with shard servers talk to the partitions' leaders.
fn slots(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let shards = topology_of(ctx)?;
    topology::slots(ctx.out, &shards);
    Ok(Replied)
}

fn shards(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let shards = topology_of(ctx)?;
    topology::shards(ctx.out, &shards);
    Ok(Replied)
}

fn nodes(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let shards = topology_of(ctx)?;
    ctx.out.bulk(topology::nodes(&shards).as_bytes());
    Ok(Replied)
}

fn info(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let shards = topology_of(ctx)?;
    let mut known: Vec<&str> = shards
        .iter()
        .flat_map(|shard| std::iter::once(&shard.master).chain(&shard.replicas))
        .map(|node| node.id.as_str())
        .collect();
    known.sort_unstable();
    known.dedup();
    ctx.out
        .bulk(topology::info(&shards, known.len()).as_bytes());
    Ok(Replied)
}

fn myid(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let id = topology::node_id(routes(ctx)?.read().node_id());
    ctx.out.bulk(id.as_bytes());
    Ok(Replied)
}

fn keyslot(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ctx.out.int(i64::from(key_slot(&args[2])));
    Ok(Replied)
}

fn countkeysinslot(ctx: &mut Ctx, args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    let slot = parse_slot(&args[2]).ok_or_else(|| CmdError::err("Invalid slot"))?;
    let now = ctx.now;
    let mut count = 0;
    let db = ctx.db();
    db.for_each_live_key(now, |key| count += usize::from(key_slot(key) == slot));
    ctx.out.int(count as i64);
    Ok(Replied)
}

fn getkeysinslot(ctx: &mut Ctx, args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    let invalid = || CmdError::err("Invalid slot or number of keys");
    let slot = parse_slot(&args[2]).ok_or_else(invalid)?;
    let wanted = parse_i64(&args[3])
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(invalid)?;
    let now = ctx.now;
    let mut found = Vec::new();
    ctx.db().for_each_live_key(now, |key| {
        if found.len() < wanted && key_slot(key) == slot {
            found.push(key.to_vec());
        }
    });
    ctx.out.bulks(found.iter());
    Ok(Replied)
}

/// `CLUSTER HOTKEYS [count]`: up to `count` (default 10) of the keys with the highest LFU
/// counters in the connection's database (a partition's, in a cluster), hottest first, as
/// `[key, counter]` pairs. Like OBJECT FREQ, only under an LFU maxmemory policy.
fn hotkeys(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let count = match args.get(2) {
        None => 10,
        Some(count) => parse_i64(count)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| CmdError::err("value is out of range, must be positive"))?,
    };
    if !super::keys::is_lfu(ctx) {
        return Err(CmdError::err(format!(
            "An LFU maxmemory policy is not selected, hot keys are not tracked. {}",
            super::keys::POLICY_NOTE
        )));
    }
    let now = ctx.now;
    let mut ranked = ctx.db().hot_keys(now);
    ranked.truncate(count);
    ctx.out.array(ranked.len());
    for (key, counter) in &ranked {
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.int(i64::from(*counter));
    }
    Ok(Replied)
}

/// The switch itself happens as the request is routed (`routing::Routes::target`), before
/// the keyspace is locked; reaching here means this server leads the partition.
fn partition(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    ctx.out.ok();
    Ok(Replied)
}

/// READONLY: this connection's reads may be answered by follower copies, as on a Redis
/// Cluster replica.
fn readonly(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    ctx.client.readonly = true;
    ctx.out.ok();
    Ok(Replied)
}

/// READWRITE: back to reading from leaders only.
fn readwrite(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    ctx.client.readonly = false;
    ctx.out.ok();
    Ok(Replied)
}

/// `CLUSTER DIGEST <pid>`: the copy's next log offset, the epoch of its last record, its key
/// count, and an order-independent fingerprint of its keys, values and deadlines.
fn digest(ctx: &mut Ctx, args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    let pid = parse_i64(&args[2])
        .and_then(|pid| u32::try_from(pid).ok())
        .ok_or_else(|| CmdError::err("Invalid partition"))?;
    let current = ctx
        .client
        .partition
        .as_ref()
        .is_some_and(|(p, _)| *p == pid);
    let (offset, epoch, keys, fingerprint) = if current {
        fingerprint(ctx.ks, ctx.now)
    } else {
        let keyspace = ctx
            .server
            .engine
            .get(pid)
            .ok_or_else(|| CmdError::err("This server hosts no copy of that partition"))?;
        let ks = keyspace.lock();
        fingerprint(&ks, ctx.now)
    };
    ctx.out.array(4);
    ctx.out.int(offset as i64);
    ctx.out.int(epoch as i64);
    ctx.out.int(keys as i64);
    ctx.out.bulk(format!("{fingerprint:016x}").as_bytes());
    Ok(Replied)
}

fn fingerprint(ks: &Keyspace, now: i64) -> (u64, u64, usize, u64) {
    let now = ks.log.expiry_clock(now);
    let (mut keys, mut combined) = (0, 0u64);
    for (index, db) in ks.dbs.iter().enumerate() {
        db.for_each_live_key(now, |key| {
            let Some(entry) = db.peek_entry(key) else {
                return;
            };
            let mut item = index.to_le_bytes().to_vec();
            item.extend_from_slice(&(key.len() as u64).to_le_bytes());
            item.extend_from_slice(key);
            item.extend_from_slice(&db.deadline(key).unwrap_or(0).to_le_bytes());
            item.extend_from_slice(&serialize(&entry.value));
            keys += 1;
            combined = combined.wrapping_add(checksum(&item));
        });
    }
    (ks.log.next_offset(), ks.log.last_epoch(), keys, combined)
}

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("cluster|countkeysinslot", countkeysinslot),
    ("cluster|digest", digest),
    ("cluster|getkeysinslot", getkeysinslot),
    ("cluster|hotkeys", hotkeys),
    ("cluster|info", info),
    ("cluster|keyslot", keyslot),
    ("cluster|myid", myid),
    ("cluster|nodes", nodes),
    ("cluster|partition", partition),
    ("cluster|shards", shards),
    ("cluster|slots", slots),
    ("readonly", readonly),
    ("readwrite", readwrite),
];
