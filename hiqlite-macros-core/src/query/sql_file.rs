//! The SQL of `query_file!`, `query_file_as!` and `query_file_scalar!`: the file named by the
//! macro's path literal, relative to the crate's `Cargo.toml` directory (as sqlx does). Reads it
//! with typed errors, and says where in the file SQLite found a problem (`path:line:column`), the
//! file's equivalent of the caret an inline statement gets.

use std::io;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// Why the SQL file could not be read. Every variant names the full path that was tried.
#[derive(Debug, thiserror::Error)]
pub enum SqlFileError {
    #[error(
        "the SQL file {} does not exist (a relative path starts at the directory of the \
         crate's Cargo.toml)",
        path.display()
    )]
    NotFound { path: PathBuf },
    #[error("the SQL file path {} is a directory; name a file in it", path.display())]
    Directory { path: PathBuf },
    #[error(
        "the SQL file {} is not UTF-8 text (invalid byte at offset {offset})",
        path.display()
    )]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("cannot read the SQL file {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// A SQL file, read.
#[derive(Debug, Clone)]
pub struct SqlFile {
    /// The path as the macro names it, for messages (`queries/by_id.sql`).
    pub written: String,
    /// The full path that was read (canonical when possible): the expansion `include_bytes!`
    /// it so the crate rebuilds when the file changes.
    pub path: PathBuf,
    /// The file's text, a leading byte order mark removed.
    pub sql: String,
}

/// Reads the file `written` names: relative to `manifest_dir`, or absolute.
pub fn load(manifest_dir: &Path, written: &str) -> Result<SqlFile, SqlFileError> {
    let path = manifest_dir.join(written);
    let sql = read(&path)?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    Ok(SqlFile {
        written: written.to_string(),
        path,
        sql,
    })
}

/// The text of the file at `path`.
pub fn read(path: &Path) -> Result<String, SqlFileError> {
    if path.is_dir() {
        return Err(SqlFileError::Directory {
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => SqlFileError::NotFound {
            path: path.to_path_buf(),
        },
        _ => SqlFileError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|e| SqlFileError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

impl SqlFile {
    /// `message` (a refusal of the file's SQL, as `check::describe` words it) with the file and,
    /// when SQLite reports an offset for the statement on `conn`, the line and column:
    /// `in queries/by_id.sql:3:8` after its first line.
    pub fn place_error(&self, conn: &Connection, message: &str) -> String {
        let at = error_offset(conn, &self.sql).map(|offset| line_column(&self.sql, offset));
        place(message, &self.written, at)
    }
}

/// Where SQLite's prepare of `sql` fails, as a byte offset; `None` when it prepares or SQLite
/// does not say.
pub fn error_offset(conn: &Connection, sql: &str) -> Option<usize> {
    match conn.prepare(sql) {
        Err(rusqlite::Error::SqlInputError { offset, .. }) => usize::try_from(offset).ok(),
        _ => None,
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = (0..=offset.min(text.len()))
        .rev()
        .find(|o| text.is_char_boundary(*o))
        .unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// Inserts `in file[:line:column]` after the first line of `message` (not `-->`, which reads as
/// rustc's own pointer into Rust source).
pub fn place(message: &str, file: &str, at: Option<(usize, usize)>) -> String {
    let location = match at {
        Some((line, column)) => format!("  in {file}:{line}:{column}"),
        None => format!("  in {file}"),
    };
    match message.split_once('\n') {
        Some((first, rest)) => format!("{first}\n{location}\n{rest}"),
        None => format!("{message}\n{location}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_relative_and_absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("queries")).unwrap();
        std::fs::write(dir.path().join("queries/a.sql"), "\u{feff}SELECT 1\n").unwrap();
        let file = load(dir.path(), "queries/a.sql").unwrap();
        assert_eq!(file.sql, "SELECT 1\n", "the byte order mark is dropped");
        assert_eq!(file.written, "queries/a.sql");
        assert!(file.path.is_absolute() && file.path.ends_with("queries/a.sql"));

        let absolute = dir.path().join("queries/a.sql");
        let file = load(Path::new("/elsewhere"), absolute.to_str().unwrap()).unwrap();
        assert_eq!(file.sql, "SELECT 1\n");
    }

    #[test]
    fn refuses_what_is_not_a_readable_utf8_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), "missing.sql").unwrap_err();
        assert!(matches!(&err, SqlFileError::NotFound { path } if path.ends_with("missing.sql")));
        let shown = err.to_string();
        assert!(
            shown.contains(&dir.path().join("missing.sql").display().to_string()),
            "{shown}"
        );

        std::fs::create_dir(dir.path().join("queries")).unwrap();
        let err = load(dir.path(), "queries").unwrap_err();
        assert!(matches!(err, SqlFileError::Directory { .. }), "{err}");
        assert!(err.to_string().contains("is a directory"), "{err}");

        std::fs::write(dir.path().join("latin1.sql"), b"SELECT '\xe9'").unwrap();
        let err = load(dir.path(), "latin1.sql").unwrap_err();
        assert!(
            matches!(err, SqlFileError::NotUtf8 { offset: 8, .. }),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_file_is_an_io_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.sql");
        std::fs::write(&path, "SELECT 1").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads it anyway; then there is nothing to check.
        if std::fs::read(&path).is_err() {
            let err = load(dir.path(), "secret.sql").unwrap_err();
            assert!(matches!(err, SqlFileError::Io { .. }), "{err}");
            assert!(
                err.to_string().starts_with("cannot read the SQL file"),
                "{err}"
            );
        }
    }

    #[test]
    fn lines_and_columns_count_characters_from_one() {
        let sql = "SELECT id,\n       né, x\nFROM t";
        assert_eq!(line_column(sql, 0), (1, 1));
        assert_eq!(line_column(sql, 7), (1, 8));
        let x = sql.find('x').unwrap();
        assert_eq!(line_column(sql, x), (2, 12), "é is one column");
        assert_eq!(
            line_column(sql, sql.len() + 5),
            (3, 7),
            "clamped to the end"
        );
    }

    #[test]
    fn the_location_follows_the_first_line() {
        let message = "SQLite rejects this statement: near \"FORM\": syntax error\n  FORM t\n  ^";
        assert_eq!(
            place(message, "q.sql", Some((2, 1))),
            "SQLite rejects this statement: near \"FORM\": syntax error\n  in q.sql:2:1\n  \
             FORM t\n  ^"
        );
        assert_eq!(place("no rows", "q.sql", None), "no rows\n  in q.sql");
    }

    #[test]
    fn finds_the_offset_sqlite_reports() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a INTEGER)").unwrap();
        let sql = "SELECT a\nFROM t\nWHERE nope = 1";
        let offset = error_offset(&conn, sql).unwrap();
        assert_eq!(line_column(sql, offset), (3, 7));
        assert_eq!(error_offset(&conn, "SELECT a FROM t"), None);
    }
}
