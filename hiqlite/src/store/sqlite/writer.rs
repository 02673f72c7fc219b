//! The SQLite writer thread: the only place in a node that writes to the database.
//!
//! It applies batches of committed Raft entries inside ONE SQLite transaction, each entry in its
//! own savepoint (a failing entry rolls back alone), and stores `last_applied` and the membership
//! in that same transaction. After any crash the database and `last_applied` therefore agree, and
//! the log replays exactly the entries that are missing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use openraft::entry::RaftEntry;
use openraft::storage::ApplyResponder;
use openraft::EntryPayload;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use tokio::sync::{oneshot, watch};

use super::determinism;
use crate::raft::{Entry, LogId, StoredMembership, TypeConfig};
use crate::store::command::{
    ApplyResult, Command, CommandResult, OutputRef, RequestId, Rows, SqlError, StatementOutput,
    TxnParam, TxnStatement, TxnStatementKind, WriteOp, WriteOutput,
};
use crate::value::Value;

/// How long a request id is remembered for deduplication, in leader-clock milliseconds. Client
/// retries give up long before this.
const DEDUP_WINDOW_MS: i64 = 60 * 60 * 1000;
/// Forget expired request ids every this many log indexes (deterministic: depends on the index).
const DEDUP_PRUNE_EVERY: u64 = 1024;

/// A committed entry and, on the node that proposed it, the responder waiting for its result.
pub type ApplyItem = (Entry, Option<ApplyResponder<TypeConfig>>);

enum Job {
    Apply {
        items: Vec<ApplyItem>,
        done: oneshot::Sender<std::io::Result<()>>,
    },
    /// Replace the whole database with the database file at `from` (a snapshot).
    Restore {
        from: PathBuf,
        done: oneshot::Sender<std::io::Result<AppliedState>>,
    },
}

/// Handle to the writer thread. Dropping it stops the thread after the queued jobs.
pub struct SqliteWriter {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    applied: watch::Receiver<u64>,
    db_path: PathBuf,
}

/// What the database says was applied last, read when the writer opens.
pub struct AppliedState {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

impl SqliteWriter {
    /// Opens (or creates) the database in WAL mode and starts the writer thread.
    pub fn open(db_path: &Path) -> std::io::Result<(SqliteWriter, AppliedState)> {
        let mut conn = open_connection(db_path).map_err(io_err)?;
        let state = read_applied_state(&conn).map_err(io_err)?;
        let allow_internal = install_authorizer(&mut conn);
        let (applied_tx, applied_rx) =
            watch::channel(state.last_applied.map(|l| l.index()).unwrap_or(0));
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("hiqlite-sqlite-writer".into())
            .spawn(move || {
                let mut writer = WriterThread {
                    conn,
                    allow_internal,
                    applied: applied_tx,
                };
                writer.run(jobs_rx)
            })?;
        Ok((
            SqliteWriter {
                jobs: Some(jobs_tx),
                thread: Some(thread),
                applied: applied_rx,
                db_path: db_path.to_path_buf(),
            },
            state,
        ))
    }

    /// Applies committed entries in one SQLite transaction; returns once it is committed and every
    /// responder has been answered.
    pub async fn apply(&self, items: Vec<ApplyItem>) -> std::io::Result<()> {
        let (done, rx) = oneshot::channel();
        self.send(Job::Apply { items, done })?;
        rx.await.map_err(|_| writer_gone())?
    }

    /// Replaces the database's contents with the database file `from` and returns what it holds.
    pub async fn restore(&self, from: PathBuf) -> std::io::Result<AppliedState> {
        let (done, rx) = oneshot::channel();
        self.send(Job::Restore { from, done })?;
        rx.await.map_err(|_| writer_gone())?
    }

