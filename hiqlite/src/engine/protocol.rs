//! Messages on the API port: remote clients talking to a node, and followers forwarding writes
//! to the leader.

use serde::{Deserialize, Serialize};

use crate::raft::NodeId;
use crate::types::backup::{BackupError, BackupInfo, RestoreInfo, RestoreSource};
use crate::types::command::{CommandResult, RequestId, Rows, SqlError, WriteOp};
use crate::types::format::{self, Format};
use crate::types::value::Value;

#[derive(Debug, Serialize, Deserialize)]
pub enum ApiRequest {
    /// Replicate a write. `forwarded`: sent by a follower to the node it believes leads; that
    /// node must not forward again (it answers `NotLeader` instead), so requests never loop.
    Write {
        id: RequestId,
        op: WriteOp,
        forwarded: bool,
    },
    /// Read on the receiving node; `consistent` makes it linearizable.
    Query {
        sql: String,
        params: Vec<Value>,
        consistent: bool,
    },
    /// Leader only: confirm leadership (ReadIndex) and return the index a linearizable read must
    /// see applied.
    ReadIndex,
    /// The receiving node's view of the cluster.
    Status,
    /// Change the cluster's members. `forwarded` as for writes.
    Membership {
        change: super::membership::change::MembershipChange,
        forwarded: bool,
    },
    /// Run any SQL (the `hiqlite sql` command): the node decides whether it reads or writes. A
    /// write goes through Raft under `id`.
    Sql {
        id: RequestId,
        sql: String,
        consistent: bool,
    },
    // Added in format 3 (`Feature::StreamingReads`): sent only on connections of format 3 or
    // later, so an older node never receives one.
    /// Opens a cursor: runs the read (linearizable with `consistent`) and answers with its first
    /// chunk of at most `max_rows` rows and about `max_bytes` bytes (the node may lower both).
    /// The cursor lives on this connection until its last chunk, a `CloseCursor`, the connection's
    /// end, or an idle timeout (`engine::cursors`).
    OpenCursor {
        sql: String,
        params: Vec<Value>,
        consistent: bool,
        max_rows: u32,
        max_bytes: u32,
    },
    /// The next chunk of a cursor this connection opened.
    FetchCursor { cursor: u64 },
    /// Closes a cursor this connection opened, before its last chunk (the consumer left).
    CloseCursor { cursor: u64 },
    // Also format 3 (not released apart from streaming reads): sent only on connections of
    // format 3 or later.
    /// Makes an encrypted backup on the receiving node, into its `backup_dir`, after a
    /// linearizable read barrier (`hiqlite backup now`).
    Backup,
    /// Lists the receiving node's backups (`hiqlite backup list`).
    Backups,
    // Format 4: sent only on connections of format 4 or later.
    /// Restores `source` from the receiving node's backup store into the cluster
    /// (`hiqlite restore`; see `engine::restore`).
    Restore { source: RestoreSource },
}

impl ApiRequest {
    /// Whether the request may change the database or the membership: when no answer comes, its
    /// outcome is unknown rather than failed.
    pub fn may_write(&self) -> bool {
        matches!(
            self,
            ApiRequest::Write { .. }
                | ApiRequest::Sql { .. }
                | ApiRequest::Membership { .. }
                | ApiRequest::Restore { .. }
        )
    }
}

