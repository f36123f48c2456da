//! Each copy's replication progress, asked from the shard servers themselves (`INFO
//! replication` over RESP): the next log offset of every copy a server hosts. `status` shows
//! it; the controller elects the most advanced in-sync copy by it.

use std::collections::BTreeMap;
use std::time::Duration;

/// Partition → node → next log offset of that node's copy.
pub type CopyOffsets = BTreeMap<u32, BTreeMap<String, u64>>;

/// Asks every `(node, client address)` at once; a server that does not answer within
/// `timeout` is left out.
pub async fn ask(
    servers: impl IntoIterator<Item = (String, String)>,
    timeout: Duration,
) -> CopyOffsets {
    ask_field(servers, timeout, "offset").await
}

/// [`ask`] for another numeric field of the copies' lines (`keys`: the keys each copy holds).
pub async fn ask_field(
    servers: impl IntoIterator<Item = (String, String)>,
    timeout: Duration,
    field: &'static str,
) -> CopyOffsets {
    let mut asks = tokio::task::JoinSet::new();
    for (node, addr) in servers {
        asks.spawn(async move {
            let answer = tokio::time::timeout(timeout, info(&addr, "replication")).await;
            (node, answer.ok().and_then(Result::ok))
        });
    }
    let mut offsets = CopyOffsets::new();
    while let Some(Ok((node, info))) = asks.join_next().await {
        let copies = info.as_deref().map(|info| copy_field(info, field));
        for (pid, offset) in copies.unwrap_or_default() {
            offsets.entry(pid).or_default().insert(node.clone(), offset);
        }
    }
    offsets
}

/// `INFO <section>` from the server at `addr`.
pub async fn info(addr: &str, section: &str) -> redis::RedisResult<String> {
    let client = crate::credential::node_client(addr)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut connection)
        .await
}

/// One numeric `field=<n>` of the `partition<id>:...` lines of an INFO reply.
pub fn copy_field(info: &str, field: &str) -> Vec<(u32, u64)> {
    info.lines()
        .filter_map(|line| {
            let (name, fields) = line.trim().split_once(':')?;
            let pid = name.strip_prefix("partition")?.parse().ok()?;
            let offset = fields
                .split(',')
                .find_map(|pair| pair.strip_prefix(field)?.strip_prefix('='))?
                .parse()
                .ok()?;
            Some((pid, offset))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_come_from_the_partition_lines() {
        let info = "# Replication\r\nrole:master\r\npartition0:role=leader,epoch=2,offset=120\r\n\
                    partition7:role=follower,epoch=1,offset=98\r\npartitionx:offset=1\r\n";
        assert_eq!(copy_field(info, "offset"), vec![(0, 120), (7, 98)]);
        let info = "partition3:role=leader,epoch=2,offset=120,keys=40\r\n";
        assert_eq!(copy_field(info, "keys"), vec![(3, 40)]);
    }
}
