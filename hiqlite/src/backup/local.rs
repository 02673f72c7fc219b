//! Backups in a local directory (`backup_dir`): written atomically (temporary file, fsync,
//! rename, fsync of the directory), listed by reading each file's header, and found by name.
//! Log segments (`segment.rs`) live in the same directory.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::format::BackupHeader;
use super::segment::{self, SegmentHeader};
use crate::types::backup::{BackupError, BackupInfo, BackupLocation, SegmentInfo};

/// The file name ending of backups.
pub const EXTENSION: &str = "hqbackup";

/// A backup directory.
#[derive(Debug, Clone)]
pub struct LocalDir {
    dir: PathBuf,
}

pub(super) fn io_err(path: &Path, e: std::io::Error) -> BackupError {
    BackupError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl LocalDir {
    pub fn new(dir: impl Into<PathBuf>) -> LocalDir {
        LocalDir { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The name a backup of lineage `lineage` at log index `index` made at `created_ms` gets:
    /// within a lineage, sorted by name is sorted by log index.
    pub fn name_for(lineage: u64, index: u64, created_ms: i64) -> String {
        format!("hiqlite-{lineage:016x}-{index:020}-{created_ms}.{EXTENSION}")
    }

    /// The path of backup or log segment `name`.
    ///
    /// # Errors
    /// [`BackupError::InvalidName`]: `name` is not a plain file name ending in `.hqbackup` or
    /// `.hqlog`.
    pub fn path_of(&self, name: &str) -> Result<PathBuf, BackupError> {
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && !name.contains(['/', '\\'])
            && (name.ends_with(&format!(".{EXTENSION}"))
                || name.ends_with(&format!(".{}", segment::EXTENSION)));
        if plain {
            Ok(self.dir.join(name))
        } else {
            Err(BackupError::InvalidName { name: name.into() })
        }
    }

    /// A fresh path for a file that is not complete yet (hidden, ends in `.tmp`).
    pub fn temp_path(&self, purpose: &str) -> Result<PathBuf, BackupError> {
        let mut n = [0u8; 8];
        getrandom::getrandom(&mut n)
            .map_err(|e| io_err(&self.dir, std::io::Error::other(e.to_string())))?;
        Ok(self
            .dir
            .join(format!(".{purpose}-{:016x}.tmp", u64::from_le_bytes(n))))
    }

    /// Removes the temporary files a crash left behind (`.*.tmp`: unfinished backups and
    /// copies) that nobody wrote to for `idle` or longer. Call it at the node's start, when this
    /// node makes no backup; the idle time spares the files another node is writing right now
    /// when several nodes share one `backup_dir` (a backup being written is written to without
    /// pauses). Returns how many were removed; a directory that does not exist yet has none.
    pub fn remove_leftovers(&self, idle: std::time::Duration) -> Result<usize, BackupError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err(&self.dir, e)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&self.dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with('.') && name.ends_with(".tmp")) {
                continue;
            }
            let written = entry.metadata().and_then(|m| m.modified());
            let idle_for = written.map(|w| w.elapsed().unwrap_or_default());
            // A file whose time cannot be read is someone's: leave it.
            if idle_for.is_ok_and(|d| d >= idle) {
                std::fs::remove_file(entry.path()).map_err(|e| io_err(&entry.path(), e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Creates the directory if needed, for this user only (0700 on Unix; backups are
    /// encrypted, but their names and sizes are not).
    pub fn ensure(&self) -> Result<(), BackupError> {
        let mut create = std::fs::DirBuilder::new();
        create.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut create, 0o700);
        create.create(&self.dir).map_err(|e| io_err(&self.dir, e))
    }

    /// Writes file `name` atomically: `write` fills a temporary file, which is then fsynced and
    /// renamed to `name`, and the directory is fsynced. Returns the file's size. On any error the
    /// temporary file is removed and no file `name` appears.
    pub fn write_atomic(
        &self,
        name: &str,
        write: impl FnOnce(&mut File) -> Result<(), BackupError>,
    ) -> Result<u64, BackupError> {
        let dest = self.path_of(name)?;
        let tmp = self.temp_path("write")?;
        let result = (|| {
            let mut file = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
            write(&mut file)?;
            file.sync_all().map_err(|e| io_err(&tmp, e))?;
            let size = file.metadata().map_err(|e| io_err(&tmp, e))?.len();
            drop(file);
            std::fs::rename(&tmp, &dest).map_err(|e| io_err(&dest, e))?;
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err(&self.dir, e))?;
            Ok(size)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Removes backup `name` and fsyncs the directory, so the removal survives a crash. A
    /// backup that does not exist is not an error (retention may race a manual removal).
    ///
    /// # Errors
    /// [`BackupError::InvalidName`] for a name that is not a backup's; [`BackupError::Io`].
    pub fn remove(&self, name: &str) -> Result<(), BackupError> {
        let path = self.path_of(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(&path, e)),
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(&self.dir, e))
    }

    /// Every backup in the directory, oldest log index first. Files whose header cannot be read
    /// are left out with a warning in the log; a missing directory lists nothing.
    pub fn list(&self) -> Result<Vec<BackupInfo>, BackupError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.path_of(&name).is_err() || !name.ends_with(&format!(".{EXTENSION}")) {
                continue;
            }
            match info_of(&entry.path(), &name) {
                Ok(info) => out.push(info),
                Err(e) => tracing::warn!("skipping backup {name}: {e}"),
            }
        }
        out.sort_by(|a, b| {
            (a.log_index, a.created_ms, &a.name).cmp(&(b.log_index, b.created_ms, &b.name))
        });
        Ok(out)
    }
}

impl LocalDir {
    /// Every log segment in the directory, by first index (then last index). The range and
    /// times come from the name, the key id from the header; a file whose header cannot be read
    /// or disagrees with its name is left out with a warning in the log. A missing directory
    /// lists nothing.
    pub fn list_segments(&self) -> Result<Vec<SegmentInfo>, BackupError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if segment::parse_name(&name).is_none() {
                continue;
            }
            match segment_info_of(&entry.path(), &name) {
                Ok(info) => out.push(info),
                Err(e) => tracing::warn!("skipping log segment {name}: {e}"),
            }
        }
        out.sort_by(|a, b| {
            (a.first_index, a.last_index, &a.name).cmp(&(b.first_index, b.last_index, &b.name))
        });
        Ok(out)
    }

    /// Copies backup or segment `name` of this directory to the new file `dest` (fsynced).
    ///
    /// # Errors
    /// [`BackupError::InvalidName`], [`BackupError::NotFound`], [`BackupError::Io`] (also when
    /// `dest` exists already; a partial `dest` is removed).
    pub fn copy_out(&self, name: &str, dest: &Path) -> Result<(), BackupError> {
        let src = self.path_of(name)?;
        let mut input = File::open(&src).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BackupError::NotFound { name: name.into() },
            _ => io_err(&src, e),
        })?;
        let mut out = File::options()
            .write(true)
            .create_new(true)
            .open(dest)
            .map_err(|e| io_err(dest, e))?;
        let result = std::io::copy(&mut input, &mut out)
            .and_then(|_| out.sync_all())
            .map_err(|e| io_err(dest, e));
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }
}

