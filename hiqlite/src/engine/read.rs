//! Reads: this node's own database, made linearizable by a read index from the leader.

use std::time::Instant;

use openraft::error::{LinearizableReadError, RaftError};
use openraft::ReadPolicy;

use super::error::Error;
use super::protocol::{ApiRequest, ApiResponse, RemoteError};
use super::read_rounds::RoundFailure;
use super::Engine;
use crate::types::command::Rows;
use crate::types::value::Value;

impl Engine {
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
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let deadline = Instant::now() + self.request_timeout;
        loop {
            // Shared with the consistent reads that arrive while a round is under way.
            let attempt = self
                .read_rounds
                .read_index(|| self.fetch_read_index())
                .await;
            match attempt {
                Ok(index) => return self.wait_applied(index, deadline).await,
                Err(RoundFailure {
                    retry: false,
                    message,
                }) => return Err(Error::Network(message)),
                Err(RoundFailure { message, .. }) => {
                    tracing::debug!(reason = %message, "consistent read will be retried")
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::NoLeader(self.request_timeout));
            }
            self.wait_for_news(deadline).await;
        }
    }

    /// One read-index round: from this node when it leads, otherwise from the leader.
    async fn fetch_read_index(&self) -> Result<u64, RoundFailure> {
        let retry = |message: String| RoundFailure {
            retry: true,
            message,
        };
        match self.current_leader() {
            Some(leader) if leader == self.node_id => self
                .read_index_on_leader()
                .await
                .map_err(|e| retry(e.to_string())),
            Some(leader) => match self.call_peer(leader, &ApiRequest::ReadIndex).await {
                Ok(ApiResponse::ReadIndex(Ok(index))) => Ok(index),
                Ok(ApiResponse::ReadIndex(Err(e))) => Err(retry(e.to_string())),
                Ok(other) => Err(RoundFailure {
                    retry: false,
                    message: format!("unexpected answer {other:?}"),
                }),
                Err(e) if e.permanent => Err(RoundFailure {
                    retry: false,
                    message: e.message,
                }),
                Err(e) => Err(retry(e.message)),
            },
            None => Err(retry("no leader is known yet".into())),
        }
    }

    /// Runs a read on this node's own database and returns its rows.
    pub(crate) async fn query_rows(&self, sql: String, params: Vec<Value>) -> Result<Rows, Error> {
        let started = Instant::now();
        let result = self
            .reads
            .with_conn(move |conn| {
                crate::store::sqlite::ops::query(conn, &sql, &params).map_err(Error::from)
            })
            .await;
        self.metrics.read_done(started, result.is_ok());
        if let Err(e) = &result {
            self.recent_errors.record("read", e);
        }
        result
    }
}
