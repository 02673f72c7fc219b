//! What travels through the Raft log (`Command`) and what applying it returns (`CommandResult`).
//!
//! Every write is one `Command`. It carries everything a replica needs to compute the same result:
//! the SQL, its parameters, the leader's wall clock at submission (for `datetime('now')` & co) and a
//! request id that makes retries exactly-once.

use serde::{Deserialize, Serialize};

use crate::types::value::Value;
// The statement errors live in their own module (the cache's outputs use them too); their
// paths through this module stay.
pub use crate::types::sql_error::{ConstraintKind, SqlError};

/// Identifies one logical write across retries: a random id per client and a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId {
    pub client: u64,
    pub seq: u64,
    /// Every request of this client with a lower `seq` has been answered: the state machine may
    /// forget their results. Not part of the identity (it may grow between retries).
    pub answered_below: u64,
}

/// One replicated log entry's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Command {
    pub request_id: RequestId,
    /// Milliseconds since the Unix epoch on the leader when the entry was proposed. The only clock
    /// the state machine reads.
    pub leader_time_ms: i64,
    pub op: WriteOp,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Command({}:{}, {})",
            self.request_id.client,
            self.request_id.seq,
            self.op.kind()
        )
    }
}

/// The write operations a client can replicate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WriteOp {
    /// One statement; returns rows affected and the last inserted rowid.
    Execute { sql: String, params: Vec<Value> },
    /// One statement with `RETURNING`; returns its rows.
    ExecuteReturning { sql: String, params: Vec<Value> },
    /// Several statements in one transaction, all or nothing.
    Txn { statements: Vec<TxnStatement> },
    /// A string of `;`-separated statements without parameters, in one transaction.
    Batch { sql: String },
    /// One schema migration (see `crate::migrate`): applied once, in version order, and recorded
    /// in `_hiqlite_migrations`, all in the entry's savepoint.
    Migrate(MigrateOp),
    /// Raises the cluster's format (see `types::format`): entries after this one are read and
    /// applied in `format`. Proposed by the leader only, once every member speaks `format`; a
    /// node that does not know `format` stops applying, with an error that says to upgrade it.
    /// (Added in format 2: format-1 nodes cannot decode it.)
    SetFormat { format: u8 },
    // Added in format 4 (`Feature::Restore`, `Feature::ScheduledTicks`): proposed only once the
    // cluster runs format 4, so no older node ever decodes one.
    /// One piece of a database being restored (`crate::backup::restore`), kept in the table
    /// `_hiqlite_restore` until [`WriteOp::RestoreCommit`]. Writing the same piece again replaces
    /// it. The first piece of a restore (`offset` 0) drops the pieces of every other restore, so
    /// an abandoned restore leaves nothing behind once the next one starts.
    RestoreChunk {
        restore: u64,
        offset: u64,
        // The same bytes on the wire as a plain `Vec<u8>` in postcard, without a serializer call
        // per byte.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Replaces the whole database with the one assembled from restore `restore`'s pieces: a
    /// SQLite file of `size` bytes with SHA-256 `sha256`. Applied as a segment of its own. The
    /// restored database keeps this cluster's membership, format, clock and request results, and
    /// records this entry as its last applied one (the log index "rolls over": nothing of the
    /// backup's own log is replayed).
    RestoreCommit {
        restore: u64,
        size: u64,
        sha256: [u8; 32],
    },
    /// Claims tick `tick_ms` (ms since the Unix epoch) of the scheduled job `job`: the claim
    /// succeeds only when it is later than the job's last claimed tick, so of all the leaders
    /// that may propose the same tick across a fail-over exactly one runs it.
    ClaimTick { job: String, tick_ms: i64 },
    // Added in format 5 (`Feature::Notify`).
    /// Publishes `payload` on `channel` to the subscribers of every node, once the entry is
    /// committed (see `store::events`). Writes nothing to the database.
    Notify { channel: String, payload: String },
    // Added in format 5 (`Feature::Cache`).
    /// A replicated cache or distributed lock operation (`store::sqlite::cache`).
    Cache(crate::types::cache::CacheOp),
}

