//! The client API: one [`Client`] type, whether the node runs in this process
//! ([`start_node`](crate::start_node)) or the cluster is reached over the network
//! ([`Client::remote`]).
//!
//! Guarantees, for every method below:
//! - writes (`execute`, `execute_returning`, `txn`, `batch`) are linearizable and durable: they
//!   return after the entry is fsynced on a majority and applied; a retried write applies once;
//!   a write whose outcome the caller does not know can be repeated safely under a
//!   [`WriteKey`](crate::WriteKey) ([`Client::with_key`]);
//! - local reads (`query_*`) read the contacted node's own database: fast, and they see every write
//!   made through the same node, but another node's newest writes may not be there yet;
//! - consistent reads (`query_consistent_*`) are linearizable from any node.
//!
//! Every method that takes `params` accepts positional values (`hiqlite::params!`) or named
//! values (`hiqlite::named_params! { ":id" => 1 }`, see [`NamedParams`]); named values that do
//! not fit the statement fail with [`Error::Params`] before anything is sent. Streaming reads
//! (`query_stream`, `query_consistent_stream`) are in [`stream`].

mod backup;
mod cache;
mod cache_batch;
mod events;
mod keyed;
pub mod lock;
mod migrate;
pub mod remote;
mod restore;
pub mod row;
pub mod stream;
pub mod txn;
mod write;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

pub use self::cache::Cache;
pub use self::keyed::KeyedWrite;
pub use self::lock::LockGuard;
use self::remote::RemoteNodes;
pub use self::remote::RemoteOptions;
pub use self::row::{FromRow, Row};
pub use self::stream::RowStream;
pub use crate::engine::membership::{Members, MembershipChange, MembershipError};
use crate::engine::protocol::{ApiRequest, ApiResponse, RemoteError, WriteReply};
pub use crate::engine::protocol::{NodeStatus, SqlOutput};
use crate::engine::Engine;
// The node's engine moved out of `client/`; these paths stay for users.
pub use self::txn::{StatementRef, Txn};
use crate::config::Secret;
use crate::engine::error::Error;
pub use crate::engine::{membership, protocol};
use crate::types::command::{RequestId, Rows, SqlError, StatementOutput, WriteOp, WriteOutput};
pub use crate::types::params::{IntoParams, IntoTxnParams, NamedParams, ParamsError};
use crate::types::value::Params;

/// Rows affected and last inserted rowid of an `execute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteResult {
    pub rows_affected: u64,
    pub last_insert_rowid: i64,
}

/// A handle to a Hiqlite cluster. Cheap to clone; clones share connections and request ids.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    /// Random per client: with `next_seq`, makes every write's request id unique.
    client_id: u64,
    next_seq: AtomicU64,
    /// Sequence numbers of writes still waiting for their answer; the smallest tells the state
    /// machine which results it may forget.
    pending: Mutex<BTreeSet<u64>>,
    /// Gathers concurrent cache writes into shared entries; started by the first one.
    cache_batcher: std::sync::OnceLock<cache_batch::CacheBatcher>,
}

/// Removes a request from the pending set when its call ends, however it ends.
struct Pending<'a> {
    inner: &'a Inner,
    seq: u64,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.seq);
    }
}

