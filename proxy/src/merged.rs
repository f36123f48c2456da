//! Views of "the server" that the proxy merges from every shard server's, as one Redis would
//! show what the cluster ran: LATENCY HISTOGRAM, whose per-command histograms are added bucket
//! by bucket; SLOWLOG, whose entries are put in one log, newest first; MEMORY STATS, whose
//! figures are added (ratios weighted by each server's memory). An administrative command
//! (CONFIG, SCRIPT, FUNCTION...) reaches every server through the proxy, so each server counts
//! it once: it counts once.

use crate::session::{error_reply, reply_in, Pending, Session};
use bytes::Bytes;
use futures_util::future::{join_all, FutureExt};
use slotcache_protocol::command::{Flag, Table};
use slotcache_protocol::resp::frame::{elements, integer, text};
use slotcache_protocol::resp::request::encode;
use slotcache_protocol::resp::Reply;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Calls per histogram bucket (its upper bound in microseconds), by command name.
type Histograms = BTreeMap<Vec<u8>, BTreeMap<i64, i64>>;

/// Whether every server runs each call of a command sent through the proxy.
fn reaches_every_server(name: &[u8]) -> bool {
    Table::get()
        .lookup(name)
        .is_some_and(|resolved| resolved.spec.flags.has(Flag::Admin))
}

/// Whether a logged request (as the slow log shows it) ran on every server: a container's
/// subcommand is looked up by its full name (`config|set`).
fn logged_everywhere(args: &[&[u8]]) -> bool {
    match args {
        [container, sub, ..] => {
            let full = [*container, b"|", *sub].concat().to_ascii_lowercase();
            Table::get()
                .lookup(&full)
                .is_some_and(|r| r.spec.flags.has(Flag::Admin))
                || reaches_every_server(&container.to_ascii_lowercase())
        }
        [name] => reaches_every_server(&name.to_ascii_lowercase()),
        [] => false,
    }
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
        let proto = self.proto();
        self.over_leaders(args, move |replies| {
            let mut merged = Histograms::new();
            for reply in replies {
                if add_histograms(&mut merged, &reply).is_none() {
                    return error_reply("ERR a shard server's LATENCY HISTOGRAM");
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
        })
    }

    /// Asks every leader for `args`; the reply is `merge` of theirs, or the first error.
    fn over_leaders(
        &self,
        args: &[Bytes],
        merge: impl FnOnce(Vec<Bytes>) -> Bytes + Send + 'static,
    ) -> Pending {
        let proxy = self.proxy.clone();
        let request = encode(args);
        Pending::Forwarded(
            async move {
                let addrs = proxy.table.leader_addrs();
                match ask_each(&proxy, &addrs, request).await {
                    Ok(replies) => merge(replies),
                    Err(error) => error,
                }
            }
            .boxed(),
        )
    }
}

/// Asks each of `addrs` (in RESP2) for `request`: the replies, or the first error.
async fn ask_each(
    proxy: &crate::Proxy,
    addrs: &[Arc<str>],
    request: Bytes,
) -> Result<Vec<Bytes>, Bytes> {
    let replies = join_all(
        addrs
            .iter()
            .map(|addr| proxy.backends.call(addr, 2, request.clone())),
    )
    .await;
    let mut all = Vec::with_capacity(replies.len());
    for (addr, reply) in addrs.iter().zip(replies) {
        match reply {
            Ok(reply) if reply.starts_with(b"-") => return Err(reply),
            Ok(reply) => all.push(reply),
            Err(err) => return Err(error_reply(&format!("ERR {addr}: {err}"))),
        }
    }
    Ok(all)
}

/// One slow log entry of one server: its id, and the raw reply of every field.
struct SlowEntry<'a> {
    id: i64,
    fields: Vec<&'a [u8]>,
}

/// Every server's entries in one log, newest first: a shard server's entry ids are the
/// microseconds when it logged them, so they order the servers' entries together. Ids are made
/// unique over the servers (`id * servers + server`); an administrative command, which reached
/// every server, is kept from the first server only.
fn merge_slowlogs(replies: &[Bytes]) -> Option<Vec<SlowEntry<'_>>> {
    let mut merged = Vec::new();
    for (server, reply) in replies.iter().enumerate() {
        for entry in elements(reply)? {
            let fields = elements(entry)?;
            let args: Vec<&[u8]> = elements(fields.get(3)?)?
                .into_iter()
                .filter_map(text)
                .collect();
            if server > 0 && logged_everywhere(&args) {
                continue;
            }
            merged.push(SlowEntry {
                id: integer(fields.first()?)?
                    .checked_mul(replies.len() as i64)?
                    .checked_add(server as i64)?,
                fields,
            });
        }
    }
    merged.sort_by_key(|entry| std::cmp::Reverse(entry.id));
    Some(merged)
}

