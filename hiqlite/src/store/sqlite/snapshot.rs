//! Snapshots of the SQLite database: a consistent copy made from one read transaction (the
//! writer keeps going meanwhile) with SQLite's backup API, a few MiB at a time, each piece
//! fsynced before the next ([`copy_snapshot`]), kept as `snapshot.db` in the snapshot directory.
//! The build holds no lock while it copies, so openraft's state machine worker, which applies
//! entries and hands out the current snapshot, never waits for it.
//!
//! The copy carries its own `_hiqlite_meta`, so a snapshot's last log id and membership are read
//! from the file itself and always match its contents. A snapshot travels as an open file
//! ([`SnapshotData`]): it is streamed to followers in chunks (`raft::snapshot_transfer`), so
//! memory stays bounded by the chunk size. Installing restores the file into the writer's
//! connection with SQLite's backup API, then keeps it as this node's current snapshot.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftSnapshotBuilder, Snapshot, SnapshotMeta};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf};
use rusqlite::{Connection, OpenFlags};

use super::writer::read_applied_state;
use crate::types::disk::{is_no_space, Backoff, DiskSpace, DiskUser};
use crate::types::raft::TypeConfig;

const SNAPSHOT_FILE: &str = "snapshot.db";

/// A snapshot's database file, held open: the data stays readable even when a newer snapshot
/// replaces the file name meanwhile.
#[derive(Debug)]
pub struct SnapshotData {
    path: PathBuf,
    file: std::fs::File,
}

impl SnapshotData {
    pub fn open(path: &Path) -> io::Result<SnapshotData> {
        Ok(SnapshotData {
            path: path.to_path_buf(),
            file: std::fs::File::open(path)?,
        })
    }

    /// Where the file was when it was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }
}

/// The snapshot files of one database.
#[derive(Clone)]
pub struct SnapshotStore {
    db_path: PathBuf,
    dir: PathBuf,
    /// Meta of `snapshot.db`, if there is one. Guards the file too: one builder or installer at a time.
    current: Arc<Mutex<Option<SnapshotMetaOf<TypeConfig>>>>,
    /// Where a build that finds no space reports it while it waits (see `build_snapshot`).
    disk: DiskSpace,
}

fn sqlite_err(e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("SQLite: {e}"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("snapshot task failed: {e}")))?
}

impl SnapshotStore {
    /// Opens the snapshot directory and reads the meta of an existing snapshot.
    pub fn open(db_path: &Path, dir: &Path) -> io::Result<SnapshotStore> {
        std::fs::create_dir_all(dir)?;
        // Leftovers of builds or transfers interrupted by a crash.
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let file = dir.join(SNAPSHOT_FILE);
        let current = match file.exists() {
            true => match read_meta(&file) {
                Ok(meta) => Some(meta),
                Err(e) => {
                    // A damaged snapshot is no snapshot: the cluster can send a new one.
                    tracing::warn!("ignoring unreadable snapshot {}: {e}", file.display());
                    let _ = std::fs::remove_file(&file);
                    None
                }
            },
            false => None,
        };
        Ok(SnapshotStore {
            db_path: db_path.to_path_buf(),
            dir: dir.to_path_buf(),
            current: Arc::new(Mutex::new(current)),
            disk: DiskSpace::default(),
        })
    }

    /// Reports a build that finds no disk space to `disk` (see `build_snapshot`).
    pub fn with_disk(mut self, disk: DiskSpace) -> SnapshotStore {
        self.disk = disk;
        self
    }

