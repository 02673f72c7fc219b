//! Snapshots of the SQLite database: a consistent copy made with `VACUUM INTO` from a read
//! connection (writers keep going meanwhile), kept as `snapshot.db` next to the database.
//!
//! The copy carries its own `_hiqlite_meta`, so the snapshot's last log id and membership are
//! read from the copy itself and always match its contents. Installing restores the copy into the
//! writer's connection with SQLite's backup API.
//!
//! Current limits (lifted with streaming snapshots): the payload travels as one in-memory buffer,
//! and openraft's snapshot policy is "never", so these are only built on request.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftSnapshotBuilder, Snapshot, SnapshotMeta};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf};
use rusqlite::{Connection, OpenFlags};

use super::writer::read_applied_state;
use crate::raft::TypeConfig;

/// Snapshot payload: the bytes of a database file.
pub type SnapshotData = io::Cursor<Vec<u8>>;

const SNAPSHOT_FILE: &str = "snapshot.db";

/// The snapshot files of one database.
#[derive(Clone)]
pub struct SnapshotStore {
    db_path: PathBuf,
    dir: PathBuf,
    /// Meta of `snapshot.db`, if there is one. Guards the file too: one builder or installer at a time.
    current: Arc<Mutex<Option<SnapshotMetaOf<TypeConfig>>>>,
}

fn sqlite_err(e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("SQLite: {e}"))
}

impl SnapshotStore {
    /// Opens the snapshot directory and reads the meta of an existing snapshot.
    pub fn open(db_path: &Path, dir: &Path) -> io::Result<SnapshotStore> {
        std::fs::create_dir_all(dir)?;
        // Leftovers of builds or installs interrupted by a crash.
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let file = dir.join(SNAPSHOT_FILE);
        let current = if file.exists() {
            Some(read_meta(&file)?)
        } else {
            None
        };
        Ok(SnapshotStore {
            db_path: db_path.to_path_buf(),
            dir: dir.to_path_buf(),
            current: Arc::new(Mutex::new(current)),
        })
    }

    fn file(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE)
    }

    /// A path for a file that becomes `snapshot.db` once complete.
    pub fn temp_file(&self) -> PathBuf {
        let mut n = [0u8; 8];
        let _ = getrandom::getrandom(&mut n);
        self.dir
            .join(format!("incoming-{}.tmp", u64::from_le_bytes(n)))
    }

    fn build_blocking(&self) -> io::Result<SnapshotOf<TypeConfig, SnapshotData>> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let tmp = self.temp_file();
        let conn = Connection::open_with_flags(&self.db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sqlite_err)?;
        conn.execute("VACUUM INTO ?1", [tmp.display().to_string()])
            .map_err(sqlite_err)?;
        drop(conn);
        let meta = self.adopt(&tmp)?;
        *current = Some(meta.clone());
        let data = std::fs::read(self.file())?;
        Ok(Snapshot {
            meta,
            snapshot: io::Cursor::new(data),
        })
    }

    /// Writes an incoming snapshot to a temporary file (fsynced) and checks that its contents are
    /// what `meta` announces. Returns the file, ready for the writer to restore from.
    pub async fn receive(
        &self,
        meta: &SnapshotMetaOf<TypeConfig>,
        data: Vec<u8>,
    ) -> io::Result<PathBuf> {
        let path = self.temp_file();
        let expected = meta.last_log_id;
        let file = path.clone();
        let result = tokio::task::spawn_blocking(move || {
            std::fs::write(&file, &data)?;
            std::fs::File::open(&file)?.sync_all()?;
            let found = read_meta(&file)?.last_log_id;
            if found != expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("snapshot content is at {found:?} but its meta says {expected:?}"),
                ));
            }
            Ok(())
        })
        .await
        .map_err(io::Error::other)?;
        if let Err(e) = result {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(path)
    }

    /// Makes a restored snapshot file the current snapshot.
    pub async fn keep_installed(
        &self,
        file: PathBuf,
        meta: SnapshotMetaOf<TypeConfig>,
    ) -> io::Result<()> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut current = store.current.lock().unwrap_or_else(|p| p.into_inner());
            store.adopt(&file)?;
            *current = Some(meta);
            Ok(())
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Makes a complete file the current snapshot (fsynced, then renamed into place).
    fn adopt(&self, complete: &Path) -> io::Result<SnapshotMetaOf<TypeConfig>> {
        let meta = read_meta(complete)?;
        std::fs::File::open(complete)?.sync_all()?;
        std::fs::rename(complete, self.file())?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(meta)
    }

    /// The current snapshot, read from disk on a blocking thread.
    pub async fn current(&self) -> io::Result<Option<SnapshotOf<TypeConfig, SnapshotData>>> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.current_blocking())
            .await
            .map_err(io::Error::other)?
    }

    fn current_blocking(&self) -> io::Result<Option<SnapshotOf<TypeConfig, SnapshotData>>> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match current.as_ref() {
            None => Ok(None),
            Some(meta) => Ok(Some(Snapshot {
                meta: meta.clone(),
                snapshot: io::Cursor::new(std::fs::read(self.file())?),
            })),
        }
    }
}

/// Reads the last applied log id and membership stored inside a database file.
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

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<TypeConfig, SnapshotData>> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.build_blocking())
            .await
            .map_err(|e| io::Error::other(format!("snapshot task failed: {e}")))?
    }
}
