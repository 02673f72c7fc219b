//! A writer on a temporary database for unit tests: apply operations as Raft entries through
//! the real `SqliteWriter`, then read the results it remembered and the data.

use openraft::entry::RaftEntry;
use openraft::impls::leader_id_adv::LeaderId;
use rusqlite::Connection;

use crate::store::sqlite::writer::{ApplyItem, SqliteWriter};
use crate::types::command::{Command, CommandResult, RequestId, WriteOp};
use crate::types::format::{self, Format};
use crate::types::raft::{Entry, LogId};

pub(crate) const LEADER_TIME_MS: i64 = 1_700_000_000_123;

/// One statement without parameters, as a client's `execute` sends it.
pub(crate) fn execute(sql: &str) -> WriteOp {
    WriteOp::Execute {
        sql: sql.into(),
        params: vec![],
    }
}

/// Entries at consecutive indexes from `first`, each with its leader's clock; the request id's
/// seq is the index.
pub(crate) fn timed_entries(first: u64, ops: Vec<(i64, WriteOp)>) -> Vec<ApplyItem> {
    ops.into_iter()
        .enumerate()
        .map(|(i, (leader_time_ms, op))| {
            let index = first + i as u64;
            let cmd = Command {
                request_id: RequestId {
                    client: 1,
                    seq: index,
                    answered_below: 0,
                },
                leader_time_ms,
                op,
            };
            let log_id = LogId::new(
                LeaderId {
                    term: 1,
                    node_id: 1,
                },
                index,
            );
            (Entry::new_normal(log_id, cmd), None)
        })
        .collect()
}

pub(crate) struct Db {
    _dir: tempfile::TempDir,
    writer: Option<SqliteWriter>,
    next: u64,
}

impl Db {
    /// A new database of a cluster that runs the newest format.
    pub(crate) fn open() -> Db {
        Self::open_with_step_budget(crate::store::sqlite::guard::ENTRY_STEP_BUDGET)
    }

    /// A database whose entries may run `budget` SQLite VM steps (an endless statement is
    /// interrupted within a second).
    pub(crate) fn open_with_step_budget(budget: u64) -> Db {
        Self::open_in(format::NEWEST, budget)
    }

    /// A new database of a cluster that runs `format` (a real cluster starts at format 1 and is
    /// raised by a `SetFormat` entry; tests of the newest behaviour start there directly).
    pub(crate) fn open_in_format(format: Format) -> Db {
        Self::open_in(format, crate::store::sqlite::guard::ENTRY_STEP_BUDGET)
    }

    fn open_in(format: Format, budget: u64) -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        if format != format::OLDEST {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE _hiqlite_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO _hiqlite_meta VALUES ('format', ?)",
                [postcard::to_stdvec(&format).unwrap()],
            )
            .unwrap();
        }
        let (writer, _) =
            SqliteWriter::open_with_step_budget(&path, budget, Default::default()).unwrap();
        Db {
            _dir: dir,
            writer: Some(writer),
            next: 1,
        }
    }

    /// Applies `ops` as one batch (one SQLite transaction) and returns their results.
    pub(crate) async fn apply(&mut self, ops: Vec<WriteOp>) -> Vec<CommandResult> {
        self.apply_timed(ops.into_iter().map(|op| (LEADER_TIME_MS, op)).collect())
            .await
    }

    /// As [`Db::apply`], each operation with its leader's clock.
    pub(crate) async fn apply_timed(&mut self, ops: Vec<(i64, WriteOp)>) -> Vec<CommandResult> {
        let first = self.next;
        self.next += ops.len() as u64;
        self.writer()
            .apply(timed_entries(first, ops))
            .await
            .unwrap();
        (first..self.next).map(|seq| self.result(seq)).collect()
    }

    /// Applies `ops` as one batch and returns the writer's own error, if it stopped.
    pub(crate) async fn try_apply(&mut self, ops: Vec<WriteOp>) -> std::io::Result<()> {
        let first = self.next;
        self.next += ops.len() as u64;
        let ops = ops.into_iter().map(|op| (LEADER_TIME_MS, op)).collect();
        self.writer().apply(timed_entries(first, ops)).await
    }

    /// Stops the writer and opens the database again, as a restarted node does.
    pub(crate) fn reopen(&mut self) {
        let path = self.writer().db_path().to_path_buf();
        // The old writer thread must be gone before another one opens the file.
        drop(self.writer.take());
        self.writer = Some(SqliteWriter::open(&path).unwrap().0);
    }

    pub(crate) fn writer(&self) -> &SqliteWriter {
        self.writer.as_ref().expect("open")
    }

    /// The result the state machine remembered for request `seq`.
    pub(crate) fn result(&self, seq: u64) -> CommandResult {
        let bytes: Vec<u8> = self
            .read()
            .query_row(
                "SELECT result FROM _hiqlite_requests WHERE client = 1 AND seq = ?",
                [seq as i64],
                |r| r.get(0),
            )
            .unwrap();
        postcard::from_bytes(&bytes).unwrap()
    }

    pub(crate) fn read(&self) -> Connection {
        Connection::open(self.writer().db_path()).unwrap()
    }

    pub(crate) fn rows(&self, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
        let conn = self.read();
        let mut stmt = conn.prepare(sql).unwrap();
        let width = stmt.column_count();
        stmt.query_map([], |r| (0..width).map(|i| r.get(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    pub(crate) fn has_table(&self, name: &str) -> bool {
        !self
            .rows(&format!(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{name}'"
            ))
            .is_empty()
    }

    pub(crate) fn recorded(&self) -> Vec<(i64, String)> {
        self.rows("SELECT version, file FROM _hiqlite_migrations ORDER BY version")
            .into_iter()
            .map(|r| match (&r[0], &r[1]) {
                (rusqlite::types::Value::Integer(v), rusqlite::types::Value::Text(f)) => {
                    (*v, f.clone())
                }
                other => panic!("unexpected row {other:?}"),
            })
            .collect()
    }
}
