//! Restoring a backup into the running cluster: the prepared database file (a plain SQLite file,
//! decrypted and checked by `crate::backup`) goes through the log in pieces
//! ([`WriteOp::RestoreChunk`]), then one [`WriteOp::RestoreCommit`] swaps it in on every node at
//! the same log index (see `store::sqlite::restore`).
//!
//! Writes in flight meanwhile are ordinary entries: those committed before the swap entry are
//! replaced by the restored state, those after it apply on top of it.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::error::Error;
use super::Engine;
use crate::types::backup::{BackupError, RestoreInfo, RestoreSource};
use crate::types::command::{RequestId, WriteOp, WriteOutput};

/// Largest piece of a restored database in one log entry, in bytes: 4 MiB keeps each entry far
/// below the default frame limit (64 MiB; a piece is at most a quarter of it) and the number of
/// entries of a large database small.
const PIECE_BYTES: usize = 4 << 20;
/// Pieces replicated at once: enough to overlap one piece's fsync with the next ones' transfer
/// (group commit shares the fsync), little enough to bound memory (16 MiB).
const PIECES_IN_FLIGHT: usize = 4;

/// Where a restore swapped the database in, as the commit entry answered.
pub(crate) struct Swapped {
    pub(crate) bytes: u64,
    pub(crate) restored_log_index: u64,
    pub(crate) restored_time_ms: i64,
    pub(crate) at_index: u64,
}

/// Sends the SQLite file `db` through `write` as restore `restore`'s pieces of at most
/// `max_piece` bytes, then commits it.
///
/// # Errors
/// [`BackupError::Io`] when `db` cannot be read, [`BackupError::RestoreRefused`] when the cluster
/// refused the commit, or what a write fails with (then nothing was swapped in; pieces already
/// sent are dropped by the next restore).
pub(crate) async fn send_database<W, F>(
    db: &Path,
    restore: u64,
    max_piece: usize,
    write: W,
) -> Result<Swapped, Error>
where
    W: Fn(WriteOp) -> F,
    F: Future<Output = Result<WriteOutput, Error>>,
{
    let io = |e: std::io::Error| {
        Error::Backup(BackupError::Io {
            path: db.display().to_string(),
            message: e.to_string(),
        })
    };
    let file = tokio::fs::File::open(db).await.map_err(io)?;
    let size = file.metadata().await.map_err(io)?.len();
    let piece = max_piece.clamp(1, PIECE_BYTES);
    // Shared with the reading stream (which the write futures make `Send`).
    let hasher = Arc::new(std::sync::Mutex::new(Sha256::new()));
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // Read in order (hashing as it goes); replicate up to PIECES_IN_FLIGHT at once, starting the
    // next as soon as one is done: pieces are independent of each other.
    let pieces = futures::stream::try_unfold((file, Some(0u64)), |(mut file, next)| {
        let (hasher, sent) = (hasher.clone(), sent.clone());
        async move {
            let Some(offset) = next else {
                return Ok(None);
            };
            let mut bytes = vec![0u8; piece];
            let n = read_full(&mut file, &mut bytes).await?;
            bytes.truncate(n);
            hasher
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .update(&bytes);
            sent.store(offset + n as u64, Ordering::Relaxed);
            let then = (n == piece).then_some(offset + n as u64);
            let op = WriteOp::RestoreChunk {
                restore,
                offset,
                bytes,
            };
            Ok(Some((op, (file, then))))
        }
    });
    pieces
        .map_err(io)
        .map_ok(&write)
        .try_buffer_unordered(PIECES_IN_FLIGHT)
        .try_for_each(|_| futures::future::ready(Ok(())))
        .await?;
    let sent = sent.load(Ordering::Relaxed);
    if sent != size {
        return Err(io(std::io::Error::other(format!(
            "the file changed while it was read ({size} bytes, then {sent})"
        ))));
    }
    let commit = WriteOp::RestoreCommit {
        restore,
        size,
        sha256: hasher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .finalize()
            .into(),
    };
    match write(commit).await {
        Ok(WriteOutput::Restored {
            log_index,
            entry_time_ms,
            at_index,
            ..
        }) => Ok(Swapped {
            bytes: size,
            restored_log_index: log_index,
            restored_time_ms: entry_time_ms,
            at_index,
        }),
        Ok(other) => Err(Error::Raft(format!(
            "unexpected answer to a restore: {other:?}"
        ))),
        Err(Error::Sql(e)) => Err(Error::Backup(BackupError::RestoreRefused {
            detail: e.to_string(),
        })),
        Err(e) => Err(e),
    }
}

/// Reads until `buf` is full or the file ends; returns how many bytes were read.
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// A random id for a restore: its pieces' key, and the client id of its writes.
pub(crate) fn new_restore_id() -> u64 {
    let mut bytes = [0u8; 8];
    // Without OS randomness, the time still tells restores apart.
    if getrandom::getrandom(&mut bytes).is_err() {
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
    }
    u64::from_le_bytes(bytes)
}

impl Engine {
    /// Restores `source` into the cluster: the node's backup store prepares the database
    /// (fetches, decrypts and checks the backup, replays log segments for a point in time), then
    /// it goes through the log and replaces the database on every node.
    ///
    /// # Errors
    /// [`Error::Backup`]: `NotConfigured` without a backup store, the store's errors for the
    /// source (`NotFound`, `UnknownKey`, `WrongKey`, `Tampered`, ...), `RestoreRefused`;
    /// [`Error::FormatTooOld`] while a member runs an older release; what writes fail with.
    pub(crate) async fn restore(&self, source: RestoreSource) -> Result<RestoreInfo, Error> {
        let store = self
            .backups
            .as_ref()
            .ok_or_else(super::backups::not_configured)?;
        let prepared = store.prepare_restore(source).await?;
        let restore = new_restore_id();
        let seq = std::sync::atomic::AtomicU64::new(1);
        let outcome = send_database(&prepared.db, restore, self.max_frame_bytes / 4, |op| {
            // The restore's own client id: its writes are retried exactly once like any other.
            let n = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let id = RequestId {
                client: restore,
                seq: n,
                answered_below: 0,
            };
            async move { self.write(id, op).await?.result.map_err(Error::Sql) }
        })
        .await;
        let _ = tokio::fs::remove_file(&prepared.db).await;
        let swapped = outcome?;
        tracing::info!(
            from = %prepared.snapshot,
            at_index = swapped.at_index,
            bytes = swapped.bytes,
            "restore committed"
        );
        Ok(RestoreInfo {
            from: prepared.snapshot,
            entries_replayed: prepared.entries_replayed,
            restored_log_index: swapped.restored_log_index,
            restored_time_ms: swapped.restored_time_ms,
            bytes: swapped.bytes,
            log_index: swapped.at_index,
        })
    }
}
