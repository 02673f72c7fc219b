//! How a replicated statement fails ([`SqlError`], [`ConstraintKind`]): deterministic, so every
//! replica computes the same error. Stored with postcard inside results: new variants go last.

use serde::{Deserialize, Serialize};

/// A deterministic statement failure: every replica computes the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SqlError {
    #[error("SQL error: {message}")]
    Sqlite { message: String },
    #[error("transaction guard {statement} did not hold; the transaction was rolled back")]
    GuardFailed { statement: usize },
    #[error("transaction statement {statement}: {message}")]
    InvalidReference { statement: usize, message: String },
    /// A migration's version is recorded with another checksum: the file changed after it was
    /// applied.
    #[error(
        "migration {version} was applied from {applied_file} with checksum {applied_checksum}; \
         this one has checksum {checksum}"
    )]
    MigrationChanged {
        version: u64,
        applied_file: String,
        applied_checksum: String,
        checksum: String,
    },
    /// A migration older than the newest applied one, which was never applied itself.
    #[error("migration {version} is older than migration {newest} ({newest_file}), which is already applied")]
    MigrationOutOfOrder {
        version: u64,
        newest: u64,
        newest_file: String,
    },
    // New variants go last: results are stored with postcard, which numbers variants in order.
    /// The statement broke a constraint (SQLite's `SQLITE_CONSTRAINT`). `kind` comes from
    /// SQLite's extended result code, so every replica reports the same kind; `message` is
    /// SQLite's text, as in [`SqlError::Sqlite`] (the Display is the same).
    ///
    /// ```
    /// use hiqlite::{ConstraintKind, Error, SqlError};
    /// fn status(e: &Error) -> u16 {
    ///     match e {
    ///         Error::Sql(SqlError::Constraint { kind: ConstraintKind::Unique | ConstraintKind::PrimaryKey, .. }) => 409,
    ///         Error::Sql(SqlError::Constraint { .. }) => 422,
    ///         _ => 500,
    ///     }
    /// }
    /// ```
    #[error("SQL error: {message}")]
    Constraint {
        kind: ConstraintKind,
        message: String,
    },
}

impl SqlError {
    /// The kind of constraint the statement broke, if it broke one.
    pub fn constraint_kind(&self) -> Option<ConstraintKind> {
        match self {
            SqlError::Constraint { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Which constraint a statement broke: [`SqlError::Constraint`]. Read from SQLite's extended
/// result code (`SQLITE_CONSTRAINT_*`), never from the message text.
// Stored with postcard inside results: new kinds go last, never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ConstraintKind {
    /// A `UNIQUE` constraint or unique index (`SQLITE_CONSTRAINT_UNIQUE`).
    Unique,
    /// A `PRIMARY KEY` that is not the rowid (`SQLITE_CONSTRAINT_PRIMARYKEY`), or a duplicate
    /// rowid (`SQLITE_CONSTRAINT_ROWID`).
    PrimaryKey,
    /// A `FOREIGN KEY`, immediate or deferred (`SQLITE_CONSTRAINT_FOREIGNKEY`).
    ForeignKey,
    /// A `CHECK` constraint (`SQLITE_CONSTRAINT_CHECK`).
    Check,
    /// A `NOT NULL` column got NULL (`SQLITE_CONSTRAINT_NOTNULL`).
    NotNull,
    /// `RAISE(ABORT | FAIL | ROLLBACK, ...)` in a trigger (`SQLITE_CONSTRAINT_TRIGGER`).
    Trigger,
    /// A value of the wrong type for a column of a `STRICT` table (`SQLITE_CONSTRAINT_DATATYPE`).
    Datatype,
    /// Any other `SQLITE_CONSTRAINT_*` code.
    Other,
}
