//! A pool of read-only SQLite connections for local reads.
//!
//! Reads never touch the network and never wait for the writer (WAL lets readers and the writer
//! run at once). Each connection keeps its own prepared-statement cache.
//!
//! Fast path: most reads take microseconds, so they run right on the calling thread, with a small
//! budget of SQLite VM steps. A read that exceeds the budget is interrupted (reads have no side
//! effects) and runs again on Tokio's blocking pool without a budget, so a long query never stalls
//! the async runtime, and with it Raft heartbeats. Handing every read to the blocking pool would
//! cost more than the read itself.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::guard::Refusals;

/// Counts the schema changes the writer committed (DDL, a restored snapshot). A read connection
/// loads the schema once and, for most statements, notices a change when the statement runs; but
/// a statement may fail to prepare against a stale schema (`ORDER BY 5` on a view that gained a
/// column), and some pragmas (`PRAGMA index_list`) answer from it without checking. So before a
/// read, a connection that has not seen the latest change reloads the schema. The writer bumps
/// the count before it reports the index applied, so a read after a write sees the new schema.
#[derive(Clone, Default)]
pub struct SchemaGeneration(Arc<AtomicU64>);

impl SchemaGeneration {
    /// Records a committed schema change.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Why the pool could not run a read at all.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The pool was closed: the node is shutting down.
    #[error("the read pool is closed (the node is shutting down)")]
    Closed,
    /// The blocking task that ran a long read panicked or was cancelled.
    #[error("read task failed: {0}")]
    TaskFailed(String),
    /// A streaming read was cancelled before it started (its consumer left).
    #[error("the read was cancelled")]
    Cancelled,
}

/// The error type of a read: the pool's own failures convert into it, and a statement the
/// connection's guard refused is explained in it (SQLite itself only says "not authorized").
pub trait ReadError: From<PoolError> + Send + 'static {
    /// This error, knowing that the guard refused the statement for `reason`.
    fn refused(self, reason: String) -> Self;
}

/// VM steps a read may take on the calling thread before it moves to the blocking pool
/// (well under a millisecond of work).
const INLINE_STEP_BUDGET: u64 = 200_000;
/// The progress handler runs every this many VM steps.
const STEPS_PER_CALL: u64 = 1_000;

/// Read-only connections to the node's database file.
pub struct ReadPool {
    idle: Mutex<Vec<PooledConnection>>,
    schema: SchemaGeneration,
    permits: Arc<Semaphore>,
    /// Reads that had to move to the blocking pool (for metrics and tests).
    moved_to_blocking: AtomicU64,
}

/// A read connection, the switch that limits it to the inline budget, and why its guard last
/// refused a statement.
struct PooledConnection {
    conn: Connection,
    limit: Arc<StepLimit>,
    refusals: Refusals,
    /// The [`SchemaGeneration`] this connection last loaded the schema at.
    schema_seen: AtomicU64,
}

/// Counts VM steps of the current read while `enabled`; past the budget, interrupts it.
#[derive(Default)]
struct StepLimit {
    enabled: AtomicBool,
    steps: AtomicU64,
    tripped: AtomicBool,
}

impl StepLimit {
    fn arm(&self, enabled: bool) {
        self.steps.store(0, Ordering::Relaxed);
        self.tripped.store(false, Ordering::Relaxed);
        self.enabled.store(enabled, Ordering::Relaxed);
    }
}

impl ReadPool {
    /// Opens `size` read-only connections. The writer must have created the database first;
    /// `schema` is the writer's count of schema changes.
    pub fn open(
        db_path: &Path,
        size: usize,
        schema: SchemaGeneration,
    ) -> rusqlite::Result<Arc<ReadPool>> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size.max(1) {
            let conn = Connection::open_with_flags(
                db_path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            // Belt and braces: even a statement that slips past read-only mode cannot write.
            conn.execute_batch("PRAGMA query_only = ON;")?;
            // A read computes what a write would store.
            super::math::register(&conn)?;
            let refusals = super::guard::install_reader_guard(&conn);
            conn.set_prepared_statement_cache_capacity(256);
            let limit = Arc::new(StepLimit::default());
            install_step_limit(&conn, &limit);
            idle.push(PooledConnection {
                conn,
                limit,
                refusals,
                schema_seen: AtomicU64::new(schema.current()),
            });
        }
        Ok(Arc::new(ReadPool {
            permits: Arc::new(Semaphore::new(idle.len())),
            idle: Mutex::new(idle),
            schema,
            moved_to_blocking: AtomicU64::new(0),
        }))
    }

