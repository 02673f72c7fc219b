//! The engine's view of backups: a store it hands requests to. The work lives in `crate::backup`,
//! above the engine; `node/` gives the engine a [`BackupStore`] when `backup_dir` is set.

use std::sync::Mutex;

use futures::future::BoxFuture;

use crate::types::backup::{BackupError, BackupInfo, BackupLocation};

/// Where this node writes and lists its backups.
pub trait BackupStore: Send + Sync {
    /// Makes a backup of this node's database as it is now (the caller has linearized first) and
    /// describes it.
    fn create(&self) -> BoxFuture<'_, Result<BackupInfo, BackupError>>;
    /// The backups in the store, oldest log index first.
    fn list(&self) -> BoxFuture<'_, Result<Vec<BackupInfo>, BackupError>>;
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
