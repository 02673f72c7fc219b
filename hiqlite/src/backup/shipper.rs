//! The log shipper: on the leader, every `backup_log_interval` it stores the committed log
//! entries after the last shipped one as log segments (`segment.rs`) in the backup store, so that
//! at most one interval of acknowledged writes is missing from the store (the RPO).
//!
//! - Only the current leader ships; each round checks, and a node that lost leadership forgets
//!   its position (the next leader, or this node leading again, finds it anew in the store).
//! - The position at the start of leadership: after the newest segment in the store; with no
//!   segment, after the newest snapshot backup; with no backup at all, a backup is made first.
//! - Only applied entries are shipped (applied means committed), read from the Raft log.
//! - When the entries to ship were purged from the log (a snapshot compacted it, a long outage
//!   of the store), the shipper continues after a snapshot backup made now (or a newer one that
//!   exists), with a warning: the store's log has a gap there, which a point-in-time restore
//!   reports.
//! - A failure (disk full, S3 down) is logged; the next round retries from the same index.
//! - An idle cluster ships nothing.
//!
//! `node/` starts it with a log reader (any `RaftLogReader`), this node's applied index and a
//! leadership check; it never imports `raft/`'s log store type.

use std::sync::Arc;
use std::time::Duration;

use openraft::RaftLogReader;
use tokio::sync::watch;

use crate::engine::backups::{BackupStore, NewSegment};
use crate::types::backup::{BackupError, BackupInfo};
use crate::types::format::ClusterFormat;
use crate::types::raft::{Entry, TypeConfig};

/// Entries read from the log at once, and at most in one segment.
pub const MAX_SEGMENT_ENTRIES: u64 = 4096;
/// Encoded bytes of entries in one segment, at most (a larger single entry goes alone).
pub const MAX_SEGMENT_BYTES: usize = 8 << 20;

/// Whether this node leads the cluster now.
pub type LeaderCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// Where shipping continues: the next index to ship and the entry time of the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub next_index: u64,
    pub prev_ms: i64,
}

/// The shipper of one node (see the module docs).
pub struct Shipper<R> {
    pub store: Arc<dyn BackupStore>,
    pub log: R,
    /// This node's applied index (committed entries only).
    pub applied: watch::Receiver<u64>,
    pub is_leader: LeaderCheck,
    /// The cluster's format, recorded in each segment.
    pub format: ClusterFormat,
    pub interval: Duration,
}

/// Why a round stopped early.
#[derive(Debug)]
enum RoundError {
    /// Leadership was lost: forget the position.
    NotLeader,
    Backup(BackupError),
}

impl From<BackupError> for RoundError {
    fn from(e: BackupError) -> Self {
        RoundError::Backup(e)
    }
}

