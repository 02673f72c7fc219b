//! The engine's view of backups: a store it hands requests to. The work lives in `crate::backup`,
//! above the engine; `node/` gives the engine a [`BackupStore`] when `backup_dir` is set.

use std::path::PathBuf;

use futures::future::BoxFuture;

use crate::types::backup::{BackupError, BackupInfo, RestoreSource};

/// A database ready to be restored: a plain SQLite file, decrypted and checked.
#[derive(Debug)]
pub struct PreparedRestore {
    /// The file, owned by the caller from now on (it removes it when done).
    pub db: PathBuf,
    /// The snapshot backup (or file) it started from.
    pub from: String,
    /// Log entries replayed on top of the snapshot (point-in-time recovery).
    pub entries_replayed: u64,
}

/// Where this node writes and lists its backups.
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
}

/// The error for a node without a backup store.
pub(crate) fn not_configured() -> BackupError {
    BackupError::NotConfigured(
        "backup_dir is not set (TOML `backup_dir`, env HQL_BACKUP_DIR), nor are the keys \
         (enc_keys, enc_key_active)"
            .into(),
    )
}
