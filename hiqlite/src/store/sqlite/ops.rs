//! Running one replicated operation (execute, returning, transaction, batch) on the writer
//! connection, and telling deterministic statement errors from failures of this machine.

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Connection, ErrorCode};

use crate::types::command::{
    ConstraintKind, OutputRef, Rows, SqlError, StatementOutput, TxnParam, TxnStatement,
    TxnStatementKind, WriteOp, WriteOutput,
};
use crate::types::value::Value;

/// A failure of one operation: either deterministic (the same on every replica, becomes the
/// entry's result) or a transaction guard.
pub(crate) enum OpError {
    Sqlite(rusqlite::Error),
    Sql(SqlError),
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        OpError::Sqlite(e)
    }
}

/// Turns an operation failure into the entry's result, or into an I/O error when the failure
/// came from this machine (disk full, I/O error, corruption) rather than from the statement.
pub(crate) fn to_sql_error(e: OpError) -> std::io::Result<SqlError> {
    match e {
        OpError::Sql(e) => Ok(e),
        OpError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::OperationInterrupted => {
            Ok(SqlError::Sqlite {
                message: format!(
                    "statement interrupted: it ran more than {} SQLite VM steps (an endless query?)",
                    super::guard::ENTRY_STEP_BUDGET
                ),
            })
        }
        OpError::Sqlite(e) => {
            if is_environmental(&e) {
                Err(super::writer::io_err(e))
            } else {
                Ok(statement_error(&e, e.to_string()))
            }
        }
    }
}

/// The [`SqlError`] a failed statement returns, with `message` as its text: a
/// [`SqlError::Constraint`] when SQLite reports a constraint, else [`SqlError::Sqlite`]. The kind
/// comes from SQLite's extended result code, which is the same on every replica.
pub(crate) fn statement_error(e: &rusqlite::Error, message: String) -> SqlError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            SqlError::Constraint {
                kind: constraint_kind(f.extended_code),
                message,
            }
        }
        _ => SqlError::Sqlite { message },
    }
}

fn constraint_kind(extended_code: std::ffi::c_int) -> ConstraintKind {
    use rusqlite::ffi;
    match extended_code {
        ffi::SQLITE_CONSTRAINT_UNIQUE => ConstraintKind::Unique,
        ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_ROWID => {
            ConstraintKind::PrimaryKey
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ConstraintKind::ForeignKey,
        ffi::SQLITE_CONSTRAINT_CHECK => ConstraintKind::Check,
        ffi::SQLITE_CONSTRAINT_NOTNULL => ConstraintKind::NotNull,
        ffi::SQLITE_CONSTRAINT_TRIGGER => ConstraintKind::Trigger,
        ffi::SQLITE_CONSTRAINT_DATATYPE => ConstraintKind::Datatype,
        _ => ConstraintKind::Other,
    }
}

/// Whether a failure came from this machine (disk, memory, locks) rather than from the statement.
pub(crate) fn is_environmental(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::OutOfMemory
                | ErrorCode::CannotOpen
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
        ),
        _ => false,
    }
}

/// Whether an `SQLITE_FULL` ("database or disk is full") came from the data rather than from
/// this machine's disk: the next insert into an AUTOINCREMENT table whose sequence reached the
/// largest rowid fails with it on every node alike, so it must be the statement's result, not
/// a reason to stop applying (which would stop every node for good). Taken as such only while
/// such a sequence exists and the disk holding the database still has [`FREE_SPACE_MIN`] free:
/// a really full disk stays a failure of this machine.
pub(crate) fn is_logical_full(conn: &Connection, e: &rusqlite::Error) -> bool {
    if e.sqlite_error_code() != Some(ErrorCode::DiskFull) {
        return false;
    }
    let sequence_at_max = conn
        .query_row(
            "SELECT 1 FROM sqlite_sequence WHERE seq = 9223372036854775807 LIMIT 1",
            [],
            |_| Ok(()),
        )
        .is_ok();
    sequence_at_max
        && conn
            .path()
            .is_some_and(|path| free_bytes(path) >= FREE_SPACE_MIN)
}

/// Free space below which an `SQLITE_FULL` is taken for a full disk.
pub(crate) const FREE_SPACE_MIN: u64 = 64 * 1024 * 1024;

/// Bytes available to this process on the filesystem holding `path` (0 when unknown).
fn free_bytes(path: &str) -> u64 {
    let dir = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    rustix::fs::statvfs(dir)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(0)
}

