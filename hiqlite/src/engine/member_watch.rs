//! What a node learns about its own membership after it started:
//! - at start, whether the configured `nodes` differ from the membership stored in its log (the
//!   stored one wins, so a changed list is worth a warning);
//! - while it runs, whether the leader still lists it: a removed node is not told by Raft (the
//!   leader simply stops replicating to it), so it asks the leader, and once the leader's
//!   committed membership no longer has it, it reports itself removed (`hiqlite status`) and
//!   refuses writes and consistent reads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::ServerState;
use tokio::sync::watch;

use crate::config::NodeConfig;
use crate::engine::membership::Removal;
use crate::engine::protocol::{ApiRequest, NodeStatus};
use crate::engine::Engine;
use crate::raft::{Member, NodeId, Raft};
use crate::store::sqlite::state_machine::StateMachine;

/// How often a node that is not the leader asks the leader whether it is still a member.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long one such question may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Warns when the membership stored in the log is not the configured `nodes` list: the stored
/// membership is what the node goes by.
pub(crate) fn warn_if_members_differ(raft: &Raft<StateMachine>, config: &NodeConfig) {
    let metrics = raft.metrics();
    let m = metrics.borrow_watched();
    let membership = m.membership_config.membership();
    let stored: BTreeMap<NodeId, &Member> = membership.nodes().map(|(id, n)| (*id, n)).collect();
    let configured: BTreeMap<NodeId, &Member> = config.nodes.iter().map(|n| (n.id, n)).collect();
    if stored == configured {
        return;
    }
    let list = |nodes: &BTreeMap<NodeId, &Member>| {
        nodes
            .values()
            .map(|n| format!("\"{} {} {}\"", n.id, n.raft_addr, n.api_addr))
            .collect::<Vec<_>>()
            .join(", ")
    };
    tracing::warn!(
        "the configured nodes [{}] differ from the membership stored in this node's Raft log \
         [{}] (voters {:?}, learners {:?}); the stored membership is used. Change members with \
         `hiqlite add-node` / `hiqlite remove-node`, then update `nodes` to match; after losing a \
         majority, see `hiqlite recover` in docs/operations.md",
        list(&configured),
        list(&stored),
        membership.voter_ids().collect::<Vec<_>>(),
        membership.learner_ids().collect::<Vec<_>>(),
    );
}

/// Every [`CHECK_EVERY`], asks the leader whether this node is still a member, until shutdown.
pub(crate) async fn watch_membership(node: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|&stop| stop) => return,
            _ = ticks.tick() => {}
        }
        if let Some(verdict) = check(&node).await {
            node.set_removal(verdict);
        }
    }
}

/// `Some(None)`: the leader lists this node; `Some(Some(_))`: its committed membership does not;
/// `None`: no leader answered, or this node never had a membership.
async fn check(node: &Engine) -> Option<Option<Removal>> {
    let (state, term, leader, peers) = {
        let metrics = node.raft.metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        // A node that was never part of a cluster has nothing to be removed from. (One whose log
        // lacks it, whether it was removed or is still catching up to the entry that adds it,
        // asks the leader like everyone else.)
        if m.membership_config.log_id().is_none() {
            return None;
        }
        let peers: Vec<NodeId> = membership
            .nodes()
            .map(|(id, _)| *id)
            .filter(|id| *id != node.node_id)
            .collect();
        (m.state, m.current_term, m.current_leader, peers)
    };
    if state == ServerState::Leader {
        return Some(None);
    }
    // The leader this node knows of first, then everyone else it knows.
    let candidates = leader
        .filter(|l| *l != node.node_id)
        .into_iter()
        .chain(peers.into_iter().filter(|p| Some(*p) != leader));
    for peer in candidates {
        let Some(status) = ask(node, peer).await else {
            continue;
        };
        let leads = status.role == "Leader" && status.leader_id == Some(status.node_id);
        if !leads || status.term < term {
            continue;
        }
        let listed =
            status.voters.contains(&node.node_id) || status.learners.contains(&node.node_id);
        if listed {
            return Some(None);
        }
        if !status.membership_committed {
            return None;
        }
        return Some(Some(Removal {
            leader: status.node_id,
            term: status.term,
            voters: status.voters,
            learners: status.learners,
        }));
    }
    None
}

async fn ask(node: &Engine, peer: NodeId) -> Option<NodeStatus> {
    let answer = node.call_peer_with_timeout(peer, &ApiRequest::Status, ASK_TIMEOUT);
    match tokio::time::timeout(ASK_TIMEOUT, answer).await {
        Ok(Ok(answer)) => answer.into_status().ok(),
        _ => None,
    }
}