/// A random `u64` from the OS (client ids, lock holders). Without OS randomness, wall-clock
/// nanoseconds and the pid: they still differ between clients and processes.
pub(crate) fn random_id() -> u64 {
    let mut id = [0u8; 8];
    if getrandom::getrandom(&mut id).is_ok() {
        return u64::from_le_bytes(id);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

enum Backend {
    Local(Arc<Engine>, crate::engine::lifecycle::NodeHandle),
    Remote(RemoteNodes),
}

impl Client {
    pub(crate) fn local(node: Arc<Engine>, handle: crate::engine::lifecycle::NodeHandle) -> Client {
        Client::new(Backend::Local(node, handle))
    }

    /// A client that reaches the cluster over the network through the nodes' API ports
    /// (`host:port`, any subset of the members). It offers the same API; reads run on the node
    /// it is connected to.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), hiqlite::Error> {
    /// let client = hiqlite::Client::remote(vec!["127.0.0.1:8201".into()], "a-secret-of-16+-chars");
    /// let n: Vec<(i64,)> = client.query_map("SELECT count(*) FROM users", hiqlite::params!()).await?;
    /// # Ok(()) }
    /// ```
    pub fn remote(api_addrs: Vec<String>, secret_api: impl Into<String>) -> Client {
        Client::remote_with(api_addrs, secret_api, RemoteOptions::default())
    }

    /// [`remote`](Self::remote) with explicit options, e.g. to fail at once when no node can be
    /// reached instead of retrying (what the `hiqlite` command line does).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), hiqlite::Error> {
    /// use hiqlite::client::RemoteOptions;
    /// let options = RemoteOptions { retry_unreachable: false, ..RemoteOptions::default() };
    /// let client = hiqlite::Client::remote_with(vec!["127.0.0.1:8201".into()], "a-secret-of-16+-chars", options);
    /// let status = client.status().await?;
    /// # Ok(()) }
    /// ```
    pub fn remote_with(
        api_addrs: Vec<String>,
        secret_api: impl Into<String>,
        options: RemoteOptions,
    ) -> Client {
        Client::new(Backend::Remote(RemoteNodes::new(
            api_addrs,
            Secret::new(secret_api),
            options,
        )))
    }

    fn new(backend: Backend) -> Client {
        Client {
            inner: Arc::new(Inner {
                backend,
                client_id: random_id(),
                next_seq: AtomicU64::new(1),
                pending: Mutex::new(BTreeSet::new()),
                cache_batcher: std::sync::OnceLock::new(),
            }),
        }
    }

    /// A fresh request id, registered as pending until the returned guard is dropped.
    fn next_request_id(&self) -> (RequestId, Pending<'_>) {
        let seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.insert(seq);
        let answered_below = pending.first().copied().unwrap_or(seq);
        let id = RequestId {
            client: self.inner.client_id,
            seq,
            answered_below,
        };
        (
            id,
            Pending {
                inner: &self.inner,
                seq,
            },
        )
    }

    /// Replicates one write; returns its output or the statement's (deterministic) SQL error.
    pub(crate) async fn write(&self, op: WriteOp) -> Result<WriteOutput, Error> {
        let (id, _pending) = self.next_request_id();
        self.write_as(id, op).await
    }

    /// [`write`](Self::write) under a request id the caller chose (a write key's).
    async fn write_as(&self, id: RequestId, op: WriteOp) -> Result<WriteOutput, Error> {
        let reply: WriteReply = match &self.inner.backend {
            Backend::Local(node, _) => node.write(id, op).await?,
            Backend::Remote(remote) => {
                let req = ApiRequest::Write {
                    id,
                    op,
                    forwarded: false,
                };
                match remote.call(&req).await? {
                    ApiResponse::Write(r) => r.map_err(remote_error)?,
                    other => return Err(unexpected(other)),
                }
            }
        };
        reply.result.map_err(Error::Sql)
    }

    /// Runs one statement through Raft.
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// let res = client.execute("INSERT INTO users (name) VALUES (?)", hiqlite::params!("alice")).await?;
    /// println!("new id {}", res.last_insert_rowid);
    /// # Ok(()) }
    /// ```
    pub async fn execute(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<ExecuteResult, Error> {
        self.execute_under(write::WriteId::Fresh, sql, params).await
    }

    /// Runs one `INSERT/UPDATE/DELETE ... RETURNING` through Raft and maps the returned rows.
    pub async fn execute_returning<T: FromRow>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Vec<T>, Error> {
        let rows = self.execute_returning_rows(sql, params).await?;
        row::map_rows(&rows, T::from_row)
    }

    /// Like [`execute_returning`](Self::execute_returning), returning the raw rows.
    pub async fn execute_returning_rows(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Rows, Error> {
        self.execute_returning_rows_under(write::WriteId::Fresh, sql, params)
            .await
    }

    /// Runs all statements of `txn` atomically (one Raft entry, one SQLite transaction). Returns
    /// one output per statement; if any statement fails or a guard does not hold, nothing is
    /// applied and the error names the statement.
    pub async fn txn(&self, txn: Txn) -> Result<Vec<StatementOutput>, Error> {
        self.txn_under(write::WriteId::Fresh, txn).await
    }

    /// Runs a string of `;`-separated statements atomically through Raft, e.g. a schema.
    /// Batches take **no parameters**: never build one from user input. Returns the number of
    /// statements run.
    pub async fn batch(&self, sql: impl Into<String>) -> Result<usize, Error> {
        self.batch_under(write::WriteId::Fresh, sql).await
    }

    /// Local read: runs `sql` on the contacted node's own database (no network for an embedded
    /// node) and maps each row with [`FromRow`]. Sees every write made through the same node.
    pub async fn query_map<T: FromRow + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Vec<T>, Error> {
        let (sql, params) = resolve(sql, params)?;
        self.query_with(sql, params, false, T::from_row).await
    }

    /// Local read that expects exactly one row ([`Error::NoRows`] otherwise).
    pub async fn query_map_one<T: FromRow + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<T, Error> {
        one(self.query_map(sql, params).await?)
    }

    /// Local read that expects at most one row.
    pub async fn query_map_optional<T: FromRow + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Option<T>, Error> {
        Ok(self.query_map(sql, params).await?.into_iter().next())
    }

    /// Local read; each row is deserialized with serde from a map of column name to value.
    pub async fn query_as<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Vec<T>, Error> {
        let (sql, params) = resolve(sql, params)?;
        self.query_with(sql, params, false, |r| r.deserialize())
            .await
    }

    /// [`query_as`](Self::query_as) expecting exactly one row.
    pub async fn query_as_one<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<T, Error> {
        one(self.query_as(sql, params).await?)
    }

    /// [`query_as`](Self::query_as) expecting at most one row.
    pub async fn query_as_optional<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Option<T>, Error> {
        Ok(self.query_as(sql, params).await?.into_iter().next())
    }

    /// Local read returning raw rows with their column names.
    pub async fn query_rows(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Rows, Error> {
        let (sql, params) = resolve(sql, params)?;
        self.rows(sql, params, false).await
    }

    /// Linearizable read from any node: it sees every write that completed before it was called,
    /// whichever node took that write. Costs a round trip to the leader (ReadIndex), then reads
    /// locally once this node has applied that far.
    pub async fn query_consistent_map<T: FromRow + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Vec<T>, Error> {
        let (sql, params) = resolve(sql, params)?;
        self.query_with(sql, params, true, T::from_row).await
    }

    /// [`query_consistent_map`](Self::query_consistent_map) expecting exactly one row.
    pub async fn query_consistent_one<T: FromRow + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<T, Error> {
        one(self.query_consistent_map(sql, params).await?)
    }

    /// [`query_consistent_map`](Self::query_consistent_map) expecting at most one row.
    pub async fn query_consistent_optional<T: FromRow + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Option<T>, Error> {
        Ok(self
            .query_consistent_map(sql, params)
            .await?
            .into_iter()
            .next())
    }

    /// Linearizable read deserialized with serde (see [`query_as`](Self::query_as)).
    pub async fn query_consistent_as<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Vec<T>, Error> {
        let (sql, params) = resolve(sql, params)?;
        self.query_with(sql, params, true, |r| r.deserialize())
            .await
    }

    /// Linearizable read returning raw rows.
    pub async fn query_consistent_rows(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Rows, Error> {
        let (sql, params) = resolve(sql, params)?;
        self.rows(sql, params, true).await
    }

    /// A read (linearized first when `consistent`) whose rows are mapped with `map`; the typed
    /// API's `Query` passes its row reader here.
    pub(crate) async fn query_with<T, F>(
        &self,
        sql: String,
        params: Params,
        consistent: bool,
        map: F,
    ) -> Result<Vec<T>, Error>
    where
        T: Send + 'static,
        F: Fn(&Row<'_>) -> Result<T, Error> + Send + 'static,
    {
        match &self.inner.backend {
            Backend::Local(node, _) => {
                if consistent {
                    node.linearize().await?;
                }
                let started = std::time::Instant::now();
                let result = node
                    .reads
                    .with_conn(move |conn| {
                        let mut stmt = conn.prepare_cached(&sql)?;
                        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                        let mut out = Vec::new();
                        while let Some(r) = rows.next()? {
                            out.push(map(&Row::sqlite(r))?);
                        }
                        Ok(out)
                    })
                    .await;
                node.metrics.read_done(started, result.is_ok());
                if let Err(e) = &result {
                    node.recent_errors.record("read", e);
                }
                result
            }
            Backend::Remote(_) => {
                let rows = self.rows(sql, params, consistent).await?;
                row::map_rows(&rows, map)
            }
        }
    }

    async fn rows(&self, sql: String, params: Params, consistent: bool) -> Result<Rows, Error> {
        match &self.inner.backend {
            Backend::Local(node, _) => {
                if consistent {
                    node.linearize().await?;
                }
                node.query_rows(sql, params).await
            }
            Backend::Remote(remote) => {
                let req = ApiRequest::Query {
                    sql,
                    params,
                    consistent,
                };
                match remote.call(&req).await? {
                    ApiResponse::Rows(r) => r.map_err(remote_error),
                    other => Err(unexpected(other)),
                }
            }
        }
    }

    /// The contacted node's view of the cluster: id, role, leader, term, last applied index.
    pub async fn status(&self) -> Result<NodeStatus, Error> {
        match &self.inner.backend {
            Backend::Local(node, _) => Ok(node.status()),
            Backend::Remote(remote) => remote
                .call(&ApiRequest::Status)
                .await?
                .into_status()
                .map_err(|other| unexpected(*other)),
        }
    }

    /// Runs SQL of any kind, as `hiqlite sql` does: a single read-only statement is a read on the
    /// contacted node (linearizable with `consistent`), anything else goes through Raft; several
    /// `;`-separated statements run as one batch. Takes no parameters.
    pub async fn sql(&self, sql: impl Into<String>, consistent: bool) -> Result<SqlOutput, Error> {
        let (id, _pending) = self.next_request_id();
        match &self.inner.backend {
            Backend::Local(node, _) => node.run_sql(id, sql.into(), consistent).await,
            Backend::Remote(remote) => {
                let req = ApiRequest::Sql {
                    id,
                    sql: sql.into(),
                    consistent,
                };
                match remote.call(&req).await? {
                    ApiResponse::Sql(r) => r.map_err(remote_error),
                    other => Err(unexpected(other)),
                }
            }
        }
    }

    /// Adds `member` to the cluster: as a learner that receives the data without voting, then,
    /// once it has caught up and if `voter`, as a voter. Start the new node's process (with the
    /// new member in its `nodes`) before or after; it is added when it answers. Returns the
    /// members after the change.
    pub async fn add_node(
        &self,
        member: crate::raft::Member,
        voter: bool,
    ) -> Result<Members, Error> {
        self.change_membership(MembershipChange::AddNode { member, voter })
            .await
    }

    /// Removes node `id` (voter or learner) from the cluster. Its process keeps running until
    /// you stop it, but it no longer receives data and cannot disturb the cluster.
    pub async fn remove_node(&self, id: crate::raft::NodeId) -> Result<Members, Error> {
        self.change_membership(MembershipChange::RemoveNode { id })
            .await
    }

    async fn change_membership(&self, change: MembershipChange) -> Result<Members, Error> {
        match &self.inner.backend {
            Backend::Local(node, _) => node.change_membership(change).await,
            Backend::Remote(remote) => {
                let req = ApiRequest::Membership {
                    change,
                    forwarded: false,
                };
                match remote
                    .call_with_timeout(&req, membership::MEMBERSHIP_TIMEOUT)
                    .await?
                {
                    ApiResponse::Membership(r) => r.map_err(remote_error),
                    other => Err(unexpected(other)),
                }
            }
        }
    }

    /// Whether the contacted node currently believes it is the leader.
    pub async fn is_leader(&self) -> Result<bool, Error> {
        let status = self.status().await?;
        Ok(status.leader_id == Some(status.node_id))
    }

    /// Hands leadership from the embedded node, which must lead, to voter `to` (Raft's
    /// TimeoutNow: `to` starts an election at once, without waiting for an election timeout),
    /// and waits until `to` leads, at most `request_timeout`. Use it to move leadership off a
    /// node before maintenance; [`shutdown`](Self::shutdown) does it by itself.
    ///
    /// Writes and consistent reads in flight during the transfer are retried on the new leader
    /// as across any leader change. With `read_policy = "lease"` the old leader gives its lease
    /// up when it hands over, so it serves no read the new leader's writes could make stale.
    ///
    /// # Errors
    /// [`Error::Membership`] (`Refused`) when `to` is not a voter or the embedded node does not
    /// lead; [`Error::Timeout`] when `to` did not take over in time (the cluster then elects a
    /// leader as usual); [`Error::EmbeddedOnly`] on a remote client; [`Error::ShuttingDown`].
    pub async fn transfer_leadership(&self, to: crate::NodeId) -> Result<(), Error> {
        match &self.inner.backend {
            Backend::Local(node, _) => node.transfer_leadership(to).await,
            Backend::Remote(_) => Err(Error::EmbeddedOnly {
                what: "a leadership transfer",
            }),
        }
    }

    /// Waits until the cluster can serve linearizable reads and writes through this client: a
    /// leader is confirmed by a quorum and the contacted node has caught up with it.
    ///
    /// Then it waits, up to [`FORMAT_GRACE`] more, for the cluster to run the newest format this
    /// binary speaks (`docs/upgrades.md`): a new cluster starts at format 1 and its leader raises
    /// it within a moment of forming, so the first writes (migrations) run in the newest format.
    /// A cluster that still has a node of an older release stays on the older format; the call
    /// returns without it after the grace period. Fails with [`Error::Timeout`] when no healthy
    /// leader is reached within `timeout`.
    pub async fn wait_until_healthy(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        self.wait_for_leader(timeout, deadline).await?;
        let grace = FORMAT_GRACE.min(deadline.saturating_duration_since(Instant::now()));
        let newest = crate::types::format::NEWEST;
        let format_raised = async {
            match &self.inner.backend {
                Backend::Local(node, _) => node.cluster_format.reached(newest).await,
                // A remote node tells nothing by itself: ask until it runs the newest format (or
                // stops answering, which the caller's next request will report).
                Backend::Remote(_) => {
                    while let Ok(status) = self.status().await {
                        if status.cluster_format >= newest {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        };
        // Past the grace period the cluster keeps an older format (a node of an older release).
        let _ = tokio::time::timeout(grace, format_raised).await;
        Ok(())
    }

    async fn wait_for_leader(&self, timeout: Duration, deadline: Instant) -> Result<(), Error> {
        loop {
            let attempt = match &self.inner.backend {
                Backend::Local(node, _) => tokio::time::timeout(timeout, node.linearize())
                    .await
                    .unwrap_or(Err(Error::Timeout("linearize".into()))),
                Backend::Remote(_) => self
                    .rows("SELECT 1".into(), Vec::new(), true)
                    .await
                    .map(|_| ()),
            };
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(Error::Timeout(format!(
                        "cluster not healthy after {timeout:?}: {e}"
                    )))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Stops the embedded node gracefully: hands leadership over if it leads, stops Raft, closes
    /// listeners and connections, lets the SQLite writer finish and closes the database. From
    /// the moment it is called, new writes, consistent reads and membership changes through this
    /// client fail with [`Error::ShuttingDown`] (those already running finish), and so do local
    /// reads once the database is closed. No-op for a remote client.
    pub async fn shutdown(&self) -> Result<(), Error> {
        match &self.inner.backend {
            Backend::Local(node, handle) => handle.shutdown(node).await,
            Backend::Remote(_) => Ok(()),
        }
    }
}

/// How long [`Client::wait_until_healthy`] waits, once a leader is healthy, for the cluster to run
/// the newest format (a new cluster's leader raises it within a moment of forming).
pub const FORMAT_GRACE: Duration = Duration::from_secs(2);

/// `sql` as a string and `params` in its positional order.
fn resolve(sql: impl Into<String>, params: impl IntoParams) -> Result<(String, Params), Error> {
    let sql = sql.into();
    let params = params.into_params(&sql)?;
    Ok((sql, params))
}

fn one<T>(rows: Vec<T>) -> Result<T, Error> {
    rows.into_iter().next().ok_or(Error::NoRows)
}

/// The node's error as the same [`Error`] variant an embedded node would have returned.
fn remote_error(e: RemoteError) -> Error {
    match e {
        RemoteError::Sql(e) => Error::Sql(e),
        RemoteError::Sqlite(m) => Error::Sql(SqlError::Sqlite { message: m }),
        RemoteError::NoRows => Error::NoRows,
        // Only forwarded requests get these two; a client never should. Be conservative.
        RemoteError::Retry(reason) => {
            Error::OutcomeUnknown(format!("the write could not finish: {reason}"))
        }
        RemoteError::NotLeader { leader } => {
            Error::Raft(format!("not the leader (leader: {leader:?})"))
        }
        RemoteError::Other(m) => Error::Raft(m),
        RemoteError::NoLeader { waited_ms } => Error::NoLeader(Duration::from_millis(waited_ms)),
        RemoteError::OutcomeUnknown(m) => Error::OutcomeUnknown(m),
        RemoteError::Removed { node_id, voters } => Error::Removed { node_id, voters },
        RemoteError::Membership(e) => Error::Membership(e),
        RemoteError::TooLarge { size, max } => Error::TooLarge {
            size: size as usize,
            max: max as usize,
        },
        RemoteError::Timeout(m) => Error::Timeout(m),
        RemoteError::ShuttingDown => Error::ShuttingDown,
        RemoteError::Backup(e) => Error::Backup(e),
        RemoteError::DiskFull {
            node_id,
            what,
            path,
            detail,
        } => Error::DiskFull {
            node_id,
            what,
            path,
            detail,
        },
    }
}

fn unexpected(resp: ApiResponse) -> Error {
    Error::Network(format!("unexpected answer from the node: {resp:?}"))
}
