//! Backups: encrypted, consistent copies of the database at a known log index.
//!
//! This first part writes snapshot backups to a local directory (`backup_dir`), lists and
//! verifies them. The parts, each one job:
//! - `format.rs`: the file's header ([`BackupHeader`]) and layout
//! - `crypto.rs`: encrypting and decrypting the body, checking the key
//! - `local.rs`: the backup directory: atomic writes, listing, names
//! - `s3.rs` (feature `s3`): uploading each backup to an S3 bucket and listing the bucket's
//! - `segment.rs`: log segments, committed log entries encrypted like a backup
//! - `shipper.rs`: the leader's task that ships the committed log in segments
//! - `pitr.rs`: point-in-time assembly: a snapshot backup plus segments, replayed
//! - `schedule.rs`: scheduled backups (`backup_cron`), on the leader, once per tick
//! - `retention.rs`: which old backups to delete after a scheduled one (`backup_keep_days*`)
//! - here: making a backup ([`LocalBackups`]), decrypting and verifying one
//!
//! A backup is made on the node that receives the request: the engine linearizes first (so it
//! holds every write acknowledged before the request), then the database is copied with
//! `VACUUM INTO` from a read connection (`store::sqlite::snapshot::copy_database`, as snapshots
//! are; writes go on meanwhile), and the copy is encrypted into the directory. The copy's own
//! `_hiqlite_meta` says which log entry it holds, so the header always matches the data.
//!
//! Sits above `engine` and `store`, like `client`; `node` wires it. See docs/backups.md.

pub mod crypto;
pub mod format;
pub mod local;
pub mod pitr;
pub mod restore;
pub mod retention;
#[cfg(feature = "s3")]
pub mod s3;
pub mod schedule;
pub mod segment;
pub mod shipper;

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use openraft::vote::RaftLeaderId;
use rusqlite::{Connection, OpenFlags};

pub use self::format::{BackupHeader, BACKUP_FORMAT};
use self::local::io_err;
pub use self::local::LocalDir;
pub use self::pitr::prepare_point_in_time;
use crate::config::EncKeys;
pub use crate::engine::backups::PreparedRestore;
use crate::engine::backups::{BackupStore, NewSegment};
use crate::store::sqlite::snapshot::copy_database;
use crate::store::sqlite::writer::read_applied_state;
pub use crate::types::backup::{
    BackupError, BackupInfo, BackupLocation, RestoreInfo, RestoreSource, RestoreTarget, SegmentInfo,
};
use crate::types::format as data_format;

/// How long a temporary file must have been left alone before a starting node removes it: a
/// backup or segment being written (by another node sharing `backup_dir`) is written to every
/// few milliseconds, so ten quiet minutes mean its writer is gone.
const LEFTOVER_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// A node's local backups: its database, its backup directory and its keys.
#[derive(Debug, Clone)]
pub struct LocalBackups {
    db_path: PathBuf,
    dir: LocalDir,
    keys: Arc<EncKeys>,
}

impl LocalBackups {
    /// Backups of the database at `db_path`, kept in `dir`, encrypted with `keys`' active key.
    pub fn new(db_path: impl Into<PathBuf>, dir: impl Into<PathBuf>, keys: EncKeys) -> Self {
        LocalBackups {
            db_path: db_path.into(),
            dir: LocalDir::new(dir),
            keys: Arc::new(keys),
        }
    }

    /// Copies the database and encrypts the copy into the directory (blocking: run it on a
    /// blocking thread).
    ///
    /// # Errors
    /// [`BackupError::NotConfigured`] without an active key; [`BackupError::Copy`] when SQLite
    /// cannot copy or read the copy; [`BackupError::Io`] when the directory cannot be written.
    pub fn create_blocking(&self) -> Result<BackupInfo, BackupError> {
        let key = self.keys.active_key().ok_or_else(|| {
            BackupError::NotConfigured(
                "no active encryption key (enc_keys and enc_key_active)".into(),
            )
        })?;
        self.dir.ensure()?;
        let copy = self.dir.temp_path("copy")?;
        let compressed = self.dir.temp_path("zstd")?;
        let result = self.encrypt_copy(key, &copy, &compressed);
        let _ = std::fs::remove_file(&copy);
        let _ = std::fs::remove_file(&compressed);
        result
    }

