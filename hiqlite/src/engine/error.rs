//! The error type of every public API.

/// Everything that can go wrong in Hiqlite, with messages a user can act on.
///
/// For a write, every variant says whether it was applied: [`Error::Sql`] (the statement failed,
/// identically on every node: nothing applied), [`Error::NoLeader`], [`Error::Removed`],
/// [`Error::TooLarge`], [`Error::Config`], [`Error::Params`], [`Error::WriteKeyReused`] (never
/// applied) and [`Error::OutcomeUnknown`] (maybe applied). docs/cli.md has the whole list with
/// the outcome of each. A write made with a [`WriteKey`](crate::WriteKey) can be repeated after
/// any of them: it is applied at most once.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Sql(#[from] crate::types::command::SqlError),
    #[error("query returned no rows")]
    NoRows,
    #[error("cannot convert row: {0}")]
    Conversion(String),
    #[error("network error: {0}")]
    Network(String),
    /// No leader was reachable for the whole request timeout. A write was never proposed: it
    /// was not applied.
    #[error(
        "no leader could be reached within {0:?} (is a majority of the cluster running?); the \
         request was not applied"
    )]
    NoLeader(std::time::Duration),
    /// A write (or membership change) reached a leader, or may have, but no answer came back: it
    /// may have been applied or not, and may still be. Check with a consistent read before
    /// repeating it, or make the write with a [`WriteKey`](crate::WriteKey)
    /// ([`Client::with_key`](crate::Client::with_key)) and repeat it with the same key: it is
    /// applied at most once, and the repeat returns the first attempt's result.
    #[error(
        "outcome unknown: {0}; the write may or may not have been applied (check with a \
         consistent read before repeating it)"
    )]
    OutcomeUnknown(String),
    /// The contacted node was removed from the cluster: it applies nothing any more. Nothing was
    /// applied.
    #[error(
        "node {node_id} was removed from the cluster and takes no writes or consistent reads; \
         use a member (voters: {voters:?}); the request was not applied"
    )]
    Removed {
        node_id: crate::raft::NodeId,
        voters: Vec<crate::raft::NodeId>,
    },
    /// A membership change was refused or did not complete; the message says what the
    /// membership is now.
    #[error(transparent)]
    Membership(#[from] crate::engine::membership::error::MembershipError),
    #[error("Raft error: {0}")]
    Raft(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The request needs a newer cluster format (see docs/upgrades.md) than the cluster runs:
    /// some member runs an older release. Nothing was applied.
    #[error(
        "{what} needs cluster format {needed}, but the cluster runs format {found}: upgrade every \
         node to this release (docs/upgrades.md); nothing was applied"
    )]
    FormatTooOld {
        what: &'static str,
        needed: u8,
        found: u8,
    },
    #[error("write of {size} bytes exceeds the limit of {max} bytes (half of max_frame_bytes)")]
    TooLarge { size: usize, max: usize },
    #[error("the node is shutting down")]
    ShuttingDown,
    /// The call needs an embedded node (`hiqlite::start_node`): `what` runs inside the node
    /// (cron jobs, subscriptions), and a remote client has none.
    #[error("{what} needs an embedded node (hiqlite::start_node); a remote client cannot do it")]
    EmbeddedOnly { what: &'static str },
    /// Something did not finish in time: a consistent read's node did not catch up with the
    /// leader within `request_timeout`, or
    /// [`wait_until_healthy`](crate::Client::wait_until_healthy) gave up. Writes do not report
    /// it: a write that may have been applied reports [`Error::OutcomeUnknown`], and one made
    /// with a [`WriteKey`](crate::WriteKey) can then be repeated with the same key safely.
    #[error("timed out: {0}")]
    Timeout(String),
    #[error(transparent)]
    Migration(#[from] crate::migrate::MigrationError),
    /// Named parameters that do not fit the statement (a name without a value, a value for a
    /// name the statement does not use, ...). Found before anything was sent: nothing was
    /// applied.
    #[error("parameters: {0}")]
    Params(#[from] crate::types::params::ParamsError),
    /// A write made with a [`WriteKey`](crate::WriteKey) whose first write was of another kind
    /// (`first`, e.g. `execute`) than this call (`now`, e.g. `execute_returning`): the cluster
    /// keeps the first write's result, which this call cannot return. This call applied nothing.
    /// Repeat a keyed write with the same method, or use a new key for a new write.
    #[error(
        "write key {key} was first used for {first}, not {now}: its first result is kept and \
         this write was not applied (repeat a write with the same method, or use a new key)"
    )]
    WriteKeyReused {
        key: crate::types::write_key::WriteKey,
        first: &'static str,
        now: &'static str,
    },
    /// The node the write was sent to has no disk space left (`ENOSPC`, or SQLite's "database or
    /// disk is full") for its Raft log, database or snapshots: it took nothing, so nothing was
    /// applied. It lags behind the cluster until space is freed on the disk holding `path`, then
    /// catches up by itself; writes through the other nodes go on while a majority has space.
    /// Send the write to another node.
    #[error(
        "node {node_id} has no disk space left for {what} at {path} ({detail}); the write was not \
         applied: send it to another node, and free space on that disk (the node catches up by \
         itself, see docs/operations.md, \"A full disk\")"
    )]
    DiskFull {
        node_id: crate::raft::NodeId,
        /// What met the full disk: "the Raft log", "the database" or "a snapshot".
        what: String,
        /// The file or directory whose write failed.
        path: String,
        /// The error the write met.
        detail: String,
    },
    /// A backup could not be made, listed or read (see [`BackupError`](crate::backup::BackupError)
    /// for each case).
    #[error(transparent)]
    Backup(#[from] crate::types::backup::BackupError),
}

