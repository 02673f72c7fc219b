//! Hiqlite: SQLite embedded in your application and replicated across nodes with Raft.
//!
//! Every node holds the whole database; reads are local, writes go through Raft (strongly
//! consistent, durable on a majority, automatic leader fail-over).

pub mod client;
pub mod config;
pub mod error;
pub mod migrate;
pub mod net;
pub mod node;
pub mod raft;
pub mod store;
pub mod typed;
pub mod value;

// The types a user meets in the signatures of `Client`, `Txn` and `NodeConfig`, so that
// `use hiqlite::...` is enough; each also stays at its module path. `Query`, `TxnRows` and the
// access markers stay together in `hiqlite::typed` (rustc names them by that path in errors).
pub use client::{
    Client, ExecuteResult, FromRow, Members, MembershipChange, NodeStatus, Row, SqlOutput,
    StatementRef, Txn,
};
pub use config::{NodeConfig, ReadPolicy, Secret};
pub use error::Error;
pub use hiqlite_macros::{migrate, query, query_as, HiqliteRow};
pub use migrate::{AppliedMigration, MigrateReport, MigrationError, MigrationId, Migrations};
pub use node::{shutdown_signal, start_node};
pub use raft::{Member, NodeId};
pub use store::command::{ConstraintKind, Rows, SqlError, StatementOutput};
pub use value::{Params, Value};