impl<R: RaftLogReader<TypeConfig> + Send + 'static> Shipper<R> {
    /// Runs until `shutdown` turns true (or its sender is gone): a round every interval. A round
    /// under way is abandoned at shutdown (a segment being written is finished or not there at
    /// all: files are written atomically).
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut position: Option<Position> = None;
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let result = tokio::select! {
                () = stopped(&mut shutdown) => return,
                _ = ticks.tick() => {
                    tokio::select! {
                        () = stopped(&mut shutdown) => return,
                        r = self.round(&mut position) => r,
                    }
                }
            };
            match result {
                Ok(()) => {}
                Err(RoundError::NotLeader) => {
                    if position.take().is_some() {
                        tracing::info!("no longer the leader: log shipping stops on this node");
                    }
                }
                Err(RoundError::Backup(e)) => {
                    tracing::warn!(
                        error = %e,
                        next_index = position.map(|p| p.next_index),
                        "log shipping failed; retrying from the same index next round"
                    );
                }
            }
        }
    }

    /// One round: finds the position if needed, then ships everything applied after it.
    async fn round(&mut self, position: &mut Option<Position>) -> Result<(), RoundError> {
        self.check_leader()?;
        let mut pos = match *position {
            Some(p) => p,
            None => {
                let p = self.start_position().await?;
                tracing::info!(
                    next_index = p.next_index,
                    "this node leads: log shipping starts"
                );
                *position = Some(p);
                p
            }
        };
        let applied = *self.applied.borrow();
        while pos.next_index <= applied {
            self.check_leader()?;
            let end = applied.min(pos.next_index + MAX_SEGMENT_ENTRIES - 1);
            let mut entries = self
                .log
                .try_get_log_entries(pos.next_index..=end)
                .await
                .map_err(|e| BackupError::Io {
                    path: "the Raft log".into(),
                    message: e.to_string(),
                })?;
            if entries.first().map(|e| e.log_id.index) != Some(pos.next_index) {
                pos = self.after_gap(pos).await?;
                *position = Some(pos);
                continue;
            }
            trim_to_budget(&mut entries);
            let info = self
                .store
                .write_segment(NewSegment {
                    entries,
                    prev_entry_ms: pos.prev_ms,
                    data_format: self.format.get(),
                })
                .await?;
            tracing::debug!(name = %info.name, "log segment shipped");
            pos = Position {
                next_index: info.last_index + 1,
                prev_ms: info.last_ms,
            };
            *position = Some(pos);
        }
        Ok(())
    }

    fn check_leader(&self) -> Result<(), RoundError> {
        if (self.is_leader)() {
            Ok(())
        } else {
            Err(RoundError::NotLeader)
        }
    }

    /// Where shipping starts on a new leader: after the newest segment, else after the newest
    /// snapshot backup, else after a backup made now.
    async fn start_position(&self) -> Result<Position, BackupError> {
        let segments = self.store.list_segments().await?;
        if let Some(newest) = segments.iter().max_by_key(|s| s.last_index) {
            return Ok(Position {
                next_index: newest.last_index + 1,
                prev_ms: newest.last_ms,
            });
        }
        let backup = match newest_backup(self.store.list().await?) {
            Some(b) => b,
            None => {
                tracing::info!(
                    "no snapshot backup in the store: making one before shipping the log"
                );
                self.store.create().await?
            }
        };
        Ok(after(&backup))
    }

    /// The entries from `pos` are gone from the log: continues after a newer snapshot backup,
    /// making one when the store has none past `pos`.
    async fn after_gap(&self, pos: Position) -> Result<Position, RoundError> {
        if let Some(b) = newest_backup(self.store.list().await?) {
            if b.log_index >= pos.next_index {
                tracing::warn!(
                    missing_from = pos.next_index,
                    backup = %b.name,
                    "log entries to ship were purged from the Raft log: continuing after the \
                     newer snapshot backup (the shipped log has a gap before it)"
                );
                return Ok(after(&b));
            }
        }
        self.check_leader()?;
        tracing::warn!(
            missing_from = pos.next_index,
            "log entries to ship were purged from the Raft log: making a snapshot backup and \
             continuing after it (the shipped log has a gap before it)"
        );
        let b = self.store.create().await?;
        if b.log_index < pos.next_index {
            return Err(BackupError::Copy(format!(
                "the new snapshot backup {} is at log index {}, before the purged entry {}",
                b.name, b.log_index, pos.next_index
            ))
            .into());
        }
        Ok(after(&b))
    }
}

/// Resolves once `shutdown` is true or its sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn newest_backup(backups: Vec<BackupInfo>) -> Option<BackupInfo> {
    backups
        .into_iter()
        .max_by_key(|b| (b.log_index, b.created_ms))
}

fn after(backup: &BackupInfo) -> Position {
    Position {
        next_index: backup.log_index + 1,
        prev_ms: backup.created_ms,
    }
}

/// Keeps the longest prefix of `entries` within [`MAX_SEGMENT_BYTES`] (at least one entry).
fn trim_to_budget(entries: &mut Vec<Entry>) {
    let mut total = 0usize;
    let mut keep = 0;
    for e in entries.iter() {
        let size = postcard::experimental::serialized_size(e).unwrap_or(usize::MAX);
        if keep > 0 && total.saturating_add(size) > MAX_SEGMENT_BYTES {
            break;
        }
        total = total.saturating_add(size);
        keep += 1;
    }
    entries.truncate(keep);
}
