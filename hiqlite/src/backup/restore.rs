//! Preparing a restore: what a [`RestoreSource`] names, fetched from the store, decrypted and
//! checked into a plain SQLite file that the engine then sends through the log
//! (`engine::restore`).

use std::path::Path;

use super::{decrypt_named, prepare_point_in_time, LocalDir};
use crate::config::EncKeys;
use crate::engine::backups::{BackupStore, PreparedRestore};
use crate::types::backup::{BackupError, BackupLocation, RestoreSource};

/// Prepares `source` from `store` with `keys`, using temporary files in `work` (removed again,
/// except the returned database, which the caller owns).
///
/// A backup named without a location is looked up locally first, then in S3.
///
/// # Errors
/// `NotFound` (in no location), `InvalidName`, every error of [`decrypt_file`], the store's
/// (`Io`, `S3`, `NotConfigured`), and for a point in time those of [`prepare_point_in_time`].
///
/// [`decrypt_file`]: super::decrypt_file
pub async fn prepare(
    store: &dyn BackupStore,
    keys: &EncKeys,
    work: &LocalDir,
    source: RestoreSource,
) -> Result<PreparedRestore, BackupError> {
    match source {
        RestoreSource::PointInTime(target) => {
            prepare_point_in_time(store, keys, target, work.path()).await
        }
        RestoreSource::Backup { name, location } => {
            work.ensure()?;
            let fetched = work.temp_path("fetched")?;
            let result = fetch_anywhere(store, &name, location, &fetched).await;
            let prepared = match result {
                Ok(()) => decrypt(&fetched, keys, work, &name).await,
                Err(e) => Err(e),
            };
            let _ = std::fs::remove_file(&fetched);
            prepared
        }
    }
}

/// Fetches `name` from `location`, or from the local directory and then S3.
async fn fetch_anywhere(
    store: &dyn BackupStore,
    name: &str,
    location: Option<BackupLocation>,
    dest: &Path,
) -> Result<(), BackupError> {
    if let Some(location) = location {
        return store.fetch(name, location, dest).await;
    }
    match store.fetch(name, BackupLocation::Local, dest).await {
        Err(BackupError::NotFound { .. }) => {
            match store.fetch(name, BackupLocation::S3, dest).await {
                // A store without S3: the name is simply not there.
                Err(BackupError::NotConfigured(_)) => {
                    Err(BackupError::NotFound { name: name.into() })
                }
                other => other,
            }
        }
        other => other,
    }
}

async fn decrypt(
    fetched: &Path,
    keys: &EncKeys,
    work: &LocalDir,
    name: &str,
) -> Result<PreparedRestore, BackupError> {
    let db = work.temp_path("restore")?;
    let (fetched, keys, out, name) = (
        fetched.to_path_buf(),
        keys.clone(),
        db.clone(),
        name.to_string(),
    );
    let header = tokio::task::spawn_blocking(move || {
        decrypt_named(&fetched, name.clone(), &keys, &out).map(|header| (header, name))
    })
    .await
    .map_err(|e| BackupError::Copy(format!("the restore task failed: {e}")))?;
    let (header, name) = match header {
        Ok(found) => found,
        Err(e) => {
            let _ = std::fs::remove_file(&db);
            return Err(e);
        }
    };
    Ok(PreparedRestore {
        db,
        log_index: header.log_index,
        log_term: header.log_term,
        entry_time_ms: header.created_ms,
        snapshot: name,
        entries_replayed: 0,
    })
}