    /// Meta of the current snapshot, if any.
    pub fn current_meta(&self) -> Option<SnapshotMetaOf<TypeConfig>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The directory incoming snapshot transfers are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current snapshot's file (absent before the first snapshot).
    pub(crate) fn file(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE)
    }

    /// A fresh path in the snapshot directory for a file that is not complete yet.
    fn temp_file(&self) -> PathBuf {
        temp_file_in(&self.dir)
    }

    /// Copies the database into a new file, fsyncs it, then (holding the lock only for the
    /// rename) makes it the current snapshot. The copy and its fsync run without the lock, so
    /// [`SnapshotStore::current`] (and with it openraft's state machine worker, which applies
    /// entries) never waits for a build. Should a newer snapshot have been installed meanwhile,
    /// the copy is dropped and that one is returned.
    fn build_blocking(&self) -> io::Result<SnapshotOf<TypeConfig, SnapshotData>> {
        let t0 = std::time::Instant::now();
        let tmp = self.temp_file();
        let built = copy_snapshot(&self.db_path, &tmp).and_then(|()| read_meta(&tmp));
        let meta = match built {
            Ok(meta) => meta,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let copied = t0.elapsed();
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(newer) = current
            .as_ref()
            .filter(|c| c.last_log_id > meta.last_log_id)
        {
            let _ = std::fs::remove_file(&tmp);
            return Ok(Snapshot {
                meta: newer.clone(),
                snapshot: SnapshotData::open(&self.file())?,
            });
        }
        self.place(&tmp)?;
        tracing::info!(
            "snapshot built at {:?}: copy and fsync {:?}, rename {:?}",
            meta.last_log_id,
            copied,
            t0.elapsed() - copied
        );
        *current = Some(meta.clone());
        Ok(Snapshot {
            meta,
            snapshot: SnapshotData::open(&self.file())?,
        })
    }

    /// Checks that a complete snapshot file holds what `meta` announces, and makes sure it lives
    /// in this store's directory (copying it if it came from elsewhere, e.g. a test).
    pub async fn verify(
        &self,
        meta: &SnapshotMetaOf<TypeConfig>,
        data: SnapshotData,
    ) -> io::Result<PathBuf> {
        let dir = self.dir.clone();
        let expected = meta.last_log_id;
        blocking(move || {
            let path = if data.path().parent() == Some(dir.as_path()) {
                data.path().to_path_buf()
            } else {
                let copy = temp_file_in(&dir);
                std::fs::copy(data.path(), &copy)?;
                copy
            };
            let found = read_meta(&path)?.last_log_id;
            if found != expected {
                let _ = std::fs::remove_file(&path);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("snapshot content is at {found:?} but its meta says {expected:?}"),
                ));
            }
            Ok(path)
        })
        .await
    }

    /// Makes a restored snapshot file the current snapshot.
    pub async fn keep_installed(
        &self,
        file: PathBuf,
        meta: SnapshotMetaOf<TypeConfig>,
    ) -> io::Result<()> {
        let store = self.clone();
        blocking(move || {
            std::fs::File::open(&file)?.sync_all()?;
            let mut current = store.current.lock().unwrap_or_else(|p| p.into_inner());
            store.place(&file)?;
            *current = Some(meta);
            Ok(())
        })
        .await
    }

    /// Renames a complete, fsynced file into place as `snapshot.db` and fsyncs the directory.
    /// Called with `current` locked.
    fn place(&self, complete: &Path) -> io::Result<()> {
        std::fs::rename(complete, self.file())?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// The current snapshot, opened on a blocking thread.
    pub async fn current(&self) -> io::Result<Option<SnapshotOf<TypeConfig, SnapshotData>>> {
        let store = self.clone();
        blocking(move || {
            let current = store.current.lock().unwrap_or_else(|p| p.into_inner());
            match current.as_ref() {
                None => Ok(None),
                Some(meta) => Ok(Some(Snapshot {
                    meta: meta.clone(),
                    snapshot: SnapshotData::open(&store.file())?,
                })),
            }
        })
        .await
    }
}

/// Writes a consistent copy of the database at `db_path` to `dest` (which must not exist) with
/// `VACUUM INTO` from a read-only connection: the writer keeps going meanwhile, and the copy holds
/// exactly the entries applied when the read began, with their `_hiqlite_meta`. Snapshots and
/// backups (`crate::backup`) are both made this way. `dest` is not fsynced.
///
/// # Errors
/// `io::Error` (kind `Other`, message `SQLite: ...`) when SQLite cannot open the database or write
/// the copy; a partial `dest` is left for the caller to remove.
pub fn copy_database(db_path: &Path, dest: &Path) -> io::Result<()> {
    let conn = Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite_err)?;
    conn.execute("VACUUM INTO ?1", [dest.display().to_string()])
        .map_err(sqlite_err)?;
    Ok(())
}

/// Pages one step of [`copy_snapshot`] copies: 4 MiB at SQLite's default page size of 4 KiB.
const STEP_PAGES: std::ffi::c_int = 1024;

