//! Streaming reads: [`Client::query_stream`] and [`Client::query_consistent_stream`] return the
//! rows of a read one at a time as a [`RowStream`], holding a few batches in memory whatever the
//! size of the result.
//!
//! - Embedded node: the read runs on a connection of the node's read pool, in a blocking thread,
//!   and hands rows on in batches of [`LOCAL_BATCH_ROWS`] through a channel of one batch.
//! - Remote client: the node keeps a cursor (`engine::cursors`) and the stream pulls chunks of
//!   at most [`REMOTE_CHUNK_ROWS`] rows and about [`REMOTE_CHUNK_BYTES`] bytes, one at a time,
//!   over the connection that opened it. A node of an older release (format 2 or older on the
//!   connection) has no cursors: the stream then reads the whole result in one request and hands
//!   it out row by row: the same rows, but memory is not bounded.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{self, BoxStream, Stream, StreamExt};

use super::{remote_error, unexpected, Backend, Client, FromRow, Row};
use crate::engine::error::Error;
use crate::engine::protocol::{ApiRequest, ApiResponse, CursorChunk, RemoteError};
use crate::engine::Engine;
use crate::net::RpcClient;
use crate::store::sqlite::stream::{self as producer, BatchLimits, Buffered, Producer};
use crate::types::command::Rows;
use crate::types::format::Feature;
use crate::types::params::IntoParams;
use crate::types::value::{Params, Value};

/// Rows per batch of a stream on an embedded node.
pub const LOCAL_BATCH_ROWS: usize = 256;
/// Rows per chunk a remote stream asks the node for.
pub const REMOTE_CHUNK_ROWS: u32 = 1_000;
/// Bytes per chunk a remote stream asks the node for (text and blobs, plus 9 per value; a row
/// larger than this travels alone). Lowered to a quarter of the client's or the node's
/// `max_frame_bytes` when that is smaller.
pub const REMOTE_CHUNK_BYTES: u32 = 1 << 20;

/// The rows of a streaming read, mapped to `T`, in order: a [`Stream`] of `Result<T, Error>`.
///
/// An error ends the stream (it is the last item). Dropping the stream early stops the read and
/// frees what it holds: the read connection on an embedded node, the cursor on a remote node.
///
/// ```no_run
/// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
/// use futures::TryStreamExt;
/// let mut users = client.query_stream::<(i64, String)>("SELECT id, name FROM users", hiqlite::params!());
/// while let Some((id, name)) = users.try_next().await? {
///     println!("{id}: {name}");
/// }
/// # Ok(()) }
/// ```
#[must_use = "a stream does nothing until it is polled"]
pub struct RowStream<T> {
    rows: BoxStream<'static, Result<T, Error>>,
    buffered: Arc<Buffered>,
}

impl<T> RowStream<T> {
    /// The most rows this stream held at once on this side: read (embedded node) or received
    /// (remote client) and not yet yielded. On an embedded node at most three batches of
    /// [`LOCAL_BATCH_ROWS`]; on a remote client one chunk (the whole result after a fallback to
    /// a node of an older release).
    pub fn peak_buffered_rows(&self) -> usize {
        self.buffered.peak()
    }
}

impl<T> Stream for RowStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.rows.poll_next_unpin(cx);
        if let Poll::Ready(Some(_)) = polled {
            self.buffered.remove(1);
        }
        polled
    }
}

impl<T> std::fmt::Debug for RowStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("buffered_rows", &self.buffered.now())
            .finish_non_exhaustive()
    }
}

