//! Applying a batch of committed entries on the writer thread.
//!
//! A batch runs in segments, each one SQLite transaction that also records `last_applied`; a
//! VACUUM entry is a segment of its own, run outside any transaction (see `vacuum.rs`), and so is
//! an entry that raises the cluster's format (entries after it are applied in the new format;
//! see `types::format`), and a restore's commit entry (it replaces the database: `restore.rs`). Inside a segment every entry runs in its own savepoint.
//!
//! A few statements end the whole transaction, not just themselves: `INSERT OR ROLLBACK` and
//! `RAISE(ROLLBACK, ...)` when they fire, and a statement interrupted by the step budget. Plain
//! SQLite, where each statement is its own transaction, reports the statement's error and keeps
//! nothing of it. Here the earlier entries of the segment were rolled back with it, so the
//! segment starts over: the earlier entries run again (deterministically, so with the same
//! results) and the entry that ended the transaction is answered with its error without running
//! again. Every node ends with the same state, however its batches were cut.

use std::collections::BTreeMap;
use std::ops::Range;

use openraft::entry::RaftEntry;
use openraft::EntryPayload;

use super::ops::{run_op, to_sql_error, OpError};
use super::vacuum::{self, Vacuum};
use super::writer::{io_err, seed_for, ApplyItem, WriterThread, MAX_RESULT_BYTES};
use super::{determinism, ffi, history};
use crate::types::command::{
    ApplyResult, Command, CommandResult, ConstraintKind, SqlError, WriteOp, WriteOutput,
};
use crate::types::format::{self, Feature, Format};
use crate::types::raft::{LogId, StoredMembership};

/// How an entry that ended the transaction failed: SQLite's error, until the segment started
/// over and it was judged against the state the entry ran on (`Ok`).
type Ending = Result<SqlError, rusqlite::Error>;

/// What [`WriterThread::begin_alone`] found.
pub(super) struct Alone {
    /// The log's clock before the entry (put back when it fails).
    pub(super) clock_before: i64,
    pub(super) entry_time_ms: i64,
    /// The result of an earlier apply of the same request.
    pub(super) previous: Option<CommandResult>,
}

/// Why applying a segment stopped before its end.
enum Interrupted {
    /// The entry at this position of the segment ended the whole transaction.
    TransactionEnded(usize, Ending),
    /// This machine failed (disk full, I/O error): the batch is not applied.
    Io(std::io::Error),
}

impl From<std::io::Error> for Interrupted {
    fn from(e: std::io::Error) -> Self {
        Interrupted::Io(e)
    }
}

impl WriterThread {
    /// Applies committed entries and answers their responders once every segment is committed.
    /// An error leaves the segments before it committed and the rest for a replay.
    pub(super) fn apply_batch(&mut self, items: Vec<ApplyItem>) -> std::io::Result<()> {
        let mut results = Vec::with_capacity(items.len());
        for segment in segments(self, &items) {
            let last_index = items[segment.end - 1].0.log_id().index();
            // A full disk is waited out here (see `writer.rs`): a failed segment rolled back.
            results.extend(self.until_space(|w| w.apply_segment(&items[segment.clone()]))?);
            // Readers must see a new schema before anyone learns the index is applied.
            self.schema.check(&self.conn, &self.guard);
            self.applied.send_replace(last_index);
        }
        let newest_command = items.iter().rev().find_map(|(e, _)| match &e.payload {
            EntryPayload::Normal(cmd) => Some(cmd.leader_time_ms),
            _ => None,
        });
        if let Some(leader_time_ms) = newest_command {
            self.clock.observe(leader_time_ms);
        }
        for ((_, responder), result) in items.into_iter().zip(results) {
            if let Some(responder) = responder {
                responder.send(result);
            }
        }
        Ok(())
    }

