//! Restoring a backup through the log, on the writer thread.
//!
//! A restore is ordinary replicated state: its database arrives as `WriteOp::RestoreChunk`
//! entries, kept in `_hiqlite_restore` inside the database itself (so snapshots, crashes and
//! replays treat the pieces like any other row), and a `WriteOp::RestoreCommit` entry swaps the
//! database for the assembled one. Every node checks the same bytes the same way, so every node
//! reaches the same verdict.
//!
//! The swap keeps what belongs to this cluster, not to the backup: the membership, the format,
//! the log's clock, the results of earlier requests (a retry of a write acknowledged before the
//! restore is answered, not applied again) and the claimed scheduled ticks. The restored
//! database then records the commit entry as its last applied one: the log index rolls over, and
//! no entry of the backup's own log is ever replayed.
//!
//! Crash safety: the pieces stay in the database until the swap commits, and the swap (SQLite's
//! backup API copying the assembled file's pages into the live database) is one transaction. A
//! crash before it leaves the old database with `last_applied` before the commit entry, and the
//! replay does the whole swap again.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};

use super::cache::CREATE_LOCKS;
use super::ops::{needs_format, OpError};
use super::writer::{io_err, read_applied_state, WriterThread};
use crate::types::command::{Command, CommandResult, SqlError, WriteOutput};
use crate::types::format::Feature;
use crate::types::raft::LogId;

const CREATE_PIECES: &str = "CREATE TABLE IF NOT EXISTS _hiqlite_restore (
    restore INTEGER NOT NULL, offset INTEGER NOT NULL, bytes BLOB NOT NULL,
    PRIMARY KEY (restore, offset)) WITHOUT ROWID";

/// The claimed ticks of scheduled jobs (`ticks.rs`), created in the swapped-in database too.
pub(super) const CREATE_TICKS: &str = "CREATE TABLE IF NOT EXISTS _hiqlite_ticks (
    job TEXT PRIMARY KEY, tick_ms INTEGER NOT NULL) WITHOUT ROWID";

/// A failed restore, the same on every node.
fn refused(restore: u64, why: impl std::fmt::Display) -> SqlError {
    SqlError::Sqlite {
        message: format!("restore {restore:016x} refused: {why}; the database is unchanged"),
    }
}

