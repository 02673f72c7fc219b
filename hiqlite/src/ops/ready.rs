//! `/ready`: whether this node should receive traffic, and why not.
//!
//! Ready means: this node is a member of the cluster (a voter or a learner, not removed), a
//! leader is known, and a linearizable read barrier succeeds within [`READY_TIMEOUT`]: the
//! leader confirmed with a quorum that it still leads, and this node has applied everything the
//! leader had committed when asked. So a node that lost its peers, or lags so far behind that it
//! cannot catch up within the bound, answers 503. Each probe costs one barrier (a heartbeat round
//! on the leader; one request to the leader from a follower).

use std::time::Duration;

use serde::Serialize;

use crate::types::members::NodeId;

/// How long the read barrier may take before the node counts as not ready.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What the node knows about itself when asked, before the barrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub node_id: NodeId,
    /// In the membership this node applies (voter or learner), and not removed by the leader.
    pub member: bool,
    pub leader_id: Option<NodeId>,
    /// The last log index SQLite has applied on this node.
    pub applied_index: u64,
    /// The last log index this node knows to be committed in the cluster.
    pub committed_index: u64,
}

/// The `/ready` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Readiness {
    pub ready: bool,
    pub node_id: NodeId,
    pub member: bool,
    pub leader_id: Option<NodeId>,
    pub applied_index: u64,
    pub committed_index: u64,
    /// `committed_index - applied_index` when asked (0 when applied is ahead).
    pub lag: u64,
    /// Whether the read barrier succeeded within the bound (`None`: not tried, because the
    /// node is not a member or knows no leader).
    pub caught_up: Option<bool>,
    /// Why the node is not ready; empty when it is.
    pub reasons: Vec<String>,
}

/// Judges `facts` and the outcome of the read barrier (`None` when it was not tried).
pub(crate) fn judge(facts: &Facts, barrier: Option<Result<(), String>>) -> Readiness {
    let mut reasons = Vec::new();
    if !facts.member {
        reasons.push("this node is not a member of the cluster".to_string());
    }
    if facts.leader_id.is_none() {
        reasons.push("no leader is known".to_string());
    }
    let caught_up = barrier.as_ref().map(Result::is_ok);
    match &barrier {
        Some(Err(e)) => reasons.push(format!(
            "read barrier did not complete within {READY_TIMEOUT:?}: {e}"
        )),
        None if reasons.is_empty() => reasons.push("read barrier not tried".to_string()),
        _ => {}
    }
    Readiness {
        ready: reasons.is_empty(),
        node_id: facts.node_id,
        member: facts.member,
        leader_id: facts.leader_id,
        applied_index: facts.applied_index,
        committed_index: facts.committed_index,
        lag: facts.committed_index.saturating_sub(facts.applied_index),
        caught_up,
        reasons,
    }
}

/// Whether the barrier should be tried at all: only a member that knows a leader can pass.
pub(crate) fn worth_a_barrier(facts: &Facts) -> bool {
    facts.member && facts.leader_id.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Facts {
        Facts {
            node_id: 2,
            member: true,
            leader_id: Some(1),
            applied_index: 40,
            committed_index: 42,
        }
    }

    #[test]
    fn a_member_with_a_leader_that_passes_the_barrier_is_ready() {
        let r = judge(&healthy(), Some(Ok(())));
        assert!(r.ready, "{r:?}");
        assert!(r.reasons.is_empty());
        assert_eq!((r.lag, r.caught_up), (2, Some(true)));
    }

    #[test]
    fn a_failed_barrier_is_not_ready_and_says_why() {
        let r = judge(&healthy(), Some(Err("timed out".into())));
        assert!(!r.ready);
        assert_eq!(r.caught_up, Some(false));
        assert!(r.reasons[0].contains("timed out"), "{:?}", r.reasons);
    }

    #[test]
    fn no_leader_or_no_membership_skips_the_barrier_and_is_not_ready() {
        let no_leader = Facts {
            leader_id: None,
            ..healthy()
        };
        assert!(!worth_a_barrier(&no_leader));
        let r = judge(&no_leader, None);
        assert!(!r.ready);
        assert_eq!(r.reasons, vec!["no leader is known".to_string()]);
        assert_eq!(r.caught_up, None);

        let removed = Facts {
            member: false,
            ..healthy()
        };
        assert!(!worth_a_barrier(&removed));
        let r = judge(&removed, None);
        assert_eq!(
            r.reasons,
            vec!["this node is not a member of the cluster".to_string()]
        );
    }

    #[test]
    fn applied_ahead_of_the_known_commit_is_no_lag() {
        let f = Facts {
            applied_index: 50,
            committed_index: 42,
            ..healthy()
        };
        assert_eq!(judge(&f, Some(Ok(()))).lag, 0);
    }

    #[test]
    fn the_body_names_every_field() {
        let json = serde_json::to_value(judge(&healthy(), Some(Ok(())))).unwrap();
        for k in [
            "ready",
            "node_id",
            "member",
            "leader_id",
            "applied_index",
            "committed_index",
            "lag",
            "caught_up",
            "reasons",
        ] {
            assert!(json.get(k).is_some(), "{k} missing in {json}");
        }
    }
}