    /// Applies `items` (a segment) in one transaction, starting over when an entry ended it.
    fn apply_segment(&mut self, items: &[ApplyItem]) -> std::io::Result<Vec<ApplyResult>> {
        if let [(entry, _)] = items {
            if let EntryPayload::Normal(cmd) = &entry.payload {
                if let WriteOp::SetFormat { format } = cmd.op {
                    return self
                        .apply_set_format(&entry.log_id(), cmd, format)
                        .map(|r| vec![ApplyResult(Some(r))]);
                }
                if let WriteOp::RestoreCommit {
                    restore,
                    size,
                    sha256,
                } = cmd.op
                {
                    return self
                        .apply_restore_commit(&entry.log_id(), cmd, (restore, size, sha256))
                        .map(|r| vec![ApplyResult(Some(r))]);
                }
                if let Vacuum::Run(sql) = self.vacuum_kind(&cmd.op) {
                    return self
                        .apply_vacuum(&entry.log_id(), cmd, &sql)
                        .map(|r| vec![ApplyResult(Some(r))]);
                }
            }
        }
        let clock_before = self.clock.last();
        let mut ended: BTreeMap<usize, Ending> = BTreeMap::new();
        loop {
            // Events of an attempt that rolled back are not published.
            self.events.clear();
            let outcome = self
                .internal("BEGIN IMMEDIATE")
                .map_err(|e| Interrupted::Io(io_err(e)))
                .and_then(|()| self.apply_in_transaction(items, &mut ended))
                .and_then(|results| match self.internal("COMMIT") {
                    Ok(()) => Ok(results),
                    Err(e) => Err(Interrupted::Io(io_err(e))),
                });
            // What was rolled back must not move the log's clock.
            match outcome {
                Ok(results) => {
                    self.events.publish();
                    return Ok(results);
                }
                Err(Interrupted::TransactionEnded(position, error)) => {
                    self.clock.reset(clock_before);
                    ended.insert(position, error);
                }
                Err(Interrupted::Io(e)) => {
                    self.events.clear();
                    let _ = self.internal("ROLLBACK");
                    self.clock.reset(clock_before);
                    return Err(e);
                }
            }
        }
    }

