//! CLUSTER: the slot questions a shard server answers about the partition a connection
//! addresses. A shard server is no Redis Cluster node (the proxies present the cluster), so
//! these run only in cluster mode, and the proxy is their caller: COUNTKEYSINSLOT and
//! GETKEYSINSLOT are routed to the slot's partition, and PARTITION points the connection's
//! keyless requests (SCAN, KEYS, DBSIZE, RANDOMKEY, FLUSHALL) at one partition. DIGEST
//! fingerprints any copy this server hosts, leader or follower, to compare replicas.

use super::{Args, CmdError, CmdResult, CommandSpec, Ctx};
use crate::engine::dump::{checksum, serialize};
use crate::engine::Keyspace;
use crate::resp::parse::parse_i64;
use slotcache_cluster::{key_slot, SLOTS};

fn cluster_mode(ctx: &Ctx) -> CmdResult {
    match ctx.server.routes.get() {
        Some(_) => Ok(()),
        None => Err(CmdError::err("This instance has cluster support disabled")),
    }
}

/// A slot argument, when it names one.
pub fn parse_slot(arg: &[u8]) -> Option<u16> {
    parse_i64(arg)
        .filter(|slot| (0..i64::from(SLOTS)).contains(slot))
        .map(|slot| slot as u16)
}

fn keyslot(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ctx.out.int(i64::from(key_slot(&args[2])));
    Ok(())
}

fn countkeysinslot(ctx: &mut Ctx, args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    let slot = parse_slot(&args[2]).ok_or_else(|| CmdError::err("Invalid slot"))?;
    let now = ctx.now;
    let mut count = 0;
    let db = ctx.db();
    db.for_each_live_key(now, |key| count += usize::from(key_slot(key) == slot));
    ctx.out.int(count as i64);
    Ok(())
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
    Ok(())
}

/// The switch itself happens as the request is routed (`routing::Routes::target`), before
/// the keyspace is locked; reaching here means this server leads the partition.
fn partition(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// READONLY: this connection's reads may be answered by follower copies, as on a Redis
/// Cluster replica.
fn readonly(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    ctx.client.readonly = true;
    ctx.out.ok();
    Ok(())
}

/// READWRITE: back to reading from leaders only.
fn readwrite(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    cluster_mode(ctx)?;
    ctx.client.readonly = false;
    ctx.out.ok();
    Ok(())
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
    Ok(())
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

const fn sub(
    name: &'static str,
    arity: i64,
    tips: &'static str,
    summary: &'static str,
    since: &'static str,
    complexity: &'static str,
    handler: super::Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: "stale",
        acl: "@slow",
        tips,
        summary,
        since,
        group: "cluster",
        complexity,
        handler: Some(handler),
        ..CommandSpec::DEFAULT
    }
}

/// The CLUSTER subcommands a proxy serves as a shard server does.
pub const COUNTKEYSINSLOT: CommandSpec = sub(
    "cluster|countkeysinslot",
    3,
    "",
    "Returns the number of keys in a hash slot",
    "3.0.0",
    "O(N) where N is the number of keys in the partition",
    countkeysinslot,
);
pub const GETKEYSINSLOT: CommandSpec = sub(
    "cluster|getkeysinslot",
    4,
    "nondeterministic_output",
    "Returns the key names in a hash slot",
    "3.0.0",
    "O(N) where N is the number of keys in the partition",
    getkeysinslot,
);
pub const KEYSLOT: CommandSpec = sub(
    "cluster|keyslot",
    3,
    "",
    "Returns the hash slot of the specified key",
    "3.0.0",
    "O(N) where N is the number of bytes in the key",
    keyslot,
);

/// CLUSTER without its subcommands: a proxy serves others.
pub const CONTAINER: CommandSpec = CommandSpec {
    name: "cluster",
    arity: -2,
    acl: "@slow",
    summary: "A container for Redis Cluster commands",
    since: "3.0.0",
    group: "cluster",
    complexity: "Depends on subcommand.",
    ..CommandSpec::DEFAULT
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        subcommands: &[
            COUNTKEYSINSLOT,
            sub(
                "cluster|digest",
                3,
                "",
                "Fingerprints this server's copy of a partition (offset, epoch, keys, digest)",
                "slotcache",
                "O(N) where N is the number of keys in the partition",
                digest,
            ),
            GETKEYSINSLOT,
            KEYSLOT,
            sub(
                "cluster|partition",
                3,
                "",
                "Points the connection's keyless commands at a partition this server leads",
                "slotcache",
                "O(1)",
                partition,
            ),
        ],
        ..CONTAINER
    },
    CommandSpec {
        name: "readonly",
        arity: 1,
        flags: "loading stale fast",
        acl: "@fast @connection",
        summary: "Enables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(1)",
        handler: Some(readonly),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "readwrite",
        arity: 1,
        flags: "loading stale fast",
        acl: "@fast @connection",
        summary: "Disables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(1)",
        handler: Some(readwrite),
        ..CommandSpec::DEFAULT
    },
];