/// Maps one row; shared by the producer thread (embedded node) or the stream (remote).
pub(crate) type MapRow<T> = Arc<dyn Fn(&Row<'_>) -> Result<T, Error> + Send + Sync>;

impl Client {
    /// Streaming local read: runs `sql` on the contacted node's own database, like
    /// [`query_map`](Self::query_map), and yields its rows one by one instead of collecting
    /// them, so a result of any size fits in a few batches of memory.
    ///
    /// - **Guarantee**: as for local reads, the rows include every write made through the same
    ///   node before the call; another node's newest writes may be missing.
    /// - **Snapshot**: the read is one SQLite statement, so one read transaction: every row
    ///   comes from the database as it was when the first row was read; writes applied while the
    ///   stream is open are not seen (and are not blocked).
    /// - **Memory**: embedded node: at most three batches of [`LOCAL_BATCH_ROWS`] rows; remote
    ///   client: one chunk of at most [`REMOTE_CHUNK_ROWS`] rows / [`REMOTE_CHUNK_BYTES`] bytes
    ///   here, and at most three on the node. From a node of an older release (format 2), the
    ///   whole result is read at once: same rows, memory not bounded.
    /// - **Cost while open**: the stream holds one connection of the node's read pool
    ///   (`read_pool_size`), and SQLite cannot checkpoint the write-ahead log past its snapshot,
    ///   so the log grows while a stream stays open for long. Drop the stream (or read it to
    ///   the end) to free both; dropping it stops the read.
    /// - **Remote**: the stream stays on the node that answered its first chunk; if that
    ///   connection breaks, the stream ends with [`Error::Network`] (rows already yielded were
    ///   correct; read again to resume). The node closes a cursor not fetched for 30 s, so a
    ///   consumer that pauses longer gets an error at its next row. A connection may have 8
    ///   streams open at once.
    ///
    /// Errors, as the stream's last item: [`Error::Params`] for named parameters that do not
    /// fit, [`Error::Sql`] for SQL that fails (also mid-stream), [`Error::Conversion`] when a
    /// row does not map to `T`, [`Error::ShuttingDown`], [`Error::Network`].
    pub fn query_stream<T: FromRow + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> RowStream<T> {
        self.stream_with(sql.into(), params, false, Arc::new(T::from_row))
    }

    /// Streaming linearizable read: like [`query_stream`](Self::query_stream), but the rows
    /// include every write that completed anywhere in the cluster before the call (a round trip
    /// to the leader, as for [`query_consistent_map`](Self::query_consistent_map)), all from one
    /// snapshot taken after that. Writes that complete while the stream is open are not seen.
    pub fn query_consistent_stream<T: FromRow + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> RowStream<T> {
        self.stream_with(sql.into(), params, true, Arc::new(T::from_row))
    }

    /// Statistics of the streaming reads remote clients have open on this embedded node
    /// (`None` for a remote client). For tests and diagnostics.
    #[doc(hidden)]
    pub fn __cursor_stats(&self) -> Option<crate::engine::cursors::CursorStats> {
        match &self.inner.backend {
            Backend::Local(node, _) => Some(node.cursors.stats()),
            Backend::Remote(_) => None,
        }
    }

    pub(crate) fn stream_with<T: Send + 'static>(
        &self,
        sql: String,
        params: impl IntoParams,
        consistent: bool,
        map: MapRow<T>,
    ) -> RowStream<T> {
        let buffered = Arc::new(Buffered::default());
        let params = params.into_params(&sql).map_err(Error::from);
        let client = self.clone();
        let counter = buffered.clone();
        let open = async move {
            let params = params?;
            match &client.inner.backend {
                Backend::Local(node, _) => {
                    if consistent {
                        node.linearize().await?;
                    }
                    Ok(Source::Local(open_local(node, sql, params, counter, map)))
                }
                Backend::Remote(_) => open_remote(&client, sql, params, consistent, counter, map)
                    .await
                    .map(Source::Remote),
            }
        };
        let rows = stream::once(open)
            .flat_map(|opened| match opened {
                Ok(source) => stream::unfold(source, Source::next_batch).left_stream(),
                Err(e) => stream::iter([Err(e)]).right_stream(),
            })
            .flat_map(|batch| match batch {
                Ok(rows) => stream::iter(rows.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            })
            .boxed();
        RowStream { rows, buffered }
    }
}

/// Starts a streaming read on the embedded node's read pool; rows are mapped on its thread.
fn open_local<T: Send + 'static>(
    node: &Arc<Engine>,
    sql: String,
    params: Params,
    buffered: Arc<Buffered>,
    map: MapRow<T>,
) -> Producer<T, Error> {
    let limits = BatchLimits {
        rows: LOCAL_BATCH_ROWS,
        bytes: usize::MAX,
    };
    producer::spawn(&node.reads, sql, params, limits, 1, buffered, move |row| {
        map(&Row::sqlite(row)).map(|t| (t, 0))
    })
}

/// Where a stream's batches come from.
enum Source<T> {
    Local(Producer<T, Error>),
    Remote(RemoteRows<T>),
    /// The stream ended (after an error, or its last batch).
    Done,
}

