//! The SQLite writer thread: the only place in a node that writes to the database.
//!
//! It applies batches of committed Raft entries inside ONE SQLite transaction, each entry in its
//! own savepoint (a failing entry rolls back alone), and stores `last_applied` and the membership
//! in that same transaction. After any crash the database and `last_applied` therefore agree, and
//! the log replays exactly the entries that are missing.
//!
//! A full disk (`SQLITE_FULL` that is not the data's own, see `ops::is_logical_full`) is this
//! machine's failure, never an entry's result: the other replicas had space. The transaction
//! rolls back and the writer tries the same entries again with back-off until space returns,
//! reporting the full disk to the node's [`DiskSpace`] meanwhile; their results are answered only
//! once they are committed. (openraft would stop for good on an apply error.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use openraft::storage::ApplyResponder;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tokio::sync::{oneshot, watch};

use super::clock::{ClockOffset, EntryClock};
use super::determinism;
use super::guard::WriterGuard;
use super::reader::SchemaGeneration;
use crate::types::command::{CommandResult, RequestId, SqlError};
use crate::types::disk::{is_no_space, Backoff, DiskSpace, DiskUser};
use crate::types::format::{ClusterFormat, Feature, Format};
use crate::types::raft::{Entry, LogId, StoredMembership, TypeConfig};
use crate::types::write_key::WRITE_KEY_RETENTION;

/// Results of clients that went away (never sent a newer `answered_below`) and of write keys are
/// forgotten after this much leader time. Live clients' results are forgotten as soon as they are
/// answered. (Public, and promised to users, as `WRITE_KEY_RETENTION`.)
const DEDUP_ABANDONED_MS: i64 = WRITE_KEY_RETENTION.as_millis() as i64;
/// Forget abandoned results every this many log indexes (deterministic: depends on the index).
const DEDUP_PRUNE_EVERY: u64 = 1024;
/// Largest result one entry may return; a larger one is a statement error, the same everywhere
/// (results are kept for deduplication and must fit in a reply frame).
pub(super) const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

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
    schema_generation: SchemaGeneration,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    applied: watch::Receiver<u64>,
    clock_offset: ClockOffset,
    format: ClusterFormat,
    lineage: watch::Receiver<u64>,
    db_path: PathBuf,
    events: Arc<crate::store::events::Events>,
    /// Set when the handle drops: a job waiting for disk space gives up.
    stopping: Arc<AtomicBool>,
}

/// What the database says was applied last, read when the writer opens.
pub struct AppliedState {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    /// The entry time of the last applied entry, ms since the Unix epoch (see `clock.rs`).
    pub entry_time_ms: i64,
    /// The cluster's format the database was written in (see `types::format`).
    pub format: Format,
    /// The lineage of the database's history (0: none yet; see [`SqliteWriter::lineage`]).
    pub lineage: u64,
}

impl SqliteWriter {
    /// Opens (or creates) the database in WAL mode and starts the writer thread. A database that
    /// is not readable as SQLite or fails `PRAGMA quick_check` is an error of kind `InvalidData`.
    pub fn open(db_path: &Path) -> std::io::Result<(SqliteWriter, AppliedState)> {
        Self::open_reporting(db_path, DiskSpace::default())
    }

    /// [`open`](Self::open), reporting a full disk to `disk` while applying waits for space.
    pub fn open_reporting(
        db_path: &Path,
        disk: DiskSpace,
    ) -> std::io::Result<(SqliteWriter, AppliedState)> {
        Self::open_with_step_budget(db_path, super::guard::ENTRY_STEP_BUDGET, disk)
    }

