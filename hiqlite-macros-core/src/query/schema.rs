//! The schema `query!` checks against: the migrations applied, in order, to an in-memory SQLite,
//! plus what each table's columns are declared as.
//!
//! Building it costs one `execute_batch` per migration; a proc-macro process expands every
//! `query!` of a crate, so the result is cached per migrations directory and reused as long as
//! the files (names and checksums) are the same: N queries apply the migrations once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::Connection;

use crate::migrations::{resolve_dir, MigrationFile, ResolveError};

/// A column as declared in its table.
#[derive(Debug, Clone)]
pub struct TableColumn {
    pub name: String,
    /// The declared type as written (`INTEGER`, `varchar(20)`, empty).
    pub decl_type: String,
    /// Never NULL: `NOT NULL`, the rowid alias `INTEGER PRIMARY KEY`, or a primary key column of
    /// a STRICT or WITHOUT ROWID table.
    pub not_null: bool,
}

/// A table of the schema.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub strict: bool,
    pub columns: Vec<TableColumn>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&TableColumn> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// The migrated in-memory database and its tables.
pub struct Schema {
    pub conn: Connection,
    pub tables: Vec<Table>,
    /// The migration files it was built from, for `include_bytes!` tracking.
    pub files: Vec<PathBuf>,
}

/// Why the schema could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("migration {file} does not apply to an empty database: {message}")]
    Migration { file: String, message: String },
    #[error("cannot inspect the migrated schema: {0}")]
    Inspect(String),
}

impl Schema {
    /// Applies `files` in order to a fresh in-memory database.
    pub fn build(files: &[MigrationFile]) -> Result<Schema, SchemaError> {
        let inspect = |e: rusqlite::Error| SchemaError::Inspect(e.to_string());
        let conn = Connection::open_in_memory().map_err(inspect)?;
        super::functions::declare(&conn).map_err(inspect)?;
        for file in files {
            conn.execute_batch(&file.sql)
                .map_err(|e| SchemaError::Migration {
                    file: file
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| file.path.display().to_string()),
                    message: e.to_string(),
                })?;
        }
        let tables = read_tables(&conn).map_err(inspect)?;
        Ok(Schema {
            conn,
            tables,
            files: files.iter().map(|f| f.path.clone()).collect(),
        })
    }

    /// The table called `name` (case-insensitive).
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }
}

fn read_tables(conn: &Connection) -> rusqlite::Result<Vec<Table>> {
    let mut list = conn.prepare(
        "SELECT name, strict, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
         AND name NOT LIKE 'sqlite_%'",
    )?;
    let entries = list
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut info =
        conn.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_xinfo(?1)")?;
    let mut tables = Vec::with_capacity(entries.len());
    for (name, strict, without_rowid) in entries {
        let cols = info
            .query_map([&name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let pk_count = cols.iter().filter(|c| c.3 > 0).count();
        let columns = cols
            .into_iter()
            .map(|(col, decl, not_null, pk)| {
                let rowid_alias = !without_rowid
                    && pk > 0
                    && pk_count == 1
                    && decl.eq_ignore_ascii_case("INTEGER");
                let pk_not_null = pk > 0 && (strict || without_rowid);
                TableColumn {
                    name: col,
                    decl_type: decl,
                    not_null: not_null || rowid_alias || pk_not_null,
                }
            })
            .collect();
        tables.push(Table {
            name,
            strict,
            columns,
        });
    }
    Ok(tables)
}

/// The checksums that identify one state of a migrations directory.
type Key = Vec<(PathBuf, String)>;

/// Per migrations directory: the files it was built from and the schema.
type Cache = Mutex<HashMap<PathBuf, (Key, Arc<Mutex<Schema>>)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Runs `f` with the schema of the migrations in `dir`, building it only when this process has
/// not built it yet for the same files and checksums.
pub fn with_schema<R>(dir: &Path, f: impl FnOnce(&Schema) -> R) -> Result<R, SchemaError> {
    let files = resolve_dir(dir)?;
    let key: Key = files
        .iter()
        .map(|m| (m.path.clone(), m.checksum.clone()))
        .collect();
    let schema = {
        let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(dir) {
            Some((cached_key, schema)) if *cached_key == key => Arc::clone(schema),
            _ => {
                let schema = Arc::new(Mutex::new(Schema::build(&files)?));
                cache.insert(dir.to_path_buf(), (key, Arc::clone(&schema)));
                schema
            }
        }
    };
    let schema = schema.lock().unwrap_or_else(|p| p.into_inner());
    Ok(f(&schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(sql: &str) -> Schema {
        Schema::build(&[MigrationFile {
            version: 1,
            name: "init".into(),
            path: PathBuf::from("0001_init.sql"),
            sql: sql.into(),
            checksum: crate::migrations::checksum(sql),
        }])
        .unwrap()
    }

    #[test]
    fn reads_tables_and_effective_not_null() {
        let s = schema(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT);
             CREATE TABLE b (k TEXT PRIMARY KEY, v INT) STRICT;
             CREATE TABLE c (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
             CREATE TABLE d (k TEXT PRIMARY KEY, v INTEGER);
             CREATE VIEW va AS SELECT name FROM a;",
        );
        let nn = |t: &str, c: &str| s.table(t).unwrap().column(c).unwrap().not_null;
        assert!(nn("a", "id") && nn("a", "name") && !nn("a", "note"));
        assert!(s.table("B").unwrap().strict && nn("b", "k") && !nn("b", "v"));
        assert!(nn("c", "k"));
        // A non-INTEGER primary key of an ordinary table may hold NULL (an SQLite quirk).
        assert!(!nn("d", "k"));
        assert!(
            s.table("va").is_none(),
            "views are resolved through their base tables"
        );
    }

    #[test]
    fn a_failing_migration_is_named() {
        let err = Schema::build(&[MigrationFile {
            version: 1,
            name: "bad".into(),
            path: PathBuf::from("/x/0001_bad.sql"),
            sql: "CREATE TABLE (".into(),
            checksum: String::new(),
        }])
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("0001_bad.sql"), "{err}");
    }

    #[test]
    fn cache_rebuilds_when_a_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0001_a.sql"), "CREATE TABLE t (a INT);").unwrap();
        let n = with_schema(dir.path(), |s| s.tables.len()).unwrap();
        assert_eq!(n, 1);
        std::fs::write(dir.path().join("0002_b.sql"), "CREATE TABLE u (a INT);").unwrap();
        let n = with_schema(dir.path(), |s| s.tables.len()).unwrap();
        assert_eq!(n, 2);
    }
}
