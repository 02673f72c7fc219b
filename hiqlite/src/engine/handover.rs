//! Leadership hand-over: before a planned shutdown, and on request.

use std::time::Duration;

use super::error::Error;
use super::membership::error::MembershipError;
use super::Engine;
use crate::types::members::NodeId;

impl Engine {
    /// Hands leadership from this node to voter `to` and waits until `to` leads, at most
    /// `request_timeout`. Ok at once when `to` is this node and it leads.
    ///
    /// Errors: [`MembershipError::Refused`] when `to` is not a voter, this node does not lead or
    /// Raft refused; [`Error::Timeout`] when `to` did not take over in time (another node may
    /// lead by then: elections go on as usual).
    pub(crate) async fn transfer_leadership(&self, to: NodeId) -> Result<(), Error> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let (voters, learners) = self.members();
        if !voters.contains(&to) {
            return Err(MembershipError::Refused(format!(
                "node {to} is not a voter (voters {voters:?}, learners {learners:?}): only a \
                 voter can lead"
            ))
            .into());
        }
        match self.current_leader() {
            Some(leader) if leader == self.node_id => {}
            leader => {
                return Err(MembershipError::Refused(format!(
                    "node {} does not lead (the leader is {}): transfer leadership on the leader's \
                     node",
                    self.node_id,
                    leader.map_or("unknown".into(), |l| format!("node {l}"))
                ))
                .into())
            }
        }
        if to == self.node_id {
            return Ok(());
        }
        self.raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| MembershipError::Refused(format!("leadership transfer: {e}")))?;
        self.raft
            .wait(Some(self.request_timeout))
            .metrics(
                |m| m.current_leader == Some(to),
                "the new leader takes over",
            )
            .await
            .map(|_| ())
            .map_err(|e| {
                Error::Timeout(format!(
                    "node {to} did not take leadership over within {:?}: {e}",
                    self.request_timeout
                ))
            })
    }

    /// If this node leads, hands leadership to the most caught-up voter and waits (briefly) for
    /// it to take over, so a planned shutdown costs the cluster one round trip instead of an
    /// election timeout.
    pub(crate) async fn hand_over_leadership(&self) {
        if self.current_leader() != Some(self.node_id) {
            return;
        }
        // Only a voter that answers a heartbeat sent now can take over; ask, and wait briefly.
        let asked_at = <openraft::TokioInstant as openraft::Instant>::now();
        if self.raft.trigger().heartbeat().await.is_err() {
            return;
        }
        let me = self.node_id;
        let fresh_voters = |m: &openraft::RaftMetrics<crate::raft::TypeConfig>| -> Vec<NodeId> {
            let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
            let acked_since = |id: &NodeId| {
                m.heartbeat
                    .as_ref()
                    .and_then(|h| h.get(id).cloned().flatten())
                    .is_some_and(|acked| *acked >= asked_at)
            };
            voters
                .into_iter()
                .filter(|id| *id != me && acked_since(id))
                .collect()
        };
        let answered = self
            .raft
            .wait(Some(Duration::from_millis(200)))
            .metrics(|m| !fresh_voters(m).is_empty(), "a voter answers")
            .await;
        let Ok(metrics) = answered else { return };
        let alive = fresh_voters(&metrics);
        let target = metrics.replication.as_ref().and_then(|progress| {
            progress
                .iter()
                .filter(|(id, _)| alive.contains(id))
                .max_by_key(|(_, matched)| matched.map(|l| l.index()))
                .map(|(id, _)| *id)
        });
        let Some(target) = target else { return };
        if self.raft.trigger().transfer_leader(target).await.is_err() {
            return;
        }
        let moved = self
            .raft
            .wait(Some(Duration::from_secs(2)))
            .metrics(
                |m| m.current_leader.is_some_and(|l| l != me),
                "leadership handed over",
            )
            .await;
        match moved {
            Ok(_) => tracing::info!(to = target, "handed leadership over before shutdown"),
            Err(e) => tracing::warn!("leadership hand-over before shutdown did not finish: {e}"),
        }
    }
}
