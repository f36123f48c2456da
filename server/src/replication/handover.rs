//! A planned leader change, carried out by the leader when its record names a successor
//! (`handover`): the successor catches up while writes go on; then the leader stops
//! recording, waits until the successor and every counted member hold its last record, and
//! writes the next epoch naming the successor leader. Writes pause only for that last step:
//! the requests that arrive meanwhile wait, and are then redirected (MOVED) to the new leader
//! (see `dispatch::waits_for_leader`), and the replies already waiting for acknowledgements
//! all go out, since everything is acknowledged before the switch.

use super::Replication;
use crate::partition::SharedKeyspace;
use crate::state::Server;
use slotcache_cluster::records::PartitionRecord;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How long the successor gets to catch up while writes go on.
const CATCH_UP: Duration = Duration::from_secs(5);
/// How long writes stay paused for the last records to reach the successor and etcd to take
/// the new epoch; past it the leader writes again and the controller later switches without
/// a handover.
const PAUSE: Duration = Duration::from_secs(1);
/// How long reading the record back may take, and the wait between tries.
const CONFIRM_READ: Duration = Duration::from_millis(500);

/// Hands `pid`, led at `epoch`, over to `successor`; gives up (writes going on) when it
/// cannot be done in time.
pub async fn hand_over(server: Arc<Server>, pid: u32, epoch: u64, successor: String) {
    let (Some(replication), Some(keyspace)) = (server.replication.get(), server.engine.get(pid))
    else {
        return;
    };
    let Some(progress) = replication.progress(pid).filter(|p| p.epoch == epoch) else {
        return;
    };
    let head = keyspace.lock().log.next_offset();
    let caught_up = Instant::now() + CATCH_UP;
    if !progress.wait_handover(&successor, head, caught_up).await {
        warn!(partition = pid, %successor, "handover: the successor did not catch up in time");
        return;
    }
    let paused = Instant::now();
    let Some((mut pause, head)) = Pause::start(&keyspace, epoch) else {
        return;
    };
    let switched = progress
        .wait_handover(&successor, head, paused + PAUSE)
        .await
        && write_next_epoch(replication, pid, epoch, &successor, paused + PAUSE).await;
    if switched {
        // Refusing until the new record makes this copy a follower.
        pause.keep();
        info!(
            partition = pid,
            %successor,
            offset = head,
            paused_ms = paused.elapsed().as_secs_f64() * 1000.0,
            "handed over"
        );
    } else {
        warn!(partition = pid, %successor, "handover not done in time: writes resume here");
    }
}

/// Writes paused at a leader for its handover. They resume when it is dropped, unless kept:
/// a handover given up, or called off (its record changed, which drops the task), must not
/// leave the partition refusing writes.
struct Pause<'a> {
    keyspace: &'a SharedKeyspace,
    epoch: u64,
    kept: bool,
}

impl<'a> Pause<'a> {
    /// Pauses the leader of `epoch`; returns the head the successor must hold.
    fn start(keyspace: &'a SharedKeyspace, epoch: u64) -> Option<(Pause<'a>, u64)> {
        let mut ks = keyspace.lock();
        if ks.log.epoch() != epoch {
            return None;
        }
        let head = ks.log.set_handing_over(true);
        let pause = Pause {
            keyspace,
            epoch,
            kept: false,
        };
        Some((pause, head))
    }

    fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Pause<'_> {
    fn drop(&mut self) {
        let mut ks = self.keyspace.lock();
        if !self.kept && ks.log.epoch() == self.epoch {
            ks.log.set_handing_over(false);
        }
    }
}

/// Writes the record `pid`'s handover asks for, provided it still asks for it from this
/// server at `epoch`. True when etcd has it. A write whose outcome is unknown (an error, no
/// answer by `deadline`) is settled by reading the record back, for as long as that takes:
/// resuming writes here while etcd names the successor would split the partition's history.
async fn write_next_epoch(
    replication: &Replication,
    pid: u32,
    epoch: u64,
    successor: &str,
    deadline: Instant,
) -> bool {
    let me = replication.node_id.as_str();
    let write = async {
        let mut store = replication.store.lock().await;
        let key = store.keys.partition(pid);
        let (record, revision) = store.get_versioned::<PartitionRecord>(&key).await?;
        let next = record
            .filter(|r| {
                r.epoch == epoch
                    && r.leader.as_deref() == Some(me)
                    && r.handover.as_deref() == Some(successor)
            })
            .and_then(|r| r.handed_over());
        match next {
            Some(next) => store.put_if_unchanged(&key, &next, revision).await,
            None => Ok(false),
        }
    };
    match tokio::time::timeout_at(deadline.into(), write).await {
        Ok(Ok(written)) => return written,
        Ok(Err(err)) => warn!(partition = pid, %err, "handover: writing the next epoch failed"),
        Err(_) => warn!(
            partition = pid,
            "handover: etcd is slow to take the next epoch"
        ),
    }
    loop {
        let read = async {
            let mut store = replication.store.lock().await;
            let key = store.keys.partition(pid);
            store.get::<PartitionRecord>(&key).await
        };
        match tokio::time::timeout(CONFIRM_READ, read).await {
            Ok(Ok(record)) => {
                return !record.is_some_and(|r| r.epoch == epoch && r.leader.as_deref() == Some(me))
            }
            Ok(Err(err)) => {
                warn!(partition = pid, %err, "handover: reading the record back failed")
            }
            Err(_) => warn!(
                partition = pid,
                "handover: reading the record back timed out"
            ),
        }
        tokio::time::sleep(CONFIRM_READ).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_given_up_or_called_off_resumes_writes_and_a_kept_one_stays() {
        let keyspace = crate::partition::Partitions::new(1).open(0);
        keyspace.lock().log.lead(3);
        assert!(Pause::start(&keyspace, 2).is_none(), "another epoch");
        let (pause, _) = Pause::start(&keyspace, 3).expect("leading at epoch 3");
        assert!(keyspace.lock().log.handing_over());
        drop(pause);
        assert!(!keyspace.lock().log.handing_over());
        let (mut pause, _) = Pause::start(&keyspace, 3).expect("leading at epoch 3");
        pause.keep();
        drop(pause);
        assert!(keyspace.lock().log.handing_over());
        keyspace.lock().log.follow(4);
        assert!(!keyspace.lock().log.handing_over());
    }
}
