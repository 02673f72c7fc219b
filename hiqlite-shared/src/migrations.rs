//! Finds and reads `migrations/<version>_<name>.sql`.
//!
//! The one resolver behind both `migrate!()` (build time) and the runtime migrator: the file name
//! rules, the ordering and the checksum are defined here and nowhere else.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The largest version a migration may have: SQLite stores it as a signed 64-bit integer.
pub const MAX_VERSION: u64 = i64::MAX as u64;

/// Environment variable naming the migrations directory (relative to the crate's `Cargo.toml`,
/// or absolute) for `query!`, `query_as!` and an argument-less `migrate!()`, so the SQL checks and
/// the embedded migrations always use the same schema.
pub const MIGRATIONS_ENV: &str = "HIQLITE_MIGRATIONS_DIR";

/// One migration file, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// The number before the first `_` of the file name (`0001_init.sql` → 1).
    pub version: u64,
    /// The part after the first `_`, without `.sql` (`0001_init.sql` → `init`).
    pub name: String,
    /// Where the file was read from.
    pub path: PathBuf,
    /// The file's content with line endings normalized to `\n`.
    pub sql: String,
    /// [`checksum`] of `sql`.
    pub checksum: String,
}

/// Why a migrations directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no `migrations/` directory in {start} or any of its parent directories")]
    NotFound { start: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("migration file {path} is not named `<version>_<name>.sql` ({reason})")]
    BadName { path: PathBuf, reason: String },
    #[error("migration files {first} and {second} both have version {version}")]
    DuplicateVersion {
        version: u64,
        first: PathBuf,
        second: PathBuf,
    },
}

/// Normalizes line endings (`\r\n` and lone `\r` become `\n`) so a checkout on Windows and one on
/// Linux checksum the same.
pub fn normalize(sql: &str) -> String {
    sql.replace("\r\n", "\n").replace('\r', "\n")
}

/// The checksum of a migration: SHA-256 of its normalized text, as 64 lowercase hex digits.
pub fn checksum(sql: &str) -> String {
    let digest = Sha256::digest(normalize(sql).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `migrations` directory of `start` or of the nearest ancestor that has one.
pub fn find_dir(start: &Path) -> Result<PathBuf, ResolveError> {
    start
        .ancestors()
        .map(|dir| dir.join("migrations"))
        .find(|candidate| candidate.is_dir())
        .ok_or_else(|| ResolveError::NotFound {
            start: start.to_path_buf(),
        })
}

/// Reads every `*.sql` file of `dir`, sorted by version. Other files are ignored; a `.sql` file
/// with a bad name or a version used twice is an error that names the file.
pub fn resolve_dir(dir: &Path) -> Result<Vec<MigrationFile>, ResolveError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ResolveError::Io { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_none_or(|ext| ext != "sql") || !path.is_file() {
            continue;
        }
        let (version, name) = parse_file_name(&path)?;
        let raw = std::fs::read_to_string(&path).map_err(io(&path))?;
        let sql = normalize(&raw);
        let checksum = checksum(&sql);
        files.push(MigrationFile {
            version,
            name,
            path,
            sql,
            checksum,
        });
    }
    files.sort_by_key(|f| f.version);
    if let Some(pair) = files.windows(2).find(|w| w[0].version == w[1].version) {
        return Err(ResolveError::DuplicateVersion {
            version: pair[0].version,
            first: pair[0].path.clone(),
            second: pair[1].path.clone(),
        });
    }
    Ok(files)
}

fn parse_file_name(path: &Path) -> Result<(u64, String), ResolveError> {
    let bad = |reason: &str| ResolveError::BadName {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| bad("not valid UTF-8"))?;
    let (version, name) = stem
        .split_once('_')
        .ok_or_else(|| bad("no `_` between version and name"))?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the version must be digits"));
    }
    let version = version
        .parse::<u64>()
        .map_err(|_| bad("the version does not fit in 64 bits"))?;
    // Versions are stored as SQLite integers, which are signed.
    if version > MAX_VERSION {
        return Err(bad("the version must be at most 9223372036854775807"));
    }
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    Ok((version, name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        dir
    }

    #[test]
    fn resolves_in_version_order_and_ignores_other_files() {
        let dir = dir_with(&[
            ("0002_more.sql", "SELECT 2;"),
            ("0001_init.sql", "SELECT 1;"),
            ("README.md", "not a migration"),
        ]);
        let files = resolve_dir(dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|f| (f.version, f.name.as_str())).collect();
        assert_eq!(names, vec![(1, "init"), (2, "more")]);
    }

    #[test]
    fn checksum_ignores_line_endings() {
        assert_eq!(checksum("a\r\nb\rc\n"), checksum("a\nb\nc\n"));
        assert_ne!(checksum("a\n"), checksum("b\n"));
        assert_eq!(checksum("").len(), 64);
    }

    #[test]
    fn bad_names_and_duplicates_name_the_file() {
        let dir = dir_with(&[("init.sql", "")]);
        let err = resolve_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("init.sql"), "{err}");

        let dir = dir_with(&[("9223372036854775808_big.sql", "")]);
        let err = resolve_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("9223372036854775808_big.sql"), "{err}");

        let dir = dir_with(&[("01_a.sql", ""), ("1_b.sql", "")]);
        let err = resolve_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("version 1"), "{err}");
    }

    #[test]
    fn find_dir_walks_up_to_the_nearest_ancestor() {
        let root = dir_with(&[]);
        std::fs::create_dir(root.path().join("migrations")).unwrap();
        let nested = root.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(find_dir(&nested).unwrap(), root.path().join("migrations"));
        let lonely = tempfile::tempdir().unwrap();
        let err = find_dir(lonely.path()).unwrap_err().to_string();
        assert!(err.contains("no `migrations/` directory"), "{err}");
    }
}