    /// [`open_reporting`](Self::open_reporting) with another step budget per entry (tests: an
    /// endless statement is interrupted sooner). Every node of a cluster must use the same budget.
    pub(crate) fn open_with_step_budget(
        db_path: &Path,
        step_budget: u64,
        disk: DiskSpace,
    ) -> std::io::Result<(SqliteWriter, AppliedState)> {
        let mut conn = open_connection(db_path).map_err(open_err)?;
        check_integrity(&conn)?;
        let state = read_applied_state(&conn).map_err(open_err)?;
        check_format(&format!("the database {}", db_path.display()), state.format)?;
        let guard = WriterGuard::install(&mut conn, step_budget);
        let (applied_tx, applied_rx) =
            watch::channel(state.last_applied.map(|l| l.index()).unwrap_or(0));
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let clock_offset = ClockOffset::default();
        let clock = EntryClock::new(state.entry_time_ms, clock_offset.clone());
        let schema_generation = SchemaGeneration::default();
        let schema = SchemaWatch::new(&conn, &guard, schema_generation.clone());
        let format = ClusterFormat::new(state.format);
        let (lineage_tx, lineage_rx) = watch::channel(state.lineage);
        let events = super::events_hook::Collector::install(&conn, Arc::default());
        let published_events = events.events();
        let stopping = Arc::new(AtomicBool::new(false));
        let mut writer = WriterThread {
            disk,
            db_path: db_path.to_path_buf(),
            stopping: stopping.clone(),
            conn,
            guard,
            internal_tag: random_tag(),
            applied: applied_tx,
            clock,
            schema,
            format: crate::types::format::OLDEST,
            published_format: format.clone(),
            lineage: lineage_tx,
            math_registered: false,
            events,
        };
        writer.switch_format(state.format).map_err(open_err)?;
        let thread = std::thread::Builder::new()
            .name("hiqlite-sqlite-writer".into())
            .spawn(move || writer.run(jobs_rx))?;
        Ok((
            SqliteWriter {
                jobs: Some(jobs_tx),
                thread: Some(thread),
                applied: applied_rx,
                schema_generation,
                clock_offset,
                format,
                lineage: lineage_rx,
                db_path: db_path.to_path_buf(),
                events: published_events,
                stopping,
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

    /// The count of schema changes this writer committed, for the read pool (see
    /// [`SchemaGeneration`]).
    pub fn schema_generation(&self) -> SchemaGeneration {
        self.schema_generation.clone()
    }

    /// How far this node's clock is from the time of the entries it applies (see `clock.rs`).
    pub fn clock_offset(&self) -> ClockOffset {
        self.clock_offset.clone()
    }

    /// The cluster's format as this writer applies it (see `types::format`).
    pub fn cluster_format(&self) -> ClusterFormat {
        self.format.clone()
    }

    /// Where committed notifications and table changes are published (see `store::events`).
    pub fn events(&self) -> Arc<crate::store::events::Events> {
        self.events.clone()
    }

    /// The lineage of the database's history: an id that changes when the history of log
    /// indexes starts over, so that backups of different histories are never mixed. It is set
    /// when the cluster reaches format 4 (from that entry's time and log id, the same on every
    /// node) and to a new value by every restore; 0 until then.
    pub fn lineage(&self) -> watch::Receiver<u64> {
        self.lineage.clone()
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
        self.stopping.store(true, Ordering::Release);
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn writer_gone() -> std::io::Error {
    std::io::Error::other("the SQLite writer thread has stopped")
}

/// A failure of this machine as an I/O error; `SQLITE_FULL` becomes kind `StorageFull`, which
/// the writer waits out (see the module docs).
pub(super) fn io_err(e: rusqlite::Error) -> std::io::Error {
    let kind = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => std::io::ErrorKind::StorageFull,
        _ => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, format!("SQLite: {e}"))
}

/// Like `io_err`, but a damaged database file becomes `InvalidData`, so the caller can set it
/// aside and rebuild.
fn open_err(e: rusqlite::Error) -> std::io::Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("SQLite: {e}"))
        }
        _ => io_err(e),
    }
}

/// `PRAGMA quick_check`: finds damaged pages and indexes (it reads the whole file once).
fn check_integrity(conn: &Connection) -> std::io::Result<()> {
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(open_err)?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("SQLite integrity check failed: {verdict}"),
        ))
    }
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
             result BLOB NOT NULL, PRIMARY KEY (client, seq)) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS _hiqlite_requests_time ON _hiqlite_requests (time_ms);",
    )?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// Refuses a snapshot of a format this binary does not speak, before a page of it is copied.