    /// Waits for a free connection of the pool.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, PoolError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PoolError::Closed)
    }

    /// Runs the read `f` with a pooled connection: on the calling thread when it is short (see
    /// the module docs), else on the blocking pool. `f` may therefore run twice; it must only
    /// read.
    pub async fn with_conn<T, E, F>(self: &Arc<Self>, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: ReadError,
        F: Fn(&Connection) -> Result<T, E> + Send + 'static,
    {
        let permit = self.permit().await?;
        let f = {
            let lease = self.lease(&permit)?;
            lease.pooled().limit.arm(true);
            let result = lease.pooled().run(&self.schema, &f);
            if !lease.pooled().limit.tripped.load(Ordering::Relaxed) {
                return result;
            }
            // Too long for the calling thread: drop the interrupted attempt, run it again below.
            self.moved_to_blocking.fetch_add(1, Ordering::Relaxed);
            f
        };
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let lease = pool.lease(&permit)?;
            lease.pooled().limit.arm(false);
            let result = lease.pooled().run(&pool.schema, &f);
            drop(permit);
            result
        })
        .await
        .map_err(|e| PoolError::TaskFailed(e.to_string()))?
    }

    /// Runs the read `f` with a pooled connection on the blocking pool, for as long as it takes
    /// (a streaming read): no inline attempt and no step budget, so `f` runs exactly once.
    /// Instead, once `cancel` is set, SQLite interrupts the statement `f` is stepping within
    /// about a thousand VM steps (its `step` fails with "interrupted"), so a consumer that left
    /// frees the connection promptly even while a step takes long (a sort, an aggregate).
    ///
    /// The connection counts against the pool for the whole of `f`: with a pool of N
    /// connections, N streams open at once make every other read wait.
    pub async fn with_conn_streaming<T, E, F>(
        self: &Arc<Self>,
        cancel: Arc<AtomicBool>,
        f: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: ReadError,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let permit = self.permit().await?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let lease = pool.lease(&permit)?;
            let pooled = lease.pooled();
            pooled.limit.arm(false);
            let handler_cancel = cancel.clone();
            pooled.conn.progress_handler(
                STEPS_PER_CALL as i32,
                Some(move || handler_cancel.load(Ordering::Relaxed)),
            );
            // Back to the pool's own handler however `f` ends (it may run user code that panics).
            let restore = RestoreStepLimit(pooled);
            let result = if cancel.load(Ordering::Relaxed) {
                Ok(None)
            } else {
                pooled.run(&pool.schema, f).map(Some)
            };
            drop(restore);
            drop(lease);
            drop(permit);
            match result {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(PoolError::Cancelled.into()),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| PoolError::TaskFailed(e.to_string()))?
    }

    /// Takes an idle connection for as long as the returned lease lives (a permit guarantees one).
    fn lease<'a>(&'a self, _permit: &OwnedSemaphorePermit) -> Result<Lease<'a>, PoolError> {
        // A poisoned lock only means a reader panicked while holding it; the Vec is still fine.
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .ok_or(PoolError::Closed)?;
        Ok(Lease {
            pool: self,
            pooled: Some(pooled),
        })
    }

    /// How many reads exceeded the inline budget and ran on the blocking pool.
    pub fn reads_moved_to_blocking(&self) -> u64 {
        self.moved_to_blocking.load(Ordering::Relaxed)
    }

    /// Closes all connections (used at shutdown).
    pub fn close(&self) {
        self.permits.close();
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Installs the progress handler that enforces `limit` (see [`StepLimit`]) on `conn`.
fn install_step_limit(conn: &Connection, limit: &Arc<StepLimit>) {
    let handler_limit = limit.clone();
    conn.progress_handler(
        STEPS_PER_CALL as i32,
        Some(move || {
            if !handler_limit.enabled.load(Ordering::Relaxed) {
                return false;
            }
            let steps = handler_limit
                .steps
                .fetch_add(STEPS_PER_CALL, Ordering::Relaxed);
            let over = steps + STEPS_PER_CALL > INLINE_STEP_BUDGET;
            if over {
                handler_limit.tripped.store(true, Ordering::Relaxed);
            }
            over
        }),
    );
}

/// Puts the pool's step-limit handler back on a connection a streaming read replaced it on.
struct RestoreStepLimit<'a>(&'a PooledConnection);

impl Drop for RestoreStepLimit<'_> {
    fn drop(&mut self) {
        install_step_limit(&self.0.conn, &self.0.limit);
    }
}