/// Answers on the API port. Variants are only ever added at the end, and a node answers a
/// connection of format `f` only with what format `f` can read ([`ApiResponse::for_format`]).
#[derive(Debug, Serialize, Deserialize)]
pub enum ApiResponse {
    Write(Result<WriteReply, RemoteError>),
    Rows(Result<Rows, RemoteError>),
    ReadIndex(Result<u64, RemoteError>),
    /// The answer to [`ApiRequest::Status`] on a format-1 connection.
    Status(NodeStatusV1),
    Sql(Result<SqlOutput, RemoteError>),
    Membership(Result<super::membership::change::Members, RemoteError>),
    /// The answer to [`ApiRequest::Status`] on connections of format 2 and later.
    FullStatus(NodeStatus),
    /// Format 3: the answer to the cursor requests (`OpenCursor`, `FetchCursor`, `CloseCursor`).
    Cursor(Result<CursorChunk, RemoteError>),
    /// Format 3: the answer to [`ApiRequest::Backup`].
    Backup(Result<BackupInfo, RemoteError>),
    /// Format 3: the answer to [`ApiRequest::Backups`].
    Backups(Result<Vec<BackupInfo>, RemoteError>),
    /// Format 4: the answer to [`ApiRequest::Restore`].
    Restore(Result<RestoreInfo, RemoteError>),
}

/// One chunk of a streaming read's rows (see [`ApiRequest::OpenCursor`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorChunk {
    /// The cursor to fetch the next chunk with.
    pub cursor: u64,
    /// The statement's column names, in the first chunk only.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// No rows follow: the cursor is closed.
    pub done: bool,
}

impl ApiResponse {
    /// This answer as a peer of `format` can read it: format 1 gets the status without the
    /// fields added since, and errors of the kinds added since as [`RemoteError::Other`] with
    /// the same message.
    /// Answers added in format 3 answer requests that only format-3 connections send; on an
    /// older connection they become an error a peer of that format can read.
    /// Errors of kinds added in format 4 (`DiskFull`) become [`RemoteError::Other`] on older
    /// connections.
    pub fn for_format(self, format: Format) -> ApiResponse {
        if format >= 4 {
            return self;
        }
        let this = match self.map_errors(RemoteError::before_format_4) {
            ApiResponse::Restore(_) => ApiResponse::Rows(Err(RemoteError::Other(
                "restores need format 4 on the connection".into(),
            ))),
            other => other,
        };
        if format >= 3 {
            return this;
        }
        let this = match this {
            ApiResponse::Cursor(_) => ApiResponse::Rows(Err(RemoteError::Other(
                "streaming reads need format 3 on the connection".into(),
            ))),
            ApiResponse::Backup(_) | ApiResponse::Backups(_) => ApiResponse::Rows(Err(
                RemoteError::Other("backups need format 3 on the connection".into()),
            )),
            other => other,
        };
        if format >= 2 {
            return this;
        }
        match this.map_errors(RemoteError::for_format_1) {
            ApiResponse::FullStatus(s) => ApiResponse::Status(s.into()),
            // Cursors, backups and restores were replaced above.
            other => other,
        }
    }

    /// This answer with `down` applied to the error it carries, if any.
    fn map_errors(self, down: fn(RemoteError) -> RemoteError) -> ApiResponse {
        match self {
            ApiResponse::Write(r) => ApiResponse::Write(r.map_err(down)),
            ApiResponse::Rows(r) => ApiResponse::Rows(r.map_err(down)),
            ApiResponse::ReadIndex(r) => ApiResponse::ReadIndex(r.map_err(down)),
            ApiResponse::Sql(r) => ApiResponse::Sql(r.map_err(down)),
            ApiResponse::Membership(r) => ApiResponse::Membership(r.map_err(down)),
            ApiResponse::Cursor(r) => ApiResponse::Cursor(r.map_err(down)),
            ApiResponse::Backup(r) => ApiResponse::Backup(r.map_err(down)),
            ApiResponse::Backups(r) => ApiResponse::Backups(r.map_err(down)),
            ApiResponse::Restore(r) => ApiResponse::Restore(r.map_err(down)),
            status @ (ApiResponse::Status(_) | ApiResponse::FullStatus(_)) => status,
        }
    }

    /// The status in this answer, whichever format it came in; `Err`: the answer is no status
    /// (it is returned as it came).
    pub fn into_status(self) -> Result<NodeStatus, Box<ApiResponse>> {
        match self {
            ApiResponse::FullStatus(s) => Ok(s),
            ApiResponse::Status(s) => Ok(s.into()),
            other => Err(Box::new(other)),
        }
    }
}

