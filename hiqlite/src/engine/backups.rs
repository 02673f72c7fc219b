//! The engine's view of backups: a store it hands requests to. The work lives in `crate::backup`,
//! above the engine; `node/` gives the engine a [`BackupStore`] when `backup_dir` is set.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::future::BoxFuture;

use crate::types::backup::{BackupError, BackupInfo, BackupLocation, RestoreSource, SegmentInfo};
use crate::types::format::Format;
use crate::types::raft::Entry;

/// A database ready to be restored: a plain SQLite file (no WAL beside it), decrypted and
/// checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRestore {
    /// The file, owned by the caller from now on (it removes it when done).
    pub db: PathBuf,
    /// The last log entry it holds (of the cluster the backups are of).
    pub log_index: u64,
    pub log_term: u64,
    /// That entry's entry time, ms since the Unix epoch.
    pub entry_time_ms: i64,
    /// The name of the snapshot backup it started from.
    pub snapshot: String,
    /// How many shipped entries were replayed on top of the snapshot (point-in-time recovery).
    pub entries_replayed: u64,
}

/// Committed log entries to store as one log segment (see `crate::backup::segment`).
#[derive(Debug, Clone)]
pub struct NewSegment {
    /// Consecutive committed entries, at least one.
    pub entries: Vec<Entry>,
    /// The entry time (ms) of the entry before the first: the previous segment's last, or the
    /// snapshot backup's creation time.
    pub prev_entry_ms: i64,
    /// The cluster format the entries were applied in.
    pub data_format: Format,
    /// The lineage of the history they belong to (`SqliteWriter::lineage`).
    pub lineage: u64,
}

/// Where this node writes and lists its backups and log segments.
pub trait BackupStore: Send + Sync {
    /// Makes a backup of this node's database as it is now (the caller has linearized first) and
    /// describes it.
    fn create(&self) -> BoxFuture<'_, Result<BackupInfo, BackupError>>;
    /// The backups in the store, oldest log index first.
    fn list(&self) -> BoxFuture<'_, Result<Vec<BackupInfo>, BackupError>>;
    /// Fetches, decrypts and checks what `source` names into a plain SQLite file.
    fn prepare_restore(
        &self,
        source: RestoreSource,
    ) -> BoxFuture<'_, Result<PreparedRestore, BackupError>>;
    /// Encrypts `segment` with the active key and stores it (written atomically to the local
    /// directory and, with S3, uploaded; the answer names the last place it reached). On an
    /// error nothing is stored under the segment's name.
    fn write_segment(&self, segment: NewSegment)
        -> BoxFuture<'_, Result<SegmentInfo, BackupError>>;
    /// The log segments in the store, by first index: the local ones, then (with S3) the
    /// bucket's.
    fn list_segments(&self) -> BoxFuture<'_, Result<Vec<SegmentInfo>, BackupError>>;
    /// Copies (local) or downloads (S3, streamed to the file) the backup or segment file `name`
    /// from `location` to the new file `dest`. On an error `dest` does not remain.
    ///
    /// # Errors
    /// `NotFound`, `InvalidName`, `Io` (also when `dest` exists), `S3`; `NotConfigured` for
    /// `S3` on a store without S3.
    fn fetch<'a>(
        &'a self,
        name: &'a str,
        location: BackupLocation,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<(), BackupError>>;
    /// Deletes backup `name` from `location` (retention). A backup that is already gone is not
    /// an error.
    ///
    /// # Errors
    /// [`BackupError::InvalidName`] for a name that is not a backup's; [`BackupError::Io`] when
    /// the local file cannot be removed; [`BackupError::S3`] when the bucket refuses;
    /// [`BackupError::NotConfigured`] for a location this store does not have.
    fn delete<'a>(
        &'a self,
        name: &'a str,
        location: BackupLocation,
    ) -> BoxFuture<'a, Result<(), BackupError>>;
}

/// The error for a node without a backup store.
pub(crate) fn not_configured() -> BackupError {
    BackupError::NotConfigured(
        "backup_dir is not set (TOML `backup_dir`, env HQL_BACKUP_DIR), nor are the keys \
         (enc_keys, enc_key_active)"
            .into(),
    )
}

/// How this node's scheduled backups went, for status and metrics: written by the scheduler
/// (`crate::backup::schedule`), read by anyone holding the engine.
#[derive(Debug, Default)]
pub struct BackupHealth {
    status: Mutex<BackupStatus>,
}

/// A copy of [`BackupHealth`] at one moment. Times are ms since the Unix epoch, this node's
/// clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupStatus {
    /// The last tick this node claimed and so had to back up.
    pub last_tick_ms: Option<i64>,
    /// When this node last started a scheduled backup.
    pub last_attempt_ms: Option<i64>,
    /// When a scheduled backup of this node last succeeded, and its name.
    pub last_success_ms: Option<i64>,
    pub last_backup: Option<String>,
    /// Why the last scheduled backup failed; `None` once one succeeds again.
    pub last_error: Option<String>,
    /// Scheduled backups that failed since this node started.
    pub failures: u64,
}

impl BackupHealth {
    /// A scheduled backup for tick `tick_ms` starts at `now_ms`.
    pub fn started(&self, tick_ms: i64, now_ms: i64) {
        let mut s = self.lock();
        s.last_tick_ms = Some(tick_ms);
        s.last_attempt_ms = Some(now_ms);
    }

    /// The backup started last succeeded at `now_ms` as `name`.
    pub fn succeeded(&self, name: &str, now_ms: i64) {
        let mut s = self.lock();
        s.last_success_ms = Some(now_ms);
        s.last_backup = Some(name.to_string());
        s.last_error = None;
    }

    /// The backup started last failed with `error`.
    pub fn failed(&self, error: &str) {
        let mut s = self.lock();
        s.last_error = Some(error.to_string());
        s.failures += 1;
    }

    /// The status now.
    pub fn status(&self) -> BackupStatus {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BackupStatus> {
        // A panic while holding this lock leaves plain data behind: keep using it.
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_keeps_the_last_outcome() {
        let h = BackupHealth::default();
        assert_eq!(h.status(), BackupStatus::default());
        h.started(1000, 1005);
        h.failed("S3 down");
        let s = h.status();
        assert_eq!(
            (s.last_tick_ms, s.last_attempt_ms, s.last_success_ms),
            (Some(1000), Some(1005), None)
        );
        assert_eq!((s.last_error.as_deref(), s.failures), (Some("S3 down"), 1));
        // The next tick succeeds: the error is cleared, the failure count stays.
        h.started(2000, 2003);
        h.succeeded("hiqlite-1.hqbackup", 2400);
        let s = h.status();
        assert_eq!(s.last_success_ms, Some(2400));
        assert_eq!(s.last_backup.as_deref(), Some("hiqlite-1.hqbackup"));
        assert_eq!((s.last_error, s.failures), (None, 1));
    }
}
