//! Raft wiring: the openraft type configuration, the rocksdb log store and the network factory.

pub mod log_store;
pub mod network;
pub mod peer_health;
pub mod snapshot_transfer;

// The vocabulary lives in `types/`; these paths stay for users (`hiqlite::raft::Member`).
pub use crate::types::members::{Member, NodeId};
pub use crate::types::raft::{Entry, LogId, Raft, StoredMembership, TypeConfig, Vote};
