//! Raising the cluster's format (see `types::format`): while this node leads and the cluster runs
//! an older format than this binary's newest, it checks every few seconds whether every member's
//! Raft connection speaks the newest format; once all do (the last node of a rolling upgrade is
//! back), it proposes a `WriteOp::SetFormat` entry. From that entry on, every node applies
//! entries in the new format, so features that need it switch on everywhere at the same log
//! index.

use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::ServerState;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::types::command::{RequestId, WriteOp};
use crate::types::format::{Format, NEWEST};
use crate::types::members::NodeId;

/// The request id's client of format changes. Clients pick theirs at random from all of `u64`, so
/// one collides with this as rarely as two clients collide with each other.
const FORMAT_CHANGE_CLIENT: u64 = u64::from_be_bytes(*b"hqformat");

/// How often the leader checks whether the cluster's format can be raised: often, because a new
/// cluster also starts at format 1 and should run the newest format within a moment of forming.
/// A check reads the metrics and a map; it proposes at most once per raise.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Until shutdown, raises the cluster's format whenever this node leads and every member speaks
/// a newer one.
pub(crate) async fn raise_when_ready(node: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|&stop| stop) => return,
            _ = ticks.tick() => {}
        }
        let Some(format) = ready_to_raise(&node) else {
            continue;
        };
        // One id per target format: a raise proposed again (by this or a later leader) is
        // answered as the first one was, like any retried write.
        let id = RequestId {
            client: FORMAT_CHANGE_CLIENT,
            seq: u64::from(format),
            answered_below: u64::from(format),
        };
        match node.propose(id, WriteOp::SetFormat { format }).await {
            Ok(reply) => tracing::info!(
                format,
                log_index = reply.log_index,
                "every member speaks format {format}: the cluster now runs it"
            ),
            Err(_) => tracing::debug!(format, "raising the cluster's format will be retried"),
        }
    }
}

/// The format to raise the cluster to, if this node leads and every other member's Raft
/// connection speaks it.
fn ready_to_raise(node: &Engine) -> Option<Format> {
    if node.cluster_format.get() >= NEWEST {
        return None;
    }
    let metrics = node.raft.metrics();
    let m = metrics.borrow_watched();
    if m.state != ServerState::Leader {
        return None;
    }
    let peers: Vec<NodeId> = m
        .membership_config
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .filter(|id| *id != node.node_id)
        .collect();
    drop(m);
    peers
        .iter()
        .all(|peer| node.peer_formats.get(*peer).is_some_and(|f| f >= NEWEST))
        .then_some(NEWEST)
}
