//! What a statement of unknown kind does (the `hiqlite sql` command and `Client::sql`): read,
//! write, write with rows (`RETURNING`), or several statements. SQLite decides, not a parser of
//! ours: a statement is a read when `sqlite3_stmt_readonly` says so.

use rusqlite::Connection;

/// The kind of a statement, as SQLite prepared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlKind {
    /// One statement that only reads.
    Read,
    /// One statement that writes and returns no rows.
    Write,
    /// One statement that writes and returns rows (`... RETURNING`).
    WriteReturning,
    /// Several `;`-separated statements (run as one replicated batch).
    Batch,
}

/// Classifies `sql` on `conn` (a read connection of this node).
///
/// A connection loads the schema once and notices a change only when a statement runs, so
/// preparing on it may fail for a table, index or view created since (`REINDEX new_index`). A
/// failed prepare therefore brings the connection's schema up to date and tries once more; the
/// error that remains is the statement's own, against this node's applied schema. (A caller that
/// must not be behind the leader makes this node catch up first and asks again.)
pub fn classify(conn: &Connection, sql: &str) -> rusqlite::Result<SqlKind> {
    match kind_of(conn, sql) {
        Err(e) if !matches!(e, rusqlite::Error::MultipleStatement) => {
            refresh_schema(conn)?;
            kind_of(conn, sql)
        }
        Err(_) => Ok(SqlKind::Batch),
        kind => kind,
    }
}

/// Whether a classification error is about the text itself (no schema can make it prepare), so
/// catching up with the leader would not help.
pub fn is_syntax_error(e: &rusqlite::Error) -> bool {
    let message = e.to_string();
    message.contains("syntax error") || message.contains("incomplete input")
}

/// Whether the connection's guard refused the statement (see `guard.rs`): no schema changes that.
pub fn is_refusal(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::AuthorizationForStatementDenied)
}

fn kind_of(conn: &Connection, sql: &str) -> rusqlite::Result<SqlKind> {
    match conn.prepare(sql) {
        Ok(stmt) if stmt.readonly() => Ok(SqlKind::Read),
        // `... RETURNING`; not DDL that SQLite compiles with a check query of its own (`ALTER
        // TABLE ... ADD COLUMN` on a STRICT table has a result column).
        Ok(stmt) if stmt.column_count() > 0 && is_dml(sql) => Ok(SqlKind::WriteReturning),
        Ok(_) => Ok(SqlKind::Write),
        Err(rusqlite::Error::MultipleStatement) => Ok(SqlKind::Batch),
        Err(e) => Err(e),
    }
}

/// Whether `sql` starts with a keyword of a statement that can have `RETURNING`.
fn is_dml(sql: &str) -> bool {
    let keyword: String = sql
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    ["INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"]
        .iter()
        .any(|k| keyword.eq_ignore_ascii_case(k))
}

/// Makes `conn` load the current schema: running a statement that reads `sqlite_schema` checks
/// the schema cookie, and SQLite reloads the schema when it changed.
pub(crate) fn refresh_schema(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM sqlite_schema LIMIT 0")?;
    let mut rows = stmt.raw_query();
    while rows.next()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer and a reader on one WAL file; the reader has loaded the schema before the writer
    /// changes it.
    fn writer_and_stale_reader() -> (tempfile::TempDir, Connection, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t1 (x);")
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        reader
            .query_row("SELECT count(*) FROM t1", [], |r| r.get::<_, i64>(0))
            .unwrap();
        (dir, writer, reader)
    }

    #[test]
    fn statements_on_objects_created_since_the_reader_loaded_the_schema() {
        let (_dir, writer, reader) = writer_and_stale_reader();
        writer
            .execute_batch(
                "CREATE INDEX t1i1 ON t1 (x); CREATE TABLE t2 (y); CREATE VIEW v AS SELECT y FROM t2;",
            )
            .unwrap();
        // Without the refresh, the first fails with "unable to identify the object to be reindexed".
        assert_eq!(classify(&reader, "REINDEX t1i1").unwrap(), SqlKind::Write);
        assert_eq!(classify(&reader, "SELECT * FROM v").unwrap(), SqlKind::Read);
        assert_eq!(
            classify(&reader, "INSERT INTO t2 VALUES (1) RETURNING y").unwrap(),
            SqlKind::WriteReturning
        );
        assert_eq!(
            classify(&reader, "DROP INDEX t1i1; DROP VIEW v").unwrap(),
            SqlKind::Batch
        );
        assert_eq!(classify(&reader, "ANALYZE t2").unwrap(), SqlKind::Write);
        writer
            .execute_batch("CREATE TABLE s (id INTEGER PRIMARY KEY) STRICT")
            .unwrap();
        assert_eq!(
            classify(
                &reader,
                "ALTER TABLE s ADD COLUMN n INTEGER NOT NULL DEFAULT 0"
            )
            .unwrap(),
            SqlKind::Write,
            "SQLite's own check query does not make it a write with rows"
        );
    }

    #[test]
    fn errors_that_remain_are_the_statements_own() {
        let (_dir, _writer, reader) = writer_and_stale_reader();
        let err = classify(&reader, "REINDEX nothing_like_it").unwrap_err();
        assert!(!is_syntax_error(&err), "{err}");
        assert!(err.to_string().contains("unable to identify"), "{err}");
        let err = classify(&reader, "SELEC 1").unwrap_err();
        assert!(is_syntax_error(&err), "{err}");
    }
}