impl WriteOp {
    pub fn kind(&self) -> &'static str {
        match self {
            WriteOp::Execute { .. } => "execute",
            WriteOp::ExecuteReturning { .. } => "execute_returning",
            WriteOp::Txn { .. } => "txn",
            WriteOp::Batch { .. } => "batch",
            WriteOp::Migrate(_) => "migrate",
            WriteOp::SetFormat { .. } => "set_format",
            WriteOp::RestoreChunk { .. } => "restore_chunk",
            WriteOp::RestoreCommit { .. } => "restore_commit",
            WriteOp::ClaimTick { .. } => "claim_tick",
            WriteOp::Notify { .. } => "notify",
            WriteOp::Cache(op) => op.kind(),
        }
    }

    /// How long applying this entry may take beyond an ordinary write: a restore's commit
    /// assembles, checks and copies the whole database on every node, which takes seconds per
    /// GiB (measured: 15-60 s for 1 GiB on a 2-core machine, docs/benchmarks.md). Writers wait
    /// `request_timeout` plus this. Budgeted at 4 MiB/s (a slow disk), so 256 s per GiB.
    pub fn extra_apply_time(&self) -> std::time::Duration {
        const SLOW_DISK_BYTES_PER_SEC: u64 = 4 << 20;
        match self {
            WriteOp::RestoreCommit { size, .. } => {
                std::time::Duration::from_secs(size / SLOW_DISK_BYTES_PER_SEC + 1)
            }
            _ => std::time::Duration::ZERO,
        }
    }

    /// The cluster format an entry of this kind needs (see `types::format`): a client waits
    /// for it, or is refused, before proposing one.
    pub fn needs_format(&self) -> crate::types::format::Format {
        use crate::types::format::Feature;
        match self {
            WriteOp::RestoreChunk { .. } | WriteOp::RestoreCommit { .. } => {
                Feature::Restore.since()
            }
            WriteOp::ClaimTick { .. } => Feature::ScheduledTicks.since(),
            WriteOp::Notify { .. } => Feature::Notify.since(),
            WriteOp::Cache(_) => Feature::Cache.since(),
            _ => crate::types::format::OLDEST,
        }
    }
}

/// The payload of [`WriteOp::Migrate`]: one migration file, as read by the migrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrateOp {
    /// At most `i64::MAX` (stored as an SQLite integer).
    pub version: u64,
    /// The name part of the file name (`0001_init.sql` → `init`).
    pub name: String,
    /// The file name (`0001_init.sql`), recorded so later errors can name it.
    pub file: String,
    /// SHA-256 of the normalized SQL, as 64 hex digits.
    pub checksum: String,
    /// `;`-separated statements without parameters, line endings normalized.
    pub sql: String,
}

/// One statement inside a [`WriteOp::Txn`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnStatement {
    pub sql: String,
    pub params: Vec<TxnParam>,
    pub kind: TxnStatementKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TxnStatementKind {
    /// Runs the statement; its output is rows affected and last insert rowid.
    Execute,
    /// Runs the statement once per parameter row (prepared once): a bulk insert or update. Its
    /// output is the total rows affected and the last inserted rowid. The statement's own
    /// `params` are unused.
    ExecuteMany { rows: Vec<Vec<Value>> },
    /// Runs the statement and keeps its rows (a `SELECT` or `... RETURNING`).
    Query,
    /// Runs the statement; its first column of its first row must be truthy, or the whole
    /// transaction rolls back with [`SqlError::GuardFailed`].
    Guard,
}

/// A parameter of a transaction statement: a value, or an output of an earlier statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TxnParam {
    Value(Value),
    /// An output of statement number `statement` (0-based, must be earlier in the transaction).
    Output {
        statement: usize,
        output: OutputRef,
    },
}

/// Which output of an earlier transaction statement to use as a parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum OutputRef {
    LastInsertRowid,
    RowsAffected,
    /// A column of the first row of a `Query` statement, by name.
    Column(String),
}

/// Rows with their column names: the result of a query or of `... RETURNING`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// The outcome of one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StatementOutput {
    Executed {
        rows_affected: u64,
        last_insert_rowid: i64,
    },
    Rows(Rows),
}

/// What a successfully applied command returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WriteOutput {
    Executed {
        rows_affected: u64,
        last_insert_rowid: i64,
    },
    Rows(Rows),
    /// One output per transaction statement, in order.
    Txn(Vec<StatementOutput>),
    /// Number of statements a batch ran.
    Batch {
        statements: usize,
    },
    /// A migration: `applied` is false when the same version with the same checksum was already
    /// recorded (another node applied it first); `statements` is how many ran.
    Migrated {
        applied: bool,
        statements: usize,
    },
    // Added in format 4.
    /// A restore was committed: the database is now the restored one. `log_index`, `log_term`
    /// and `entry_time_ms` are the last entry the restored database held in the cluster it came
    /// from (0 when none); `at_index` is the index of the commit entry in this cluster's log.
    Restored {
        log_index: u64,
        log_term: u64,
        entry_time_ms: i64,
        at_index: u64,
    },
    /// The answer to [`WriteOp::ClaimTick`]: `claimed` when this proposal won the tick;
    /// `last_tick_ms` is the job's last claimed tick before it.
    TickClaimed {
        claimed: bool,
        last_tick_ms: Option<i64>,
    },
    // Added in format 5.
    /// The answer to [`WriteOp::Cache`].
    Cache(crate::types::cache::CacheOutput),
}

/// The result of applying one command, as every replica computes it.
pub type CommandResult = Result<WriteOutput, SqlError>;

/// What the state machine returns to openraft for each entry (`C::R`): the command's result, or
/// nothing for blank and membership entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyResult(pub Option<CommandResult>);
