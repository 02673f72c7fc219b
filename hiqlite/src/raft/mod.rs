//! Raft wiring: the openraft type configuration, the rocksdb log store and the network factory.

pub mod log_store;
pub mod network;
pub mod peer_health;
pub mod snapshot_transfer;

use serde::{Deserialize, Serialize};

use crate::store::command::{ApplyResult, Command};

/// The node id of a cluster member (any `u64`, unique within the cluster).
pub type NodeId = u64;

/// A cluster member's addresses, stored in the Raft membership.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    /// `host:port` of the Raft listener (node-to-node replication).
    pub raft_addr: String,
    /// `host:port` of the API listener (clients and forwarded writes).
    pub api_addr: String,
}

openraft::declare_raft_types!(
    /// Hiqlite's openraft type configuration.
    pub TypeConfig:
        D = Command,
        R = ApplyResult,
        NodeId = NodeId,
        Node = Member,
);

pub type Raft<SM> = openraft::Raft<TypeConfig, SM>;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
