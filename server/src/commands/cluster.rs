//! CLUSTER: the slot questions a shard server answers about the partition a connection
//! addresses. A shard server is no Redis Cluster node (the proxies present the cluster), so
//! these run only in cluster mode, and the proxy is their caller: COUNTKEYSINSLOT and
//! GETKEYSINSLOT are routed to the slot's partition, and PARTITION points the connection's
//! keyless requests (SCAN, KEYS, DBSIZE, RANDOMKEY, FLUSHALL) at one partition.

use super::{Args, CmdError, CmdResult, CommandSpec, Ctx};
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

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "cluster",
    arity: -2,
    acl: "@slow",
    summary: "A container for Redis Cluster commands",
    since: "3.0.0",
    group: "cluster",
    complexity: "Depends on subcommand.",
    subcommands: &[
        sub(
            "cluster|countkeysinslot",
            3,
            "",
            "Returns the number of keys in a hash slot",
            "3.0.0",
            "O(N) where N is the number of keys in the partition",
            countkeysinslot,
        ),
        sub(
            "cluster|getkeysinslot",
            4,
            "nondeterministic_output",
            "Returns the key names in a hash slot",
            "3.0.0",
            "O(N) where N is the number of keys in the partition",
            getkeysinslot,
        ),
        sub(
            "cluster|keyslot",
            3,
            "",
            "Returns the hash slot for a key",
            "3.0.0",
            "O(N) where N is the number of bytes in the key",
            keyslot,
        ),
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
    ..CommandSpec::DEFAULT
}];
