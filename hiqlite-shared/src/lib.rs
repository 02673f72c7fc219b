//! What Hiqlite's library (`hiqlite`) and its build-time macros (`hiqlite-macros-core`) must agree
//! on, in one small crate both depend on: an application compiles it without the macro machinery
//! (syn, quote), and the two can never disagree.
//!
//! - [`migrations`]: the one resolver of `migrations/<version>_<name>.sql` files (names, order,
//!   checksums), used by `migrate!()` at build time and `Migrations::from_dir` at run time;
//! - [`functions`]: the SQL functions Hiqlite registers on every node, which `query!` declares
//!   on its build-time schema;
//! - [`lex`]: the SQL tokenizer (string literals, quoted identifiers, comments, parameters as
//!   SQLite reads them), used by `query!`'s checks;
//! - [`params`]: SQLite's numbering of a statement's parameters, with which the runtime turns
//!   named parameters (`:id`, `@id`, `$id`) into positional ones.

pub mod functions;
pub mod lex;
pub mod migrations;
pub mod params;
