//! Forming the cluster on first start: an uninitialized node asks its peers whether a cluster
//! already runs, initializes one with the configured members if none does, or asks to join.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::NodeConfig;
use crate::engine::membership::{MembershipChange, MEMBERSHIP_TIMEOUT};
use crate::engine::protocol::{ApiRequest, ApiResponse};
use crate::net::{Channel, RpcClient, Transport};
use crate::raft::{Member, Raft};
use crate::store::sqlite::state_machine::StateMachine;
use crate::types::members::members_fingerprint;

/// Forms the cluster on first start. A node that is already initialized (it has a log) does
/// nothing: Raft brings it back into the cluster it belongs to.
pub(super) async fn bootstrap(
    raft: Raft<StateMachine>,
    config: NodeConfig,
    api: Transport,
    shutdown: watch::Receiver<bool>,
) {
    match raft.is_initialized().await {
        Ok(true) => return crate::engine::member_watch::warn_if_members_differ(&raft, &config),
        Err(_) => return,
        Ok(false) => {}
    }
    match survey_peers(&config, &api).await {
        PeerSurvey::NoCluster => {}
        PeerSurvey::RunningCluster {
            peer,
            voters,
            learners,
        } => {
            if voters.contains(&config.node_id) || learners.contains(&config.node_id) {
                tracing::info!(
                    "a running cluster was found; waiting for its leader to replicate to this node"
                );
            } else {
                tracing::info!("a running cluster was found; asking to join it");
                join(&config, &api, &peer, &shutdown).await;
            }
            return;
        }
        PeerSurvey::DifferentMembers(peer) => {
            tracing::error!(
                peer,
                "node {peer} was configured with a different member list; not initializing a cluster \
                 (give every node the same `nodes`)"
            );
            return;
        }
    }
    if *shutdown.borrow() {
        return;
    }
    let members: BTreeMap<u64, Member> = config.nodes.iter().map(|m| (m.id, m.clone())).collect();
    match raft.initialize(members).await {
        Ok(()) => tracing::info!(
            "initialized the cluster with {} members",
            config.nodes.len()
        ),
        // Another path got there first (e.g. a leader already replicated to us): fine.
        Err(e) => tracing::debug!("initialize skipped: {e}"),
    }
}

/// What the peers said when an uninitialized node asked them.
enum PeerSurvey {
    /// No peer is part of an initialized cluster (or none answered).
    NoCluster,
    /// A peer belongs to an initialized cluster with these members.
    RunningCluster {
        peer: Member,
        voters: Vec<u64>,
        learners: Vec<u64>,
    },
    /// No cluster runs, and some peer was given a different member list: initializing could
    /// form two clusters.
    DifferentMembers(u64),
}

/// One request to `peer`'s API port on a fresh connection (start-up only; the client keeps
/// long-lived connections for everything else).
pub(super) async fn call_api(
    config: &NodeConfig,
    api: &Transport,
    peer: &Member,
    req: &ApiRequest,
    timeout: Duration,
) -> Result<ApiResponse, crate::net::NetError> {
    let client = RpcClient::connect_over(
        api,
        &peer.api_addr,
        &config.secret_api,
        Channel::Api,
        config.max_frame_bytes,
    )
    .await?;
    client.call(req, timeout).await
}

/// Asks each peer's API whether it is part of an initialized cluster, and with which members.
async fn survey_peers(config: &NodeConfig, api: &Transport) -> PeerSurvey {
    let ours = members_fingerprint(&config.nodes);
    let mut mismatch = None;
    for peer in config.nodes.iter().filter(|m| m.id != config.node_id) {
        let probe = async {
            call_api(
                config,
                api,
                peer,
                &ApiRequest::Status,
                Duration::from_secs(1),
            )
            .await
            .ok()?
            .into_status()
            .ok()
        };
        let Ok(Some(status)) = tokio::time::timeout(Duration::from_secs(2), probe).await else {
            continue;
        };
        if !status.voters.is_empty() {
            return PeerSurvey::RunningCluster {
                peer: peer.clone(),
                voters: status.voters,
                learners: status.learners,
            };
        }
        if status.members_fingerprint != ours {
            mismatch = Some(peer.id);
        }
    }
    mismatch.map_or(PeerSurvey::NoCluster, PeerSurvey::DifferentMembers)
}

/// A node that is in its own `nodes` but not a member of the running cluster asks to be added:
/// as a learner first, promoted to voter once it has caught up (or a learner for good with
/// `learner = true`).
async fn join(
    config: &NodeConfig,
    api: &Transport,
    peer: &Member,
    shutdown: &watch::Receiver<bool>,
) {
    let Some(me) = config.own_member().cloned() else {
        return;
    };
    let req = ApiRequest::Membership {
        change: MembershipChange::AddNode {
            member: me,
            voter: !config.learner,
        },
        forwarded: false,
    };
    while !*shutdown.borrow() {
        match call_api(config, api, peer, &req, MEMBERSHIP_TIMEOUT).await {
            Ok(ApiResponse::Membership(Ok(members))) => {
                tracing::info!(voters = ?members.voters, learners = ?members.learners, "joined the cluster");
                return;
            }
            // The cluster answered: don't insist (it may have removed this node on purpose).
            Ok(ApiResponse::Membership(Err(e))) => {
                tracing::error!(
                    "the cluster refused to add this node: {e}; add it with `hiqlite add-node`"
                );
                return;
            }
            Ok(other) => tracing::warn!("unexpected answer to a join request: {other:?}"),
            Err(e) => tracing::warn!("cannot reach node {} to join: {e}", peer.id),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
