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
//! - Only the store's files of this database's lineage count (`SqliteWriter::lineage`): when the
//!   lineage changes (a restore was applied), shipping starts over in the new one, after a
//!   snapshot backup of it.
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
    /// The lineage the position is in.
    pub lineage: u64,
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
    /// The lineage of this node's database (`SqliteWriter::lineage`).
    pub lineage: watch::Receiver<u64>,
    /// This node's database file: a history is backed up from its first user table on.
    pub db_path: std::path::PathBuf,
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
        let lineage = *self.lineage.borrow();
        let mut pos = match *position {
            Some(p) if p.lineage == lineage => p,
            _ => {
                let Some(p) = self.start_position(lineage).await? else {
                    return Ok(());
                };
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
            if *self.lineage.borrow() != pos.lineage {
                // A restore was applied: the next round starts over in the new lineage.
                *position = None;
                return Ok(());
            }
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
                    lineage: pos.lineage,
                })
                .await?;
            tracing::debug!(name = %info.name, "log segment shipped");
            pos = Position {
                next_index: info.last_index + 1,
                prev_ms: info.last_ms,
                lineage: pos.lineage,
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

    /// Where shipping starts on a new leader, in `lineage`: after its newest segment, else after
    /// its newest snapshot backup, else after a backup made now; `None` while the database holds
    /// no table of its users (a cluster that just formed, perhaps after losing every volume, does
    /// not start a history of its own in the store before there is anything to keep: until
    /// then the store's latest state stays the one before).
    async fn start_position(&self, lineage: u64) -> Result<Option<Position>, BackupError> {
        let segments = self.store.list_segments().await?;
        if let Some(newest) = segments
            .iter()
            .filter(|s| s.lineage == lineage)
            .max_by_key(|s| s.last_index)
        {
            return Ok(Some(Position {
                next_index: newest.last_index + 1,
                prev_ms: newest.last_ms,
                lineage,
            }));
        }
        let backup = match newest_backup(self.store.list().await?, lineage) {
            Some(b) => b,
            None if !holds_user_tables(&self.db_path) => return Ok(None),
            None => {
                tracing::info!(
                    lineage = format!("{lineage:016x}"),
                    "no snapshot backup of this history in the store: making one before \
                     shipping the log"
                );
                self.store.create().await?
            }
        };
        Ok(Some(after(&backup)))
    }

    /// The entries from `pos` are gone from the log: continues after a newer snapshot backup,
    /// making one when the store has none past `pos`.
    async fn after_gap(&self, pos: Position) -> Result<Position, RoundError> {
        if let Some(b) = newest_backup(self.store.list().await?, pos.lineage) {
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

/// Whether the database at `db` has a table, view, index or trigger of its users (not Hiqlite's
/// own `_hiqlite_*`). An unreadable database counts as holding some: better one backup too many.
fn holds_user_tables(db: &std::path::Path) -> bool {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    rusqlite::Connection::open_with_flags(db, flags)
        .and_then(|c| {
            c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE tbl_name NOT LIKE '\\_hiqlite\\_%' ESCAPE '\\' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .map_or(true, |n| n > 0)
}

/// Resolves once `shutdown` is true or its sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn newest_backup(backups: Vec<BackupInfo>, lineage: u64) -> Option<BackupInfo> {
    backups
        .into_iter()
        .filter(|b| b.lineage == lineage)
        .max_by_key(|b| (b.log_index, b.created_ms))
}

fn after(backup: &BackupInfo) -> Position {
    Position {
        next_index: backup.log_index + 1,
        prev_ms: backup.created_ms,
        lineage: backup.lineage,
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

#[cfg(test)]
mod tests {
    use std::ops::RangeBounds;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;
    use crate::backup::LocalBackups;
    use crate::config::{EncKey, EncKeys};
    use crate::store::sqlite::test_db::{execute, timed_entries, Db};
    use crate::types::backup::{BackupLocation, SegmentInfo};
    use crate::types::raft::Vote;

    /// A Raft log in memory; entries can be purged from its start.
    #[derive(Clone, Default)]
    struct MemLog(Arc<Mutex<Vec<Entry>>>);

    impl RaftLogReader<TypeConfig> for MemLog {
        async fn try_get_log_entries<
            RB: RangeBounds<u64> + Clone + std::fmt::Debug + openraft::OptionalSend,
        >(
            &mut self,
            range: RB,
        ) -> Result<Vec<Entry>, std::io::Error> {
            let log = self.0.lock().unwrap();
            Ok(log
                .iter()
                .filter(|e| range.contains(&e.log_id.index))
                .cloned()
                .collect())
        }

        async fn read_vote(&mut self) -> Result<Option<Vote>, std::io::Error> {
            Ok(None)
        }
    }

    /// A local store whose segment writes fail while `fail` is set (a full disk).
    struct Flaky {
        inner: LocalBackups,
        fail: AtomicBool,
    }

    impl BackupStore for Flaky {
        fn create(&self) -> BoxFuture<'_, Result<BackupInfo, BackupError>> {
            self.inner.create()
        }
        fn list(&self) -> BoxFuture<'_, Result<Vec<BackupInfo>, BackupError>> {
            self.inner.list()
        }
        fn write_segment(
            &self,
            segment: NewSegment,
        ) -> BoxFuture<'_, Result<SegmentInfo, BackupError>> {
            if self.fail.load(Ordering::Relaxed) {
                return Box::pin(async {
                    Err(BackupError::Io {
                        path: "backups".into(),
                        message: "No space left on device".into(),
                    })
                });
            }
            self.inner.write_segment(segment)
        }
        fn list_segments(&self) -> BoxFuture<'_, Result<Vec<SegmentInfo>, BackupError>> {
            self.inner.list_segments()
        }
        fn fetch<'a>(
            &'a self,
            name: &'a str,
            location: BackupLocation,
            dest: &'a std::path::Path,
        ) -> BoxFuture<'a, Result<(), BackupError>> {
            self.inner.fetch(name, location, dest)
        }
        fn delete<'a>(
            &'a self,
            name: &'a str,
            location: BackupLocation,
        ) -> BoxFuture<'a, Result<(), BackupError>> {
            self.inner.delete(name, location)
        }
        fn prepare_restore(
            &self,
            source: crate::types::backup::RestoreSource,
        ) -> BoxFuture<'_, Result<crate::engine::backups::PreparedRestore, BackupError>> {
            self.inner.prepare_restore(source)
        }
    }

    fn ops(range: std::ops::RangeInclusive<i64>) -> Vec<(i64, crate::types::command::WriteOp)> {
        range
            .map(|i| (i * 1000, execute(&format!("INSERT INTO t VALUES ({i})"))))
            .collect()
    }

    /// Applies `ops` (the next entries from `first`) to the database and appends them to the
    /// log; returns the new applied index.
    async fn commit(
        db: &mut Db,
        log: &MemLog,
        first: u64,
        ops: Vec<(i64, crate::types::command::WriteOp)>,
    ) -> u64 {
        let entries: Vec<Entry> = timed_entries(first, ops.clone())
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        db.apply_timed(ops).await;
        let last = entries.last().unwrap().log_id.index;
        log.0.lock().unwrap().extend(entries);
        last
    }

    fn ranges(store: &Flaky) -> Vec<(u64, u64)> {
        store
            .inner
            .dir()
            .list_segments()
            .unwrap()
            .iter()
            .map(|s| (s.first_index, s.last_index))
            .collect()
    }

    #[tokio::test]
    async fn ships_after_the_backup_retries_failures_and_jumps_gaps() {
        let mut db = Db::open();
        let log = MemLog::default();
        commit(
            &mut db,
            &log,
            1,
            vec![(1000, execute("CREATE TABLE t (id INTEGER)"))],
        )
        .await;
        commit(&mut db, &log, 2, ops(2..=3)).await;
        let dir = tempfile::tempdir().unwrap();
        let keys = EncKeys {
            keys: vec![EncKey::new("k1", [3; 32]).unwrap()],
            active: Some("k1".into()),
        };
        let store = Arc::new(Flaky {
            inner: LocalBackups::new(db.writer().db_path(), dir.path(), keys),
            fail: AtomicBool::new(false),
        });
        let leads = Arc::new(AtomicBool::new(true));
        let (applied_tx, applied) = watch::channel(3);
        let mut shipper = Shipper {
            store: store.clone(),
            log: log.clone(),
            applied,
            is_leader: {
                let leads = leads.clone();
                Arc::new(move || leads.load(Ordering::Relaxed))
            },
            format: ClusterFormat::new(crate::types::format::NEWEST),
            // The test database never reached format 4 through the log: no lineage.
            lineage: watch::channel(0).1,
            db_path: db.writer().db_path().to_path_buf(),
            interval: Duration::from_secs(1),
        };
        let mut pos = None;

        // No backup yet: one is made, shipping continues after it; idle, nothing is shipped.
        shipper.round(&mut pos).await.unwrap();
        assert_eq!(pos.map(|p| p.next_index), Some(4));
        assert_eq!(store.inner.list_blocking().unwrap()[0].log_index, 3);
        assert!(ranges(&store).is_empty());

        applied_tx.send_replace(commit(&mut db, &log, 4, ops(4..=6)).await);
        shipper.round(&mut pos).await.unwrap();
        assert_eq!(ranges(&store), vec![(4, 6)]);
        assert_eq!(
            pos,
            Some(Position {
                next_index: 7,
                prev_ms: 6000,
                lineage: 0,
            })
        );

        // A full disk: the round fails, the position stays, the next round ships it all.
        applied_tx.send_replace(commit(&mut db, &log, 7, ops(7..=8)).await);
        store.fail.store(true, Ordering::Relaxed);
        assert!(matches!(
            shipper.round(&mut pos).await,
            Err(RoundError::Backup(BackupError::Io { .. }))
        ));
        assert_eq!(pos.map(|p| p.next_index), Some(7));
        store.fail.store(false, Ordering::Relaxed);
        shipper.round(&mut pos).await.unwrap();
        assert_eq!(ranges(&store), vec![(4, 6), (7, 8)]);

        // Entries purged before they were shipped: a new backup, and shipping goes on after it.
        applied_tx.send_replace(commit(&mut db, &log, 9, ops(9..=12)).await);
        log.0.lock().unwrap().retain(|e| e.log_id.index > 10);
        shipper.round(&mut pos).await.unwrap();
        assert_eq!(pos.map(|p| p.next_index), Some(13));
        let newest = store.inner.list_blocking().unwrap().pop().unwrap();
        assert_eq!(newest.log_index, 12);
        assert_eq!(ranges(&store), vec![(4, 6), (7, 8)]);

        // A new leader (or this one again) finds the position in the store: after the newest
        // segment, which is purged from the log, so after the newer backup (no third one made).
        let mut fresh = None;
        shipper.round(&mut fresh).await.unwrap();
        assert_eq!(fresh.map(|p| p.next_index), Some(13));
        assert_eq!(store.inner.list_blocking().unwrap().len(), 2);
        leads.store(false, Ordering::Relaxed);
        assert!(matches!(
            shipper.round(&mut pos).await,
            Err(RoundError::NotLeader)
        ));
    }
}
