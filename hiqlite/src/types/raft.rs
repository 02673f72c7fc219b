//! openraft's type configuration for Hiqlite, and the names of its types used across the crate.
//! Declared here, below both the log store (`raft/`) and the state machine (`store/`), so that
//! neither has to import the other for them (as openraft's examples declare them at the root).

use super::command::{ApplyResult, Command};
use super::members::{Member, NodeId};

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