/// What a statement of unknown kind produced (see [`ApiRequest::Sql`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SqlOutput {
    Rows(Rows),
    Executed {
        rows_affected: u64,
        last_insert_rowid: i64,
    },
    Batch {
        statements: usize,
    },
}

/// The result of a replicated write and the log index it was applied at (a follower waits for its
/// own state machine to reach that index, so a read after a write on the same node sees it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteReply {
    pub log_index: u64,
    pub result: CommandResult,
}

/// Errors that cross the network.
///
/// The variants after `Other` were added in format 2: a node sends them to clients, whose library
/// maps each to the [`Error`](crate::Error) variant of the same name, and `Membership` also to a
/// follower that forwarded a membership change. A format-1 peer gets them as `Other`.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum RemoteError {
    #[error("node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// The leader could not finish the write (its entry was discarded by a leader change, or it
    /// did not commit in time); retrying with the same request id is safe.
    #[error("retry: {0}")]
    Retry(String),
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error("SQLite error: {0}")]
    Sqlite(String),
    #[error("no rows")]
    NoRows,
    #[error("{0}")]
    Other(String),
    /// [`Error::NoLeader`](crate::Error::NoLeader): nothing was applied.
    #[error("no leader could be reached within {waited_ms} ms")]
    NoLeader { waited_ms: u64 },
    /// [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// [`Error::Removed`](crate::Error::Removed).
    #[error("node {node_id} was removed from the cluster")]
    Removed {
        node_id: NodeId,
        voters: Vec<NodeId>,
    },
    /// [`Error::Membership`](crate::Error::Membership).
    #[error(transparent)]
    Membership(#[from] super::membership::error::MembershipError),
    /// [`Error::TooLarge`](crate::Error::TooLarge).
    #[error("write of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    /// [`Error::Timeout`](crate::Error::Timeout).
    #[error("timed out: {0}")]
    Timeout(String),
    /// [`Error::ShuttingDown`](crate::Error::ShuttingDown).
    #[error("the node is shutting down")]
    ShuttingDown,
    /// [`Error::Backup`](crate::Error::Backup). Format 3: only in answers to backup requests.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// [`Error::DiskFull`](crate::Error::DiskFull): nothing was applied.
    #[error("node {node_id} has no disk space left for {what} at {path} ({detail})")]
    DiskFull {
        node_id: NodeId,
        what: String,
        path: String,
        detail: String,
    },
}

impl RemoteError {
    /// This error as a peer of format 2 or 3 can read it: `DiskFull` (format 4) becomes
    /// [`RemoteError::Other`], with the same message.
    fn before_format_4(self) -> RemoteError {
        match self {
            e @ RemoteError::DiskFull { .. } => RemoteError::Other(e.to_string()),
            e => e,
        }
    }

    /// This error as a format-1 peer can read it: the kinds added since become
    /// [`RemoteError::Other`], with the same message.
    fn for_format_1(self) -> RemoteError {
        match self {
            e @ (RemoteError::NotLeader { .. }
            | RemoteError::Retry(_)
            | RemoteError::Sql(_)
            | RemoteError::Sqlite(_)
            | RemoteError::NoRows
            | RemoteError::Other(_)) => e,
            e => RemoteError::Other(e.to_string()),
        }
    }
}

