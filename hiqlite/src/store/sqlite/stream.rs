//! The producing side of a streaming read: runs one statement on a read connection and hands its
//! rows on in batches, waiting while the consumer has not taken the previous ones, so a result of
//! any size needs memory for a few batches only.
//!
//! The whole read is one SQLite statement, and so one read transaction: every batch comes from
//! the same snapshot of the database, whatever the writer commits meanwhile.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::reader::{PoolError, ReadError, ReadPool};
use crate::types::value::Value;

/// A streaming read running on a connection of the read pool (see [`spawn`]): its batches, in
/// order. Dropping it ends the read: the producer stops at its next row or, in a long step,
/// within about a thousand SQLite VM steps, and the connection goes back to the pool.
pub struct Producer<R, E> {
    batches: mpsc::Receiver<Result<Batch<R>, E>>,
    cancel: Arc<AtomicBool>,
    finished: bool,
}

impl<R, E: From<PoolError>> Producer<R, E> {
    /// The next batch; `None` after the last one or an error. A producer that stopped without
    /// its last batch (its task panicked in user code) ends with an error, never silently.
    pub async fn next(&mut self) -> Option<Result<Batch<R>, E>> {
        if self.finished {
            return None;
        }
        let next = self.batches.recv().await;
        match &next {
            Some(Ok(batch)) if !batch.last => {}
            _ => self.finished = true,
        }
        Some(next.unwrap_or_else(|| {
            Err(PoolError::TaskFailed("the read stopped before its last row".into()).into())
        }))
    }
}

