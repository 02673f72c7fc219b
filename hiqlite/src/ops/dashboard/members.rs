//! The dashboard's cluster view: every member asked for its status over the API port, one row
//! per member, as `hiqlite status --cluster` shows them, with the leader they agree on.

use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use crate::engine::protocol::{ApiRequest, NodeStatus};
use crate::engine::Engine;
use crate::types::members::NodeId;

/// How long one member may take to answer before it counts as unreachable.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// One member as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct MemberRow {
    pub node_id: NodeId,
    pub raft_addr: String,
    pub api_addr: String,
    /// `voter` or `learner`, as the membership lists it.
    pub membership: &'static str,
    /// `leader`, `follower`, `learner`, `candidate` (lower-case, as the node reports it) or
    /// `unreachable`.
    pub role: String,
    pub term: Option<u64>,
    pub last_applied: Option<u64>,
    /// Entries this member's applied index is behind the leader's; `None` when unreachable or
    /// when no leader answered.
    pub lag: Option<u64>,
    /// Why the member is unreachable.
    pub error: Option<String>,
}

/// The whole view: which node answers, which leader, every member.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct ClusterView {
    /// The node serving this dashboard.
    pub node_id: NodeId,
    /// The leader as the answering members report it (the highest term's leader).
    pub leader_id: Option<NodeId>,
    pub members: Vec<MemberRow>,
}

/// Asks every member (this node directly, the others concurrently over their API port) and
/// builds the view. Never fails: a member that does not answer is a row with its error.
pub(super) async fn cluster_view(engine: &Engine) -> ClusterView {
    let members: Vec<(NodeId, String, String, &'static str)> = {
        let metrics = engine.raft.metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| {
                let kind = if voters.contains(id) {
                    "voter"
                } else {
                    "learner"
                };
                (*id, node.raft_addr.clone(), node.api_addr.clone(), kind)
            })
            .collect()
    };
    let asks = members.iter().map(|(id, ..)| ask(engine, *id));
    let answers = futures::future::join_all(asks).await;
    view(engine.node_id, members, answers)
}

async fn ask(engine: &Engine, id: NodeId) -> Result<NodeStatus, String> {
    if id == engine.node_id {
        return Ok(engine.status());
    }
    match engine
        .call_peer_with_timeout(id, &ApiRequest::Status, ASK_TIMEOUT)
        .await
    {
        Ok(answer) => answer
            .into_status()
            .map_err(|other| format!("unexpected answer {other:?}")),
        Err(e) => Err(e.message),
    }
}

/// The rows for `members` (id, Raft address, API address, kind) and each one's answer, in node
/// id order; lag is measured against the answering leader with the highest term.
fn view(
    node_id: NodeId,
    members: Vec<(NodeId, String, String, &'static str)>,
    answers: Vec<Result<NodeStatus, String>>,
) -> ClusterView {
    let leader = answers
        .iter()
        .flatten()
        .filter(|s| s.role == "Leader")
        .max_by_key(|s| s.term);
    let leader_id = leader.map(|l| l.node_id).or_else(|| {
        answers
            .iter()
            .flatten()
            .max_by_key(|s| s.term)
            .and_then(|s| s.leader_id)
    });
    let mut rows: Vec<MemberRow> = members
        .into_iter()
        .zip(&answers)
        .map(|((id, raft_addr, api_addr, kind), answer)| {
            let mut row = MemberRow {
                node_id: id,
                raft_addr,
                api_addr,
                membership: kind,
                role: "unreachable".into(),
                term: None,
                last_applied: None,
                lag: None,
                error: None,
            };
            match answer {
                Ok(s) => {
                    row.role = s.role.to_lowercase();
                    row.term = Some(s.term);
                    row.last_applied = Some(s.last_applied);
                    row.lag = leader.map(|l| l.last_applied.saturating_sub(s.last_applied));
                }
                Err(e) => row.error = Some(e.clone()),
            }
            row
        })
        .collect();
    rows.sort_by_key(|r| r.node_id);
    ClusterView {
        node_id,
        leader_id,
        members: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: u64, role: &str, term: u64, applied: u64) -> NodeStatus {
        NodeStatus {
            node_id: id,
            role: role.into(),
            leader_id: Some(1),
            term,
            last_applied: applied,
            last_log_index: Some(applied),
            voters: vec![1, 2, 3],
            learners: vec![],
            snapshot_index: None,
            purged_index: None,
            members_fingerprint: 0,
            membership_index: None,
            membership_committed: true,
            removed: false,
            clock_offset_ms: None,
            cluster_format: 4,
            supported_formats: (1, 4),
        }
    }

    fn member(id: u64) -> (NodeId, String, String, &'static str) {
        (id, format!("r:{id}"), format!("a:{id}"), "voter")
    }

    #[test]
    fn rows_show_the_leader_lag_and_unreachable_members() {
        let v = view(
            2,
            vec![member(3), member(1), member(2)],
            vec![
                Err("connection refused".into()),
                Ok(status(1, "Leader", 5, 100)),
                Ok(status(2, "Follower", 5, 90)),
            ],
        );
        assert_eq!(v.leader_id, Some(1));
        let ids: Vec<u64> = v.members.iter().map(|r| r.node_id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(v.members[0].role, "leader");
        assert_eq!(v.members[0].lag, Some(0));
        assert_eq!(v.members[1].lag, Some(10));
        assert_eq!(v.members[2].role, "unreachable");
        assert_eq!(v.members[2].error.as_deref(), Some("connection refused"));
        assert_eq!(v.members[2].lag, None);
    }

    #[test]
    fn without_an_answering_leader_the_leader_is_the_one_members_name() {
        let v = view(
            2,
            vec![member(1), member(2)],
            vec![Err("down".into()), Ok(status(2, "Follower", 5, 90))],
        );
        assert_eq!(v.leader_id, Some(1));
        assert_eq!(v.members[1].lag, None);
    }
}