impl PooledConnection {
    /// Runs the read `f`; a statement the guard refused fails with the guard's reason rather
    /// than SQLite's bare "not authorized".
    fn run<T, E: ReadError>(
        &self,
        schema: &SchemaGeneration,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let latest = schema.current();
        if self.schema_seen.load(Ordering::Relaxed) != latest
            && super::classify::refresh_schema(&self.conn).is_ok()
        {
            self.schema_seen.store(latest, Ordering::Relaxed);
        }
        self.refusals.clear();
        f(&self.conn).map_err(|e| match self.refusals.take() {
            Some(reason) => e.refused(reason),
            None => e,
        })
    }
}

/// Returns its connection to the pool when dropped, even if the read panicked (it may run user
/// row-mapping code).
struct Lease<'a> {
    pool: &'a ReadPool,
    pooled: Option<PooledConnection>,
}

impl Lease<'_> {
    fn pooled(&self) -> &PooledConnection {
        self.pooled.as_ref().expect("present until drop")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(pooled) = self.pooled.take() {
            pooled.limit.arm(false);
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(pooled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_with_rows(rows: i64) -> (tempfile::TempDir, Arc<ReadPool>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        conn.execute("INSERT INTO t SELECT value FROM generate_series(1, ?)", [rows])
            .or_else(|_| {
                conn.execute(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) INSERT INTO t SELECT x FROM c",
                    [rows],
                )
            })
            .unwrap();
        (
            dir,
            ReadPool::open(&path, 2, SchemaGeneration::default()).unwrap(),
        )
    }

    #[tokio::test]
    async fn short_and_long_reads_both_complete() {
        let (_dir, pool) = pool_with_rows(200_000);
        let one: i64 = pool
            .with_conn(|c| {
                Ok::<_, crate::Error>(
                    c.query_row("SELECT x FROM t WHERE rowid = 7", [], |r| r.get(0))?,
                )
            })
            .await
            .unwrap();
        assert_eq!(one, 7);
        assert_eq!(
            pool.reads_moved_to_blocking(),
            0,
            "a point read stays inline"
        );
        // Far over the inline budget: interrupted inline, completed on the blocking pool.
        let sum: i64 = pool
            .with_conn(|c| {
                Ok::<_, crate::Error>(c.query_row("SELECT sum(x) FROM t", [], |r| r.get(0))?)
            })
            .await
            .unwrap();
        assert_eq!(sum, 200_000 * 200_001 / 2);
        assert_eq!(
            pool.reads_moved_to_blocking(),
            1,
            "the long read moved to the blocking pool"
        );
        // The connections went back to the pool and still have their full budget reset.
        for _ in 0..4 {
            let n: i64 = pool
                .with_conn(|c| {
                    Ok::<_, crate::Error>(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
                })
                .await
                .unwrap();
            assert_eq!(n, 200_000);
        }
    }

    #[tokio::test]
    async fn sql_errors_are_reported_not_retried_forever() {
        let (_dir, pool) = pool_with_rows(10);
        let err = pool
            .with_conn(|c| {
                Ok::<_, crate::Error>(
                    c.query_row("SELECT nope FROM t", [], |r| r.get::<_, i64>(0))?,
                )
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no such column"), "{err}");
    }

    #[tokio::test]
    async fn reads_after_a_schema_change_use_the_new_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (a, b); CREATE VIEW v AS SELECT * FROM t;
                 INSERT INTO t VALUES (1, 2);",
            )
            .unwrap();
        let schema = SchemaGeneration::default();
        let pool = ReadPool::open(&path, 1, schema.clone()).unwrap();
        let index_names = |pool: &Arc<ReadPool>| {
            let pool = pool.clone();
            async move {
                pool.with_conn(|c| {
                    let mut stmt = c.prepare_cached("PRAGMA index_list(t)")?;
                    let names = stmt
                        .query_map([], |r| r.get::<_, String>(1))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok::<_, crate::Error>(names)
                })
                .await
                .unwrap()
            }
        };
        assert!(index_names(&pool).await.is_empty());
        let order_by_three = |pool: &Arc<ReadPool>| {
            let pool = pool.clone();
            async move {
                pool.with_conn(|c| {
                    Ok::<_, crate::Error>(c.query_row(
                        "SELECT * FROM v ORDER BY 1, 2, 3",
                        [],
                        |r| r.get::<_, i64>(2),
                    )?)
                })
                .await
            }
        };
        assert!(
            order_by_three(&pool).await.is_err(),
            "the view has two columns"
        );

        writer
            .execute_batch(
                "CREATE INDEX t_a ON t (a); ALTER TABLE t ADD COLUMN c DEFAULT 3;
                 DROP VIEW v; CREATE VIEW v AS SELECT * FROM t;",
            )
            .unwrap();
        schema.bump();
        assert_eq!(index_names(&pool).await, ["t_a"]);
        assert_eq!(order_by_three(&pool).await.unwrap(), 3);
    }
}
