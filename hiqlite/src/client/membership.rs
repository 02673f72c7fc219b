//! Changing the cluster's members at runtime: add a node (as a learner that catches up, then
//! promoted to voter unless it should stay a learner), remove a node. Like writes, a change asked
//! of a follower is forwarded to the leader, and retried across leader changes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};

use super::local::LocalNode;
use super::protocol::{ApiRequest, ApiResponse, RemoteError};
use crate::error::Error;
use crate::raft::{Member, NodeId};

/// How long a membership change may take: adding a node waits until it has caught up, which can
/// mean receiving a whole snapshot.
pub const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(120);

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

impl LocalNode {
    /// Applies `change` through the leader, forwarding and retrying like a write.
    pub(crate) async fn change_membership(
        &self,
        change: MembershipChange,
    ) -> Result<Members, Error> {
        let deadline = Instant::now() + MEMBERSHIP_TIMEOUT;
        loop {
            let leader = self.current_leader();
            let attempt = match leader {
                Some(l) if l == self.node_id => {
                    self.change_membership_on_leader(change.clone()).await
                }
                Some(l) => {
                    let req = ApiRequest::Membership {
                        change: change.clone(),
                        forwarded: true,
                    };
                    match self
                        .call_peer_with_timeout(l, &req, MEMBERSHIP_TIMEOUT)
                        .await
                    {
                        Ok(ApiResponse::Membership(r)) => r,
                        Ok(other) => {
                            return Err(Error::Network(format!("unexpected answer {other:?}")))
                        }
                        Err(e) => Err(RemoteError::Retry(e)),
                    }
                }
                None => Err(RemoteError::Retry("no leader is known yet".into())),
            };
            match attempt {
                Ok(members) => return Ok(members),
                Err(RemoteError::NotLeader { .. } | RemoteError::Retry(_))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(Error::Raft(format!("membership change failed: {e}"))),
            }
        }
    }

    /// Applies `change` if this node leads; `NotLeader` otherwise.
    pub(crate) async fn change_membership_on_leader(
        &self,
        change: MembershipChange,
    ) -> Result<Members, RemoteError> {
        if self.current_leader() != Some(self.node_id) {
            return Err(RemoteError::NotLeader {
                leader: self.current_leader(),
            });
        }
        match change {
            MembershipChange::AddNode { member, voter } => {
                let id = member.id;
                // Not openraft's blocking mode: it waits without a deadline for a node that may
                // never answer. Wait here, bounded, until the learner has caught up.
                let added = self
                    .raft
                    .add_learner(id, member, false)
                    .await
                    .map_err(membership_error)?;
                let target = added.log_id.index();
                let caught_up = self
                    .raft
                    .wait(Some(MEMBERSHIP_TIMEOUT))
                    .metrics(
                        |m| {
                            m.replication
                                .as_ref()
                                .and_then(|r| r.get(&id).cloned().flatten())
                                .is_some_and(|matched| matched.index() >= target)
                        },
                        "the new learner caught up",
                    )
                    .await;
                if caught_up.is_err() {
                    return Err(RemoteError::Other(format!(
                        "node {id} was added as a learner but did not catch up within {MEMBERSHIP_TIMEOUT:?}; \
                         is it running and reachable?"
                    )));
                }
                if voter {
                    let promote = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
                    self.raft
                        .change_membership(promote, false)
                        .await
                        .map_err(membership_error)?;
                }
            }
            MembershipChange::RemoveNode { id } => {
                let (voters, _) = self.members();
                let change = if voters.contains(&id) {
                    ChangeMembers::RemoveVoters(BTreeSet::from([id]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([id]))
                };
                // `retain = false`: a removed voter does not linger as a learner.
                self.raft
                    .change_membership(change, false)
                    .await
                    .map_err(membership_error)?;
            }
        }
        let (voters, learners) = self.members();
        Ok(Members { voters, learners })
    }

    /// Current voters and learners, as this node sees them.
    pub(crate) fn members(&self) -> (Vec<NodeId>, Vec<NodeId>) {
        let status = self.status();
        (status.voters, status.learners)
    }
}

fn membership_error(
    e: RaftError<crate::raft::TypeConfig, ClientWriteError<crate::raft::TypeConfig>>,
) -> RemoteError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => RemoteError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(f)) => RemoteError::Retry(format!(
            "membership entry discarded (leader: {:?})",
            f.leader_id
        )),
        // Another change is still committing: try again shortly.
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            openraft::error::ChangeMembershipError::InProgress(e),
        )) => RemoteError::Retry(e.to_string()),
        RaftError::APIError(e) => RemoteError::Other(e.to_string()),
        RaftError::Fatal(e) => RemoteError::Other(e.to_string()),
    }
}