/// Writes a consistent copy of the database at `db_path` to `dest` (which must not exist) and
/// fsyncs it, in pieces: SQLite's backup API copies [`STEP_PAGES`] pages at a time from one read
/// transaction (so every piece comes from the same state, whatever the writer commits meanwhile),
/// and each piece is fsynced before the next is copied. The disk never holds more than one
/// piece of the copy in its queue, so the Raft log's fsyncs and the writer's checkpoints wait
/// behind at most one piece, not behind the whole file (`VACUUM INTO` followed by one fsync
/// queued the whole database at once). The copy keeps the database's free pages.
///
/// # Errors
/// `io::Error` (kind `Other`, message `SQLite: ...`) when SQLite cannot open the database, read
/// it or write the copy; any error of the fsyncs. A partial `dest` is left for the caller to
/// remove.
pub fn copy_snapshot(db_path: &Path, dest: &Path) -> io::Result<()> {
    use rusqlite::backup::{Backup, StepResult};
    let src = Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite_err)?;
    // The read transaction spans every step: without it each step would start its own, and the
    // backup would start over whenever the writer committed in between.
    src.execute_batch("BEGIN DEFERRED").map_err(sqlite_err)?;
    src.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(sqlite_err)?;
    let mut dst = Connection::open(dest).map_err(sqlite_err)?;
    // The file is fsynced here, piece by piece; SQLite needs no journal for a new file.
    dst.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        .map_err(sqlite_err)?;
    let file = std::fs::OpenOptions::new().write(true).open(dest)?;
    {
        let backup = Backup::new(&src, &mut dst).map_err(sqlite_err)?;
        loop {
            match backup.step(STEP_PAGES).map_err(sqlite_err)? {
                StepResult::Done => break,
                StepResult::More => file.sync_data()?,
                // Only the destination can be locked (nobody else knows it): wait and retry.
                _ => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
    }
    // The pages carry the database's header, which says WAL: make the copy a file of its own
    // again (rollback journal), so reading it never leaves a -wal or -shm next to it.
    let mode: String = dst
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(sqlite_err)?;
    if mode != "delete" {
        return Err(io::Error::other(format!(
            "SQLite: the snapshot copy stayed in journal mode {mode}"
        )));
    }
    dst.close().map_err(|(_, e)| sqlite_err(e))?;
    src.execute_batch("COMMIT").map_err(sqlite_err)?;
    file.sync_all()
}

/// A fresh `*.tmp` path in `dir` (temporary files are removed when the store opens).
pub fn temp_file_in(dir: &Path) -> PathBuf {
    let mut n = [0u8; 8];
    let _ = getrandom::getrandom(&mut n);
    dir.join(format!("incoming-{:016x}.tmp", u64::from_le_bytes(n)))
}

/// Reads the last applied log id and membership stored inside a database file.
pub fn read_file_meta(file: &Path) -> io::Result<SnapshotMetaOf<TypeConfig>> {
    read_meta(file)
}

fn read_meta(file: &Path) -> io::Result<SnapshotMetaOf<TypeConfig>> {
    let conn =
        Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite_err)?;
    let state = read_applied_state(&conn).map_err(sqlite_err)?;
    Ok(SnapshotMeta {
        last_log_id: state.last_applied,
        last_membership: state.membership,
    })
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotStore {
    type SnapshotData = SnapshotData;

    /// Builds a snapshot; when the disk has no space for the copy, removes the partial copy and
    /// tries again with back-off until it has (reported to the node's `DiskSpace` meanwhile):
    /// openraft stops for good when a build fails, and a snapshot can wait.
    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<TypeConfig, SnapshotData>> {
        let mut backoff = Backoff::default();
        let mut was_full = false;
        loop {
            let store = self.clone();
            match blocking(move || store.build_blocking()).await {
                Err(e) if is_no_space(&e) => {
                    was_full = true;
                    self.disk
                        .report_full(DiskUser::Snapshot, &self.dir, e.to_string());
                    tokio::time::sleep(backoff.next_pause()).await;
                }
                result => {
                    if was_full {
                        self.disk.report_ok(DiskUser::Snapshot);
                    }
                    return result;
                }
            }
        }
    }
}
