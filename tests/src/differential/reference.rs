//! The reference: plain SQLite through rusqlite (the same bundled build as Hiqlite), one
//! connection, `PRAGMA foreign_keys = ON`, every statement in autocommit mode as an application
//! would run it. Batches run in a savepoint, because `Client::batch` is documented as atomic.

use hiqlite::{ConstraintKind, Value};
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode};

use super::outcome::Outcome;
use crate::sqlgen::{Compare, Kind, Route, Statement};

/// Plain SQLite in memory.
pub struct Reference {
    conn: Connection,
}

impl Reference {
    /// A fresh, empty in-memory database.
    pub fn open() -> Reference {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .expect("foreign keys on");
        Reference { conn }
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `stmt` the way its route and kind say.
    pub fn run(&self, stmt: &Statement) -> Outcome {
        if let Compare::Refused(reason) = stmt.compare {
            // What SQLite finds wrong while preparing (a table that does not exist) comes before
            // Hiqlite's refusal; preparing runs nothing.
            if let Err(e) = self.conn.prepare(&stmt.sql) {
                return error(e);
            }
            return Outcome::Error {
                message: reason.to_string(),
                constraint: None,
            };
        }
        match (stmt.route, stmt.kind) {
            (Route::Sql, _) => self.sql(&stmt.sql),
            (Route::Api, Kind::Query | Kind::WriteReturning) => self.rows(&stmt.sql),
            (Route::Api, Kind::Write) => self.execute(&stmt.sql),
            (Route::Api, Kind::Batch) => self.batch(&stmt.sql),
        }
    }

    /// Runs a read on the reference (for the final comparison and resets).
    pub fn rows(&self, sql: &str) -> Outcome {
        self.try_rows(sql).unwrap_or_else(error)
    }

    fn try_rows(&self, sql: &str) -> rusqlite::Result<Outcome> {
        let mut stmt = self.conn.prepare(sql)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let width = columns.len();
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(value(row.get_ref(i)?));
            }
            out.push(values);
        }
        Ok(Outcome::Rows { columns, rows: out })
    }

    /// As `Client::execute`: rows affected counts only this statement's changes.
    pub fn execute(&self, sql: &str) -> Outcome {
        let run = || -> rusqlite::Result<Outcome> {
            let before = self.conn.total_changes();
            let mut stmt = self.conn.prepare(sql)?;
            let mut rows = stmt.raw_query();
            while rows.next()?.is_some() {}
            drop(rows);
            let changed = self.conn.total_changes() != before;
            Ok(Outcome::Executed {
                rows_affected: if changed { self.conn.changes() } else { 0 },
                last_insert_rowid: self.conn.last_insert_rowid(),
            })
        };
        run().unwrap_or_else(error)
    }

    /// As `Client::batch`: all statements or none.
    pub fn batch(&self, sql: &str) -> Outcome {
        if let Err(e) = self.conn.execute_batch("SAVEPOINT reference_batch") {
            return error(e);
        }
        let run = || -> rusqlite::Result<usize> {
            let mut statements = 0;
            let mut batch = rusqlite::Batch::new(&self.conn, sql);
            while let Some(mut stmt) = batch.next()? {
                let mut rows = stmt.raw_query();
                while rows.next()?.is_some() {}
                statements += 1;
            }
            Ok(statements)
        };
        // Deferred foreign keys are checked when the outermost savepoint is released.
        match run().and_then(|n| {
            self.conn
                .execute_batch("RELEASE reference_batch")
                .map(|()| n)
        }) {
            Ok(statements) => Outcome::Batch { statements },
            Err(e) => {
                // An OR ROLLBACK may already have ended the transaction, savepoint and all.
                if !self.conn.is_autocommit() {
                    let _ = self
                        .conn
                        .execute_batch("ROLLBACK TO reference_batch; RELEASE reference_batch");
                }
                error(e)
            }
        }
    }

    /// As `Client::sql`: a single read-only statement reads, a write with result columns
    /// (RETURNING) returns rows, another statement executes, several statements are a batch.
    /// DDL executes even when SQLite gives it a result column: `ALTER TABLE ... ADD COLUMN` with
    /// a CHECK (or on a STRICT table) compiles a nested check query whose column is no result
    /// anyone asked for.
    pub fn sql(&self, sql: &str) -> Outcome {
        let ddl = crate::sqlgen::is_ddl(sql);
        let kind = match self.conn.prepare(sql) {
            Ok(stmt) if stmt.readonly() => Kind::Query,
            Ok(stmt) if stmt.column_count() > 0 && !ddl => Kind::WriteReturning,
            Ok(_) => Kind::Write,
            Err(rusqlite::Error::MultipleStatement) => Kind::Batch,
            Err(e) => return error(e),
        };
        match kind {
            Kind::Query | Kind::WriteReturning => self.rows(sql),
            Kind::Write => self.execute(sql),
            Kind::Batch => self.batch(sql),
        }
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        // As Hiqlite's API documents: TEXT that is not UTF-8 comes back with U+FFFD.
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// A rusqlite error as the outcome Hiqlite reports for it: the same text, and the constraint
/// kind from the extended result code.
fn error(e: rusqlite::Error) -> Outcome {
    let constraint = match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            Some(constraint_kind(f.extended_code))
        }
        _ => None,
    };
    Outcome::Error {
        message: e.to_string(),
        constraint,
    }
}

fn constraint_kind(extended: std::ffi::c_int) -> ConstraintKind {
    use rusqlite::ffi;
    match extended {
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
