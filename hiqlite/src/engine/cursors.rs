//! Cursors of streaming reads served on the API port (format 3, `ApiRequest::OpenCursor`).
//!
//! A remote client pulls a large result chunk by chunk: the node runs the read on a connection of
//! its read pool (`store::sqlite::stream`), keeps one chunk ready ahead of the client, and waits
//! for the next `FetchCursor` before reading further. So a cursor holds at most three chunks
//! (one ready, one being filled, one being sent), whatever the size of the result.
//!
//! A cursor belongs to the connection that opened it (another connection cannot fetch it) and
//! ends with its last chunk, a `CloseCursor`, the end of its connection, or [`IDLE_TIMEOUT`]
//! without a fetch, whichever comes first. A connection may hold [`MAX_PER_CONNECTION`] cursors
//! at once. While it is open, a cursor holds one connection of the node's read pool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::error::Error;
use super::protocol::{CursorChunk, RemoteError};
use super::Engine;
use crate::store::sqlite::stream::{self, Batch, BatchLimits, Buffered, Producer};
use crate::types::value::Value;

/// Cursors one connection may have open at once.
pub const MAX_PER_CONNECTION: usize = 8;
/// A cursor not fetched for this long is closed (its client went away without closing it).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most rows a chunk holds, whatever the client asks for.
pub const MAX_CHUNK_ROWS: u32 = 10_000;
/// Chunks the node reads ahead of the client.
const READ_AHEAD: usize = 1;

type Key = (u64, u64);

/// The open cursors of one node.
pub(crate) struct Cursors {
    open: Mutex<HashMap<Key, Arc<Entry>>>,
    next_id: AtomicU64,
    /// Rows read by the node's cursors and not yet sent, all cursors together.
    buffered: Arc<Buffered>,
    sweeping: AtomicBool,
    /// A chunk's bytes stay under a quarter of the largest frame.
    max_chunk_bytes: usize,
}

struct Entry {
    producer: tokio::sync::Mutex<Producer<Vec<Value>, Error>>,
    last_used: Mutex<Instant>,
}

/// What [`Cursors::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorStats {
    /// Cursors open now.
    pub open: usize,
    /// Rows the node's cursors hold now (read, not yet sent).
    pub buffered_rows: usize,
    /// The most rows the node's cursors held at once since it started.
    pub peak_buffered_rows: usize,
}

impl Cursors {
    pub(crate) fn new(max_frame_bytes: usize) -> Arc<Cursors> {
        Arc::new(Cursors {
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            buffered: Arc::default(),
            sweeping: AtomicBool::new(false),
            max_chunk_bytes: (max_frame_bytes / 4).max(1),
        })
    }

