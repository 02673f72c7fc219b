//! [`Client::restore`] and [`Client::restore_file`]: bringing the whole cluster to a backed-up
//! state. The database goes through the log and replaces the database on every node at one log
//! index (`engine::restore`); writes committed before that index are replaced, writes after it
//! apply on top of the restored state.

use std::path::Path;

use super::{remote_error, unexpected, Backend, Client};
use crate::backup::{decrypt_file, LocalDir};
use crate::config::EncKeys;
use crate::engine::error::Error;
use crate::engine::protocol::{ApiRequest, ApiResponse};
use crate::engine::restore::{new_restore_id, send_database};
use crate::types::backup::{BackupError, RestoreInfo, RestoreSource};
use crate::types::command::{WriteOp, WriteOutput};
use crate::types::format::{Feature, Format};

impl Client {
    /// Restores the whole cluster to `source`, taken from the backup store of the node this
    /// client talks to (its `backup_dir`, or its S3 bucket): that node fetches, decrypts and
    /// checks the backup (and for a point in time replays the shipped log segments), then the
    /// database goes through the log and replaces the database on every node at one log index.
    /// The log index rolls over: no node replays entries from before the backup. Writes
    /// committed before that index are replaced by the restored state; writes after it apply on
    /// top of it. The call returns once the swap is committed and applied on the contacted node.
    ///
    /// # Errors
    /// [`Error::Backup`]: `NotConfigured`, `NotFound`, `UnknownKey`, `WrongKey`, `Truncated`,
    /// `Tampered`, `Mismatch`, `NotADatabase`, `NewerDataFormat`, `S3`, `RestoreRefused` (the
    /// cluster refused the database: it is of a newer format than the cluster runs, ...),
    /// `NodeTooOld` (a remote node of an older release); [`Error::FormatTooOld`] while a member
    /// runs an older release; what writes fail with (`NoLeader`, `OutcomeUnknown`, ...). On an
    /// error before the swap, the database is unchanged.
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// use hiqlite::backup::{RestoreSource, RestoreTarget};
    /// let done = client.restore(RestoreSource::PointInTime(RestoreTarget::Latest)).await?;
    /// println!("restored {} at log index {}", done.from, done.log_index);
    /// # Ok(()) }
    /// ```
    pub async fn restore(&self, source: RestoreSource) -> Result<RestoreInfo, Error> {
        match &self.inner.backend {
            Backend::Local(node, _) => node.restore(source).await,
            Backend::Remote(remote) => {
                let needed: Format = Feature::Restore.since();
                let build = |format: Format| {
                    if format >= needed {
                        ApiRequest::Restore {
                            source: source.clone(),
                        }
                    } else {
                        ApiRequest::Status
                    }
                };
                let timeout = remote.backup_timeout().max(remote.request_timeout);
                let (resp, rpc) = remote.call_fitted_waiting(&build, timeout).await?;
                if rpc.peer_format() < needed {
                    return Err(Error::Backup(BackupError::NodeTooOld {
                        format: rpc.peer_format(),
                        needed,
                    }));
                }
                match resp {
                    ApiResponse::Restore(r) => r.map_err(remote_error),
                    other => Err(unexpected(other)),
                }
            }
        }
    }

    /// Restores the whole cluster to the backup file at `path` on this machine (`hiqlite
    /// restore --from file:PATH`): decrypts and checks it here with `keys`, then sends the
    /// database through the log as [`restore`](Self::restore) does. Needs room for the
    /// decrypted database next to `path` (a temporary file, removed afterwards).
    ///
    /// # Errors
    /// As [`restore`](Self::restore), and every error of [`decrypt_file`].
    pub async fn restore_file(&self, path: &Path, keys: &EncKeys) -> Result<RestoreInfo, Error> {
        let dir = LocalDir::new(path.parent().unwrap_or(Path::new(".")));
        let db = dir.temp_path("restore")?;
        let (source, keys_owned, db_owned) = (path.to_path_buf(), keys.clone(), db.clone());
        let header =
            tokio::task::spawn_blocking(move || decrypt_file(&source, &keys_owned, &db_owned))
                .await
                .map_err(|e| {
                    Error::Backup(BackupError::Copy(format!("decrypting failed: {e}")))
                })??;
        let piece = match &self.inner.backend {
            Backend::Local(node, _) => node.max_frame_bytes / 4,
            // The node's limit is unknown here; it is at least the client's by default.
            Backend::Remote(remote) => remote.max_frame_bytes() / 4,
        };
        let outcome =
            send_database(&db, new_restore_id(), piece, |op| self.write_restore(op)).await;
        let _ = tokio::fs::remove_file(&db).await;
        let swapped = outcome?;
        Ok(RestoreInfo {
            from: path.display().to_string(),
            entries_replayed: 0,
            restored_log_index: header.log_index,
            restored_time_ms: header.created_ms,
            bytes: swapped.bytes,
            log_index: swapped.at_index,
        })
    }

    /// One restore entry; a remote node must speak format 4 to decode it.
    async fn write_restore(&self, op: WriteOp) -> Result<WriteOutput, Error> {
        let Backend::Remote(remote) = &self.inner.backend else {
            return self.write(op).await;
        };
        let needed: Format = Feature::Restore.since();
        let time_limit = remote.request_timeout + op.extra_apply_time();
        let (id, _pending) = self.next_request_id();
        let build = |format: Format| {
            if format >= needed {
                ApiRequest::Write {
                    id,
                    op: op.clone(),
                    forwarded: false,
                }
            } else {
                ApiRequest::Status
            }
        };
        let (resp, rpc) = remote.call_fitted_waiting(&build, time_limit).await?;
        if rpc.peer_format() < needed {
            return Err(Error::Backup(BackupError::NodeTooOld {
                format: rpc.peer_format(),
                needed,
            }));
        }
        match resp {
            ApiResponse::Write(r) => r.map_err(remote_error)?.result.map_err(Error::Sql),
            other => Err(unexpected(other)),
        }
    }
}