    /// Applies every entry of a segment, then records what it applied. `ended`: entries known to
    /// end the transaction, answered with their error instead of running.
    fn apply_in_transaction(
        &mut self,
        items: &[ApplyItem],
        ended: &mut BTreeMap<usize, Ending>,
    ) -> Result<Vec<ApplyResult>, Interrupted> {
        let mut results = Vec::with_capacity(items.len());
        let mut membership: Option<StoredMembership> = None;
        for (position, (entry, _)) in items.iter().enumerate() {
            let log_id = entry.log_id();
            let result = match &entry.payload {
                EntryPayload::Blank => ApplyResult(None),
                EntryPayload::Normal(cmd) => {
                    let known = ended.get_mut(&position);
                    match self.apply_command(&log_id, cmd, known) {
                        Err(Interrupted::TransactionEnded(_, e)) => {
                            return Err(Interrupted::TransactionEnded(position, e))
                        }
                        other => ApplyResult(Some(other?)),
                    }
                }
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(log_id), m.clone()));
                    ApplyResult(None)
                }
            };
            results.push(result);
        }
        let last = items.last().expect("a segment is not empty").0.log_id();
        self.write_applied(last, membership.as_ref())
            .map_err(io_err)?;
        Ok(results)
    }

    /// Applies one command in its own savepoint, or answers it with `ended`, how it ended the
    /// transaction before (see the module docs).
    fn apply_command(
        &mut self,
        log_id: &LogId,
        cmd: &Command,
        ended: Option<&mut Ending>,
    ) -> Result<CommandResult, Interrupted> {
        let id = &cmd.request_id;
        let entry_time_ms = self.entry_time(cmd.leader_time_ms);
        self.forget_results(id, log_id, entry_time_ms)
            .map_err(io_err)?;
        if let Some(previous) = self.remembered_result(id).map_err(io_err)? {
            return Ok(previous);
        }
        if let Some(ending) = ended {
            // Judged now, on the state the entry ran on (a full disk stays this machine's).
            let placeholder = Ok(SqlError::Sqlite {
                message: String::new(),
            });
            let error = match std::mem::replace(ending, placeholder) {
                Ok(error) => error,
                Err(raw) => self.statement_error(raw)?,
            };
            *ending = Ok(error.clone());
            let result = Err(error);
            self.remember_result(id, entry_time_ms, &result)
                .map_err(io_err)?;
            return Ok(result);
        }
        determinism::set_entry_context(entry_time_ms, seed_for(log_id));
        // Every entry starts from rowid 0 and no changes, not from what an earlier batch or
        // the writer's own bookkeeping left behind.
        ffi::reset_last_insert_rowid(&self.conn);
        history::mark_entry_start(&self.conn);
        self.guard.reset_budget();
        self.internal("SAVEPOINT entry").map_err(io_err)?;
        let events_mark = self.events.begin_entry(log_id.index());
        let outcome = match (&cmd.op, self.vacuum_kind(&cmd.op)) {
            (_, Vacuum::Refuse(e)) => Err(OpError::Sql(e)),
            (WriteOp::Migrate(migration), _) => self.apply_migration(migration, entry_time_ms),
            (
                WriteOp::RestoreChunk {
                    restore,
                    offset,
                    bytes,
                },
                _,
            ) => self.apply_restore_chunk(*restore, *offset, bytes),
            (WriteOp::ClaimTick { job, tick_ms }, _) => self.apply_claim_tick(job, *tick_ms),
            (WriteOp::Notify { channel, payload }, _) => {
                self.apply_notify(log_id.index(), channel, payload)
            }
            (WriteOp::Cache(op), _) => self.apply_cache(op, entry_time_ms, log_id.index()),
            (op, _) => run_op(&self.conn, op),
        };
        if self.conn.is_autocommit() {
            // The statement ended the writer's transaction (see the module docs).
            let ending = match outcome {
                Err(OpError::Sqlite(e)) => Err(e),
                Err(OpError::Sql(e)) => Ok(e),
                Ok(_) => Ok(SqlError::Sqlite {
                    message: "the statement ended the transaction".into(),
                }),
            };
            return Err(Interrupted::TransactionEnded(0, ending));
        }
        let result = match outcome {
            Ok(output) => self.check_output(output),
            Err(OpError::Sqlite(e)) => Err(self.statement_error(e)?),
            Err(e) => Err(to_sql_error(e)?),
        };
        // A write is all or nothing. (Inside a transaction SQLite leaves a failed statement's
        // earlier rows in place when it did not open a statement journal, `INSERT OR IGNORE`
        // into a STRICT table that meets a wrong type, for one; in autocommit mode the
        // statement's own transaction would undo them. `OR FAIL`, which in autocommit mode keeps
        // them, keeps nothing here: docs/sql.md.)
        if result.is_err() {
            self.events.roll_back_to(events_mark);
            self.internal("ROLLBACK TO entry").map_err(io_err)?;
        }
        self.internal("RELEASE entry").map_err(io_err)?;
        self.remember_result(id, entry_time_ms, &result)
            .map_err(io_err)?;
        Ok(result)
    }

    /// The result of a statement SQLite failed, or an I/O error when this machine failed.
    fn statement_error(&self, e: rusqlite::Error) -> std::io::Result<SqlError> {
        let e = self.explain_refusal(e);
        if super::ops::is_logical_full(&self.conn, &e) {
            return Ok(super::ops::statement_error(&e, e.to_string()));
        }
        to_sql_error(OpError::Sqlite(e))
    }

    /// Failures only visible after the statements ran: deferred foreign keys (SQLite would report
    /// them at COMMIT, with its usual message) and results too large to keep.
    fn check_output(&self, output: WriteOutput) -> CommandResult {
        if ffi::deferred_foreign_key_violations(&self.conn) > 0 {
            return Err(SqlError::Constraint {
                kind: ConstraintKind::ForeignKey,
                message: "FOREIGN KEY constraint failed".into(),
            });
        }
        let size = postcard::experimental::serialized_size(&output).unwrap_or(usize::MAX);
        if size > MAX_RESULT_BYTES {
            return Err(SqlError::Sqlite {
                message: format!(
                    "result of {size} bytes exceeds the limit of {MAX_RESULT_BYTES} bytes"
                ),
            });
        }
        Ok(output)
    }

    /// Applies a VACUUM entry (see `vacuum.rs`): records that it is being applied, runs VACUUM
    /// outside any transaction, and records its result and `last_applied` afterwards.
    fn apply_vacuum(
        &mut self,
        log_id: &LogId,
        cmd: &Command,
        sql: &str,
    ) -> std::io::Result<CommandResult> {
        let Alone {
            clock_before,
            entry_time_ms,
            previous,
        } = self.begin_alone(log_id, cmd)?;
        let id = &cmd.request_id;
        let result = match previous {
            Some(previous) => previous,
            None => {
                self.guard.reset_budget();
                // The guard is lifted: VACUUM copies every table, Hiqlite's own included, into a
                // new file (`vacuum::classify` made sure the text is this one statement).
                match self.guard.internal(|| self.conn.execute_batch(sql)) {
                    Ok(()) => Ok(WriteOutput::Executed {
                        rows_affected: 0,
                        last_insert_rowid: 0,
                    }),
                    Err(e) => Err(self.statement_error(e)?),
                }
            }
        };
        self.in_transaction(clock_before, |w| {
            w.remember_result(id, entry_time_ms, &result)?;
            w.write_applied(*log_id, None)
        })?;
        Ok(result)
    }

    /// Starts an entry applied outside the segment's transaction (VACUUM, a restore's commit):
    /// moves the log's clock, forgets answered results and finds the result of an earlier apply
    /// of the same request, in a transaction of its own.
    pub(super) fn begin_alone(&mut self, log_id: &LogId, cmd: &Command) -> std::io::Result<Alone> {
        let clock_before = self.clock.last();
        let id = &cmd.request_id;
        let entry_time_ms = self.entry_time(cmd.leader_time_ms);
        let previous = self.in_transaction(clock_before, |w| {
            w.forget_results(id, log_id, entry_time_ms)?;
            w.remembered_result(id)
        })?;
        Ok(Alone {
            clock_before,
            entry_time_ms,
            previous,
        })
    }

    /// Runs `run` in a transaction of its own and commits it. On failure it rolls back, puts the
    /// log's clock back to `clock_before` and reports the error as this machine's (I/O).
    pub(super) fn in_transaction<T>(
        &mut self,
        clock_before: i64,
        run: impl FnOnce(&Self) -> rusqlite::Result<T>,
    ) -> std::io::Result<T> {
        let outcome = self.internal("BEGIN IMMEDIATE").and_then(|()| {
            let value = run(self)?;
            self.internal("COMMIT")?;
            Ok(value)
        });
        outcome.map_err(|e| {
            let _ = self.internal("ROLLBACK");
            self.clock.reset(clock_before);
            io_err(e)
        })
    }
}

