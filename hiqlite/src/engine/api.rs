//! The API port's service: remote clients, forwarded writes, read-index and status requests.

use std::sync::Arc;

use crate::engine::error::Error;
use crate::engine::protocol::{ApiRequest, ApiResponse, RemoteError};
use crate::engine::Engine;
use crate::net::{Accepted, Service};

/// Answers API requests (remote clients, forwarded writes, read-index requests) for this node.
pub(crate) struct ApiService {
    pub(crate) node: Arc<Engine>,
}

impl Service for ApiService {
    type Request = ApiRequest;
    type Response = ApiResponse;

    async fn handle_from(&self, peer: Accepted, req: ApiRequest) -> ApiResponse {
        self.answer(peer.connection, req)
            .await
            .for_format(peer.format)
    }

    /// Answers in the newest format; [`handle_from`](Self::handle_from) fits the answer to the
    /// connection's format. Cursors opened here belong to connection 0.
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        self.answer(0, req).await
    }

    fn connection_opened(&self, _peer: &Accepted) {
        self.node.metrics.api_connections.increment(1.0);
    }

    /// A connection ended: its streaming reads stop.
    fn connection_closed(&self, peer: Accepted) {
        self.node.metrics.api_connections.decrement(1.0);
        self.node.cursors.connection_closed(peer.connection);
    }
}

impl ApiService {
    /// Answers `req` from connection `connection` (cursors belong to the connection that opened
    /// them), in the newest format.
    async fn answer(&self, connection: u64, req: ApiRequest) -> ApiResponse {
        match req {
            ApiRequest::Write { id, op, forwarded } => ApiResponse::Write(if forwarded {
                self.node.write_on_leader(id, op).await
            } else {
                self.node.write(id, op).await.map_err(to_remote)
            }),
            ApiRequest::Query {
                sql,
                params,
                consistent,
            } => {
                let rows = async {
                    if consistent {
                        self.node.linearize().await?;
                    }
                    self.node.query_rows(sql, params).await
                };
                ApiResponse::Rows(rows.await.map_err(to_remote))
            }
            ApiRequest::ReadIndex => ApiResponse::ReadIndex(self.node.read_index_on_leader().await),
            ApiRequest::Status => ApiResponse::FullStatus(self.node.status()),
            ApiRequest::Membership { change, forwarded } => ApiResponse::Membership(if forwarded {
                self.node.change_membership_on_leader(change).await
            } else {
                self.node.change_membership(change).await.map_err(to_remote)
            }),
            ApiRequest::Sql {
                id,
                sql,
                consistent,
            } => ApiResponse::Sql(
                self.node
                    .run_sql(id, sql, consistent)
                    .await
                    .map_err(to_remote),
            ),
            ApiRequest::OpenCursor {
                sql,
                params,
                consistent,
                max_rows,
                max_bytes,
            } => ApiResponse::Cursor(
                self.node
                    .cursors
                    .open(
                        &self.node, connection, sql, params, consistent, max_rows, max_bytes,
                    )
                    .await,
            ),
            ApiRequest::FetchCursor { cursor } => {
                ApiResponse::Cursor(self.node.cursors.fetch(connection, cursor).await)
            }
            ApiRequest::CloseCursor { cursor } => {
                ApiResponse::Cursor(Ok(self.node.cursors.close(connection, cursor)))
            }
            ApiRequest::Backup => {
                ApiResponse::Backup(self.node.create_backup().await.map_err(to_remote))
            }
            ApiRequest::Backups => {
                ApiResponse::Backups(self.node.list_backups().await.map_err(to_remote))
            }
            ApiRequest::Restore { source } => {
                ApiResponse::Restore(self.node.restore(source).await.map_err(to_remote))
            }
        }
    }
}

/// An error as it crosses the network, keeping its kind (see `client::remote_error`).
pub(crate) fn to_remote(e: Error) -> RemoteError {
    match e {
        Error::Sql(e) => RemoteError::Sql(e),
        Error::NoRows => RemoteError::NoRows,
        Error::NoLeader(waited) => RemoteError::NoLeader {
            waited_ms: waited.as_millis() as u64,
        },
        Error::OutcomeUnknown(m) => RemoteError::OutcomeUnknown(m),
        Error::Removed { node_id, voters } => RemoteError::Removed { node_id, voters },
        Error::Membership(e) => RemoteError::Membership(e),
        Error::TooLarge { size, max } => RemoteError::TooLarge {
            size: size as u64,
            max: max as u64,
        },
        Error::Timeout(m) => RemoteError::Timeout(m),
        Error::ShuttingDown => RemoteError::ShuttingDown,
        Error::Backup(e) => RemoteError::Backup(e),
        Error::DiskFull {
            node_id,
            what,
            path,
            detail,
        } => RemoteError::DiskFull {
            node_id,
            what,
            path,
            detail,
        },
        other => RemoteError::Other(other.to_string()),
    }
}
