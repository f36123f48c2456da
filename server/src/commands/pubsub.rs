//! Pub/sub commands. Delivery happens in the subscriber's connection loop (`net.rs`), which
//! drains its mailbox into the reply stream.

use super::help_reply;
use super::{Args, CmdResult, Ctx, Handler, Replied};
use crate::client::Client;
use crate::pubsub::{Mailbox, Registry};
use bytes::Bytes;
use slotcache_protocol::command::help::PUBSUB_HELP;
use slotcache_protocol::pubsub::{confirm, Kind};
use slotcache_protocol::resp::Reply;

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
    Ok(Replied)
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
    Ok(Replied)
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
    Ok(Replied)
}

fn spublish(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let received = ctx.server.pubsub.lock().publish(true, &args[1], &args[2]);
    ctx.out.int(received as i64);
    Ok(Replied)
}

fn list_channels(ctx: &mut Ctx, args: &Args, shard: bool) -> CmdResult {
    let channels = ctx
        .server
        .pubsub
        .lock()
        .channels(shard, args.get(2).map(|p| &p[..]));
    ctx.out.bulks(channels.iter());
    Ok(Replied)
}

fn count_subscribers(ctx: &mut Ctx, args: &Args, shard: bool) -> CmdResult {
    let registry = ctx.server.pubsub.lock();
    ctx.out.array((args.len() - 2) * 2);
    for channel in &args[2..] {
        ctx.out.bulk(channel);
        ctx.out.int(registry.subscribers(shard, channel) as i64);
    }
    Ok(Replied)
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
    Ok(Replied)
}

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

/// The handlers of the family's commands, joined to their specs by name.
pub static HANDLERS: &[(&str, Handler)] = &[
    ("subscribe", subscribe),
    ("unsubscribe", unsubscribe),
    ("psubscribe", psubscribe),
    ("punsubscribe", punsubscribe),
    ("publish", publish),
    ("pubsub|numsub", pubsub_numsub),
    ("pubsub|numpat", pubsub_numpat),
    ("pubsub|help", pubsub_help),
    ("pubsub|channels", pubsub_channels),
    ("pubsub|shardnumsub", pubsub_shardnumsub),
    ("pubsub|shardchannels", pubsub_shardchannels),
    ("ssubscribe", ssubscribe),
    ("sunsubscribe", sunsubscribe),
    ("spublish", spublish),
];