impl WriterThread {
    /// The time of an entry whose leader's clock read `leader_time_ms`: from format 2 on, never
    /// earlier than the previous entry's (see `clock.rs`); format 1 took the leader's clock as is.
    pub(super) fn entry_time(&mut self, leader_time_ms: i64) -> i64 {
        if Feature::MonotonicEntryTime.enabled_at(self.format) {
            self.clock.next(leader_time_ms)
        } else {
            self.clock.reset(leader_time_ms);
            leader_time_ms
        }
    }

    /// What `op` is as far as VACUUM goes, in the cluster's format: format 1 ran VACUUM like any
    /// statement (inside the entry's transaction, where SQLite refuses it).
    fn vacuum_kind(&self, op: &WriteOp) -> Vacuum {
        if Feature::Vacuum.enabled_at(self.format) {
            vacuum::classify(&self.conn, op)
        } else {
            Vacuum::No
        }
    }

    /// Applies a format change, a segment of its own: records the new format with
    /// `last_applied`, then switches the writer to it. A format this binary does not know stops
    /// the writer with an error that says so; nothing of the entry is applied.
    fn apply_set_format(
        &mut self,
        log_id: &LogId,
        cmd: &Command,
        to: Format,
    ) -> std::io::Result<CommandResult> {
        if to > format::NEWEST {
            return Err(std::io::Error::other(format!(
                "the entry at log index {} raises the cluster to format {to}, but this binary \
                 speaks formats {}..={}: upgrade this node to a release that speaks format {to} \
                 (see docs/upgrades.md)",
                log_id.index(),
                format::OLDEST,
                format::NEWEST
            )));
        }
        let clock_before = self.clock.last();
        let id = &cmd.request_id;
        let entry_time_ms = self.entry_time(cmd.leader_time_ms);
        // Formats only rise: a stale proposal of an older one changes nothing.
        let format = self.format.max(to);
        // A history reaching format 4 gets its lineage here, from what the entry carries.
        let new_lineage = (*self.lineage.borrow() == 0 && Feature::Restore.enabled_at(format))
            .then(|| lineage_of(log_id, cmd.leader_time_ms));
        let result = self.in_transaction(clock_before, |w| {
            w.forget_results(id, log_id, entry_time_ms)?;
            // A proposal the leader repeated (same request id) is answered as the first was.
            if let Some(previous) = w.remembered_result(id)? {
                return Ok(previous);
            }
            let result = Ok(WriteOutput::Executed {
                rows_affected: 0,
                last_insert_rowid: 0,
            });
            w.remember_result(id, entry_time_ms, &result)?;
            w.write_format(format)?;
            if let Some(lineage) = new_lineage {
                w.write_lineage(lineage)?;
            }
            w.write_applied(*log_id, None)?;
            Ok(result)
        })?;
        if let Some(lineage) = new_lineage {
            self.lineage.send_replace(lineage);
        }
        self.switch_format(format).map_err(io_err)?;
        Ok(result)
    }
}