    fn open_map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Entry>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the read (linearizable with `consistent`) for `connection` and answers its first
    /// chunk; the cursor stays open when more rows follow.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open(
        self: &Arc<Self>,
        node: &Engine,
        connection: u64,
        sql: String,
        params: Vec<Value>,
        consistent: bool,
        max_rows: u32,
        max_bytes: u32,
    ) -> Result<CursorChunk, RemoteError> {
        self.check_room(connection)?;
        if consistent {
            node.linearize().await.map_err(super::api::to_remote)?;
        }
        let limits = BatchLimits {
            rows: max_rows.clamp(1, MAX_CHUNK_ROWS) as usize,
            bytes: (max_bytes.max(1) as usize).min(self.max_chunk_bytes),
        };
        let mut producer = stream::spawn(
            &node.reads,
            sql,
            params,
            limits,
            READ_AHEAD,
            self.buffered.clone(),
            |row| stream::row_values(row).map_err(Error::from),
        );
        let first = self.next_chunk(&mut producer, 0).await?;
        if first.done {
            return Ok(first);
        }
        // Checked again: other cursors of the connection may have opened meanwhile.
        self.check_room(connection)?;
        let cursor = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            producer: tokio::sync::Mutex::new(producer),
            last_used: Mutex::new(Instant::now()),
        });
        self.open_map().insert((connection, cursor), entry);
        self.start_sweeping();
        Ok(CursorChunk { cursor, ..first })
    }

    /// The next chunk of `cursor`, which `connection` opened.
    pub(crate) async fn fetch(
        &self,
        connection: u64,
        cursor: u64,
    ) -> Result<CursorChunk, RemoteError> {
        let entry = self.open_map().get(&(connection, cursor)).cloned();
        let Some(entry) = entry else {
            return Err(RemoteError::Other(format!(
                "no open cursor {cursor} on this connection: it ended, or was closed after {} s \
                 without a fetch",
                IDLE_TIMEOUT.as_secs()
            )));
        };
        let mut producer = entry.producer.lock().await;
        let chunk = self.next_chunk(&mut producer, cursor).await;
        *entry.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        if !matches!(chunk, Ok(CursorChunk { done: false, .. })) {
            self.open_map().remove(&(connection, cursor));
        }
        chunk
    }

    /// Closes `cursor` of `connection` (nothing happens if it is not open): its read stops and
    /// its read connection goes back to the pool.
    pub(crate) fn close(&self, connection: u64, cursor: u64) -> CursorChunk {
        self.open_map().remove(&(connection, cursor));
        CursorChunk {
            cursor,
            columns: Vec::new(),
            rows: Vec::new(),
            done: true,
        }
    }

    /// Closes every cursor of a connection that ended.
    pub(crate) fn connection_closed(&self, connection: u64) {
        self.open_map().retain(|(c, _), _| *c != connection);
    }

    pub(crate) fn stats(&self) -> CursorStats {
        CursorStats {
            open: self.open_map().len(),
            buffered_rows: self.buffered.now(),
            peak_buffered_rows: self.buffered.peak(),
        }
    }

    fn check_room(&self, connection: u64) -> Result<(), RemoteError> {
        let open = self
            .open_map()
            .keys()
            .filter(|(c, _)| *c == connection)
            .count();
        if open >= MAX_PER_CONNECTION {
            return Err(RemoteError::Other(format!(
                "this connection has {open} streaming reads open, the most a connection may \
                 have: finish or drop one first"
            )));
        }
        Ok(())
    }

    /// The producer's next batch as a chunk of `cursor`; its rows no longer count as held once
    /// they are handed to the network.
    async fn next_chunk(
        &self,
        producer: &mut Producer<Vec<Value>, Error>,
        cursor: u64,
    ) -> Result<CursorChunk, RemoteError> {
        match producer.next().await {
            Some(Ok(Batch {
                columns,
                rows,
                last,
            })) => {
                self.buffered.remove(rows.len());
                Ok(CursorChunk {
                    cursor,
                    columns,
                    rows,
                    done: last,
                })
            }
            Some(Err(e)) => Err(super::api::to_remote(e)),
            None => Ok(CursorChunk {
                cursor,
                columns: Vec::new(),
                rows: Vec::new(),
                done: true,
            }),
        }
    }

    /// Starts the task that closes idle cursors, once; it ends with the node's engine.
    fn start_sweeping(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let cursors: Weak<Cursors> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(IDLE_TIMEOUT / 6);
            loop {
                ticks.tick().await;
                let Some(cursors) = cursors.upgrade() else {
                    return;
                };
                cursors.close_idle(Instant::now());
            }
        });
    }

    /// Closes the cursors not fetched since `IDLE_TIMEOUT` before `now` (one being fetched is in
    /// use, whatever its age).
    fn close_idle(&self, now: Instant) {
        self.open_map().retain(|_, entry| {
            let last = *entry.last_used.lock().unwrap_or_else(|p| p.into_inner());
            now.duration_since(last) < IDLE_TIMEOUT || entry.producer.try_lock().is_err()
        });
    }
}
