//! This node's view of the cluster, as `hiqlite status` prints it.

use openraft::async_runtime::WatchReceiver;

use super::protocol::NodeStatus;
use super::Engine;

impl Engine {
    pub(crate) fn status(&self) -> NodeStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        // A removed node's own log still lists it: report the leader's view instead.
        let removal = self.removal.borrow().clone();
        let (voters, learners) = match &removal {
            Some(r) => (r.voters.clone(), r.learners.clone()),
            None => (
                membership.voter_ids().collect(),
                membership.learner_ids().collect(),
            ),
        };
        NodeStatus {
            node_id: self.node_id,
            role: format!("{:?}", m.state),
            leader_id: m.current_leader,
            term: m.current_term,
            last_applied: *self.applied.borrow(),
            last_log_index: m.last_log_index,
            voters,
            learners,
            snapshot_index: m.snapshot.map(|l| l.index()),
            purged_index: m.purged.map(|l| l.index()),
            members_fingerprint: self.members_fingerprint,
            membership_index: m.membership_config.log_id().map(|l| l.index()),
            membership_committed: m.membership_config.log_id()
                == m.committed_membership_config.log_id(),
            removed: removal.is_some(),
            clock_offset_ms: self.clock_offset.get(),
            cluster_format: self.cluster_format.get(),
            supported_formats: (crate::types::format::OLDEST, crate::types::format::NEWEST),
        }
    }
}