fn check_snapshot_format(snapshot: &Path) -> std::io::Result<()> {
    let conn = Connection::open_with_flags(snapshot, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(open_err)?;
    let format = read_applied_state(&conn).map_err(open_err)?.format;
    check_format(&format!("the snapshot at {}", snapshot.display()), format)
}

/// `Ok` if this binary speaks `format`, else an `InvalidData` error that says `what` is of a
/// newer format and to upgrade.
fn check_format(what: &str, format: Format) -> std::io::Result<()> {
    use crate::types::format::{NEWEST, OLDEST};
    if format <= NEWEST {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "{what} is of format {format}, but this binary speaks formats {OLDEST}..={NEWEST}: \
             upgrade this node to a release that speaks format {format} (see docs/upgrades.md)"
        ),
    ))
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
    // Missing in databases written before entry times were stored: the log's clock starts over
    // from the next entry's leader time, the same on every node.
    let entry_time_ms = match read("entry_time_ms")? {
        Some(b) => postcard::from_bytes(&b).map_err(|e| decode_err("entry_time_ms", e))?,
        None => 0,
    };
    // Missing in databases of format 1, which did not record it.
    let format = match read("format")? {
        Some(b) => postcard::from_bytes(&b).map_err(|e| decode_err("format", e))?,
        None => crate::types::format::OLDEST,
    };
    let lineage = match read("lineage")? {
        Some(b) => postcard::from_bytes(&b).map_err(|e| decode_err("lineage", e))?,
        None => 0,
    };
    Ok(AppliedState {
        last_applied,
        membership,
        entry_time_ms,
        format,
        lineage,
    })
}

