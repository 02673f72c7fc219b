//! The write path: propose locally when this node leads, otherwise forward to the leader's API
//! port; on a leader change, retry with the same request id (the state machine answers a repeated
//! id with its first result, so a retry never applies twice).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use openraft::error::{ClientWriteError, RaftError};

use super::error::Error;
use super::protocol::{ApiRequest, ApiResponse, RemoteError, WriteReply};
use super::{Attempt, Engine};
use crate::types::command::{Command, RequestId, WriteOp};
use crate::types::members::NodeId;

impl Engine {
    /// Replicates `op` under request id `id`, forwarding to the leader and retrying across leader
    /// changes until `request_timeout`. Returns once this node has applied the write too.
    ///
    /// Giving up, it says what happened: [`Error::NoLeader`] when no attempt can have reached a
    /// leader (nothing applied), [`Error::OutcomeUnknown`] when one may have. A write that
    /// committed is reported as done even if this node cannot apply it in time (it was removed,
    /// or is cut off): a read here may then not see it yet, which is logged.
    pub(crate) async fn write(&self, id: RequestId, op: WriteOp) -> Result<WriteReply, Error> {
        let started = Instant::now();
        let result = self.replicate(id, op).await;
        self.metrics.write_done(started, result.is_ok());
        if let Err(e) = &result {
            self.recent_errors.record("write", e);
        }
        result
    }

    /// [`Engine::write`] without the metrics.
    async fn replicate(&self, id: RequestId, op: WriteOp) -> Result<WriteReply, Error> {
        if let Some(e) = self.refusal().or_else(|| self.disk_full_error()) {
            return Err(e);
        }
        refuse_internal_op(&op)?;
        self.await_format_for(&op).await?;
        // An entry must fit in one replication frame; refuse it here, wherever the leader is.
        let size =
            postcard::experimental::serialized_size(&(&id, now_ms(), &op)).unwrap_or(usize::MAX);
        if size > self.max_frame_bytes / 2 {
            return Err(Error::TooLarge {
                size,
                max: self.max_frame_bytes / 2,
            });
        }
        let time_limit = self.request_timeout + op.extra_apply_time();
        let deadline = Instant::now() + time_limit;
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
                                time_limit
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

    /// Waits until the cluster runs the format `op` needs (a new cluster raises its format
    /// shortly after it forms), at most `request_timeout`.
    ///
    /// # Errors
    /// [`Error::FormatTooOld`] when the cluster still runs an older format then (a node of an
    /// older release is a member).
    async fn await_format_for(&self, op: &WriteOp) -> Result<(), Error> {
        let needed = op.needs_format();
        if self.cluster_format.get() >= needed {
            return Ok(());
        }
        let reached = self.cluster_format.reached(needed);
        if tokio::time::timeout(self.request_timeout, reached)
            .await
            .is_ok()
        {
            return Ok(());
        }
        Err(Error::FormatTooOld {
            what: op.kind(),
            needed,
            found: self.cluster_format.get(),
        })
    }

    /// A write committed at `index`: waits until this node has applied it (so a read here sees
    /// it), at most until `deadline` or until this node learns it was removed.
    pub(super) async fn settle(&self, index: u64, deadline: Instant) {
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
        // A leader whose disk is full is handing leadership over (`engine::disk_watch`): the
        // follower retries with the next leader. Taken here, the write would commit on the others
        // but wait for this node's apply, which waits for space.
        if self.disk_full_error().is_some() {
            return Err(RemoteError::NotLeader { leader: None });
        }
        refuse_internal_op(&op).map_err(|e| RemoteError::Other(e.to_string()))?;
        match self.propose(id, op).await {
            Ok(reply) => Ok(reply),
            Err(Attempt::Fatal(e)) => Err(RemoteError::Other(e.to_string())),
            Err(Attempt::Retry { reason, .. }) => Err(RemoteError::Retry(reason)),
        }
    }

    pub(super) async fn propose(&self, id: RequestId, op: WriteOp) -> Result<WriteReply, Attempt> {
        // The leader's cache bound travels in the entry: every node evicts by the same one.
        let op = match op {
            WriteOp::Cache(c) => WriteOp::Cache(c.with_max_bytes(self.cache_max_bytes)),
            op => op,
        };
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
        let time_limit = self.request_timeout + command.op.extra_apply_time();
        let proposal = tokio::time::timeout(time_limit, self.raft.client_write(command));
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

    pub(super) async fn forward(
        &self,
        leader: NodeId,
        id: RequestId,
        op: WriteOp,
    ) -> Result<WriteReply, Attempt> {
        let time_limit = self.request_timeout + op.extra_apply_time();
        let req = ApiRequest::Write {
            id,
            op,
            forwarded: true,
        };
        let answer = match self.call_peer_with_timeout(leader, &req, time_limit).await {
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
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A format change is the leader's own entry (`engine::format_upgrade`): no client may send one.
fn refuse_internal_op(op: &WriteOp) -> Result<(), Error> {
    match op {
        WriteOp::SetFormat { .. } => Err(Error::Config(
            "a format change is proposed by the leader itself, once every member speaks the new \
             format; clients cannot send one"
                .into(),
        )),
        _ => Ok(()),
    }
}