pub(crate) fn run_op(conn: &Connection, op: &WriteOp) -> Result<WriteOutput, OpError> {
    match op {
        WriteOp::Execute { sql, params } => {
            let (rows_affected, last_insert_rowid) = execute(conn, sql, params)?;
            Ok(WriteOutput::Executed {
                rows_affected,
                last_insert_rowid,
            })
        }
        WriteOp::ExecuteReturning { sql, params } => {
            Ok(WriteOutput::Rows(query(conn, sql, params)?))
        }
        WriteOp::Txn { statements } => run_txn(conn, statements).map(WriteOutput::Txn),
        WriteOp::Batch { sql } => {
            let statements = run_batch(conn, sql).map_err(|(_, e)| e)?;
            Ok(WriteOutput::Batch { statements })
        }
        // Needs the writer's internal statements: `WriterThread::apply_migration` runs it.
        WriteOp::Migrate(_) => Err(OpError::Sql(SqlError::Sqlite {
            message: "a migration cannot run as an ordinary operation".into(),
        })),
        // A segment of its own: `WriterThread::apply_set_format` runs it.
        WriteOp::SetFormat { .. } => Err(OpError::Sql(SqlError::Sqlite {
            message: "a format change cannot run as an ordinary operation".into(),
        })),
        // The writer's own: `WriterThread::apply_restore_chunk`, `apply_restore_commit` and
        // `apply_claim_tick`, `apply_cache` run them.
        WriteOp::RestoreChunk { .. }
        | WriteOp::RestoreCommit { .. }
        | WriteOp::ClaimTick { .. }
        | WriteOp::Notify { .. }
        | WriteOp::Cache(_) => Err(OpError::Sql(SqlError::Sqlite {
            message: "a restore, a tick claim, a notification or a cache operation cannot run as \
                      an ordinary operation"
                .into(),
        })),
    }
}

/// Runs `;`-separated statements without parameters; returns how many ran, or the failure and
/// the 1-based number of the statement that failed.
pub(crate) fn run_batch(conn: &Connection, sql: &str) -> Result<usize, (usize, rusqlite::Error)> {
    let mut statements = 0;
    let mut batch = rusqlite::Batch::new(conn, sql);
    loop {
        let failed = |e| (statements + 1, e);
        let Some(mut stmt) = batch.next().map_err(failed)? else {
            return Ok(statements);
        };
        let mut rows = stmt.raw_query();
        while rows.next().map_err(failed)?.is_some() {}
        statements += 1;
    }
}

/// Runs a statement to completion (any rows it returns are ignored).
fn execute(conn: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<(u64, i64)> {
    let before = conn.total_changes();
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    while rows.next()?.is_some() {}
    // `changes()` keeps the count of the last INSERT/UPDATE/DELETE, which may be an earlier
    // statement when this one is DDL or changed nothing; only trust it when this one changed rows.
    let changed = conn.total_changes() != before;
    Ok((
        if changed { conn.changes() } else { 0 },
        conn.last_insert_rowid(),
    ))
}

/// Runs a statement and collects its rows.
///
/// The column list is read only after the statement has run: a cached statement prepared
/// before a schema change (`ALTER TABLE ... ADD COLUMN`, a dropped and re-created table) is
/// re-prepared by SQLite on its first step, and only then do `SELECT *` and `RETURNING *` name
/// the columns of the current schema.
pub(crate) fn query(conn: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<Rows> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let width = row.as_ref().column_count();
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(Value::from_ref(row.get_ref(i)?));
        }
        out.push(values);
    }
    drop(rows);
    let columns = stmt.column_names().iter().map(|c| c.to_string()).collect();
    Ok(Rows { columns, rows: out })
}

/// Runs one statement for each parameter row, prepared once.
fn execute_many(conn: &Connection, sql: &str, rows: &[Vec<Value>]) -> rusqlite::Result<(u64, i64)> {
    let before = conn.total_changes();
    let mut stmt = conn.prepare_cached(sql)?;
    let mut changed = 0;
    for params in rows {
        let mut result = stmt.query(rusqlite::params_from_iter(params))?;
        while result.next()?.is_some() {}
        drop(result);
        changed += conn.changes();
    }
    // As in `execute`: only count what this statement changed.
    let changed = if conn.total_changes() != before {
        changed
    } else {
        0
    };
    Ok((changed, conn.last_insert_rowid()))
}