    /// Copies the database to `copy`, compresses it into `compressed`, encrypts that into the
    /// directory.
    fn encrypt_copy(
        &self,
        key: &crate::config::EncKey,
        copy: &Path,
        compressed: &Path,
    ) -> Result<BackupInfo, BackupError> {
        copy_database(&self.db_path, copy).map_err(|e| BackupError::Copy(e.to_string()))?;
        let state = Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| read_applied_state(&c))
            .map_err(|e| BackupError::Copy(format!("reading the copy's log id: {e}")))?;
        let (log_index, log_term) = state
            .last_applied
            .map_or((0, 0), |id| (id.index, id.leader_id.term()));
        // Compressed into a file first: the header, written before the body, holds the
        // payload's length and hash.
        File::open(copy)
            .and_then(|f| {
                let mut out = BufWriter::new(File::create(compressed)?);
                zstd::stream::copy_encode(BufReader::new(f), &mut out, format::ZSTD_LEVEL)?;
                out.flush()
            })
            .map_err(|e| io_err(compressed, e))?;
        let (plain_len, sha256) = File::open(compressed)
            .and_then(|f| crypto::measure(&mut BufReader::new(f)))
            .map_err(|e| io_err(compressed, e))?;
        let nonce_prefix = crypto::new_nonce_prefix().map_err(|e| io_err(copy, e))?;
        let header = BackupHeader {
            format_version: BACKUP_FORMAT,
            data_format: state.format,
            compression: format::Compression::Zstd,
            log_index,
            log_term,
            created_ms: state.entry_time_ms,
            lineage: state.lineage,
            key_id: key.id().to_string(),
            plain_len,
            sha256,
            nonce_prefix,
            key_check: crypto::key_check(key, &nonce_prefix),
            chunk_size: format::DEFAULT_CHUNK_SIZE,
        };
        let name = LocalDir::name_for(state.lineage, log_index, state.entry_time_ms);
        let header_bytes = header.encode();
        let size = self.dir.write_atomic(&name, |file| {
            let mut out = BufWriter::new(file);
            let mut plain =
                BufReader::new(File::open(compressed).map_err(|e| io_err(compressed, e))?);
            out.write_all(&header_bytes)
                .and_then(|()| crypto::seal_body(key, &header, &header_bytes, &mut plain, &mut out))
                .and_then(|()| out.flush())
                .map_err(|e| io_err(compressed, e))
        })?;
        tracing::info!(%name, log_index, size, key_id = key.id(), "backup written");
        Ok(BackupInfo {
            name,
            created_ms: header.created_ms,
            log_index,
            log_term,
            size,
            key_id: header.key_id,
            location: BackupLocation::Local,
            lineage: header.lineage,
        })
    }

    /// Removes what a crash left in the directory (see [`LocalDir::remove_leftovers`]): call it
    /// at the node's start, before any backup runs. Failures are logged, not returned: they
    /// only cost disk space.
    pub fn remove_leftovers(&self) {
        match self.dir.remove_leftovers(LEFTOVER_IDLE) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(removed = n, dir = %self.dir.path().display(), "removed unfinished backup files")
            }
            Err(e) => tracing::warn!(error = %e, "cannot remove unfinished backup files"),
        }
    }

    /// The backups in the directory, oldest log index first.
    pub fn list_blocking(&self) -> Result<Vec<BackupInfo>, BackupError> {
        self.dir.list()
    }

    /// Encrypts `segment` with the active key into the directory (blocking: run it on a blocking
    /// thread).
    ///
    /// # Errors
    /// [`BackupError::NotConfigured`] without an active key; [`BackupError::Io`] when the
    /// directory cannot be written (nothing is left under the segment's name).
    pub fn write_segment_blocking(&self, segment: &NewSegment) -> Result<SegmentInfo, BackupError> {
        let key = self.keys.active_key().ok_or_else(|| {
            BackupError::NotConfigured(
                "no active encryption key (enc_keys and enc_key_active)".into(),
            )
        })?;
        let (Some(first), Some(last)) = (segment.entries.first(), segment.entries.last()) else {
            return Err(BackupError::Io {
                path: self.dir.path().display().to_string(),
                message: "a log segment needs at least one entry".into(),
            });
        };
        let mut last_ms = segment.prev_entry_ms;
        let mut first_ms = None;
        for e in &segment.entries {
            last_ms = self::segment::entry_time(last_ms, e);
            first_ms.get_or_insert(last_ms);
        }
        let first_ms = first_ms.unwrap_or(last_ms);
        let name = self::segment::name_for(
            segment.lineage,
            first.log_id.index,
            last.log_id.index,
            first_ms,
            last_ms,
        );
        self.dir.ensure()?;
        let mut header = None;
        let size = self.dir.write_atomic(&name, |file| {
            let mut out = BufWriter::new(file);
            let h = self::segment::write_segment(
                &mut out,
                key,
                &segment.entries,
                segment.prev_entry_ms,
                (segment.data_format, segment.lineage),
            )
            .and_then(|h| out.flush().map(|()| h))
            .map_err(|e| io_err(Path::new(&name), e))?;
            header = Some(h);
            Ok(())
        })?;
        let header =
            header.ok_or_else(|| io_err(Path::new(&name), std::io::Error::other("no header")))?;
        tracing::debug!(%name, size, "log segment written");
        Ok(SegmentInfo {
            name,
            first_index: header.first_index,
            last_index: header.last_index,
            first_ms: header.first_ms,
            last_ms: header.last_ms,
            size,
            key_id: Some(header.key_id),
            location: BackupLocation::Local,
            lineage: header.lineage,
        })
    }

    /// The keys this store encrypts with and reads with.
    pub fn keys(&self) -> &EncKeys {
        &self.keys
    }

    /// The backup directory.
    pub fn dir(&self) -> &LocalDir {
        &self.dir
    }

    /// Verifies backup `name` of this directory (see [`verify_file`]).
    pub fn verify_blocking(&self, name: &str) -> Result<BackupHeader, BackupError> {
        verify_file(&self.dir.path_of(name)?, &self.keys)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::Copy(format!("the backup task failed: {e}")))?
}

