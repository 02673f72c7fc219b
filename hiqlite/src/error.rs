//! The error type of every public API.

/// Everything that can go wrong in Hiqlite, with messages a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Sql(#[from] crate::store::command::SqlError),
    #[error("query returned no rows")]
    NoRows,
    #[error("cannot convert row: {0}")]
    Conversion(String),
    #[error("network error: {0}")]
    Network(String),
    #[error("no leader could be reached within {0:?}; is a majority of the cluster running?")]
    NoLeader(std::time::Duration),
    #[error("Raft error: {0}")]
    Raft(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("write of {size} bytes exceeds the limit of {max} bytes (half of max_frame_bytes)")]
    TooLarge { size: usize, max: usize },
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error("timed out: {0}")]
    Timeout(String),
    #[error(transparent)]
    Migration(#[from] crate::migrate::MigrationError),
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
