//! Running one replicated operation (execute, returning, transaction, batch) on the writer
//! connection, and telling deterministic statement errors from failures of this machine.

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Connection, ErrorCode};

use crate::store::command::{
    OutputRef, Rows, SqlError, StatementOutput, TxnParam, TxnStatement, TxnStatementKind, WriteOp,
    WriteOutput,
};
use crate::value::Value;

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
                Err(std::io::Error::other(format!("SQLite: {e}")))
            } else {
                Ok(SqlError::Sqlite {
                    message: e.to_string(),
                })
            }
        }
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
pub(crate) fn query(conn: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<Rows> {
    let mut stmt = conn.prepare_cached(sql)?;
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let width = columns.len();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(Value::from_ref(row.get_ref(i)?));
        }
        out.push(values);
    }
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
