//! A small HTTP service (users and their todos) in which every SQL statement is checked at build
//! time against the workspace's `migrations/`. Each process is one node of a Hiqlite cluster:
//! reads are served from the node's own copy of the database, writes go through Raft from
//! whichever node received them.
//!
//! - [`db`]: the row types (`#[derive(HiqliteRow)]`) and every statement (`query!`/`query_as!`).
//! - [`routes`]: the axum router and its handlers.
//! - [`error`]: database and input errors as HTTP status codes with a JSON body.
//! - [`extract`]: request extractors that reject bad input with that JSON body.
//!
//! The program that runs it is `examples/http_service.rs`; its header shows how to start three
//! nodes and talk to them with curl.

pub mod db;
pub mod error;
pub mod extract;
pub mod routes;

pub use routes::router;