impl WriterThread {
    /// Keeps one piece of a restore (inside the entry's savepoint).
    pub(super) fn apply_restore_chunk(
        &self,
        restore: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<WriteOutput, OpError> {
        if !Feature::Restore.enabled_at(self.format) {
            return Err(needs_format(Feature::Restore, self.format));
        }
        let Ok(offset) = i64::try_from(offset) else {
            return Err(OpError::Sql(refused(
                restore,
                "the piece's offset is too large",
            )));
        };
        // Ids are random u64s; SQLite keeps their bits as a signed integer.
        let id = restore as i64;
        self.with_internal(CREATE_PIECES, |s| s.execute([]))?;
        if offset == 0 {
            self.with_internal("DELETE FROM _hiqlite_restore WHERE restore <> ?", |s| {
                s.execute([id])
            })?;
        }
        self.with_internal(
            "INSERT OR REPLACE INTO _hiqlite_restore (restore, offset, bytes) VALUES (?, ?, ?)",
            |s| s.execute(rusqlite::params![id, offset, bytes]),
        )?;
        Ok(WriteOutput::Executed {
            rows_affected: 1,
            last_insert_rowid: 0,
        })
    }

    /// Applies a restore's commit entry, a segment of its own (see the module docs).
    pub(super) fn apply_restore_commit(
        &mut self,
        log_id: &LogId,
        cmd: &Command,
        expected: (u64, u64, [u8; 32]),
    ) -> std::io::Result<CommandResult> {
        let (restore, size, sha256) = expected;
        let super::apply::Alone {
            clock_before,
            entry_time_ms,
            previous,
        } = self.begin_alone(log_id, cmd)?;
        let id = &cmd.request_id;
        if let Some(previous) = previous {
            self.in_transaction(clock_before, |w| w.write_applied(*log_id, None))?;
            return Ok(previous);
        }
        let staged = staged_path(&self.conn)?;
        let verdict = if Feature::Restore.enabled_at(self.format) {
            self.assemble(restore, size, &sha256, &staged)?
        } else {
            Err(refused(restore, "the cluster does not run format 4"))
        };
        let result = match verdict {
            Ok(origin) => {
                let result = Ok(WriteOutput::Restored {
                    log_index: origin.0.map_or(0, |l| l.index),
                    log_term: origin.0.map_or(0, |l| l.leader_id.term),
                    entry_time_ms: origin.1,
                    at_index: log_id.index,
                });
                // A restored history is a new lineage (see `SqliteWriter::lineage`).
                let lineage = restore.max(1);
                self.swap_in(&staged, (log_id, lineage), id, entry_time_ms, &result)
                    .inspect_err(|_| self.clock.reset(clock_before))?;
                tracing::info!(
                    log_index = log_id.index,
                    from_log_index = origin.0.map_or(0, |l| l.index),
                    "restored a backup: the database was replaced"
                );
                result
            }
            Err(error) => {
                let result = Err(error);
                self.in_transaction(clock_before, |w| {
                    w.with_internal("DELETE FROM _hiqlite_restore WHERE restore = ?", |s| {
                        s.execute([restore as i64])
                    })?;
                    w.remember_result(id, entry_time_ms, &result)?;
                    w.write_applied(*log_id, None)
                })?;
                result
            }
        };
        let _ = std::fs::remove_file(&staged);
        Ok(result)
    }

    /// Writes restore `restore`'s pieces to `staged` and checks them: contiguous, `size` bytes
    /// with SHA-256 `sha256`, a sound Hiqlite database of a format this cluster runs, with the
    /// live database's page size. `Ok` holds the restored database's own last log id and entry
    /// time; `Err` the deterministic refusal. An I/O error is this machine's.
    #[allow(clippy::type_complexity)]
    fn assemble(
        &self,
        restore: u64,
        size: u64,
        sha256: &[u8; 32],
        staged: &Path,
    ) -> std::io::Result<Result<(Option<LogId>, i64), SqlError>> {
        let written = self.write_pieces(restore, staged)?;
        let (length, digest) = match written {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        if length != size {
            return Ok(Err(refused(
                restore,
                format!("{length} bytes arrived, {size} were announced"),
            )));
        }
        if &digest != sha256 {
            return Ok(Err(refused(
                restore,
                "the SHA-256 of the pieces differs from the announced one",
            )));
        }
        Ok(self.check_staged(restore, staged))
    }

    /// Writes the pieces in offset order; `Err` (inside `Ok`) when one is missing.
    #[allow(clippy::type_complexity)]
    fn write_pieces(
        &self,
        restore: u64,
        staged: &Path,
    ) -> std::io::Result<Result<(u64, [u8; 32]), SqlError>> {
        let file = std::fs::File::create(staged)?;
        let mut out = BufWriter::new(file);
        let mut hasher = Sha256::new();
        let mut next = 0u64;
        let mut gap = None;
        let pieces_exist: bool = self
            .with_internal(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_hiqlite_restore'",
                |s| s.query_row([], |_| Ok(())).optional(),
            )
            .map_err(io_err)?
            .is_some();
        if pieces_exist {
            self.with_internal(
                "SELECT offset, bytes FROM _hiqlite_restore WHERE restore = ? ORDER BY offset",
                |s| {
                    let mut rows = s.query([restore as i64])?;
                    while let Some(row) = rows.next()? {
                        let offset: i64 = row.get(0)?;
                        let bytes = row.get_ref(1)?.as_blob()?;
                        if offset as u64 != next {
                            gap = Some(next);
                            break;
                        }
                        out.write_all(bytes)
                            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                        hasher.update(bytes);
                        next += bytes.len() as u64;
                    }
                    Ok(())
                },
            )
            .map_err(io_err)?;
        }
        if let Some(at) = gap {
            return Ok(Err(refused(
                restore,
                format!("the piece at byte {at} is missing"),
            )));
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(Ok((next, hasher.finalize().into())))
    }

    /// Checks the assembled file as a database (deterministic: same bytes, same verdict).
    fn check_staged(&self, restore: u64, staged: &Path) -> Result<(Option<LogId>, i64), SqlError> {
        let not_db =
            |what: String| refused(restore, format!("not a sound Hiqlite database: {what}"));
        let conn = Connection::open_with_flags(staged, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| not_db(e.to_string()))?;
        let check: String = conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
            .map_err(|e| not_db(e.to_string()))?;
        if check != "ok" {
            return Err(not_db(format!("quick_check: {check}")));
        }
        let state = read_applied_state(&conn).map_err(|e| not_db(e.to_string()))?;
        if state.format > self.format {
            return Err(refused(
                restore,
                format!(
                    "the backup holds data of format {}, the cluster runs format {}",
                    state.format, self.format
                ),
            ));
        }
        let page_size = |c: &Connection| -> rusqlite::Result<i64> {
            c.query_row("PRAGMA page_size", [], |r| r.get(0))
        };
        let theirs = page_size(&conn).map_err(|e| not_db(e.to_string()))?;
        let ours = self
            .guard
            .internal(|| page_size(&self.conn))
            .map_err(|e| not_db(e.to_string()))?;
        if theirs != ours {
            return Err(refused(
                restore,
                format!("its page size is {theirs} bytes, this database's is {ours}"),
            ));
        }
        Ok((state.last_applied, state.entry_time_ms))
    }

    /// Makes the staged file this cluster's (see the module docs), then copies it over the live
    /// database in one transaction.
    fn swap_in(
        &mut self,
        staged: &Path,
        (log_id, lineage): (&LogId, u64),
        id: &crate::types::command::RequestId,
        entry_time_ms: i64,
        result: &CommandResult,
    ) -> std::io::Result<()> {
        let path = staged.to_string_lossy().into_owned();
        self.guard
            .internal(|| {
                self.conn
                    .execute("ATTACH DATABASE ? AS restored", [&path])
                    .map(|_| ())
            })
            .map_err(io_err)?;
        let prepared = self.make_restored_ours((log_id, lineage), id, entry_time_ms, result);
        let detached = self
            .guard
            .internal(|| self.conn.execute_batch("DETACH DATABASE restored"));
        prepared.map_err(io_err)?;
        detached.map_err(io_err)?;
        self.conn
            .restore(
                rusqlite::MAIN_DB,
                staged,
                None::<fn(rusqlite::backup::Progress)>,
            )
            .map_err(io_err)?;
        self.schema.check(&self.conn, &self.guard);
        self.lineage.send_replace(lineage);
        Ok(())
    }

    /// In one transaction on the attached `restored` database: this cluster's request results,
    /// ticks, locks (their tokens are this cluster's log indexes), membership, format, clock, a new lineage, and the commit entry as last applied.
    fn make_restored_ours(
        &self,
        (log_id, lineage): (&LogId, u64),
        id: &crate::types::command::RequestId,
        entry_time_ms: i64,
        result: &CommandResult,
    ) -> rusqlite::Result<()> {
        let membership: Option<Vec<u8>> = self.guard.internal(|| {
            self.conn
                .query_row(
                    "SELECT value FROM main._hiqlite_meta WHERE key = 'membership'",
                    [],
                    |r| r.get(0),
                )
                .optional()
        })?;
        let result_bytes = encode(result)?;
        let meta = [
            ("last_applied", encode(&Some(*log_id))?),
            ("entry_time_ms", encode(&entry_time_ms)?),
            ("format", encode(&self.format)?),
            ("lineage", encode(&lineage)?),
        ];
        let batch = format!(
            "BEGIN IMMEDIATE;
             {CREATE_TICKS};
             DROP TABLE IF EXISTS restored._hiqlite_restore;
             DROP TABLE IF EXISTS restored._hiqlite_ticks;
             {restored_ticks};
             INSERT INTO restored._hiqlite_ticks (job, tick_ms) SELECT job, tick_ms FROM main._hiqlite_ticks;
             {CREATE_LOCKS};
             DROP TABLE IF EXISTS restored._hiqlite_locks;
             {restored_locks};
             INSERT INTO restored._hiqlite_locks SELECT * FROM main._hiqlite_locks;
             DELETE FROM restored._hiqlite_requests;
             INSERT INTO restored._hiqlite_requests (client, seq, time_ms, result)
                 SELECT client, seq, time_ms, result FROM main._hiqlite_requests;",
            restored_ticks = CREATE_TICKS.replace("_hiqlite_ticks", "restored._hiqlite_ticks"),
            restored_locks = CREATE_LOCKS.replace("_hiqlite_locks", "restored._hiqlite_locks"),
        );
        let run = || -> rusqlite::Result<()> {
            self.conn.execute_batch(&batch)?;
            let mut put = self.conn.prepare(
                "INSERT OR REPLACE INTO restored._hiqlite_meta (key, value) VALUES (?, ?)",
            )?;
            for (key, value) in &meta {
                put.execute(rusqlite::params![key, value])?;
            }
            if let Some(m) = &membership {
                put.execute(rusqlite::params!["membership", m])?;
            }
            self.conn.execute(
                "INSERT OR REPLACE INTO restored._hiqlite_requests (client, seq, time_ms, result)
                 VALUES (?, ?, ?, ?)",
                rusqlite::params![id.client as i64, id.seq as i64, entry_time_ms, result_bytes],
            )?;
            self.conn.execute_batch("COMMIT")
        };
        let outcome = self.guard.internal(run);
        if outcome.is_err() {
            let _ = self.guard.internal(|| self.conn.execute_batch("ROLLBACK"));
        }
        outcome
    }
}

/// Where the assembled database is written: next to the live one, one name per node (a leftover
/// of a crash is overwritten by the replay).
fn staged_path(conn: &Connection) -> std::io::Result<PathBuf> {
    let main = conn
        .path()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| std::io::Error::other("the database has no file to restore next to"))?;
    Ok(PathBuf::from(format!("{main}.restoring")))
}

/// The postcard encoding `_hiqlite_meta` and `_hiqlite_requests` hold values in.
fn encode<T: serde::Serialize>(value: &T) -> rusqlite::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}
