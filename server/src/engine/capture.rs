//! Snapshots taken while writes go on. A capture copies every key of a database as it was at
//! the moment the capture began: a scan copies keys a step at a time, and a write that comes
//! first copies the key just before it changes it (copy before write). Each entry records the
//! capture that copied it, or during which it was written, so neither the scan nor a second
//! write copies it again; a key created after the moment starts marked, with nothing to copy.
//! The copies are RESTORE commands, so a follower rebuilds the database with the code it
//! replays writes with.

use super::db::Entry;
use super::dump::serialize;
use bytes::Bytes;

/// A command recreating one key.
pub type Copy = Vec<Bytes>;

/// How much one step of a snapshot may do while it holds the partition.
#[derive(Debug, Clone, Copy)]
pub struct StepBudget {
    pub keys: usize,
    pub bytes: usize,
}

impl StepBudget {
    pub fn spent(&self) -> bool {
        self.keys == 0 || self.bytes == 0
    }
}

/// One database's part of a snapshot in progress.
pub struct Capture {
    /// The mark of the entries this capture has copied, or need no copy (never 0, the mark
    /// of entries no capture saw).
    pub(super) mark: u32,
    /// Where the scan goes on from.
    pub(super) cursor: u64,
    /// Every key of the moment is copied: the scan went round, or the database was emptied.
    pub(super) complete: bool,
    /// Copies made by writes, not taken yet.
    pending: Vec<Copy>,
}

impl Capture {
    pub fn new(mark: u32) -> Self {
        Capture {
            mark,
            cursor: 0,
            complete: false,
            pending: Vec::new(),
        }
    }

    /// The mark new entries get: while the capture runs, a key written anew needs no copy
    /// (its value at the moment was copied when it was replaced or deleted, or it had none).
    pub fn mark_for_new(&self) -> u32 {
        if self.complete {
            0
        } else {
            self.mark
        }
    }

    /// The copy of an entry met by the scan or about to change, unless it has one.
    pub fn copy(&self, key: &[u8], entry: &mut Entry, deadline: Option<i64>) -> Option<Copy> {
        if self.complete || entry.capture_mark == self.mark {
            return None;
        }
        entry.capture_mark = self.mark;
        Some(restore_command(key, entry, deadline))
    }

    /// Called before `entry` changes.
    pub fn before_write(&mut self, key: &[u8], entry: &mut Entry, deadline: Option<i64>) {
        if let Some(copy) = self.copy(key, entry, deadline) {
            self.pending.push(copy);
        }
    }

    /// The database is about to be emptied or swapped: copies every entry not copied yet,
    /// which completes the capture.
    pub fn copy_rest<'a>(
        &mut self,
        entries: impl Iterator<Item = (&'a [u8], &'a Entry)>,
        deadline: impl Fn(&[u8]) -> Option<i64>,
    ) {
        if self.complete {
            return;
        }
        for (key, entry) in entries {
            if entry.capture_mark != self.mark {
                self.pending
                    .push(restore_command(key, entry, deadline(key)));
            }
        }
        self.complete = true;
    }

    /// Hands over the copies writes made.
    pub fn take_pending(&mut self, out: &mut Vec<Copy>) {
        out.append(&mut self.pending);
    }
}

/// `RESTORE key <absolute deadline or 0> <payload> ABSTTL REPLACE`.
pub fn restore_command(key: &[u8], entry: &Entry, deadline: Option<i64>) -> Copy {
    vec![
        Bytes::from_static(b"RESTORE"),
        Bytes::copy_from_slice(key),
        Bytes::from(deadline.unwrap_or(0).to_string()),
        Bytes::from(serialize(&entry.value)),
        Bytes::from_static(b"ABSTTL"),
        Bytes::from_static(b"REPLACE"),
    ]
}
