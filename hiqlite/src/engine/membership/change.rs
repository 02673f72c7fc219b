//! What a membership change asks for and what it leaves: the vocabulary of `membership/`, kept
//! apart from the logic so the API protocol and the error type can name it without importing
//! the logic that uses them.

use serde::{Deserialize, Serialize};

use crate::types::members::{Member, NodeId};

/// A change of the cluster's members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add `member`: first as a learner, which receives the log (or a snapshot) without voting;
    /// once it has caught up, promoted to voter when `voter` is true.
    AddNode { member: Member, voter: bool },
    /// Remove node `id`, voter or learner. It stops receiving replication and its votes no longer
    /// count; stop its process afterwards.
    RemoveNode { id: NodeId },
}

/// The members after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
}

/// What a node learnt from the leader about its own removal (see `engine::member_watch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The leader whose committed membership no longer lists this node.
    pub leader: NodeId,
    pub term: u64,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
}