pub(super) struct WriterThread {
    /// Where a full disk is reported while a job waits for space.
    disk: DiskSpace,
    db_path: PathBuf,
    /// Set when the handle drops: stop waiting for space.
    stopping: Arc<AtomicBool>,
    pub(super) conn: Connection,
    pub(super) guard: WriterGuard,
    /// Random per writer: see `internal`.
    internal_tag: u64,
    pub(super) applied: watch::Sender<u64>,
    pub(super) clock: EntryClock,
    pub(super) schema: SchemaWatch,
    /// The cluster's format the writer applies entries in (read for every entry, so a plain
    /// field), and where it is published for the node's status and Raft connections.
    pub(super) format: Format,
    published_format: ClusterFormat,
    /// Where the database's lineage is published (see [`SqliteWriter::lineage`]).
    pub(super) lineage: watch::Sender<u64>,
    /// Whether the math functions of format 2 are registered on `conn`.
    math_registered: bool,
    /// Notifications and table changes of the segment being applied.
    pub(super) events: super::events_hook::Collector,
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
                    let restored = self.until_space(|w| w.restore(&from));
                    let _ = done.send(restored);
                }
            }
        }
    }

    /// Runs `attempt` until it does not fail for lack of disk space (or the writer is stopping),
    /// pausing with back-off in between and reporting the full disk meanwhile. `attempt` must
    /// leave nothing behind when it fails (a rolled-back transaction).
    pub(super) fn until_space<T>(
        &mut self,
        mut attempt: impl FnMut(&mut Self) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut backoff = Backoff::default();
        let mut was_full = false;
        loop {
            match attempt(self) {
                Err(e) if is_no_space(&e) && !self.stopping.load(Ordering::Acquire) => {
                    was_full = true;
                    self.disk
                        .report_full(DiskUser::Database, &self.db_path, e.to_string());
                    std::thread::sleep(backoff.next_pause());
                }
                result => {
                    if result.is_ok() && was_full {
                        self.disk.report_ok(DiskUser::Database);
                    }
                    return result;
                }
            }
        }
    }

    /// Copies a snapshot's pages over the database (SQLite's backup API keeps readers safe),
    /// then checkpoints them into the database file, with the write-back spread out
    /// (`flush::while_flushing`): the whole database passes through the WAL and into the file.
    fn restore(&mut self, from: &Path) -> std::io::Result<AppliedState> {
        check_snapshot_format(from)?;
        let files = self
            .conn
            .path()
            .map(|p| super::flush::db_and_wal(Path::new(p)).to_vec())
            .unwrap_or_default();
        let (conn, guard) = (&mut self.conn, &self.guard);
        super::flush::while_flushing(&files, || {
            conn.restore(
                rusqlite::MAIN_DB,
                from,
                None::<fn(rusqlite::backup::Progress)>,
            )?;
            // Now, not at some later write: the checkpoint copies the whole database again.
            guard.internal(|| conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())))
        })
        .map_err(io_err)?;
        let state = read_applied_state(&self.conn).map_err(io_err)?;
        self.schema.check(&self.conn, &self.guard);
        self.switch_format(state.format).map_err(io_err)?;
        self.applied
            .send_replace(state.last_applied.map(|l| l.index()).unwrap_or(0));
        self.clock.reset(state.entry_time_ms);
        self.lineage.send_replace(state.lineage);
        Ok(state)
    }

    /// Runs one of the writer's own control statements (BEGIN, SAVEPOINT, ...), prepared once and
    /// cached. Its text carries a random tag of this writer, so a user statement can never hit
    /// the cached, authorized statement (the authorizer runs at prepare time only).
    pub(super) fn internal(&self, sql: &str) -> rusqlite::Result<()> {
        self.with_internal(sql, |stmt| stmt.execute([]).map(|_| ()))
    }

    /// Prepares (once, tagged as in `internal`) and runs one of the writer's own statements, with
    /// the guard lifted for the whole run: SQLite may re-prepare a cached statement after a
    /// schema change, and consults the authorizer again then.
    pub(super) fn with_internal<T>(
        &self,
        sql: &str,
        run: impl FnOnce(&mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let tagged = format!("{sql} /* hiqlite-internal-{:016x} */", self.internal_tag);
        self.guard
            .internal(|| run(&mut self.conn.prepare_cached(&tagged)?))
    }

    /// `e` with the write guard's reason when the guard refused the statement.
    pub(super) fn explain_refusal(&self, e: rusqlite::Error) -> rusqlite::Error {
        self.guard.explain(e)
    }

    /// Records what the transaction applied: the last log id, a membership change among its
    /// entries, and the log's clock.
    pub(super) fn write_applied(
        &self,
        last: LogId,
        membership: Option<&StoredMembership>,
    ) -> rusqlite::Result<()> {
        self.write_meta("last_applied", &Some(last))?;
        if let Some(m) = membership {
            self.write_meta("membership", m)?;
        }
        self.write_meta("entry_time_ms", &self.clock.last())
    }

    /// Records the cluster's format (in the caller's transaction).
    pub(super) fn write_format(&self, format: Format) -> rusqlite::Result<()> {
        self.write_meta("format", &format)
    }

    /// Records the database's lineage (in the caller's transaction); published after commit.
    pub(super) fn write_lineage(&self, lineage: u64) -> rusqlite::Result<()> {
        self.write_meta("lineage", &lineage)
    }

    /// Applies entries in `format` from now on: registers what it brings (the math functions of
    /// format 2). A snapshot never takes a database back to an older format than its entries.
    pub(super) fn switch_format(&mut self, format: Format) -> rusqlite::Result<()> {
        if Feature::PortableMath.enabled_at(format) && !self.math_registered {
            super::math::register(&self.conn)?;
            self.math_registered = true;
        }
        self.format = format;
        self.published_format.set(format);
        Ok(())
    }

    fn write_meta<T: serde::Serialize>(&self, key: &str, value: &T) -> rusqlite::Result<()> {
        let bytes = postcard::to_stdvec(value)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.with_internal(
            "INSERT OR REPLACE INTO _hiqlite_meta (key, value) VALUES (?, ?)",
            |s| s.execute(rusqlite::params![key, bytes]).map(|_| ()),
        )
    }

    /// Forgets results the client has seen (below its `answered_below`) and, now and then,
    /// results of clients that went away.
    pub(super) fn forget_results(
        &self,
        id: &RequestId,
        log_id: &LogId,
        leader_time_ms: i64,
    ) -> rusqlite::Result<()> {
        self.with_internal(
            "DELETE FROM _hiqlite_requests WHERE client = ? AND seq < ?",
            |s| s.execute([id.client as i64, id.answered_below as i64]),
        )?;
        if log_id.index().is_multiple_of(DEDUP_PRUNE_EVERY) {
            self.with_internal("DELETE FROM _hiqlite_requests WHERE time_ms < ?", |s| {
                s.execute([leader_time_ms - DEDUP_ABANDONED_MS])
            })?;
        }
        Ok(())
    }

    pub(super) fn remembered_result(
        &self,
        id: &RequestId,
    ) -> rusqlite::Result<Option<CommandResult>> {
        let bytes: Option<Vec<u8>> = self.with_internal(
            "SELECT result FROM _hiqlite_requests WHERE client = ? AND seq = ?",
            |s| {
                s.query_row([id.client as i64, id.seq as i64], |r| r.get(0))
                    .optional()
            },
        )?;
        // Undecodable bytes are the same on every replica: answer with a deterministic error.
        Ok(bytes.map(|b| {
            postcard::from_bytes(&b).unwrap_or_else(|e| {
                Err(SqlError::Sqlite {
                    message: format!("the stored result of this request cannot be read: {e}"),
                })
            })
        }))
    }

    pub(super) fn remember_result(
        &self,
        id: &RequestId,
        time_ms: i64,
        result: &CommandResult,
    ) -> rusqlite::Result<()> {
        let bytes = postcard::to_stdvec(result)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.with_internal(
            "INSERT INTO _hiqlite_requests (client, seq, time_ms, result) VALUES (?, ?, ?, ?)",
            |s| {
                s.execute(rusqlite::params![
                    id.client as i64,
                    id.seq as i64,
                    time_ms,
                    bytes
                ])
                .map(|_| ())
            },
        )
    }
}