/// A local SQLite failure (a read with bad SQL, a type mismatch) reads the same as the error a
/// replicated statement returns, so callers handle one variant whichever path failed.
/// A broken constraint becomes [`SqlError::Constraint`](crate::SqlError::Constraint) here too.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sql(crate::store::sqlite::ops::statement_error(
            &e,
            e.to_string(),
        ))
    }
}

impl From<crate::store::sqlite::reader::PoolError> for Error {
    fn from(e: crate::store::sqlite::reader::PoolError) -> Self {
        use crate::store::sqlite::reader::PoolError;
        match &e {
            PoolError::Closed => Error::ShuttingDown,
            PoolError::TaskFailed(message) => Error::Storage(message.clone()),
            PoolError::Cancelled => Error::Storage(e.to_string()),
        }
    }
}

/// A read refused by the read connection's guard fails with the guard's reason rather than
/// SQLite's bare "not authorized" (or "access to ... is prohibited").
impl crate::store::sqlite::reader::ReadError for Error {
    fn refused(self, reason: String) -> Self {
        match self {
            Error::Sql(crate::types::command::SqlError::Sqlite { message })
                if message == "not authorized"
                    || (message.starts_with("access to ")
                        && message.ends_with(" is prohibited")) =>
            {
                Error::Sql(crate::types::command::SqlError::Sqlite {
                    message: format!("not authorized: {reason}"),
                })
            }
            other => other,
        }
    }
}

/// A refused configuration is [`Error::Config`] with the same message (`invalid configuration:
/// ...`), so `?` on a config call works where [`Error`] is returned.
///
/// ```
/// let e = hiqlite::NodeConfig::builder().build().unwrap_err();
/// let text = e.to_string();
/// let e = hiqlite::Error::from(e);
/// assert!(matches!(e, hiqlite::Error::Config(_)));
/// assert_eq!(e.to_string(), text);
/// ```
impl From<crate::config::ConfigError> for Error {
    fn from(e: crate::config::ConfigError) -> Self {
        Error::Config(e.detail())
    }
}
