//! Pub/sub commands. Delivery happens in the subscriber's connection loop (`net.rs`), which
//! drains its mailbox into the reply stream.

use super::connection::help_reply;
use super::{ks, Args, Begin, CmdResult, CommandSpec, Ctx, Find};
use crate::client::Client;
use crate::pubsub::{Kind, Mailbox, Registry};
use crate::resp::Reply;
use bytes::Bytes;

fn mailbox(client: &mut Client) -> std::sync::Arc<Mailbox> {
    if let Some(mailbox) = &client.subscriptions.mailbox {
        return mailbox.clone();
    }
    let (mailbox, inbox) = Mailbox::new(client.info.clone());
    client.subscriptions.mailbox = Some(mailbox.clone());
    client.subscriptions.inbox = Some(inbox);
    mailbox
}

fn count_for(client: &Client, kind: Kind) -> usize {
    match kind {
        Kind::Shard => client.subscriptions.shards.len(),
        _ => client.subscriptions.count(),
    }
}

pub fn confirm(out: &mut Reply, word: &str, name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(word.as_bytes());
    out.bulk_or_null(name);
    out.int(count as i64);
}

fn subscribe_to(ctx: &mut Ctx, args: &Args, kind: Kind) -> CmdResult {
    let mailbox = mailbox(ctx.client);
    let mut registry = ctx.server.pubsub.lock();
    for name in &args[1..] {
        let list = ctx.client.subscriptions.list(kind);
        if !list.contains(name) {
            list.push(name.clone());
            registry.subscribe(kind, name, &mailbox);
        }
        confirm(
            ctx.out,
            kind.words().0,
            Some(name),
            count_for(ctx.client, kind),
        );
    }
    Ok(())
}

/// Drops the named subscriptions (all of that kind when none are named), confirming each.
fn unsubscribe_from(
    client: &mut Client,
    registry: &mut Registry,
    out: &mut Reply,
    names: &[Bytes],
    kind: Kind,
) {
    let names: Vec<Bytes> = if names.is_empty() {
        client.subscriptions.list(kind).clone()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        confirm(out, kind.words().1, None, count_for(client, kind));
    }
    for name in names {
        let list = client.subscriptions.list(kind);
        if let Some(at) = list.iter().position(|n| *n == name) {
            list.remove(at);
            if let Some(mailbox) = &client.subscriptions.mailbox {
                registry.unsubscribe(kind, &name, mailbox);
            }
        }
        confirm(out, kind.words().1, Some(&name), count_for(client, kind));
    }
}

fn unsubscribe_command(ctx: &mut Ctx, args: &Args, kind: Kind) -> CmdResult {
    let mut registry = ctx.server.pubsub.lock();
    unsubscribe_from(ctx.client, &mut registry, ctx.out, &args[1..], kind);
    Ok(())
}

/// Drops every subscription without replying (disconnect, RESET).
pub fn unsubscribe_all(client: &mut Client, registry: &mut Registry) {
    let mut sink = Reply::new(client.proto);
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        if !client.subscriptions.list(kind).is_empty() {
            unsubscribe_from(client, registry, &mut sink, &[], kind);
        }
    }
}