/// A node's view of the cluster, as printed by `hiqlite status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeStatus {
    pub node_id: NodeId,
    /// "Leader", "Follower", "Candidate" or "Learner".
    pub role: String,
    pub leader_id: Option<NodeId>,
    pub term: u64,
    /// Index of the last entry applied to this node's SQLite database.
    pub last_applied: u64,
    pub last_log_index: Option<u64>,
    /// Voting members' ids.
    pub voters: Vec<NodeId>,
    /// Non-voting members' ids.
    pub learners: Vec<NodeId>,
    /// Last log index covered by this node's newest snapshot.
    pub snapshot_index: Option<u64>,
    /// Log entries up to this index were purged (they live on only in snapshots).
    pub purged_index: Option<u64>,
    /// Fingerprint of the member list this node was configured with; nodes only form a cluster
    /// with nodes that were given the same list.
    pub members_fingerprint: u64,
    // The fields below were added in format 2 (see `NodeStatusV1`).
    /// Log index of the membership (`voters`, `learners`) this node goes by.
    pub membership_index: Option<u64>,
    /// Whether that membership is committed (a change in progress is not, yet).
    pub membership_committed: bool,
    /// This node learnt from the leader that it is no longer a member: it was removed. It takes
    /// no writes and no consistent reads; stop it, or add it again.
    pub removed: bool,
    /// How many milliseconds this node's clock is ahead of (positive) or behind (negative) the
    /// leader's clock, estimated from the entries it applied over 10 s; `None` before. Beyond
    /// ±1000 ms the node also logs a warning (see `store/sqlite/clock.rs`).
    pub clock_offset_ms: Option<i64>,
    /// The cluster's format as this node applies it (see `types::format`): raised by the leader
    /// once every member speaks a newer one.
    pub cluster_format: Format,
    /// The oldest and newest format this node's binary speaks.
    pub supported_formats: (Format, Format),
}

/// [`NodeStatus`] as format 1 (commit f4f5ed9) encodes it: the fields before those added since.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeStatusV1 {
    pub node_id: NodeId,
    pub role: String,
    pub leader_id: Option<NodeId>,
    pub term: u64,
    pub last_applied: u64,
    pub last_log_index: Option<u64>,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub members_fingerprint: u64,
}

impl From<NodeStatus> for NodeStatusV1 {
    fn from(s: NodeStatus) -> Self {
        NodeStatusV1 {
            node_id: s.node_id,
            role: s.role,
            leader_id: s.leader_id,
            term: s.term,
            last_applied: s.last_applied,
            last_log_index: s.last_log_index,
            voters: s.voters,
            learners: s.learners,
            snapshot_index: s.snapshot_index,
            purged_index: s.purged_index,
            members_fingerprint: s.members_fingerprint,
        }
    }
}

/// A format-1 node's status: what it did not report takes the value that format 1 implies (its
/// membership is not known to be uncommitted, it does not know of removal, its clock offset is
/// unknown, and it speaks and runs format 1).
impl From<NodeStatusV1> for NodeStatus {
    fn from(s: NodeStatusV1) -> Self {
        NodeStatus {
            node_id: s.node_id,
            role: s.role,
            leader_id: s.leader_id,
            term: s.term,
            last_applied: s.last_applied,
            last_log_index: s.last_log_index,
            voters: s.voters,
            learners: s.learners,
            snapshot_index: s.snapshot_index,
            purged_index: s.purged_index,
            members_fingerprint: s.members_fingerprint,
            membership_index: None,
            membership_committed: true,
            removed: false,
            clock_offset_ms: None,
            cluster_format: format::UNMARKED_PEER,
            supported_formats: (format::UNMARKED_PEER, format::UNMARKED_PEER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk_full() -> RemoteError {
        RemoteError::DiskFull {
            node_id: 2,
            what: "the Raft log".into(),
            path: "/data/logs".into(),
            detail: "No space left on device".into(),
        }
    }

    #[test]
    fn disk_full_reaches_older_peers_as_a_message_they_can_read() {
        let message = disk_full().to_string();
        for format in [1, 2, 3] {
            match ApiResponse::Write(Err(disk_full())).for_format(format) {
                ApiResponse::Write(Err(RemoteError::Other(m))) => assert_eq!(m, message),
                other => panic!("format {format}: {other:?}"),
            }
        }
        assert!(matches!(
            ApiResponse::Rows(Err(disk_full())).for_format(4),
            ApiResponse::Rows(Err(RemoteError::DiskFull { node_id: 2, .. }))
        ));
    }
}