impl<R, E> Drop for Producer<R, E> {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// Starts the streaming read of `sql` with `params` on a connection of `pool` (waiting for one
/// while all are busy) and returns its consumer side. At most `in_flight` batches wait for the
/// consumer; with the one being filled and the one the consumer holds, the read holds at most
/// `in_flight + 2` batches of `limits` at any time. `map` runs on the producer's thread (see
/// [`produce`]). Must be called within a Tokio runtime.
pub fn spawn<R, E, M>(
    pool: &Arc<ReadPool>,
    sql: String,
    params: Vec<Value>,
    limits: BatchLimits,
    in_flight: usize,
    buffered: Arc<Buffered>,
    map: M,
) -> Producer<R, E>
where
    R: Send + 'static,
    E: ReadError + From<rusqlite::Error>,
    M: FnMut(&rusqlite::Row<'_>) -> Result<(R, usize), E> + Send + 'static,
{
    let (tx, batches) = mpsc::channel(in_flight.max(1));
    let cancel = Arc::new(AtomicBool::new(false));
    let pool = pool.clone();
    let producer_cancel = cancel.clone();
    tokio::spawn(async move {
        let failed = tx.clone();
        let result = pool
            .with_conn_streaming(producer_cancel, move |conn| {
                produce(conn, &sql, &params, limits, &buffered, map, |batch| {
                    tx.blocking_send(Ok(batch)).is_ok()
                })
            })
            .await;
        if let Err(e) = result {
            // Nobody may be listening any more (the consumer left, which interrupted the read).
            let _ = failed.send(Err(e)).await;
        }
    });
    Producer {
        batches,
        cancel,
        finished: false,
    }
}

/// How large one batch may grow: it is handed on when it has `rows` rows or, counted with
/// [`value_bytes`], `bytes` bytes, whichever comes first. A batch always holds at least one row
/// (a single row larger than `bytes` travels alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub rows: usize,
    pub bytes: usize,
}

/// Rows of one statement, in order.
#[derive(Debug)]
pub struct Batch<R> {
    /// The statement's column names, in the first batch only (empty in later ones).
    pub columns: Vec<String>,
    pub rows: Vec<R>,
    /// The statement has no more rows: this is the last batch.
    pub last: bool,
}

/// Rows read but not yet taken by the consumer, and the most there ever were: how the memory
/// bound of a stream is observed (tests, diagnostics).
#[derive(Debug, Default)]
pub struct Buffered {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Buffered {
    /// `n` more rows are held.
    pub fn add(&self, n: usize) {
        let now = self.now.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// `n` rows were handed on (to the caller, or onto the network).
    pub fn remove(&self, n: usize) {
        // Saturating: never wraps, even if a caller removes more than it added.
        let _ = self
            .now
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }

    /// Rows held now.
    pub fn now(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }

    /// The most rows held at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

/// Runs `sql` with `params` on `conn` and passes its rows, mapped by `map` (which returns the
/// row and its size in bytes for [`BatchLimits::bytes`]), to `send` in batches of at most
/// `limits`; `send` blocks while the consumer is behind and returns `false` when the consumer is
/// gone, which ends the read at once. Every row counts in `buffered` from the moment it is read.
///
/// Returns `Ok(())` after the last batch was sent (or the consumer left); an error of preparing,
/// stepping or mapping ends the read (the rows of the batch being filled are dropped, the
/// batches sent before stay valid).
pub fn produce<R, E>(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    limits: BatchLimits,
    buffered: &Arc<Buffered>,
    mut map: impl FnMut(&rusqlite::Row<'_>) -> Result<(R, usize), E>,
    mut send: impl FnMut(Batch<R>) -> bool,
) -> Result<(), E>
where
    E: From<rusqlite::Error>,
{
    let mut stmt = conn.prepare_cached(sql)?;
    let mut columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut batch = Vec::new();
    let mut bytes = 0;
    loop {
        let row = match rows.next() {
            Ok(row) => row,
            Err(e) => {
                buffered.remove(batch.len());
                return Err(e.into());
            }
        };
        let Some(row) = row else { break };
        let (mapped, size) = match map(row) {
            Ok(mapped) => mapped,
            Err(e) => {
                buffered.remove(batch.len());
                return Err(e);
            }
        };
        buffered.add(1);
        batch.push(mapped);
        bytes += size;
        if batch.len() >= limits.rows.max(1) || bytes >= limits.bytes {
            let full = Batch {
                columns: std::mem::take(&mut columns),
                rows: std::mem::take(&mut batch),
                last: false,
            };
            bytes = 0;
            let n = full.rows.len();
            if !send(full) {
                buffered.remove(n);
                return Ok(());
            }
        }
    }
    let n = batch.len();
    if !send(Batch {
        columns,
        rows: batch,
        last: true,
    }) {
        buffered.remove(n);
    }
    Ok(())
}

/// A row as values, and its size as counted for [`BatchLimits::bytes`]: the bytes of its text
/// and blobs plus 9 per value (a tag and a number).
pub fn row_values(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Vec<Value>, usize)> {
    let width = row.as_ref().column_count();
    let mut values = Vec::with_capacity(width);
    let mut bytes = 0;
    for i in 0..width {
        let value = Value::from_ref(row.get_ref(i)?);
        bytes += value_bytes(&value);
        values.push(value);
    }
    Ok((values, bytes))
}

/// The size of `value` as counted for [`BatchLimits::bytes`].
pub fn value_bytes(value: &Value) -> usize {
    9 + match value {
        Value::Text(t) => t.len(),
        Value::Blob(b) => b.len(),
        Value::Null | Value::Integer(_) | Value::Real(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(rows: i64) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER, s TEXT)")
            .unwrap();
        conn.execute(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1)
             INSERT INTO t SELECT x, printf('%0100d', x) FROM c WHERE x <= ?1",
            [rows],
        )
        .unwrap();
        conn
    }

    fn batches(conn: &Connection, limits: BatchLimits) -> Vec<Batch<Vec<Value>>> {
        let buffered = Arc::new(Buffered::default());
        let mut out = Vec::new();
        produce::<_, rusqlite::Error>(
            conn,
            "SELECT x, s FROM t ORDER BY x",
            &[],
            limits,
            &buffered,
            row_values,
            |b| {
                buffered.remove(b.rows.len());
                out.push(b);
                true
            },
        )
        .unwrap();
        assert_eq!(buffered.now(), 0);
        out
    }

    #[test]
    fn rows_come_in_order_in_bounded_batches() {
        let conn = db(1000);
        let out = batches(
            &conn,
            BatchLimits {
                rows: 300,
                bytes: usize::MAX,
            },
        );
        let sizes: Vec<usize> = out.iter().map(|b| b.rows.len()).collect();
        assert_eq!(sizes, [300, 300, 300, 100]);
        assert_eq!(out[0].columns, ["x", "s"]);
        assert!(out[1].columns.is_empty());
        assert!(out[3].last && !out[2].last);
        let xs: Vec<i64> = out
            .iter()
            .flat_map(|b| &b.rows)
            .map(|r| match r[0] {
                Value::Integer(x) => x,
                _ => panic!(),
            })
            .collect();
        assert_eq!(xs, (1..=1000).collect::<Vec<_>>());

        // By bytes: each row is 9 + 9 + 100 bytes.
        let out = batches(
            &conn,
            BatchLimits {
                rows: 10_000,
                bytes: 1180,
            },
        );
        assert!(out[..out.len() - 1].iter().all(|b| b.rows.len() == 10));
    }

    #[test]
    fn an_empty_result_is_one_last_batch_with_columns() {
        let conn = db(0);
        let out = batches(
            &conn,
            BatchLimits {
                rows: 10,
                bytes: 100,
            },
        );
        assert_eq!(out.len(), 1);
        assert!(out[0].last && out[0].rows.is_empty());
        assert_eq!(out[0].columns, ["x", "s"]);
    }

    #[test]
    fn a_departed_consumer_ends_the_read() {
        let conn = db(1000);
        let buffered = Arc::new(Buffered::default());
        let mut sent = 0;
        produce::<_, rusqlite::Error>(
            &conn,
            "SELECT x FROM t",
            &[],
            BatchLimits {
                rows: 10,
                bytes: usize::MAX,
            },
            &buffered,
            row_values,
            |_| {
                sent += 1;
                sent < 3
            },
        )
        .unwrap();
        assert_eq!(sent, 3);
        // Two batches were taken (and never handed back in this test); the refused one is not held.
        assert_eq!(buffered.now(), 20);
    }
}
