//! Why a membership change was refused or did not complete. Every message says what the
//! membership is afterwards, so an operator never has to guess what a failed command left behind.

use serde::{Deserialize, Serialize};

use crate::types::members::NodeId;

/// A membership change that was refused (nothing changed) or did not complete (the message says
/// what is left). Crosses the network inside the API's error type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MembershipError {
    /// `remove-node` of an id that is neither voter nor learner.
    #[error(
        "node {id} is not a member (voters {voters:?}, learners {learners:?}); nothing was changed"
    )]
    NotAMember {
        id: NodeId,
        voters: Vec<NodeId>,
        learners: Vec<NodeId>,
    },
    /// `add-node` of an id that is a member with other addresses.
    #[error(
        "node {id} is already a member with other addresses (raft {raft_addr}, api {api_addr}); \
         nothing was changed: remove it first to give it new addresses"
    )]
    IdInUse {
        id: NodeId,
        raft_addr: String,
        api_addr: String,
    },
    /// `add-node` with an address a member already uses (or that reaches the same socket).
    #[error(
        "address {addr} of node {id} is already used by node {used_by} (its {used_as}); nothing \
         was changed: every member needs addresses of its own"
    )]
    AddressInUse {
        id: NodeId,
        addr: String,
        used_by: NodeId,
        used_as: String,
    },
    /// The address given for the new node reaches another node's process.
    #[error(
        "{addr} reaches node {actual}, not node {id}; nothing was changed: give node {id} the \
         addresses of its own process"
    )]
    WrongNode {
        id: NodeId,
        addr: String,
        actual: NodeId,
    },
    /// The new node does not answer: it is not running, or not reachable from the leader.
    #[error(
        "node {id} cannot be reached at {addr} ({reason}); nothing was changed: start node {id} \
         first, then add it"
    )]
    Unreachable {
        id: NodeId,
        addr: String,
        reason: String,
    },
    /// The new node was added as a learner but did not catch up in time; it was removed again.
    #[error(
        "node {id} did not catch up within {waited_secs} s ({reason}); it was removed again, the \
         membership is unchanged"
    )]
    RolledBack {
        id: NodeId,
        waited_secs: u64,
        reason: String,
    },
    /// The new node did not catch up, and removing it again failed too: it stays a learner.
    #[error(
        "node {id} did not catch up within {waited_secs} s and could not be removed again \
         ({reason}): it stays a learner; start it, or remove it with `hiqlite remove-node --id {id}`"
    )]
    LeftAsLearner {
        id: NodeId,
        waited_secs: u64,
        reason: String,
    },
    /// The new node caught up but its promotion to voter failed: it stays a learner.
    #[error(
        "node {id} was added as a learner but not promoted to voter ({reason}): it stays a \
         learner; run the same `hiqlite add-node` again to promote it"
    )]
    NotPromoted { id: NodeId, reason: String },
    /// Removing the only voter would leave a cluster that can never commit again.
    #[error("node {id} is the only voter; nothing was changed: add another voter first")]
    LastVoter { id: NodeId },
    /// Raft refused the change for another reason; nothing was changed.
    #[error("membership change refused: {0}; nothing was changed")]
    Refused(String),
}
