//! The embedded side of a client: a node running in this process.
//!
//! Writes take one path on every node: propose locally when this node leads, otherwise forward to
//! the leader's API port; on a leader change, retry with the same request id (the state machine
//! answers a repeated id with its first result, so a retry never applies twice).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::ReadPolicy;
use tokio::sync::watch;

use super::membership::Removal;
use super::protocol::{ApiRequest, ApiResponse, NodeStatus, RemoteError, SqlOutput, WriteReply};
use crate::config::{NodeConfig, Secret};
use crate::error::Error;
use crate::net::{Channel, NetError, RpcClient};
use crate::raft::{NodeId, Raft};
use crate::store::sqlite::classify::{classify, is_refusal, is_syntax_error, SqlKind};
use crate::store::sqlite::clock::ClockOffset;
use crate::store::sqlite::reader::ReadPool;
use crate::store::sqlite::state_machine::StateMachine;
use crate::types::command::{Command, RequestId, Rows, WriteOp, WriteOutput};
use crate::types::value::Value;

/// How long to wait for news (a leader change, a reconnect) before retrying a write.
const RETRY_BACKOFF: Duration = Duration::from_millis(50);
/// The shortest pause between two tries, so retries never spin.
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(5);

/// A node running in this process, as the client sees it.
pub struct LocalNode {
    pub(crate) node_id: NodeId,
    pub(crate) raft: Raft<StateMachine>,
    pub(crate) reads: Arc<ReadPool>,
    pub(crate) applied: watch::Receiver<u64>,
    clock_offset: ClockOffset,
    pub(crate) request_timeout: Duration,
    pub(crate) secret_api: Secret,
    /// For proving, when adding a node, that the process at its Raft address is that node.
    pub(crate) secret_raft: Secret,
    pub(crate) max_frame_bytes: usize,
    pub(crate) members_fingerprint: u64,
    read_policy: crate::config::ReadPolicy,
    peers: Mutex<HashMap<NodeId, RpcClient>>,
    /// Set once the leader no longer lists this node (see `node::watch`).
    pub(crate) removal: watch::Sender<Option<Removal>>,
}

/// Why one attempt did not succeed.
enum Attempt {
    /// Worth retrying after a leader change or reconnect. `maybe_applied`: the write may have
    /// reached a leader's log, so giving up later leaves its outcome unknown.
    Retry {
        reason: String,
        maybe_applied: bool,
    },
    Fatal(Error),
}

impl Attempt {
    fn retry(reason: impl Into<String>, maybe_applied: bool) -> Attempt {
        Attempt::Retry {
            reason: reason.into(),
            maybe_applied,
        }
    }
}

/// Why a call to a peer's API port failed.
pub(crate) struct PeerCallError {
    pub(crate) message: String,
    /// The request may have reached the peer, which may have acted on it.
    pub(crate) sent: bool,
    /// Retrying would fail the same way (too large to send, the peer could not answer it).
    pub(crate) permanent: bool,
}

impl LocalNode {
    /// The client side of the node configured by `config`, reading through `reads` and
    /// learning what SQLite has applied from `applied`.
    pub(crate) fn new(
        config: &NodeConfig,
        raft: Raft<StateMachine>,
        reads: Arc<ReadPool>,
        applied: watch::Receiver<u64>,
        clock_offset: ClockOffset,
    ) -> Self {
        LocalNode {
            node_id: config.node_id,
            raft,
            reads,
            applied,
            clock_offset,
            request_timeout: config.request_timeout,
            secret_api: config.secret_api.clone(),
            secret_raft: config.secret_raft.clone(),
            max_frame_bytes: config.max_frame_bytes,
            members_fingerprint: crate::types::members::members_fingerprint(&config.nodes),
            read_policy: config.read_policy,
            peers: Mutex::new(HashMap::new()),
            removal: watch::channel(None).0,
        }
    }