/// A lineage for the history whose entry `log_id` (carrying `leader_time_ms`) starts it: the same
/// on every node, and different for clusters that did not reach it at the same millisecond with
/// the same log id. Never 0 (which means "none").
fn lineage_of(log_id: &LogId, leader_time_ms: i64) -> u64 {
    let mixed = (leader_time_ms as u64)
        ^ log_id.index().rotate_left(40)
        ^ log_id.leader_id.term.rotate_left(20);
    super::writer::seed_for_value(mixed).max(1)
}

/// `items` cut into segments: each VACUUM entry and each format change alone, the entries between
/// them together. Whether an entry is a VACUUM entry depends on the format in force before it,
/// and a format change always ends a segment, so this is known up front.
fn segments(writer: &WriterThread, items: &[ApplyItem]) -> Vec<Range<usize>> {
    let mut segments = Vec::new();
    let mut start = 0;
    let mut format = writer.format;
    for (i, (entry, _)) in items.iter().enumerate() {
        let alone = match &entry.payload {
            EntryPayload::Normal(cmd) => match cmd.op {
                WriteOp::SetFormat { format: next } => {
                    format = format.max(next);
                    true
                }
                WriteOp::RestoreCommit { .. } => true,
                ref op => {
                    Feature::Vacuum.enabled_at(format)
                        && matches!(vacuum::classify(&writer.conn, op), Vacuum::Run(_))
                }
            },
            _ => false,
        };
        if alone {
            if start < i {
                segments.push(start..i);
            }
            segments.push(i..i + 1);
            start = i + 1;
        }
    }
    if start < items.len() {
        segments.push(start..items.len());
    }
    segments
}
