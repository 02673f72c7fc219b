//! Changing the cluster's members at runtime: add a node (as a learner that catches up, then
//! promoted to voter unless it should stay a learner), remove a node. Like writes, a change asked
//! of a follower is forwarded to the leader, and retried across leader changes.
//!
//! A change either completes or leaves the membership as it was, and says which
//! ([`MembershipError`]): a new node is checked first (its id and addresses are its own, and the
//! processes at its addresses prove they are that node), and a learner that does not catch up is
//! removed again.

pub mod change;
mod checks;
pub mod error;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::ChangeMembers;

pub use self::change::{Members, MembershipChange, Removal};
pub use self::error::MembershipError;
use crate::engine::error::Error;
use crate::engine::protocol::{ApiRequest, ApiResponse, RemoteError};
use crate::engine::Engine;
use crate::raft::{Member, NodeId};

/// How long a caller waits for the answer to a membership change: adding a node waits until it
/// has caught up, which can mean receiving a whole snapshot.
pub const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(600);

/// A new learner gets this many times `request_timeout` (90 s by default) to catch up before it
/// is removed again.
pub const CATCH_UP_REQUEST_TIMEOUTS: u32 = 9;

impl Engine {
    /// Applies `change` through the leader, forwarding and retrying like a write.
    pub(crate) async fn change_membership(
        &self,
        change: MembershipChange,
    ) -> Result<Members, Error> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        // Retrying while there is no leader (or another change is committing) stops after
        // `request_timeout`, as for writes; once a leader takes the change, its answer is awaited.
        let deadline = Instant::now() + self.request_timeout;
        // Whether a leader may have started the change: then giving up leaves it unknown.
        let mut reached_leader = false;
        loop {
            let leader = self.current_leader();
            let attempt = match leader {
                Some(l) if l == self.node_id => {
                    reached_leader = true;
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
                        Ok(ApiResponse::Membership(r)) => {
                            reached_leader |= !matches!(r, Err(RemoteError::NotLeader { .. }));
                            r
                        }
                        Ok(other) => {
                            return Err(Error::Network(format!("unexpected answer {other:?}")))
                        }
                        Err(e) => {
                            reached_leader |= e.sent;
                            Err(RemoteError::Retry(e.message))
                        }
                    }
                }
                None => Err(RemoteError::Retry("no leader is known yet".into())),
            };
            match attempt {
                Ok(members) => return Ok(members),
                Err(RemoteError::Membership(e)) => return Err(Error::Membership(e)),
                Err(RemoteError::NotLeader { .. } | RemoteError::Retry(_))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e @ (RemoteError::NotLeader { .. } | RemoteError::Retry(_))) => {
                    return Err(if reached_leader {
                        Error::OutcomeUnknown(format!(
                            "the membership change was not confirmed ({e}); see `hiqlite status` \
                             for the members now"
                        ))
                    } else {
                        Error::NoLeader(self.request_timeout)
                    })
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
                self.add_node_on_leader(member, voter).await?
            }
            MembershipChange::RemoveNode { id } => self.remove_node_on_leader(id).await?,
        }
        let (voters, learners) = self.members();
        Ok(Members { voters, learners })
    }

    async fn add_node_on_leader(&self, member: Member, voter: bool) -> Result<(), RemoteError> {
        let id = member.id;
        let (nodes, voters, learners) = self.membership();
        checks::check_addresses(&member, &nodes).await?;
        if voters.contains(&id) {
            if !voter {
                return Err(MembershipError::Refused(format!(
                    "node {id} is a voter; to make it a learner, remove it and add it with --learner"
                ))
                .into());
            }
            return Ok(());
        }
        let was_learner = learners.contains(&id);
        if was_learner && !voter {
            return Ok(());
        }
        checks::probe(self, &member).await?;
        if !was_learner {
            // Not openraft's blocking mode: it waits without a deadline for a node that may
            // never answer. Wait here, bounded, until the learner has caught up.
            self.raft
                .add_learner(id, member, false)
                .await
                .map_err(membership_error)?;
        }
        let catch_up = self.request_timeout * CATCH_UP_REQUEST_TIMEOUTS;
        if let Err(reason) = self.wait_caught_up(id, catch_up).await {
            let waited_secs = catch_up.as_secs();
            if was_learner {
                return Err(MembershipError::NotPromoted { id, reason }.into());
            }
            let remove = ChangeMembers::RemoveNodes(BTreeSet::from([id]));
            return Err(match self.raft.change_membership(remove, false).await {
                Ok(_) => MembershipError::RolledBack {
                    id,
                    waited_secs,
                    reason,
                },
                Err(e) => MembershipError::LeftAsLearner {
                    id,
                    waited_secs,
                    reason: format!("{reason}; removing it failed: {e}"),
                },
            }
            .into());
        }
        if voter {
            let promote = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
            if let Err(e) = self.raft.change_membership(promote, false).await {
                return Err(match membership_error(e) {
                    retry @ (RemoteError::NotLeader { .. } | RemoteError::Retry(_)) => retry,
                    other => MembershipError::NotPromoted {
                        id,
                        reason: other.to_string(),
                    }
                    .into(),
                });
            }
        }
        Ok(())
    }

    /// Waits until learner `id` holds the leader's whole log (as of now).
    async fn wait_caught_up(&self, id: NodeId, timeout: Duration) -> Result<(), String> {
        let target = self.status().last_log_index.unwrap_or(0);
        self.raft
            .wait(Some(timeout))
            .metrics(
                |m| {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&id).cloned().flatten())
                        .is_some_and(|matched| matched.index() >= target)
                },
                "the new learner caught up",
            )
            .await
            .map(|_| ())
            .map_err(|_| format!("it did not receive the log up to index {target}"))
    }

    async fn remove_node_on_leader(&self, id: NodeId) -> Result<(), RemoteError> {
        let (_, voters, learners) = self.membership();
        if !voters.contains(&id) && !learners.contains(&id) {
            return Err(MembershipError::NotAMember {
                id,
                voters,
                learners,
            }
            .into());
        }
        if voters == [id] {
            return Err(MembershipError::LastVoter { id }.into());
        }
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
        Ok(())
    }

    /// Current voters and learners, as this node sees them.
    pub(crate) fn members(&self) -> (Vec<NodeId>, Vec<NodeId>) {
        let status = self.status();
        (status.voters, status.learners)
    }

    /// Every member's addresses, the voters and the learners, as this node sees them.
    fn membership(&self) -> (BTreeMap<NodeId, Member>, Vec<NodeId>, Vec<NodeId>) {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        (
            membership
                .nodes()
                .map(|(id, node)| (*id, node.clone()))
                .collect(),
            membership.voter_ids().collect(),
            membership.learner_ids().collect(),
        )
    }

    /// What this node learnt about its own removal, if it was removed.
    pub(crate) fn removal(&self) -> Option<Removal> {
        self.removal.borrow().clone()
    }

    /// Records what the leader said about this node's membership (`None`: it is a member).
    pub(crate) fn set_removal(&self, removal: Option<Removal>) {
        let changed = self.removal.send_if_modified(|current| {
            let changed = *current != removal;
            *current = removal.clone();
            changed
        });
        if !changed {
            return;
        }
        match removal {
            Some(r) => tracing::warn!(
                "this node ({}) was removed from the cluster: the leader, node {} (term {}), lists \
                 voters {:?} and learners {:?}; it receives no more writes and refuses writes and \
                 consistent reads. Stop it, or add it again with `hiqlite add-node`",
                self.node_id,
                r.leader,
                r.term,
                r.voters,
                r.learners
            ),
            None => tracing::info!("this node ({}) is a member of the cluster", self.node_id),
        }
    }

    /// [`Error::Removed`] if this node was removed.
    pub(crate) fn removed_error(&self) -> Option<Error> {
        self.removal().map(|r| Error::Removed {
            node_id: self.node_id,
            voters: r.voters,
        })
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
        RaftError::APIError(e) => MembershipError::Refused(e.to_string()).into(),
        RaftError::Fatal(e) => RemoteError::Other(e.to_string()),
    }
}
