//! The engine's view of backups: a store it hands requests to. The work lives in `crate::backup`,
//! above the engine; `node/` gives the engine a [`BackupStore`] when `backup_dir` is set.

use std::path::{Path, PathBuf};

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
}

/// The error for a node without a backup store.
pub(crate) fn not_configured() -> BackupError {
    BackupError::NotConfigured(
        "backup_dir is not set (TOML `backup_dir`, env HQL_BACKUP_DIR), nor are the keys \
         (enc_keys, enc_key_active)"
            .into(),
    )
}
