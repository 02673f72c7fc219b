//! SQLite state machine: one writer thread that applies committed entries, a pool of read-only
//! connections for local reads, and deterministic clock/random functions.

mod apply;
mod cache;
#[cfg(test)]
mod cache_tests;
pub mod classify;
pub mod clock;
pub mod determinism;
mod events_hook;
#[cfg(test)]
mod events_tests;
mod ffi;
pub(crate) mod flush;
#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod full_disk_tests;
pub mod guard;
pub mod history;
pub mod math;
mod migrate;
mod notify;
pub(crate) mod ops;
pub mod reader;
mod restore;
#[cfg(test)]
mod restore_tests;
pub mod snapshot;
#[cfg(test)]
mod snapshot_tests;
pub mod state_machine;
pub mod stream;
#[cfg(test)]
pub(crate) mod test_db;
mod ticks;
mod vacuum;
#[cfg(test)]
mod write_key_tests;
pub mod writer;
#[cfg(test)]
mod writer_tests;