    /// The index of the last applied entry, updated after each SQLite commit.
    pub fn applied_index(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    fn send(&self, job: Job) -> std::io::Result<()> {
        self.jobs
            .as_ref()
            .ok_or_else(writer_gone)?
            .send(job)
            .map_err(|_| writer_gone())
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn writer_gone() -> std::io::Error {
    std::io::Error::other("the SQLite writer thread has stopped")
}

fn io_err(e: rusqlite::Error) -> std::io::Error {
    std::io::Error::other(format!("SQLite: {e}"))
}

fn open_connection(db_path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = determinism::open_writer(db_path, flags)?;
    // NORMAL is enough: the Raft log is fsynced, and `last_applied` commits atomically with the
    // data, so whatever a power loss takes from SQLite is replayed from the log.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         CREATE TABLE IF NOT EXISTS _hiqlite_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _hiqlite_requests (
             client INTEGER NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL,
             result BLOB NOT NULL, PRIMARY KEY (client, seq)) WITHOUT ROWID;",
    )?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

pub(crate) fn read_applied_state(conn: &Connection) -> rusqlite::Result<AppliedState> {
    let read = |key: &str| -> rusqlite::Result<Option<Vec<u8>>> {
        conn.query_row(
            "SELECT value FROM _hiqlite_meta WHERE key = ?",
            [key],
            |r| r.get(0),
        )
        .optional()
    };
    let decode_err = |what: &str, e: postcard::Error| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            format!("corrupt {what} in _hiqlite_meta: {e}").into(),
        )
    };
    let last_applied = match read("last_applied")? {
        Some(b) => postcard::from_bytes(&b).map_err(|e| decode_err("last_applied", e))?,
        None => None,
    };
    let membership = match read("membership")? {
        Some(b) => postcard::from_bytes(&b).map_err(|e| decode_err("membership", e))?,
        None => StoredMembership::default(),
    };
    Ok(AppliedState {
        last_applied,
        membership,
    })
}

/// Denies statements that would break the writer's transaction handling (BEGIN/COMMIT, savepoints,
/// ATTACH, PRAGMA) unless the writer itself runs them. Denial is a deterministic SQL error.
fn install_authorizer(conn: &mut Connection) -> Arc<AtomicBool> {
    let allow_internal = Arc::new(AtomicBool::new(false));
    let flag = allow_internal.clone();
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        let forbidden = matches!(
            ctx.action,
            AuthAction::Transaction { .. }
                | AuthAction::Savepoint { .. }
                | AuthAction::Attach { .. }
                | AuthAction::Detach { .. }
                | AuthAction::Pragma { .. }
        );
        if forbidden && !flag.load(Ordering::Relaxed) {
            Authorization::Deny
        } else {
            Authorization::Allow
        }
    }));
    allow_internal
}

struct WriterThread {
    conn: Connection,
    allow_internal: Arc<AtomicBool>,
    applied: watch::Sender<u64>,
}

