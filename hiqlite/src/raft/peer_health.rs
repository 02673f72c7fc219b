//! Reports trouble reaching a peer without flooding the log.
//!
//! openraft retries an unreachable peer on every heartbeat (several times a second) and would log
//! each failure; the recommended log filter (`crate::LOG_FILTER`) silences those, and this module
//! reports instead: the first failure at once, then again after 1 s, 2 s, 4 s ... (at most once a
//! minute) with the number of failed attempts in between, and once more when the peer answers
//! again. A peer whose address reaches another node is an ERROR: the membership is wrong.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::NodeId;

/// The first repeat report comes this long after the first failure; each later one twice as long.
const FIRST_REPEAT: Duration = Duration::from_secs(1);
/// Reports of a peer that keeps failing come at least this often.
const MAX_REPEAT: Duration = Duration::from_secs(60);

/// Failure bookkeeping of every peer of one node, shared by all its connections.
#[derive(Default)]
pub struct PeerHealth {
    peers: Mutex<HashMap<NodeId, Failing>>,
}

/// A peer that has failed since it last answered.
struct Failing {
    since: Instant,
    /// Failed attempts since the last report.
    unreported: u64,
    total: u64,
    next_report: Instant,
    interval: Duration,
}

/// What went wrong reaching a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// Not reachable (refused, timed out, closed): the peer may be down or cut off.
    Unreachable,
    /// The address reaches another node (or a node with the same id): the membership is wrong.
    WrongNode,
    /// The peer runs a binary too old for the cluster's format: it must be upgraded.
    OldFormat,
}

impl PeerHealth {
    /// Records a failed attempt to reach `target` at `addr`, and logs it when it is time to.
    pub fn failed(
        &self,
        target: NodeId,
        addr: &str,
        trouble: Trouble,
        error: &dyn std::fmt::Display,
    ) {
        let now = Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let failing = peers.entry(target).or_insert_with(|| Failing {
            since: now,
            unreported: 0,
            total: 0,
            next_report: now,
            interval: FIRST_REPEAT,
        });
        failing.unreported += 1;
        failing.total += 1;
        if now < failing.next_report {
            return;
        }
        let (count, since) = (failing.unreported, now.duration_since(failing.since));
        let wait = failing.interval;
        failing.unreported = 0;
        failing.next_report = now + wait;
        failing.interval = (failing.interval * 2).min(MAX_REPEAT);
        drop(peers);
        let since = since.as_secs();
        match trouble {
            Trouble::WrongNode => tracing::error!(
                peer = target,
                %addr,
                "{error}; node {target} never counts toward a quorum until its address is fixed \
                 (remove it with `hiqlite remove-node --id {target}` and add it again with the \
                 address of its own process) [{count} failed attempts, failing for {since} s]"
            ),
            Trouble::OldFormat => tracing::error!(
                peer = target,
                %addr,
                "{error}; nothing is replicated to node {target} until it runs a release that \
                 speaks the cluster's format (see docs/upgrades.md) [{count} failed attempts, \
                 failing for {since} s]"
            ),
            Trouble::Unreachable => tracing::warn!(
                peer = target,
                %addr,
                "cannot reach node {target}: {error} [{count} failed attempts, failing for \
                 {since} s; still retrying, next report in {wait:?} if it keeps failing]"
            ),
        }
    }

    /// Records that `target` answered; logs once if it had been failing.
    pub fn succeeded(&self, target: NodeId) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(failing) = peers.remove(&target) {
            drop(peers);
            tracing::info!(
                peer = target,
                "node {target} answers again after {} failed attempts over {} s",
                failing.total,
                failing.since.elapsed().as_secs()
            );
        }
    }

    /// How many attempts to reach `target` failed since it last answered.
    pub fn failures(&self, target: NodeId) -> u64 {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.get(&target).map_or(0, |f| f.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failures_until_the_peer_answers() {
        let health = PeerHealth::default();
        for _ in 0..100 {
            health.failed(5, "127.0.0.1:1", Trouble::Unreachable, &"refused");
        }
        assert_eq!(health.failures(5), 100);
        assert_eq!(health.failures(6), 0);
        health.succeeded(5);
        assert_eq!(health.failures(5), 0);
    }

    #[test]
    fn reports_are_spaced_out() {
        let health = PeerHealth::default();
        health.failed(5, "a", Trouble::Unreachable, &"refused");
        let peers = health.peers.lock().unwrap();
        let failing = &peers[&5];
        // Reported once at once; the next report waits, and the wait doubles.
        assert_eq!(failing.unreported, 0);
        assert!(failing.next_report > Instant::now());
        assert_eq!(failing.interval, FIRST_REPEAT * 2);
    }
}
