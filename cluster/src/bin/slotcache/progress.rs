//! Sync progress for `status`: each live shard server is asked (`INFO replication`, over RESP)
//! for the next log offset of every copy it hosts, so a follower's distance behind its leader
//! shows while it catches up.

use serde::Serialize;
use slotcache_cluster::store::ClusterState;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long a server gets to answer before `status` shows its copies as unknown.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest INFO reply read.
const MAX_INFO: usize = 4 << 20;

/// `status` as printed: the cluster's state and, per partition, each copy's next offset.
#[derive(Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub state: ClusterState,
    /// Partition → node → next log offset of that node's copy (servers that did not answer
    /// are absent).
    pub offsets: BTreeMap<u32, BTreeMap<String, u64>>,
}

/// Asks every live server at once.
pub async fn gather(state: ClusterState) -> Status {
    let mut asks = tokio::task::JoinSet::new();
    for node in &state.nodes {
        if state.active_nodes.contains(&node.id) {
            let (id, addr) = (node.id.clone(), node.client_addr.clone());
            asks.spawn(async move {
                let answer = tokio::time::timeout(ASK_TIMEOUT, replication_info(&addr)).await;
                (id, answer.ok().and_then(Result::ok))
            });
        }
    }
    let mut offsets: BTreeMap<u32, BTreeMap<String, u64>> = BTreeMap::new();
    while let Some(Ok((node, info))) = asks.join_next().await {
        for (pid, offset) in info.as_deref().map(copy_offsets).unwrap_or_default() {
            offsets.entry(pid).or_default().insert(node.clone(), offset);
        }
    }
    Status { state, offsets }
}

/// `INFO replication` from the server at `addr`.
async fn replication_info(addr: &str) -> std::io::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    let (reader, mut writer) = stream.into_split();
    writer
        .write_all(b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n")
        .await?;
    let mut reader = BufReader::new(reader);
    let mut header = String::new();
    reader.read_line(&mut header).await?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let length: usize = header
        .strip_prefix('$')
        .and_then(|n| n.trim().parse().ok())
        .filter(|n| *n <= MAX_INFO)
        .ok_or_else(|| invalid(header.trim()))?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    String::from_utf8(body).map_err(|_| invalid("INFO is not UTF-8"))
}

/// The `partition<id>:...,offset=<n>` lines of an INFO reply.
fn copy_offsets(info: &str) -> Vec<(u32, u64)> {
    info.lines()
        .filter_map(|line| {
            let (name, fields) = line.trim().split_once(':')?;
            let pid = name.strip_prefix("partition")?.parse().ok()?;
            let offset = fields
                .split(',')
                .find_map(|field| field.strip_prefix("offset="))?
                .parse()
                .ok()?;
            Some((pid, offset))
        })
        .collect()
}

/// A partition's copies as the table shows them: `node=offset`, with how far a follower is
/// behind its leader, `?` for a copy whose server did not answer.
pub fn describe(status: &Status, pid: u32, replicas: &[String], leader: Option<&str>) -> String {
    let copies = status.offsets.get(&pid);
    let offset_of = |node: &str| copies.and_then(|c| c.get(node)).copied();
    let leading = leader.and_then(offset_of);
    replicas
        .iter()
        .map(|node| match (offset_of(node), leading) {
            (None, _) => format!("{node}=?"),
            (Some(offset), Some(head)) if offset < head => {
                format!("{node}={offset}(-{})", head - offset)
            }
            (Some(offset), _) => format!("{node}={offset}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_come_from_the_partition_lines() {
        let info = "# Replication\r\nrole:master\r\npartition0:role=leader,epoch=2,offset=120\r\n\
                    partition7:role=follower,epoch=1,offset=98\r\npartitionx:offset=1\r\n";
        assert_eq!(copy_offsets(info), vec![(0, 120), (7, 98)]);
    }
}