impl BackupStore for LocalBackups {
    fn create(&self) -> BoxFuture<'_, Result<BackupInfo, BackupError>> {
        let this = self.clone();
        Box::pin(blocking(move || this.create_blocking()))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<BackupInfo>, BackupError>> {
        let this = self.clone();
        Box::pin(blocking(move || this.list_blocking()))
    }

    fn write_segment(
        &self,
        segment: NewSegment,
    ) -> BoxFuture<'_, Result<SegmentInfo, BackupError>> {
        let this = self.clone();
        Box::pin(blocking(move || this.write_segment_blocking(&segment)))
    }

    fn list_segments(&self) -> BoxFuture<'_, Result<Vec<SegmentInfo>, BackupError>> {
        let this = self.clone();
        Box::pin(blocking(move || this.dir.list_segments()))
    }

    fn fetch<'a>(
        &'a self,
        name: &'a str,
        location: BackupLocation,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<(), BackupError>> {
        let (dir, name, dest) = (self.dir.clone(), name.to_string(), dest.to_path_buf());
        Box::pin(async move {
            match location {
                BackupLocation::Local => blocking(move || dir.copy_out(&name, &dest)).await,
                BackupLocation::S3 => Err(BackupError::NotConfigured(format!(
                    "{name} is in S3, and S3 is not configured on this node (s3_url, ...)"
                ))),
            }
        })
    }

    /// Removes a backup from the directory; this store has no S3 location.
    fn delete<'a>(
        &'a self,
        name: &'a str,
        location: BackupLocation,
    ) -> BoxFuture<'a, Result<(), BackupError>> {
        let dir = self.dir.clone();
        let name = name.to_string();
        Box::pin(async move {
            match location {
                BackupLocation::Local => blocking(move || dir.remove(&name)).await,
                BackupLocation::S3 => Err(BackupError::NotConfigured(format!(
                    "cannot delete {name} from S3: S3 is not set up on this node"
                ))),
            }
        })
    }

    fn prepare_restore(
        &self,
        source: RestoreSource,
    ) -> BoxFuture<'_, Result<PreparedRestore, BackupError>> {
        Box::pin(restore::prepare(self, &self.keys, &self.dir, source))
    }
}

