//! Proc-macros for Hiqlite: `#[derive(HiqliteRow)]`, `query!`, `query_as!` and `migrate!`.
//!
//! This crate only lists the entry points: each parses its input, calls into
//! `hiqlite_macros_core` (where all the logic lives, unit-tested) and turns an error into
//! `compile_error!`. Use them through the `hiqlite` crate, which re-exports them.