fn run_txn(
    conn: &Connection,
    statements: &[TxnStatement],
) -> Result<Vec<StatementOutput>, OpError> {
    let mut outputs: Vec<StatementOutput> = Vec::with_capacity(statements.len());
    for (index, statement) in statements.iter().enumerate() {
        let params = resolve_params(index, &statement.params, &outputs).map_err(OpError::Sql)?;
        let output = match &statement.kind {
            TxnStatementKind::ExecuteMany { rows } => {
                let (rows_affected, last_insert_rowid) = execute_many(conn, &statement.sql, rows)?;
                StatementOutput::Executed {
                    rows_affected,
                    last_insert_rowid,
                }
            }
            TxnStatementKind::Execute => {
                let (rows_affected, last_insert_rowid) = execute(conn, &statement.sql, &params)?;
                StatementOutput::Executed {
                    rows_affected,
                    last_insert_rowid,
                }
            }
            TxnStatementKind::Query => StatementOutput::Rows(query(conn, &statement.sql, &params)?),
            TxnStatementKind::Guard => {
                // A fence before any lock was granted: no grant holds the lock (and the locks
                // table, made by the first lock entry, is not there to ask).
                if statement.sql == crate::types::cache::FENCE_SQL && !has_locks_table(conn)? {
                    return Err(OpError::Sql(SqlError::GuardFailed { statement: index }));
                }
                let rows = query(conn, &statement.sql, &params)?;
                let holds = rows
                    .rows
                    .first()
                    .and_then(|r| r.first())
                    .is_some_and(Value::is_truthy);
                if !holds {
                    return Err(OpError::Sql(SqlError::GuardFailed { statement: index }));
                }
                StatementOutput::Rows(rows)
            }
        };
        outputs.push(output);
    }
    Ok(outputs)
}

/// Whether the locks table exists (the schema is replicated, so every node answers the same at
/// the same log position).
fn has_locks_table(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_hiqlite_locks')",
        [],
        |r| r.get(0),
    )
}

fn resolve_params(
    index: usize,
    params: &[TxnParam],
    outputs: &[StatementOutput],
) -> Result<Vec<Value>, SqlError> {
    let invalid = |message: String| SqlError::InvalidReference {
        statement: index,
        message,
    };
    params
        .iter()
        .map(|p| match p {
            TxnParam::Value(v) => Ok(v.clone()),
            TxnParam::Output { statement, output } => {
                let earlier = outputs
                    .get(*statement)
                    .ok_or_else(|| invalid(format!("refers to statement {statement}, which does not run before it")))?;
                match (earlier, output) {
                    (StatementOutput::Executed { last_insert_rowid, .. }, OutputRef::LastInsertRowid) => {
                        Ok(Value::Integer(*last_insert_rowid))
                    }
                    (StatementOutput::Executed { rows_affected, .. }, OutputRef::RowsAffected) => {
                        Ok(Value::Integer(*rows_affected as i64))
                    }
                    (StatementOutput::Rows(rows), OutputRef::Column(name)) => {
                        let col = rows
                            .columns
                            .iter()
                            .position(|c| c == name)
                            .ok_or_else(|| invalid(format!("statement {statement} has no column {name:?}")))?;
                        let row = rows
                            .rows
                            .first()
                            .ok_or_else(|| invalid(format!("statement {statement} returned no rows")))?;
                        Ok(row[col].clone())
                    }
                    (_, wanted) => Err(invalid(format!(
                        "statement {statement} does not provide {wanted:?} (rows come from query/returning statements, \
                         rowid and rows affected from execute statements)"
                    ))),
                }
            }
        })
        .collect()
}

/// The error for an entry that needs `feature` applied while the cluster runs the older
/// `format` (a client cannot propose one then: see `WriteOp::needs_format`).
pub(super) fn needs_format(feature: crate::types::format::Feature, format: u8) -> OpError {
    OpError::Sql(SqlError::Sqlite {
        message: format!(
            "this entry needs cluster format {}, the cluster runs format {format}",
            feature.since()
        ),
    })
}

#[cfg(test)]
mod tests {
    use crate::store::sqlite::test_db::Db;
    use crate::types::command::{ConstraintKind, SqlError, TxnParam, WriteOp};
    use crate::types::value::Value;