    /// Replicates `op` under request id `id`, forwarding to the leader and retrying across leader
    /// changes until `request_timeout`. Returns once this node has applied the write too.
    ///
    /// Giving up, it says what happened: [`Error::NoLeader`] when no attempt can have reached a
    /// leader (nothing applied), [`Error::OutcomeUnknown`] when one may have. A write that
    /// committed is reported as done even if this node cannot apply it in time (it was removed,
    /// or is cut off): a read here may then not see it yet, which is logged.
    pub(crate) async fn write(&self, id: RequestId, op: WriteOp) -> Result<WriteReply, Error> {
        if let Some(e) = self.removed_error() {
            return Err(e);
        }
        // An entry must fit in one replication frame; refuse it here, wherever the leader is.
        let size =
            postcard::experimental::serialized_size(&(&id, now_ms(), &op)).unwrap_or(usize::MAX);
        if size > self.max_frame_bytes / 2 {
            return Err(Error::TooLarge {
                size,
                max: self.max_frame_bytes / 2,
            });
        }
        let deadline = Instant::now() + self.request_timeout;
        let mut maybe_applied = false;
        loop {
            let attempt = match self.current_leader() {
                Some(leader) if leader == self.node_id => self.propose(id, op.clone()).await,
                Some(leader) => self.forward(leader, id, op.clone()).await,
                None => Err(Attempt::retry("no leader is known yet", false)),
            };
            match attempt {
                Ok(reply) => {
                    self.settle(reply.log_index, deadline).await;
                    return Ok(reply);
                }
                Err(Attempt::Fatal(e)) if maybe_applied => {
                    return Err(Error::OutcomeUnknown(format!(
                        "an earlier attempt may have reached the leader, then: {e}"
                    )))
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry {
                    reason,
                    maybe_applied: this_one,
                }) => {
                    maybe_applied |= this_one;
                    if Instant::now() >= deadline {
                        tracing::warn!(%reason, maybe_applied, "write gave up");
                        return Err(if maybe_applied {
                            Error::OutcomeUnknown(format!(
                                "no confirmation within {:?} (last: {reason})",
                                self.request_timeout
                            ))
                        } else {
                            Error::NoLeader(self.request_timeout)
                        });
                    }
                    tracing::debug!(%reason, "write attempt will be retried");
                }
            }
            if self.removal().is_some() {
                return Err(match self.removed_error() {
                    Some(e) if !maybe_applied => e,
                    _ => Error::OutcomeUnknown(
                        "this node was removed from the cluster while the write was in flight"
                            .into(),
                    ),
                });
            }
            self.wait_for_news(deadline).await;
        }
    }

    /// A write committed at `index`: waits until this node has applied it (so a read here sees
    /// it), at most until `deadline` or until this node learns it was removed.
    async fn settle(&self, index: u64, deadline: Instant) {
        let mut removal = self.removal.subscribe();
        let late = tokio::select! {
            applied = self.wait_applied(index, deadline) => applied.err().map(|e| e.to_string()),
            _ = removal.wait_for(Option::is_some) => {
                Some("this node was removed from the cluster".to_string())
            }
        };
        if let Some(why) = late {
            tracing::warn!(
                "a write committed at log index {index}, but this node has not applied it ({why}); \
                 it is reported as done, and a read on this node may not see it yet"
            );
        }
    }

    /// Proposes `op` only if this node leads (used for forwarded writes, which must not hop on).
    pub(crate) async fn write_on_leader(
        &self,
        id: RequestId,
        op: WriteOp,
    ) -> Result<WriteReply, RemoteError> {
        if self.current_leader() != Some(self.node_id) {
            return Err(RemoteError::NotLeader {
                leader: self.current_leader(),
            });
        }
        match self.propose(id, op).await {
            Ok(reply) => Ok(reply),
            Err(Attempt::Fatal(e)) => Err(RemoteError::Other(e.to_string())),
            Err(Attempt::Retry { reason, .. }) => Err(RemoteError::Retry(reason)),
        }
    }

