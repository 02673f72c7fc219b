//! The shared vocabulary, at the bottom of the house: SQL values, the replicated command and its
//! results, write keys, openraft's type configuration, and members. It imports nothing of the
//! crate, so every room above (config, net, store, raft, engine, client) can speak it without
//! knowing the others.

pub mod command;
pub mod format;
pub mod members;
pub mod raft;
pub mod value;
pub mod write_key;