    const SCHEMA: &str = "
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE tags (label TEXT PRIMARY KEY, uses INTEGER CHECK (uses >= 0)) WITHOUT ROWID;
        CREATE TABLE todos (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id),
            due INTEGER
        ) STRICT;
        CREATE TABLE audit (user_id INTEGER REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TRIGGER no_root BEFORE INSERT ON users WHEN new.name = 'root'
            BEGIN SELECT RAISE(ABORT, 'root is reserved'); END;
        INSERT INTO users (id, name) VALUES (1, 'alice');
        INSERT INTO tags VALUES ('home', 1);";

    fn execute(sql: &str) -> WriteOp {
        WriteOp::Execute {
            sql: sql.into(),
            params: vec![],
        }
    }

    /// Applies `sql` after the schema through the real writer and returns its error.
    async fn error_of(sql: &str) -> SqlError {
        let mut db = Db::open();
        let results = db
            .apply(vec![WriteOp::Batch { sql: SCHEMA.into() }, execute(sql)])
            .await;
        assert!(results[0].is_ok(), "schema: {:?}", results[0]);
        results[1].clone().expect_err(sql)
    }

    #[tokio::test]
    async fn constraint_failures_carry_their_kind() {
        let cases = [
            (
                "INSERT INTO users (name) VALUES ('alice')",
                ConstraintKind::Unique,
                "UNIQUE constraint failed: users.name",
            ),
            (
                "INSERT INTO users (id, name) VALUES (1, 'bob')",
                ConstraintKind::PrimaryKey,
                "UNIQUE constraint failed: users.id",
            ),
            (
                "INSERT INTO tags VALUES ('home', 2)",
                ConstraintKind::PrimaryKey,
                "UNIQUE constraint failed: tags.label",
            ),
            (
                "INSERT INTO todos (user_id) VALUES (42)",
                ConstraintKind::ForeignKey,
                "FOREIGN KEY constraint failed",
            ),
            (
                "INSERT INTO tags VALUES ('work', -1)",
                ConstraintKind::Check,
                "CHECK constraint failed: uses >= 0",
            ),
            (
                "INSERT INTO users (name) VALUES (NULL)",
                ConstraintKind::NotNull,
                "NOT NULL constraint failed: users.name",
            ),
            (
                "INSERT INTO todos (user_id, due) VALUES (1, 'soon')",
                ConstraintKind::Datatype,
                "cannot store TEXT value in INTEGER column todos.due",
            ),
            (
                "INSERT INTO users (name) VALUES ('root')",
                ConstraintKind::Trigger,
                "root is reserved",
            ),
            (
                "INSERT INTO audit VALUES (42)",
                ConstraintKind::ForeignKey,
                "FOREIGN KEY constraint failed",
            ),
        ];
        for (sql, kind, text) in cases {
            let err = error_of(sql).await;
            assert_eq!(err.constraint_kind(), Some(kind), "{sql}: {err:?}");
            // The text users saw before the kind existed.
            assert_eq!(err.to_string(), format!("SQL error: {text}"), "{sql}");
        }
    }

    #[tokio::test]
    async fn other_failures_and_transactions_keep_their_variant() {
        let err = error_of("INSERT INTO nowhere VALUES (1)").await;
        assert!(
            matches!(&err, SqlError::Sqlite { message } if message.contains("no such table")),
            "{err:?}"
        );
        assert_eq!(err.constraint_kind(), None);

        // A constraint inside a transaction fails the whole entry with its kind.
        let mut db = Db::open();
        let statement = |sql: &str| crate::types::command::TxnStatement {
            sql: sql.into(),
            params: vec![TxnParam::Value(Value::Text("carol".into()))],
            kind: crate::types::command::TxnStatementKind::Execute,
        };
        let results = db
            .apply(vec![
                WriteOp::Batch { sql: SCHEMA.into() },
                WriteOp::Txn {
                    statements: vec![
                        statement("INSERT INTO users (name) VALUES (?)"),
                        statement("INSERT INTO users (name) VALUES (?)"),
                    ],
                },
            ])
            .await;
        let err = results[1].clone().unwrap_err();
        assert_eq!(
            err.constraint_kind(),
            Some(ConstraintKind::Unique),
            "{err:?}"
        );
        assert!(db
            .rows("SELECT 1 FROM users WHERE name = 'carol'")
            .is_empty());
    }
}
