//! Hiqlite: SQLite embedded in your application and replicated across nodes with Raft.
//!
//! Every node holds the whole database; reads are local, writes go through Raft (strongly
//! consistent, durable on a majority, automatic leader fail-over).

pub mod backup;
mod cache;
pub mod client;
pub mod config;
pub mod cron;
pub mod engine;
// Fuzz harnesses: only for `cargo fuzz` (fuzz/) and this crate's tests, never in a normal build.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod migrate;
pub mod net;
pub mod node;
mod ops;
pub mod raft;
pub mod store;
pub mod typed;
pub mod types;

// Moved into `types/` and `engine/`; the paths stay for users.
pub use engine::error;
pub use types::value;

// The types a user meets in the signatures of `Client`, `Txn` and `NodeConfig`, so that
// `use hiqlite::...` is enough; each also stays at its module path. `Query`, `TxnRows` and the
// access markers stay together in `hiqlite::typed` (rustc names them by that path in errors).
pub use client::{
    Cache, Client, ExecuteResult, FromRow, KeyedWrite, LockGuard, Members, MembershipChange,
    MembershipError, NodeStatus, RemoteOptions, Row, SqlOutput, StatementRef, Txn,
};
pub use config::{NodeConfig, ReadPolicy, Secret};
pub use cron::{CronJob, CronTick};
pub use error::Error;
#[cfg(feature = "macros")]
pub use hiqlite_macros::{
    migrate, query, query_as, query_file, query_file_as, query_file_scalar, query_scalar,
    CacheName, HiqliteRow, HiqliteType,
};
pub use migrate::{AppliedMigration, MigrateReport, MigrationError, MigrationId, Migrations};
pub use node::{shutdown_signal, start_node};
pub use raft::{Member, NodeId};
pub use store::command::{ConstraintKind, Rows, SqlError, StatementOutput};
pub use store::events::{ListenError, Notification, Subscription, TableEvent, TableOp};
pub use types::cache_name::{CacheName, CacheNames};
pub use types::params::{IntoParams, IntoTxnParams, NamedParams, ParamsError};
pub use types::write_key::{ParseWriteKeyError, WriteKey, WRITE_KEY_RETENTION};
pub use value::{Params, Value};

/// The `tracing` filter `hiqlite serve` logs with (unless `RUST_LOG` is set): info, openraft's
/// warnings, but not those it repeats for every heartbeat, vote and retry to a peer that cannot
/// be reached (several a second). The node reports unreachable peers itself, with backoff
/// (`raft::peer_health`). Use it, or add its `openraft::...=error` parts to your own filter, when
/// embedding a node:
///
/// ```no_run
/// tracing_subscriber::fmt()
///     .with_env_filter(tracing_subscriber::EnvFilter::new(hiqlite::LOG_FILTER))
///     .init();
/// ```
pub const LOG_FILTER: &str = "info,openraft=warn,openraft::core::heartbeat=error,\
                              openraft::core::raft_core=error,openraft::replication=error,\
                              openraft::engine::handler::replication_handler=error";