/// What a segment file's name and header say, with its size.
fn segment_info_of(path: &Path, name: &str) -> Result<SegmentInfo, BackupError> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let size = file.metadata().map_err(|e| io_err(path, e))?.len();
    let (header, _) = SegmentHeader::read(&mut BufReader::new(file), name)?;
    if header.name() != name {
        return Err(BackupError::Mismatch {
            name: name.into(),
            detail: format!("its header describes {}", header.name()),
        });
    }
    segment::info_from_name(name, size, Some(header.key_id), BackupLocation::Local)
        .ok_or_else(|| BackupError::InvalidName { name: name.into() })
}

/// What a backup file's header says, with its size.
pub fn info_of(path: &Path, name: &str) -> Result<BackupInfo, BackupError> {
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BackupError::NotFound { name: name.into() }
        } else {
            io_err(path, e)
        }
    })?;
    let size = file.metadata().map_err(|e| io_err(path, e))?.len();
    let (header, _) = BackupHeader::read(&mut BufReader::new(file), name)?;
    Ok(BackupInfo {
        name: name.into(),
        created_ms: header.created_ms,
        log_index: header.log_index,
        log_term: header.log_term,
        size,
        key_id: header.key_id,
        location: BackupLocation::Local,
        lineage: header.lineage,
    })
}