    async fn propose(&self, id: RequestId, op: WriteOp) -> Result<WriteReply, Attempt> {
        let command = Command {
            request_id: id,
            leader_time_ms: now_ms(),
            op,
        };
        // An entry must fit in one replication frame, or followers could never receive it.
        let size = postcard::experimental::serialized_size(&command).unwrap_or(usize::MAX);
        if size > self.max_frame_bytes / 2 {
            return Err(Attempt::Fatal(Error::TooLarge {
                size,
                max: self.max_frame_bytes / 2,
            }));
        }
        // A leader cut off from its quorum never finishes the proposal: bound the wait and retry
        // (same request id, so a late commit is not applied twice).
        let proposal = tokio::time::timeout(self.request_timeout, self.raft.client_write(command));
        let Ok(outcome) = proposal.await else {
            return Err(Attempt::retry("the proposal did not commit in time", true));
        };
        match outcome {
            Ok(resp) => match resp.data.0 {
                Some(result) => Ok(WriteReply {
                    log_index: resp.log_id.index(),
                    result,
                }),
                None => Err(Attempt::Fatal(Error::Raft(
                    "the state machine returned no result".into(),
                ))),
            },
            // Overwritten by another leader's entry: it never commits.
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(f))) => {
                Err(Attempt::retry(
                    format!(
                        "the entry was discarded by a leader change (leader: {:?})",
                        f.leader_id
                    ),
                    false,
                ))
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(Attempt::retry(
                format!("not the leader any more (leader: {:?})", f.leader_id),
                false,
            )),
            Err(RaftError::APIError(e)) => Err(Attempt::Fatal(Error::Raft(e.to_string()))),
            // Raft stopped, maybe after the entry reached the log.
            Err(RaftError::Fatal(e)) => Err(Attempt::Fatal(Error::OutcomeUnknown(format!(
                "Raft stopped while the write was in flight: {e}"
            )))),
        }
    }

    async fn forward(
        &self,
        leader: NodeId,
        id: RequestId,
        op: WriteOp,
    ) -> Result<WriteReply, Attempt> {
        let req = ApiRequest::Write {
            id,
            op,
            forwarded: true,
        };
        let answer = match self.call_peer(leader, &req).await {
            Ok(answer) => answer,
            Err(e) if e.permanent && e.sent => {
                return Err(Attempt::Fatal(Error::OutcomeUnknown(e.message)))
            }
            Err(e) if e.permanent => return Err(Attempt::Fatal(Error::Network(e.message))),
            Err(e) => return Err(Attempt::retry(e.message, e.sent)),
        };
        match answer {
            ApiResponse::Write(Ok(reply)) => Ok(reply),
            // The leader proposed it but could not confirm it (or it was discarded).
            ApiResponse::Write(Err(RemoteError::Retry(reason))) => {
                Err(Attempt::retry(reason, true))
            }
            ApiResponse::Write(Err(RemoteError::NotLeader { leader })) => Err(Attempt::retry(
                format!("forwarded to a node that does not lead (leader: {leader:?})"),
                false,
            )),
            // The leader took the write and failed (its Raft stopped, e.g.): it may be applied.
            ApiResponse::Write(Err(e)) => Err(Attempt::Fatal(Error::OutcomeUnknown(format!(
                "the leader, node {leader}, failed: {e}"
            )))),
            other => Err(Attempt::Fatal(Error::Network(format!(
                "unexpected answer {other:?}"
            )))),
        }
    }

    /// Calls a peer's API port with `request_timeout`, reconnecting as needed.
    async fn call_peer(
        &self,
        peer: NodeId,
        req: &ApiRequest,
    ) -> Result<ApiResponse, PeerCallError> {
        self.call_peer_with_timeout(peer, req, self.request_timeout)
            .await
    }

    /// Calls a peer's API port with an explicit timeout (for long operations such as adding a
    /// node), reconnecting as needed.
    pub(crate) async fn call_peer_with_timeout(
        &self,
        peer: NodeId,
        req: &ApiRequest,
        timeout: Duration,
    ) -> Result<ApiResponse, PeerCallError> {
        let client = self
            .peer_client(peer)
            .await
            .map_err(|message| PeerCallError {
                message,
                sent: false,
                permanent: false,
            })?;
        client.call(req, timeout).await.map_err(|e| {
            if client.is_closed() {
                self.peers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&peer);
            }
            let not_sent = matches!(e, NetError::FrameTooLarge { .. } | NetError::Encode(_));
            PeerCallError {
                message: format!("node {peer}: {e}"),
                sent: !not_sent,
                // Would fail the same way on every retry.
                permanent: not_sent || matches!(e, NetError::Remote(_)),
            }
        })
    }

    async fn peer_client(&self, peer: NodeId) -> Result<RpcClient, String> {
        if let Some(c) = self
            .peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&peer)
        {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let addr = self
            .api_addr_of(peer)
            .ok_or_else(|| format!("node {peer} is not in the membership"))?;
        let connect =
            RpcClient::connect(&addr, &self.secret_api, Channel::Api, self.max_frame_bytes);
        let client = tokio::time::timeout(self.request_timeout, connect)
            .await
            .map_err(|_| format!("connecting to node {peer} at {addr} timed out"))?
            .map_err(|e| format!("node {peer} at {addr}: {e}"))?;
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, client.clone());
        Ok(client)
    }

    fn api_addr_of(&self, node: NodeId) -> Option<String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        metrics
            .membership_config
            .membership()
            .get_node(&node)
            .map(|m| m.api_addr.clone())
    }

    pub(crate) fn current_leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// Waits until something may have changed: the leader, or simply a short backoff.
    async fn wait_for_news(&self, deadline: Instant) {
        let remaining = deadline.saturating_duration_since(Instant::now());
        // Never spin: even when the metrics keep changing, pause a little before the next try.
        tokio::time::sleep(MIN_RETRY_PAUSE.min(remaining)).await;
        let mut metrics = self.raft.metrics();
        // A cloned receiver starts out "changed"; mark the current value seen to wait for news.
        let _ = metrics.borrow_and_update();
        let wait = RETRY_BACKOFF.min(deadline.saturating_duration_since(Instant::now()));
        let _ = tokio::time::timeout(wait, metrics.changed()).await;
    }

    /// Waits until this node's SQLite holds entry `index` (so a read here sees the write).
    pub(crate) async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), Error> {
        let mut applied = self.applied.clone();
        let wait = deadline.saturating_duration_since(Instant::now());
        let reached = tokio::time::timeout(wait, async {
            applied.wait_for(|i| *i >= index).await.map(|_| ())
        })
        .await;
        match reached {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::ShuttingDown),
            Err(_) => Err(Error::Timeout(format!(
                "this node did not apply log index {index} within {:?}",
                self.request_timeout
            ))),
        }
    }

    /// Leader only: confirms leadership with a quorum (ReadIndex) and returns the log index a
    /// linearizable read must see applied.
    pub(crate) async fn read_index_on_leader(&self) -> Result<u64, RemoteError> {
        if self.read_policy == crate::config::ReadPolicy::Lease {
            // A valid lease needs no quorum round trip; an expired one (or one given up for a
            // leadership transfer) falls back to ReadIndex below. openraft checks the lease in its
            // core, which knows about transfers and joint configurations.
            if let Ok(linearizer) = self.raft.get_read_linearizer(ReadPolicy::LeaseRead).await {
                return Ok(linearizer.read_log_id().log_id().index());
            }
        }
        match self.raft.get_read_linearizer(ReadPolicy::ReadIndex).await {
            Ok(linearizer) => Ok(linearizer.read_log_id().log_id().index()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                Err(RemoteError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(RaftError::APIError(e)) => Err(RemoteError::Other(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(RemoteError::Other(e.to_string())),
        }
    }

    /// Makes the next local read linearizable: gets the read index from the leader (itself or a
    /// peer) and waits until this node has applied that far. Retries across leader changes.
    pub(crate) async fn linearize(&self) -> Result<(), Error> {
        if let Some(e) = self.removed_error() {
            return Err(e);
        }
        let deadline = Instant::now() + self.request_timeout;
        loop {
            let attempt = match self.current_leader() {
                Some(leader) if leader == self.node_id => self
                    .read_index_on_leader()
                    .await
                    .map_err(|e| Attempt::retry(e.to_string(), false)),
                Some(leader) => match self.call_peer(leader, &ApiRequest::ReadIndex).await {
                    Ok(ApiResponse::ReadIndex(Ok(index))) => Ok(index),
                    Ok(ApiResponse::ReadIndex(Err(e))) => Err(Attempt::retry(e.to_string(), false)),
                    Ok(other) => Err(Attempt::Fatal(Error::Network(format!(
                        "unexpected answer {other:?}"
                    )))),
                    Err(e) if e.permanent => Err(Attempt::Fatal(Error::Network(e.message))),
                    Err(e) => Err(Attempt::retry(e.message, false)),
                },
                None => Err(Attempt::retry("no leader is known yet", false)),
            };
            match attempt {
                Ok(index) => return self.wait_applied(index, deadline).await,
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry { reason, .. }) => {
                    tracing::debug!(%reason, "consistent read will be retried")
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::NoLeader(self.request_timeout));
            }
            self.wait_for_news(deadline).await;
        }
    }

    /// Runs a read on this node's own database and returns its rows.
    pub(crate) async fn query_rows(&self, sql: String, params: Vec<Value>) -> Result<Rows, Error> {
        self.reads
            .with_conn(move |conn| {
                crate::store::sqlite::ops::query(conn, &sql, &params).map_err(Error::from)
            })
            .await
    }

    /// Runs SQL whose kind is not known in advance: a single read-only statement is a read
    /// (local, or linearizable with `consistent`); anything else is replicated, a string of
    /// several statements as a batch.
    pub(crate) async fn run_sql(
        &self,
        id: RequestId,
        sql: String,
        consistent: bool,
    ) -> Result<SqlOutput, Error> {
        let kind = match self.classify(&sql).await {
            // This node's schema may be behind the leader's (a table created through another
            // node a moment ago): catch up, as a consistent read would, and ask again. A text
            // that does not parse, or a cluster without a leader, keeps the first answer.
            Err(ClassifyError::Schema(first)) => match self.linearize().await {
                Ok(()) => self
                    .classify(&sql)
                    .await
                    .map_err(ClassifyError::into_error)?,
                Err(_) => return Err(first),
            },
            other => other.map_err(ClassifyError::into_error)?,
        };
        let op = match kind {
            SqlKind::Read => {
                if consistent {
                    self.linearize().await?;
                }
                return Ok(SqlOutput::Rows(self.query_rows(sql, Vec::new()).await?));
            }
            SqlKind::WriteReturning => WriteOp::ExecuteReturning {
                sql,
                params: Vec::new(),
            },
            SqlKind::Write => WriteOp::Execute {
                sql,
                params: Vec::new(),
            },
            SqlKind::Batch => WriteOp::Batch { sql },
        };
        let output = self.write(id, op).await?.result.map_err(Error::Sql)?;
        Ok(match output {
            WriteOutput::Rows(rows) => SqlOutput::Rows(rows),
            WriteOutput::Executed {
                rows_affected,
                last_insert_rowid,
            } => SqlOutput::Executed {
                rows_affected,
                last_insert_rowid,
            },
            WriteOutput::Batch { statements } => SqlOutput::Batch { statements },
            WriteOutput::Txn(_) | WriteOutput::Migrated { .. } => {
                return Err(Error::Raft(format!("unexpected write output {output:?}")))
            }
        })
    }

    /// Classifies `sql` on one of this node's read connections (see [`classify`]).
    async fn classify(&self, sql: &str) -> Result<SqlKind, ClassifyError> {
        let probe = sql.to_string();
        let outcome = self
            .reads
            .with_conn(move |conn| match classify(conn, &probe) {
                // Refused by the guard (explained by the pool), or unparsable: final.
                Err(e) if is_refusal(&e) || is_syntax_error(&e) => Err(Error::from(e)),
                other => Ok(other),
            })
            .await
            .map_err(ClassifyError::Other)?;
        outcome.map_err(|e| ClassifyError::Schema(Error::from(e)))
    }

    /// If this node leads, hands leadership to the most caught-up voter and waits (briefly) for
    /// it to take over, so a planned shutdown costs the cluster one round trip instead of an
    /// election timeout.
    pub(crate) async fn hand_over_leadership(&self) {
        if self.current_leader() != Some(self.node_id) {
            return;
        }
        // Only a voter that answers a heartbeat sent now can take over; ask, and wait briefly.
        let asked_at = <openraft::TokioInstant as openraft::Instant>::now();
        if self.raft.trigger().heartbeat().await.is_err() {
            return;
        }
        let me = self.node_id;
        let fresh_voters = |m: &openraft::RaftMetrics<crate::raft::TypeConfig>| -> Vec<NodeId> {
            let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
            let acked_since = |id: &NodeId| {
                m.heartbeat
                    .as_ref()
                    .and_then(|h| h.get(id).cloned().flatten())
                    .is_some_and(|acked| *acked >= asked_at)
            };
            voters
                .into_iter()
                .filter(|id| *id != me && acked_since(id))
                .collect()
        };
        let answered = self
            .raft
            .wait(Some(Duration::from_millis(200)))
            .metrics(|m| !fresh_voters(m).is_empty(), "a voter answers")
            .await;
        let Ok(metrics) = answered else { return };
        let alive = fresh_voters(&metrics);
        let target = metrics.replication.as_ref().and_then(|progress| {
            progress
                .iter()
                .filter(|(id, _)| alive.contains(id))
                .max_by_key(|(_, matched)| matched.map(|l| l.index()))
                .map(|(id, _)| *id)
        });
        let Some(target) = target else { return };
        if self.raft.trigger().transfer_leader(target).await.is_err() {
            return;
        }
        let moved = self
            .raft
            .wait(Some(Duration::from_secs(2)))
            .metrics(
                |m| m.current_leader.is_some_and(|l| l != me),
                "leadership handed over",
            )
            .await;
        match moved {
            Ok(_) => tracing::info!(to = target, "handed leadership over before shutdown"),
            Err(e) => tracing::warn!("leadership hand-over before shutdown did not finish: {e}"),
        }
    }

    pub(crate) fn status(&self) -> NodeStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        // A removed node's own log still lists it: report the leader's view instead.
        let removal = self.removal.borrow().clone();
        let (voters, learners) = match &removal {
            Some(r) => (r.voters.clone(), r.learners.clone()),
            None => (
                membership.voter_ids().collect(),
                membership.learner_ids().collect(),
            ),
        };
        NodeStatus {
            node_id: self.node_id,
            role: format!("{:?}", m.state),
            leader_id: m.current_leader,
            term: m.current_term,
            last_applied: *self.applied.borrow(),
            last_log_index: m.last_log_index,
            voters,
            learners,
            snapshot_index: m.snapshot.map(|l| l.index()),
            purged_index: m.purged.map(|l| l.index()),
            members_fingerprint: self.members_fingerprint,
            membership_index: m.membership_config.log_id().map(|l| l.index()),
            membership_committed: m.membership_config.log_id()
                == m.committed_membership_config.log_id(),
            removed: removal.is_some(),
            clock_offset_ms: self.clock_offset.get(),
        }
    }
}

/// Why a statement could not be classified.
enum ClassifyError {
    /// It does not prepare against this node's schema, which may be behind the leader's.
    Schema(Error),
    /// Anything else (a syntax error, a closed pool).
    Other(Error),
}

impl ClassifyError {
    fn into_error(self) -> Error {
        match self {
            ClassifyError::Schema(e) | ClassifyError::Other(e) => e,
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