impl Session {
    /// SLOWLOG GET, LEN and RESET over every shard server (HELP goes to one).
    pub fn slowlog(&self, args: &[Bytes]) -> Pending {
        let (proxy, proto) = (self.proxy.clone(), self.proto());
        let args = args.to_vec();
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        Pending::Forwarded(
            async move {
                let addrs = proxy.table.server_addrs();
                if addrs.is_empty() {
                    return error_reply("CLUSTERDOWN no shard server is reachable");
                }
                // LEN counts the merged log; GET's count applies to it (each server's newest
                // `count` hold the cluster's).
                let request = match sub.as_str() {
                    "len" if args.len() == 2 => {
                        encode(&[args[0].clone(), "GET".into(), "-1".into()])
                    }
                    _ => encode(&args),
                };
                let replies = match ask_each(&proxy, &addrs, request).await {
                    Ok(replies) => replies,
                    Err(error) => return error,
                };
                if sub == "reset" {
                    return replies[0].clone();
                }
                let Some(mut merged) = merge_slowlogs(&replies) else {
                    return error_reply("ERR a shard server's SLOWLOG GET");
                };
                // One log keeps at most `slowlog-max-len` entries, as one server's does.
                merged.truncate(proxy.slowlog_max_len.load(Ordering::Relaxed));
                let count = match args
                    .get(2)
                    .and_then(|c| std::str::from_utf8(c).ok()?.parse::<i64>().ok())
                {
                    _ if sub == "len" => {
                        return reply_in(proto, |out| out.int(merged.len() as i64))
                    }
                    Some(-1) => merged.len(),
                    Some(count) => count.max(0) as usize,
                    None => 10,
                };
                reply_in(proto, |out| {
                    out.array(count.min(merged.len()));
                    for entry in merged.iter().take(count) {
                        out.array(entry.fields.len());
                        out.int(entry.id);
                        for field in &entry.fields[1..] {
                            out.buf.extend_from_slice(field);
                        }
                    }
                })
            }
            .boxed(),
        )
    }

    /// MEMORY STATS over every leader: figures added, ratios recomputed or weighted by each
    /// server's allocated memory.
    pub fn memory_stats(&self, args: &[Bytes]) -> Pending {
        let proto = self.proto();
        self.over_leaders(args, move |replies| match add_memory_stats(&replies) {
            Some(stats) => reply_in(proto, |out| write_stats(out, &stats)),
            None => error_reply("ERR a shard server's MEMORY STATS"),
        })
    }
}

/// A MEMORY STATS figure: a count of bytes or keys, a ratio, or a nested map (`db.N`).
#[derive(Clone, Debug, PartialEq)]
enum Figure {
    Count(i64),
    Ratio(f64),
    Nested(Vec<(String, Figure)>),
}

/// Adds servers' MEMORY STATS (RESP2: names, then integers, ratios as bulks, nested arrays),
/// in the first server's order.
fn add_memory_stats(replies: &[Bytes]) -> Option<Vec<(String, Figure)>> {
    let parsed: Vec<Vec<(String, Figure)>> = replies
        .iter()
        .map(|reply| parse_stats(reply))
        .collect::<Option<_>>()?;
    let weights: Vec<f64> = parsed
        .iter()
        .map(|stats| count_of(stats, "total.allocated") as f64)
        .collect();
    let mut merged = add_figures(&parsed, &weights);
    let total = |name| count_of(&merged, name);
    let (keys, dataset) = (total("keys.count"), total("dataset.bytes"));
    let peak = total("peak.allocated").max(1) as f64;
    let per_key = if keys > 0 { dataset / keys } else { 0 };
    let peak_percentage = total("total.allocated") as f64 * 100.0 / peak;
    for (name, figure) in merged.iter_mut() {
        match name.as_str() {
            "keys.bytes-per-key" => *figure = Figure::Count(per_key),
            "peak.percentage" => *figure = Figure::Ratio(peak_percentage),
            _ => {}
        }
    }
    Some(merged)
}

fn count_of(stats: &[(String, Figure)], name: &str) -> i64 {
    stats
        .iter()
        .find_map(|(n, f)| match f {
            Figure::Count(count) if n == name => Some(*count),
            _ => None,
        })
        .unwrap_or(0)
}

