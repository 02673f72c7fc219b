//! Cluster members: ids, addresses, and the fingerprint of a member list.

use serde::{Deserialize, Serialize};

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

/// A stable fingerprint (FNV-1a) of a member list, independent of its order. Nodes report the
/// fingerprint of the list they were configured with, so a starting node can tell whether its
/// peers were given the same list.
pub fn members_fingerprint(nodes: &[Member]) -> u64 {
    let mut sorted: Vec<&Member> = nodes.iter().collect();
    sorted.sort_by_key(|m| m.id);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for m in sorted {
        for byte in format!("{} {} {};", m.id, m.raft_addr, m.api_addr).bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}