fn subscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    subscribe_to(ctx, args, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    subscribe_to(ctx, args, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    subscribe_to(ctx, args, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    unsubscribe_command(ctx, args, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    unsubscribe_command(ctx, args, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    unsubscribe_command(ctx, args, Kind::Shard)
}

fn publish(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let received = ctx.server.pubsub.lock().publish(false, &args[1], &args[2]);
    ctx.out.int(received as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let received = ctx.server.pubsub.lock().publish(true, &args[1], &args[2]);
    ctx.out.int(received as i64);
    Ok(())
}

fn list_channels(ctx: &mut Ctx, args: &Args, shard: bool) -> CmdResult {
    let channels = ctx
        .server
        .pubsub
        .lock()
        .channels(shard, args.get(2).map(|p| &p[..]));
    ctx.out.bulks(channels.iter());
    Ok(())
}

fn count_subscribers(ctx: &mut Ctx, args: &Args, shard: bool) -> CmdResult {
    let registry = ctx.server.pubsub.lock();
    ctx.out.array((args.len() - 2) * 2);
    for channel in &args[2..] {
        ctx.out.bulk(channel);
        ctx.out.int(registry.subscribers(shard, channel) as i64);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx, args: &Args) -> CmdResult {
    list_channels(ctx, args, false)
}

fn pubsub_shardchannels(ctx: &mut Ctx, args: &Args) -> CmdResult {
    list_channels(ctx, args, true)
}

fn pubsub_numsub(ctx: &mut Ctx, args: &Args) -> CmdResult {
    count_subscribers(ctx, args, false)
}

fn pubsub_shardnumsub(ctx: &mut Ctx, args: &Args) -> CmdResult {
    count_subscribers(ctx, args, true)
}

fn pubsub_numpat(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let patterns = ctx.server.pubsub.lock().pattern_count();
    ctx.out.int(patterns as i64);
    Ok(())
}

/// PUBSUB HELP's text, which a proxy answers too.
pub const PUBSUB_HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

fn pubsub_help(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    help_reply(ctx, "PUBSUB", PUBSUB_HELP)
}

/// Writes a delivered message into a subscriber's reply stream.
pub fn write_message(out: &mut Reply, message: &crate::pubsub::Message) {
    let word = message.kind.words().2;
    match &message.pattern {
        Some(pattern) => {
            out.push(4);
            out.bulk(word.as_bytes());
            out.bulk(pattern);
        }
        None => {
            out.push(3);
            out.bulk(word.as_bytes());
        }
    }
    out.bulk(&message.channel);
    out.bulk(&message.payload);
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "subscribe",
        arity: -2,
        flags: "pubsub noscript loading stale",
        acl: "@pubsub @slow",
        keys: (0, 0, 0),
        summary: "Listen for messages published to the given channels",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of channels to subscribe to.",
        handler: Some(subscribe),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "unsubscribe",
        arity: -1,
        flags: "pubsub noscript loading stale",
        acl: "@pubsub @slow",
        keys: (0, 0, 0),
        summary: "Stop listening for messages posted to the given channels",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of clients already subscribed to a channel.",
        handler: Some(unsubscribe),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "psubscribe",
        arity: -2,
        flags: "pubsub noscript loading stale",
        acl: "@pubsub @slow",
        keys: (0, 0, 0),
        summary: "Listen for messages published to channels matching the given patterns",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of patterns the client is already subscribed to.",
        handler: Some(psubscribe),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "punsubscribe",
        arity: -1,
        flags: "pubsub noscript loading stale",
        acl: "@pubsub @slow",
        keys: (0, 0, 0),
        summary: "Stop listening for messages posted to channels matching the given patterns",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).",
        handler: Some(punsubscribe),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "publish",
        arity: 3,
        flags: "pubsub loading stale fast",
        acl: "@pubsub @fast",
        keys: (0, 0, 0),
        summary: "Post a message to a channel",
        since: "2.0.0",
        group: "pubsub",
        complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
        handler: Some(publish),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "pubsub",
        arity: -2,
        flags: "",
        acl: "@slow",
        keys: (0, 0, 0),
        summary: "A container for Pub/Sub commands",
        since: "2.8.0",
        group: "pubsub",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                name: "pubsub|numsub",
                arity: -2,
                flags: "pubsub loading stale",
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "Get the count of subscribers for channels",
                since: "2.8.0",
                group: "pubsub",
                complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
                handler: Some(pubsub_numsub),
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|numpat",
                arity: 2,
                flags: "pubsub loading stale",
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "Get the count of unique patterns pattern subscriptions",
                since: "2.8.0",
                group: "pubsub",
                complexity: "O(1)",
                handler: Some(pubsub_numpat),
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|help",
                arity: 2,
                flags: "loading stale",
                acl: "@slow",
                keys: (0, 0, 0),
                summary: "Show helpful text about the different subcommands",
                since: "6.2.0",
                group: "pubsub",
                complexity: "O(1)",
                handler: Some(pubsub_help),
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|channels",
                arity: -2,
                flags: "pubsub loading stale",
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "List active channels",
                since: "2.8.0",
                group: "pubsub",
                complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
                handler: Some(pubsub_channels),
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|shardnumsub",
                arity: -2,
                flags: "pubsub loading stale",
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "Get the count of subscribers for shard channels",
                since: "7.0.0",
                group: "pubsub",
                complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
                handler: Some(pubsub_shardnumsub),
                ..CommandSpec::DEFAULT
            },
            CommandSpec {
                name: "pubsub|shardchannels",
                arity: -2,
                flags: "pubsub loading stale",
                acl: "@pubsub @slow",
                keys: (0, 0, 0),
                summary: "List active shard channels",
                since: "7.0.0",
                group: "pubsub",
                complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
                handler: Some(pubsub_shardchannels),
                ..CommandSpec::DEFAULT
            },
        ],
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "ssubscribe",
        arity: -2,
        flags: "pubsub noscript loading stale",
        acl: "@pubsub @slow",
        keys: (1, -1, 1),
        key_specs: &[ks("not_key", Begin::Index(1), Find::Range(-1, 1, 0))],
        summary: "Listen for messages published to the given shard channels",
        since: "7.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of shard channels to subscribe to.",
        handler: Some(ssubscribe),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sunsubscribe",
        arity: -1,
        flags: "pubsub noscript loading stale",
        acl: "@pubsub @slow",
        keys: (1, -1, 1),
        key_specs: &[ks("not_key", Begin::Index(1), Find::Range(-1, 1, 0))],
        summary: "Stop listening for messages posted to the given shard channels",
        since: "7.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of clients already subscribed to a shard channel.",
        handler: Some(sunsubscribe),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "spublish",
        arity: 3,
        flags: "pubsub loading stale fast",
        acl: "@pubsub @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("not_key", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Post a message to a shard channel",
        since: "7.0.0",
        group: "pubsub",
        complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
        handler: Some(spublish),
        ..CommandSpec::DEFAULT
    },

];
