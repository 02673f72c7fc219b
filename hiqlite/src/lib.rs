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

pub use client::{Client, ExecuteResult, FromRow, Row, Txn};
pub use config::NodeConfig;
pub use error::Error;
pub use hiqlite_macros::{migrate, query, query_as, HiqliteRow};
pub use migrate::Migrations;
pub use node::start_node;
pub use store::command::{Rows, SqlError, StatementOutput};
pub use value::{Params, Value};