impl<T: Send + 'static> Source<T> {
    /// The next batch of mapped rows, and the source to read the one after from.
    async fn next_batch(mut self) -> Option<(Result<Vec<T>, Error>, Source<T>)> {
        let next = match &mut self {
            Source::Local(producer) => producer.next().await.map(|b| b.map(|b| b.rows)),
            Source::Remote(remote) => remote.next().await,
            Source::Done => None,
        };
        match next {
            Some(Ok(rows)) => Some((Ok(rows), self)),
            Some(Err(e)) => Some((Err(e), Source::Done)),
            None => None,
        }
    }
}

/// A remote stream: a cursor on the node that answered (format 3), or the whole result of a
/// one-shot read from a node of an older release.
struct RemoteRows<T> {
    columns: Vec<String>,
    /// Rows received and not yet mapped (the current chunk, or a one-shot result).
    pending: std::vec::IntoIter<Vec<Value>>,
    cursor: Option<OpenCursor>,
    buffered: Arc<Buffered>,
    map: MapRow<T>,
}

/// A cursor still open on a node: fetched over the connection that opened it, closed when the
/// stream is dropped before its end.
struct OpenCursor {
    rpc: RpcClient,
    id: u64,
    timeout: Duration,
    /// The node sent the last chunk and closed the cursor itself.
    finished: bool,
}

impl Drop for OpenCursor {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Best effort: the node also closes it with the connection or after its idle timeout.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (rpc, cursor, timeout) = (self.rpc.clone(), self.id, self.timeout);
            runtime.spawn(async move {
                let close = ApiRequest::CloseCursor { cursor };
                let _ = rpc.call::<_, ApiResponse>(&close, timeout).await;
            });
        }
    }
}

impl<T> RemoteRows<T> {
    /// The next batch: the rest of the current chunk (one-shot results in batches of
    /// [`LOCAL_BATCH_ROWS`]), then the next chunk from the cursor.
    async fn next(&mut self) -> Option<Result<Vec<T>, Error>> {
        if self.pending.len() == 0 {
            let cursor = self.cursor.as_ref()?;
            let request = ApiRequest::FetchCursor { cursor: cursor.id };
            let chunk = match cursor.rpc.call(&request, cursor.timeout).await {
                Ok(ApiResponse::Cursor(Ok(chunk))) => chunk,
                Ok(ApiResponse::Cursor(Err(e))) => return Some(Err(self.fail(fetch_error(e)))),
                Ok(other) => return Some(Err(self.fail(unexpected(other)))),
                Err(e) => {
                    let e = Error::Network(format!(
                        "the stream's connection to {} failed: {e}; rows already read are \
                         valid, read again for the rest",
                        cursor.rpc.addr()
                    ));
                    return Some(Err(self.fail(e)));
                }
            };
            self.take(chunk);
            if self.pending.len() == 0 {
                return None;
            }
        }
        let n = self.pending.len().min(LOCAL_BATCH_ROWS);
        let columns = &self.columns;
        let rows: Result<Vec<T>, Error> = self
            .pending
            .by_ref()
            .take(n)
            .map(|values| (self.map)(&Row::owned(columns, &values)))
            .collect();
        Some(rows.map_err(|e| self.fail(e)))
    }

    /// Takes a chunk's rows; its end closes the cursor.
    fn take(&mut self, chunk: CursorChunk) {
        if !chunk.columns.is_empty() {
            self.columns = chunk.columns;
        }
        self.buffered.add(chunk.rows.len());
        self.pending = chunk.rows.into_iter();
        if chunk.done {
            if let Some(mut cursor) = self.cursor.take() {
                // Closed by the node with its last chunk: nothing to close.
                cursor.finished = true;
            }
        }
    }

    /// Ends the stream with `e`: the cursor is closed and nothing more is read.
    fn fail(&mut self, e: Error) -> Error {
        self.pending = Vec::new().into_iter();
        self.cursor = None;
        e
    }
}

/// A mid-stream error of the node: SQL errors keep their kind; a cursor the node no longer has is
/// a network-level failure of the stream, not of Raft.
fn fetch_error(e: RemoteError) -> Error {
    match e {
        RemoteError::Other(m) => Error::Network(format!("the node ended the stream: {m}")),
        e => remote_error(e),
    }
}

