//! What Hiqlite's library (`hiqlite`) and its build-time macros (`hiqlite-macros-core`) must agree
//! on, in one small crate both depend on: an application compiles it without the macro machinery
//! (syn, quote), and the two can never disagree.
//!
//! - [`migrations`]: the one resolver of `migrations/<version>_<name>.sql` files (names, order,
//!   checksums), used by `migrate!()` at build time and `Migrations::from_dir` at run time;
//! - [`functions`]: the SQL functions Hiqlite registers on every node, which `query!` declares
//!   on its build-time schema.

pub mod functions;
pub mod migrations;
