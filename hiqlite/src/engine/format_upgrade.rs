//! Raising the cluster's format (see `types::format`): while this node leads and the cluster runs
//! an older format than this binary's newest, it checks every few seconds which formats every
//! member's Raft connection speaks; once all speak a newer one than the cluster runs (the last
//! node of a rolling upgrade is back), it proposes a `WriteOp::SetFormat` entry for the newest
//! format they all speak (a cluster of 0.1.0-era nodes and newer ones rises as far as the oldest
//! node allows, and again once that one is upgraded). From that entry on, every node applies
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

/// How long one raise proposal may take before the next check proposes it again.
const PROPOSAL_LIMIT: Duration = Duration::from_secs(1);

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
        // Bounded well below `request_timeout`: a proposal made just before this node lost
        // its leadership (elections are frequent while a cluster forms on busy cores) must not
        // hold the raise back; a retry carries the same id, so it applies once.
        let proposal = node.propose(id, WriteOp::SetFormat { format });
        match tokio::time::timeout(PROPOSAL_LIMIT, proposal).await {
            Ok(Ok(reply)) => tracing::info!(
                format,
                log_index = reply.log_index,
                "every member speaks format {format}: the cluster now runs it"
            ),
            _ => tracing::debug!(format, "raising the cluster's format will be retried"),
        }
    }
}

/// The format to raise the cluster to, if this node leads and every other member's Raft
/// connection speaks a newer format than the cluster runs: the newest format all of them speak.
fn ready_to_raise(node: &Engine) -> Option<Format> {
    let current = node.cluster_format.get();
    if current >= NEWEST {
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
    newest_common(
        current,
        peers.iter().map(|peer| node.peer_formats.get(*peer)),
    )
}

/// The newest format this binary and every peer speak (`None` for a peer whose format is not
/// known yet), if it is newer than `current`.
fn newest_common(current: Format, peers: impl Iterator<Item = Option<Format>>) -> Option<Format> {
    let mut common = NEWEST;
    for format in peers {
        common = common.min(format?);
    }
    (common > current).then_some(common)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raises_to_the_newest_format_every_member_speaks() {
        fn peers(f: &[Option<Format>]) -> impl Iterator<Item = Option<Format>> + '_ {
            f.iter().copied()
        }
        assert_eq!(
            newest_common(1, peers(&[Some(NEWEST), Some(NEWEST)])),
            Some(NEWEST)
        );
        // A member of an older release holds the cluster at what it speaks...
        assert_eq!(newest_common(1, peers(&[Some(NEWEST), Some(2)])), Some(2));
        // ...and once the cluster runs that, there is nothing to raise until it is upgraded.
        assert_eq!(newest_common(2, peers(&[Some(NEWEST), Some(2)])), None);
        assert_eq!(
            newest_common(2, peers(&[Some(NEWEST), Some(NEWEST)])),
            Some(NEWEST)
        );
        // A member not reached yet: wait.
        assert_eq!(newest_common(1, peers(&[Some(NEWEST), None])), None);
        // A single-node cluster raises to this binary's newest.
        assert_eq!(newest_common(1, peers(&[])), Some(NEWEST));
    }
}
