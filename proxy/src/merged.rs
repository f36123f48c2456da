//! Views of "the server" that the proxy merges from every shard server's: LATENCY HISTOGRAM,
//! whose per-command histograms are added bucket by bucket, as one Redis's would count every
//! call the cluster ran. An administrative command (CONFIG, SCRIPT, FUNCTION...) reaches
//! every server through the proxy, so each server counts it once: it counts once.

use crate::session::{error_reply, reply_in, Pending, Session};
use bytes::Bytes;
use futures_util::future::{join_all, FutureExt};
use slotcache_protocol::command::{Flag, Table};
use slotcache_protocol::resp::frame::{elements, integer, text};
use slotcache_protocol::resp::request::encode;
use std::collections::BTreeMap;

/// Calls per histogram bucket (its upper bound in microseconds), by command name.
type Histograms = BTreeMap<Vec<u8>, BTreeMap<i64, i64>>;

/// Whether every server runs each call of a command sent through the proxy.
fn reaches_every_server(name: &[u8]) -> bool {
    Table::get()
        .lookup(name)
        .is_some_and(|resolved| resolved.spec.flags.has(Flag::Admin))
}

/// Adds one server's RESP2 LATENCY HISTOGRAM reply (cumulative counts per bucket).
fn add_histograms(merged: &mut Histograms, reply: &[u8]) -> Option<()> {
    let flat = elements(reply)?;
    for pair in flat.chunks(2) {
        let [name, detail] = pair else { return None };
        let detail = elements(detail)?;
        let buckets = elements(detail.get(3)?)?;
        let name = text(name)?;
        let once = reaches_every_server(name);
        let command = merged.entry(name.to_vec()).or_default();
        let mut below = 0;
        for bucket in buckets.chunks(2) {
            let [bound, cumulative] = bucket else {
                return None;
            };
            let cumulative = integer(cumulative)?;
            let count = command.entry(integer(bound)?).or_default();
            match once {
                true => *count = (*count).max(cumulative - below),
                false => *count += cumulative - below,
            }
            below = cumulative;
        }
    }
    Some(())
}

impl Session {
    /// LATENCY HISTOGRAM over every leader; the other LATENCY subcommands go to one.
    pub fn latency_histogram(&self, args: &[Bytes]) -> Pending {
        let (proxy, proto) = (self.proxy.clone(), self.proto());
        let request = encode(args);
        Pending::Forwarded(
            async move {
                let addrs = proxy.table.leader_addrs();
                let replies = join_all(
                    addrs
                        .iter()
                        .map(|addr| proxy.backends.call(addr, 2, request.clone())),
                )
                .await;
                let mut merged = Histograms::new();
                for reply in replies {
                    match reply {
                        Ok(reply) if reply.starts_with(b"-") => return reply,
                        Ok(reply) if add_histograms(&mut merged, &reply).is_some() => {}
                        _ => return error_reply("ERR a shard server's LATENCY HISTOGRAM"),
                    }
                }
                reply_in(proto, |out| {
                    out.map(merged.len());
                    for (name, buckets) in &merged {
                        out.bulk(name);
                        out.map(2);
                        out.bulk(b"calls");
                        out.int(buckets.values().sum());
                        out.bulk(b"histogram_usec");
                        out.map(buckets.len());
                        let mut cumulative = 0;
                        for (bound, count) in buckets {
                            cumulative += count;
                            out.int(*bound);
                            out.int(cumulative);
                        }
                    }
                })
            }
            .boxed(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_add_bucket_by_bucket() {
        let one = b"*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:3\r\n$14\r\nhistogram_usec\r\n*4\r\n:1\r\n:1\r\n:4\r\n:3\r\n";
        let two = b"*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:2\r\n$14\r\nhistogram_usec\r\n*2\r\n:4\r\n:2\r\n";
        let mut merged = Histograms::new();
        add_histograms(&mut merged, one).expect("one");
        add_histograms(&mut merged, two).expect("two");
        let set = &merged[&b"set".to_vec()];
        assert_eq!(set.get(&1), Some(&1));
        assert_eq!(set.get(&4), Some(&4));
    }
}
