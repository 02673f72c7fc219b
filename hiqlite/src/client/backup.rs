//! [`Client::backup`] and [`Client::backups`]: backups made and listed by the node the client
//! talks to (its own node when embedded). The work is in `crate::backup`.

use super::{remote_error, unexpected, Backend, Client};
use crate::engine::error::Error;
use crate::engine::protocol::{ApiRequest, ApiResponse};
use crate::types::backup::{BackupError, BackupInfo};
use crate::types::format::{Feature, Format};

impl Client {
    /// Makes an encrypted backup of the database on the node this client talks to, in that
    /// node's `backup_dir` (`HQL_BACKUP_DIR`), encrypted with its active key (`ENC_KEY_ACTIVE`).
    /// The backup holds at least every write acknowledged before the call (the node linearizes
    /// first); writes go on while it is made. Returns what was written.
    ///
    /// # Errors
    /// [`Error::Backup`]: `NotConfigured` (the node has no `backup_dir`), `Copy`, `Io`,
    /// `NodeTooOld` (a remote node without backups); or what a consistent read fails with
    /// (`NoLeader`, `Timeout`, ...).
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// let b = client.backup().await?;
    /// println!("{} at log index {}", b.name, b.log_index);
    /// # Ok(()) }
    /// ```
    pub async fn backup(&self) -> Result<BackupInfo, Error> {
        match &self.inner.backend {
            Backend::Local(node, _) => node.create_backup().await,
            Backend::Remote(_) => match self.call_backups(ApiRequest::Backup).await? {
                ApiResponse::Backup(r) => r.map_err(remote_error),
                other => Err(unexpected(other)),
            },
        }
    }

    /// The backups of the node this client talks to, oldest log index first.
    ///
    /// # Errors
    /// [`Error::Backup`]: `NotConfigured`, `Io`, `NodeTooOld`; network errors for a remote
    /// client.
    pub async fn backups(&self) -> Result<Vec<BackupInfo>, Error> {
        match &self.inner.backend {
            Backend::Local(node, _) => node.list_backups().await,
            Backend::Remote(_) => match self.call_backups(ApiRequest::Backups).await? {
                ApiResponse::Backups(r) => r.map_err(remote_error),
                other => Err(unexpected(other)),
            },
        }
    }

    /// Sends a backup request to a node that speaks format 3; an older node gets a status
    /// request instead (it could not decode the backup request) and the call fails with
    /// [`BackupError::NodeTooOld`].
    async fn call_backups(&self, req: ApiRequest) -> Result<ApiResponse, Error> {
        let Backend::Remote(remote) = &self.inner.backend else {
            unreachable!("only called for a remote client");
        };
        let needed: Format = Feature::StreamingReads.since();
        let build = |format: Format| {
            if format >= needed {
                match &req {
                    ApiRequest::Backup => ApiRequest::Backup,
                    _ => ApiRequest::Backups,
                }
            } else {
                ApiRequest::Status
            }
        };
        // A backup is answered once the node has copied and encrypted the whole database.
        let answer_timeout = match req {
            ApiRequest::Backup => remote.backup_timeout().max(remote.request_timeout),
            _ => remote.request_timeout,
        };
        let (resp, rpc) = remote.call_fitted_waiting(&build, answer_timeout).await?;
        let format = rpc.peer_format();
        if format < needed {
            return Err(Error::Backup(BackupError::NodeTooOld { format, needed }));
        }
        Ok(resp)
    }
}
