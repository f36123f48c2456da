//! Sync progress for `status`: each live shard server's copies and their log offsets, so a
//! follower's distance behind its leader shows while it catches up.

use serde::Serialize;
use slotcache_cluster::offsets::{self, CopyOffsets};
use slotcache_cluster::store::ClusterState;
use std::time::Duration;

/// How long a server gets to answer before `status` shows its copies as unknown.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// `status` as printed: the cluster's state and, per partition, each copy's next offset.
#[derive(Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub state: ClusterState,
    /// Partition → node → next log offset of that node's copy (servers that did not answer
    /// are absent).
    pub offsets: CopyOffsets,
}

/// Asks every live server at once.
pub async fn gather(state: ClusterState) -> Status {
    let live = state
        .nodes
        .iter()
        .filter(|node| state.active_nodes.contains(&node.id))
        .map(|node| (node.id.clone(), node.client_addr.clone()));
    let offsets = offsets::ask(live.collect::<Vec<_>>(), ASK_TIMEOUT).await;
    Status { state, offsets }
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