fn parse_stats(reply: &[u8]) -> Option<Vec<(String, Figure)>> {
    let flat = elements(reply)?;
    flat.chunks(2)
        .map(|pair| {
            let [name, value] = pair else { return None };
            let name = String::from_utf8_lossy(text(name)?).into_owned();
            let figure = match integer(value) {
                Some(count) => Figure::Count(count),
                None if value.starts_with(b"*") => Figure::Nested(parse_stats(value)?),
                None => Figure::Ratio(std::str::from_utf8(text(value)?).ok()?.parse().ok()?),
            };
            Some((name, figure))
        })
        .collect()
}

/// Counts added, ratios weighted by `weights` (one per server), nested maps added alike.
fn add_figures(servers: &[Vec<(String, Figure)>], weights: &[f64]) -> Vec<(String, Figure)> {
    let Some(first) = servers.first() else {
        return Vec::new();
    };
    let weight_sum: f64 = weights.iter().sum::<f64>().max(1.0);
    first
        .iter()
        .map(|(name, figure)| {
            let same: Vec<&Figure> = servers
                .iter()
                .filter_map(|stats| stats.iter().find(|(n, _)| n == name).map(|(_, f)| f))
                .collect();
            let merged = match figure {
                Figure::Count(_) => Figure::Count(
                    same.iter()
                        .map(|f| match f {
                            Figure::Count(count) => *count,
                            _ => 0,
                        })
                        .sum(),
                ),
                Figure::Ratio(_) => Figure::Ratio(
                    same.iter()
                        .zip(weights)
                        .map(|(f, weight)| match f {
                            Figure::Ratio(ratio) => ratio * weight,
                            _ => 0.0,
                        })
                        .sum::<f64>()
                        / weight_sum,
                ),
                Figure::Nested(_) => {
                    let nested: Vec<Vec<(String, Figure)>> = same
                        .iter()
                        .map(|f| match f {
                            Figure::Nested(inner) => inner.clone(),
                            _ => Vec::new(),
                        })
                        .collect();
                    Figure::Nested(add_figures(&nested, weights))
                }
            };
            (name.clone(), merged)
        })
        .collect()
}

fn write_stats(out: &mut Reply, stats: &[(String, Figure)]) {
    out.map(stats.len());
    for (name, figure) in stats {
        out.bulk(name.as_bytes());
        match figure {
            Figure::Count(count) => out.int(*count),
            Figure::Ratio(ratio) => out.double(*ratio),
            Figure::Nested(inner) => write_stats(out, inner),
        }
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

    /// A slow log entry as a server sends it.
    fn entry(id: i64, at: i64, command: &[&str]) -> String {
        let args: String = command
            .iter()
            .map(|arg| format!("${}\r\n{arg}\r\n", arg.len()))
            .collect();
        format!(
            "*6\r\n:{id}\r\n:{at}\r\n:5\r\n*{}\r\n{args}$11\r\n127.0.0.1:1\r\n$0\r\n\r\n",
            command.len()
        )
    }

    #[test]
    fn slow_logs_merge_newest_first_with_admin_commands_once() {
        let config = ["CONFIG", "SET", "slowlog-max-len", "10"];
        let one = Bytes::from(format!(
            "*2\r\n{}{}",
            entry(1, 20, &["get", "k"]),
            entry(0, 10, &config)
        ));
        let two = Bytes::from(format!(
            "*2\r\n{}{}",
            entry(1, 15, &["set", "k", "v"]),
            entry(0, 10, &config)
        ));
        let replies = [one, two];
        let merged = merge_slowlogs(&replies).expect("well-formed");
        let order: Vec<i64> = merged.iter().map(|e| e.id).collect();
        assert_eq!(order, [3, 2, 0]);
    }

    #[test]
    fn memory_stats_add_up() {
        let server = |allocated: i64, keys: i64, dataset: i64, fragmentation: &str| {
            Bytes::from(format!(
                "*10\r\n$15\r\ntotal.allocated\r\n:{allocated}\r\n$14\r\npeak.allocated\r\n:{allocated}\r\n$10\r\nkeys.count\r\n:{keys}\r\n$13\r\ndataset.bytes\r\n:{dataset}\r\n$13\r\nfragmentation\r\n${}\r\n{fragmentation}\r\n",
                fragmentation.len()
            ))
        };
        let replies = [server(100, 2, 40, "1.5"), server(300, 0, 0, "2.5")];
        let stats = add_memory_stats(&replies).expect("well-formed");
        assert_eq!(count_of(&stats, "total.allocated"), 400);
        assert_eq!(count_of(&stats, "keys.count"), 2);
        let fragmentation = stats.iter().find(|(n, _)| n == "fragmentation");
        assert_eq!(
            fragmentation.map(|(_, f)| f.clone()),
            Some(Figure::Ratio(2.25))
        );
    }
}
