//! The logic behind `hiqlite-macros`, kept in an ordinary library so it can be unit-tested without
//! invoking the compiler (the proc-macro crate only parses input and turns errors into
//! `compile_error!`).
//!
//! - [`row`] implements `#[derive(HiqliteRow)]`,
//! - [`cache_name`] implements `#[derive(CacheName)]` (typed names of replicated caches),
//! - [`value_type`] implements `#[derive(HiqliteType)]` (enums and newtypes in one column),
//! - [`query`] implements `query!`, `query_as!`, `query_scalar!` and their `query_file*!` forms
//!   (build-time checked SQL),
//! - [`migrations`] is also used by `hiqlite` at runtime: one resolver serves `migrate!()` and
//!   `hiqlite::Migrations::from_dir`, so build time and runtime can never disagree on what a
//!   migration is or what its checksum is.

pub mod cache_name;
// Fuzz harnesses: only for `cargo fuzz` (fuzz/) and this crate's tests, never in a normal build.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod migrate_macro;
// The resolver lives in `hiqlite-shared`; this path stays.
pub use hiqlite_shared::migrations;
pub mod query;
pub mod row;
pub mod value_type;