impl WriterThread {
    fn run(&mut self, jobs: mpsc::Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            match job {
                Job::Apply { items, done } => {
                    let result = self.apply_batch(items);
                    let _ = done.send(result);
                }
                Job::Restore { from, done } => {
                    let _ = done.send(self.restore(&from));
                }
            }
        }
    }

    /// Copies a snapshot's pages over the database (SQLite's backup API keeps readers safe).
    fn restore(&mut self, from: &Path) -> std::io::Result<AppliedState> {
        self.conn
            .restore(
                rusqlite::MAIN_DB,
                from,
                None::<fn(rusqlite::backup::Progress)>,
            )
            .map_err(io_err)?;
        let state = read_applied_state(&self.conn).map_err(io_err)?;
        self.applied
            .send_replace(state.last_applied.map(|l| l.index()).unwrap_or(0));
        Ok(state)
    }

    /// Runs one of the writer's own control statements (BEGIN, SAVEPOINT, ...).
    fn internal(&self, sql: &str) -> rusqlite::Result<()> {
        self.allow_internal.store(true, Ordering::Relaxed);
        // Not through the statement cache: a user statement with the same text must never reuse
        // a statement that was authorized for the writer.
        let result = self.conn.execute_batch(sql);
        self.allow_internal.store(false, Ordering::Relaxed);
        result
    }

    fn apply_batch(&mut self, items: Vec<ApplyItem>) -> std::io::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.internal("BEGIN IMMEDIATE").map_err(io_err)?;
        match self.apply_in_transaction(&items) {
            Ok((results, last_index)) => {
                if let Err(e) = self.internal("COMMIT") {
                    let _ = self.internal("ROLLBACK");
                    return Err(io_err(e));
                }
                self.applied.send_replace(last_index);
                for ((_, responder), result) in items.into_iter().zip(results) {
                    if let Some(responder) = responder {
                        responder.send(result);
                    }
                }
                Ok(())
            }
            Err(e) => {
                let _ = self.internal("ROLLBACK");
                // Responders are dropped: their callers see an error; the entries replay later.
                Err(e)
            }
        }
    }

    /// Applies every entry; an environmental failure (disk full, I/O error) aborts the batch
    /// because it is not what the other replicas computed.
    fn apply_in_transaction(
        &mut self,
        items: &[ApplyItem],
    ) -> std::io::Result<(Vec<ApplyResult>, u64)> {
        let mut results = Vec::with_capacity(items.len());
        let mut last: Option<LogId> = None;
        let mut membership: Option<StoredMembership> = None;
        for (entry, _) in items {
            let log_id = entry.log_id();
            let result = match &entry.payload {
                EntryPayload::Blank => ApplyResult(None),
                EntryPayload::Normal(cmd) => ApplyResult(Some(self.apply_command(&log_id, cmd)?)),
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(log_id), m.clone()));
                    ApplyResult(None)
                }
            };
            results.push(result);
            last = Some(log_id);
        }
        let last = last.expect("items is not empty");
        self.write_meta("last_applied", &Some(last))
            .map_err(io_err)?;
        if let Some(m) = membership {
            self.write_meta("membership", &m).map_err(io_err)?;
        }
        Ok((results, last.index()))
    }

    fn write_meta<T: serde::Serialize>(&self, key: &str, value: &T) -> rusqlite::Result<()> {
        let bytes = postcard::to_stdvec(value)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO _hiqlite_meta (key, value) VALUES (?, ?)")?
            .execute(rusqlite::params![key, bytes])?;
        Ok(())
    }

    fn apply_command(&mut self, log_id: &LogId, cmd: &Command) -> std::io::Result<CommandResult> {
        if let Some(previous) = self.remembered_result(&cmd.request_id).map_err(io_err)? {
            return Ok(previous);
        }
        if log_id.index().is_multiple_of(DEDUP_PRUNE_EVERY) {
            self.conn
                .prepare_cached("DELETE FROM _hiqlite_requests WHERE time_ms < ?")
                .and_then(|mut s| s.execute([cmd.leader_time_ms - DEDUP_WINDOW_MS]))
                .map_err(io_err)?;
        }
        determinism::set_entry_context(cmd.leader_time_ms, seed_for(log_id));
        // Every entry starts from rowid 0, not from whatever an earlier batch left behind.
        determinism::reset_last_insert_rowid(&self.conn);
        self.internal("SAVEPOINT entry").map_err(io_err)?;
        let result = run_op(&self.conn, &cmd.op);
        let result = match result {
            Ok(output) => {
                self.internal("RELEASE entry").map_err(io_err)?;
                Ok(output)
            }
            Err(e) => {
                self.internal("ROLLBACK TO entry").map_err(io_err)?;
                self.internal("RELEASE entry").map_err(io_err)?;
                Err(to_sql_error(e)?)
            }
        };
        self.remember_result(&cmd.request_id, cmd.leader_time_ms, &result)
            .map_err(io_err)?;
        Ok(result)
    }

    fn remembered_result(&self, id: &RequestId) -> rusqlite::Result<Option<CommandResult>> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT result FROM _hiqlite_requests WHERE client = ? AND seq = ?")?
            .query_row([id.client as i64, id.seq as i64], |r| r.get(0))
            .optional()?;
        Ok(bytes.and_then(|b| postcard::from_bytes(&b).ok()))
    }

    fn remember_result(
        &self,
        id: &RequestId,
        time_ms: i64,
        result: &CommandResult,
    ) -> rusqlite::Result<()> {
        let bytes = postcard::to_stdvec(result)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.conn
            .prepare_cached(
                "INSERT INTO _hiqlite_requests (client, seq, time_ms, result) VALUES (?, ?, ?, ?)",
            )?
            .execute(rusqlite::params![
                id.client as i64,
                id.seq as i64,
                time_ms,
                bytes
            ])?;
        Ok(())
    }
}

/// The random seed of an entry: derived from its index, so every replica uses the same one.
fn seed_for(log_id: &LogId) -> u64 {
    // SplitMix64 finalizer: spreads consecutive indexes over the whole seed space.
    let mut z = log_id.index().wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A failure of one operation: either deterministic (the same on every replica, becomes the
/// entry's result) or a transaction guard.
enum OpError {
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
fn to_sql_error(e: OpError) -> std::io::Result<SqlError> {
    match e {
        OpError::Sql(e) => Ok(e),
        OpError::Sqlite(e) => {
            if is_environmental(&e) {
                Err(io_err(e))
            } else {
                Ok(SqlError::Sqlite {
                    message: e.to_string(),
                })
            }
        }
    }
}

fn is_environmental(e: &rusqlite::Error) -> bool {
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

fn run_op(conn: &Connection, op: &WriteOp) -> Result<WriteOutput, OpError> {
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
            let mut statements = 0;
            let mut batch = rusqlite::Batch::new(conn, sql);
            while let Some(mut stmt) = batch.next()? {
                let mut rows = stmt.raw_query();
                while rows.next()?.is_some() {}
                statements += 1;
            }
            Ok(WriteOutput::Batch { statements })
        }
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

fn run_txn(
    conn: &Connection,
    statements: &[TxnStatement],
) -> Result<Vec<StatementOutput>, OpError> {
    let mut outputs: Vec<StatementOutput> = Vec::with_capacity(statements.len());
    for (index, statement) in statements.iter().enumerate() {
        let params = resolve_params(index, &statement.params, &outputs).map_err(OpError::Sql)?;
        let output = match statement.kind {
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
