//! Replies a connection holds back in `sync` mode until the writes they may reflect are on the
//! replicas counted for acknowledgement. Each batch run on a led partition holds the replies
//! from where it began until the log head it saw is committed; replies before it go out at
//! once. So a pipelined connection (a proxy's, shared by many clients) streams replies as
//! acknowledgements arrive, where holding them all until the newest batch's head was committed
//! stalled it until its load paused.

use crate::replication::Progress;
use std::collections::VecDeque;
use std::sync::Arc;

/// The batches whose replies are held, oldest first, and where the connection's output stands.
#[derive(Default)]
pub struct Commits {
    held: VecDeque<Held>,
    /// Bytes of replies written to the socket so far.
    sent: u64,
}

struct Held {
    progress: Arc<Progress>,
    /// The log offset the replicas must have.
    head: u64,
    /// Where the batch's replies begin in the connection's output (counted from its start).
    began: u64,
}

impl Commits {
    /// Where the next reply appended to `pending` (the unsent output) begins.
    pub fn position(&self, pending: usize) -> u64 {
        self.sent + pending as u64
    }

    /// Holds the replies from `began` on until `progress` commits `head`.
    pub fn hold(&mut self, progress: Arc<Progress>, head: u64, began: u64) {
        self.held.push_back(Held {
            progress,
            head,
            began,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Releases the batches already committed; how many of the `pending` bytes may go out.
    pub fn releasable(&mut self, pending: usize) -> usize {
        while self
            .held
            .front()
            .is_some_and(|held| held.progress.is_committed(held.head))
        {
            self.held.pop_front();
        }
        self.held
            .front()
            .map_or(pending, |held| (held.began - self.sent) as usize)
    }

    /// `bytes` of the output went out.
    pub fn sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }

    /// Waits until the oldest held batch is committed (true) or leadership moved before its
    /// replicas had it (false: its writes' outcome is unknown). Pending forever with none held.
    pub async fn oldest_committed(&self) -> bool {
        match self.held.front() {
            Some(held) => held.progress.committed(held.head).await,
            None => std::future::pending().await,
        }
    }
}