/// The name of a file, for messages.
fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Decrypts the backup at `path` into a new file `out` (a SQLite database) and checks it: the
/// SHA-256 and length of the plaintext, that it opens as a Hiqlite database (`PRAGMA
/// quick_check`, `_hiqlite_meta`), and that its last applied log id is the header's. Returns the
/// header. On an error `out` is removed.
///
/// # Errors
/// Every [`BackupError`] of reading a backup: `NotFound`, `NotABackup`, `NewerFormat`,
/// `NewerDataFormat`, `UnknownKey`, `WrongKey`, `Truncated`, `Tampered`, `Mismatch`,
/// `NotADatabase`, `Io` (also when `out` exists already).
pub fn decrypt_file(path: &Path, keys: &EncKeys, out: &Path) -> Result<BackupHeader, BackupError> {
    decrypt_named(path, display_name(path), keys, out)
}

/// [`decrypt_file`], naming the backup `name` in errors (a fetched copy has another file name).
pub(crate) fn decrypt_named(
    path: &Path,
    name: String,
    keys: &EncKeys,
    out: &Path,
) -> Result<BackupHeader, BackupError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BackupError::NotFound { name: name.clone() },
        _ => io_err(path, e),
    })?;
    let mut input = BufReader::new(file);
    let (header, header_bytes) = BackupHeader::read(&mut input, &name)?;
    if header.data_format > data_format::NEWEST {
        return Err(BackupError::NewerDataFormat {
            name,
            found: header.data_format,
            newest: data_format::NEWEST,
        });
    }
    let key = crypto::key_for(keys, &header, &name)?;
    let result = (|| {
        let plain = File::options()
            .write(true)
            .create_new(true)
            .open(out)
            .map_err(|e| io_err(out, e))?;
        let writer = BufWriter::new(plain);
        let (sha, writer) = match header.compression {
            format::Compression::None => {
                let mut writer = writer;
                let sha =
                    crypto::open_body(key, &header, &header_bytes, &name, &mut input, &mut writer)?;
                (sha, writer)
            }
            format::Compression::Zstd => {
                let mut decoder =
                    zstd::stream::write::Decoder::new(writer).map_err(|e| io_err(out, e))?;
                // A write error here is the output file's or, for a payload that authenticated
                // but does not decompress (a writer bug), zstd's: both come back as `Io`.
                let sha = crypto::open_body(
                    key,
                    &header,
                    &header_bytes,
                    &name,
                    &mut input,
                    &mut decoder,
                )?;
                decoder.flush().map_err(|e| BackupError::Mismatch {
                    name: name.clone(),
                    detail: format!("the payload is not valid zstd data: {e}"),
                })?;
                (sha, decoder.into_inner())
            }
        };
        let plain = writer
            .into_inner()
            .map_err(|e| io_err(out, e.into_error()))?;
        plain.sync_all().map_err(|e| io_err(out, e))?;
        if sha != header.sha256 {
            return Err(BackupError::Mismatch {
                name: name.clone(),
                detail: "the SHA-256 of the decrypted data differs from the header's".into(),
            });
        }
        check_database(out, &header, &name)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(out);
    }
    result.map(|()| header)
}

/// Checks that `db` is a sound Hiqlite database whose last applied entry is the header's.
fn check_database(db: &Path, header: &BackupHeader, name: &str) -> Result<(), BackupError> {
    let not_db = |detail: String| BackupError::NotADatabase {
        name: name.into(),
        detail,
    };
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| not_db(e.to_string()))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| not_db(e.to_string()))?;
    if check != "ok" {
        return Err(not_db(format!("quick_check: {check}")));
    }
    let state = read_applied_state(&conn).map_err(|e| not_db(format!("_hiqlite_meta: {e}")))?;
    let found = state
        .last_applied
        .map_or((0, 0), |id| (id.index, id.leader_id.term()));
    if found != (header.log_index, header.log_term) {
        return Err(BackupError::Mismatch {
            name: name.into(),
            detail: format!(
                "the database holds log entry {found:?} (index, term), the header says {:?}",
                (header.log_index, header.log_term)
            ),
        });
    }
    Ok(())
}

/// Verifies the backup at `path` with `keys`: decrypts it into a temporary file next to it,
/// checks it as [`decrypt_file`] does, and removes the temporary file. Returns the header.
///
/// # Errors
/// As [`decrypt_file`].
pub fn verify_file(path: &Path, keys: &EncKeys) -> Result<BackupHeader, BackupError> {
    let dir = LocalDir::new(path.parent().unwrap_or(Path::new(".")));
    let tmp = dir.temp_path("verify")?;
    let result = decrypt_file(path, keys, &tmp);
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests;