/// Opens a remote stream: a cursor on a node whose connection speaks format 3, else a one-shot
/// read of the whole result.
async fn open_remote<T>(
    client: &Client,
    sql: String,
    params: Params,
    consistent: bool,
    buffered: Arc<Buffered>,
    map: MapRow<T>,
) -> Result<RemoteRows<T>, Error> {
    let Backend::Remote(remote) = &client.inner.backend else {
        unreachable!("only called for a remote client");
    };
    let quarter_frame = u32::try_from(remote.max_frame_bytes() / 4).unwrap_or(u32::MAX);
    let max_bytes = REMOTE_CHUNK_BYTES.min(quarter_frame);
    let build = |format| {
        if Feature::StreamingReads.enabled_at(format) {
            ApiRequest::OpenCursor {
                sql: sql.clone(),
                params: params.clone(),
                consistent,
                max_rows: REMOTE_CHUNK_ROWS,
                max_bytes,
            }
        } else {
            ApiRequest::Query {
                sql: sql.clone(),
                params: params.clone(),
                consistent,
            }
        }
    };
    let (response, rpc) = remote.call_fitted(&build).await?;
    let mut rows = RemoteRows {
        columns: Vec::new(),
        pending: Vec::new().into_iter(),
        cursor: None,
        buffered,
        map,
    };
    match response {
        ApiResponse::Cursor(Ok(chunk)) => {
            if !chunk.done {
                rows.cursor = Some(OpenCursor {
                    rpc,
                    id: chunk.cursor,
                    timeout: remote.request_timeout,
                    finished: false,
                });
            }
            rows.take(chunk);
        }
        ApiResponse::Rows(Ok(Rows { columns, rows: all })) => {
            rows.take(CursorChunk {
                cursor: 0,
                columns,
                rows: all,
                done: true,
            });
        }
        ApiResponse::Cursor(Err(e)) | ApiResponse::Rows(Err(e)) => return Err(remote_error(e)),
        other => return Err(unexpected(other)),
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::TryStreamExt;
    use tokio::net::TcpListener;
    use tokio::sync::watch;

    use super::*;
    use crate::config::Secret;
    use crate::net::serve_api_speaking;
    use crate::net::Service;
    use crate::types::format::FormatRange;

    const SECRET: &str = "api-secret-of-an-old-node";

    /// Plays a node of a release that speaks formats 1..=2: it answers one-shot reads only.
    #[derive(Default)]
    struct OldNode {
        requests: Mutex<Vec<String>>,
    }

    impl Service for OldNode {
        type Request = ApiRequest;
        type Response = ApiResponse;

        async fn handle(&self, req: ApiRequest) -> ApiResponse {
            let kind = format!("{req:?}");
            let kind = kind.split([' ', '{', '(']).next().unwrap_or("").to_string();
            self.requests.lock().unwrap().push(kind);
            match req {
                ApiRequest::Query { .. } => ApiResponse::Rows(Ok(Rows {
                    columns: vec!["x".into()],
                    rows: (1..=2_500).map(|x| vec![Value::Integer(x)]).collect(),
                })),
                _ => ApiResponse::Rows(Err(RemoteError::Other("unknown request".into()))),
            }
        }
    }

    #[tokio::test]
    async fn a_node_of_format_2_is_read_in_one_go() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let node = Arc::new(OldNode::default());
        let (stop, shutdown) = watch::channel(false);
        let old = FormatRange {
            oldest: 1,
            newest: 2,
        };
        let server = tokio::spawn(serve_api_speaking(
            listener,
            Secret::new(SECRET),
            old,
            node.clone(),
            shutdown,
        ));

        let client = Client::remote(vec![addr], SECRET);
        let stream = client.query_stream::<(i64,)>("SELECT x FROM t", crate::params!());
        let mut rows = Vec::new();
        let mut stream = stream;
        while let Some((x,)) = stream.try_next().await.unwrap() {
            rows.push(x);
        }
        assert_eq!(rows, (1..=2_500).collect::<Vec<_>>());
        assert_eq!(
            *node.requests.lock().unwrap(),
            ["Query"],
            "no cursor request reaches a node that could not decode it"
        );
        assert_eq!(
            stream.peak_buffered_rows(),
            2_500,
            "the whole result, as documented"
        );
        stop.send(true).unwrap();
        server.await.unwrap();
    }
}