fn random_tag() -> u64 {
    let mut bytes = [0u8; 8];
    // Without OS randomness the tag is guessable, which only matters to a client that already
    // sends arbitrary SQL; the address of a stack value still varies per run.
    if getrandom::getrandom(&mut bytes).is_err() {
        return &bytes as *const _ as u64;
    }
    u64::from_le_bytes(bytes)
}

/// The random seed of an entry: derived from its index, so every replica uses the same one.
pub(super) fn seed_for(log_id: &LogId) -> u64 {
    seed_for_value(log_id.index())
}

/// SplitMix64's finalizer: spreads nearby values over the whole range.
pub(super) fn seed_for_value(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Notices schema changes the writer committed, and tells the read pool through a
/// [`SchemaGeneration`].
pub(super) struct SchemaWatch {
    /// SQLite's schema cookie (`PRAGMA schema_version`) when last checked.
    cookie: i64,
    generation: SchemaGeneration,
}

impl SchemaWatch {
    fn new(conn: &Connection, guard: &WriterGuard, generation: SchemaGeneration) -> SchemaWatch {
        SchemaWatch {
            cookie: schema_cookie(conn, guard).unwrap_or(0),
            generation,
        }
    }

    /// Bumps the generation when the schema cookie changed since the last check (DDL, VACUUM,
    /// ANALYZE, a restored snapshot). Reading the cookie costs one small statement per batch.
    pub(super) fn check(&mut self, conn: &Connection, guard: &WriterGuard) {
        match schema_cookie(conn, guard) {
            Ok(cookie) if cookie == self.cookie => {}
            Ok(cookie) => {
                self.cookie = cookie;
                self.generation.bump();
            }
            // Unknown: readers reload to be safe.
            Err(_) => self.generation.bump(),
        }
    }
}

/// SQLite's schema cookie (a pragma: run with the guard lifted, as the writer's own statement).
fn schema_cookie(conn: &Connection, guard: &WriterGuard) -> rusqlite::Result<i64> {
    guard.internal(|| conn.query_row("PRAGMA schema_version", [], |r| r.get(0)))
}
