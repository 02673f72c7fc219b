//! The nemesis: a seeded schedule of faults, injected into a running [`ProcessCluster`] one at a
//! time while the workloads run.
//!
//! Each fault is injected, held for a seeded time, then healed; between faults the cluster gets
//! a seeded calm period, which may be shorter than it needs to recover: a fault can hit a node
//! that is still catching up from the previous one. The kinds are dealt from a shuffled deck, so
//! every kind comes up equally often and a short round still sees each of them.
//!
//! Whatever the seed, the nemesis never breaks Raft's own assumptions (a node that loses its
//! disk loses its vote record and the entries it helped commit): a volume is wiped only when
//! every node has caught up, and the next fault waits until the wiped node has caught up again.
//! Without that rule a lost acknowledged write would be the test's fault, not the library's.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use super::rng::Rng;
use crate::ProcessCluster;

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// SIGKILL a node, restart it with the same data directory.
    Kill,
    /// SIGSTOP a node, SIGCONT it later (its connections stay open but silent).
    Pause,
    /// SIGKILL a follower, delete its data directory, restart it empty.
    WipeFollower,
    /// Cut a node off from every other node (clients still reach it), then heal.
    Isolate,
    /// Cut the link between the leader and one follower, both ways; the follower still reaches
    /// the other nodes (a non-transitive partition), then heal.
    CutLink,
    /// Make every fsync of a node slow (a preloaded shim delays each one), then fast again.
    SlowDisk,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::WipeFollower,
        FaultKind::Isolate,
        FaultKind::CutLink,
        FaultKind::SlowDisk,
    ];

    /// Whether the fault needs nodes in network namespaces.
    pub fn is_network(self) -> bool {
        matches!(self, FaultKind::Isolate | FaultKind::CutLink)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Kill => "kill -9 + restart",
            FaultKind::Pause => "SIGSTOP/SIGCONT pause",
            FaultKind::WipeFollower => "follower volume wipe",
            FaultKind::Isolate => "network isolation of a node",
            FaultKind::CutLink => "cut leader-follower link",
            FaultKind::SlowDisk => "slow disk (delayed fsync)",
        })
    }
}

/// Which node a fault hits, resolved against the cluster at injection time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Leader,
    Follower,
}

/// One planned fault.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    pub kind: FaultKind,
    pub target: Target,
    /// How long the fault lasts before it is healed.
    pub hold: Duration,
    /// Calm period before the fault.
    pub calm_before: Duration,
    /// Tie-breaker when several followers (or no known leader) qualify.
    pub pick: u64,
    /// For [`FaultKind::SlowDisk`]: how long every fsync waits.
    pub sync_delay: Duration,
}

/// The seeded plan: an endless sequence of faults.
#[derive(Debug)]
pub struct Schedule {
    rng: Rng,
    deck: Vec<FaultKind>,
    /// The kinds dealt, each equally often.
    kinds: Vec<FaultKind>,
}

impl Schedule {
    pub fn new(rng: Rng) -> Schedule {
        Self::with_kinds(rng, FaultKind::ALL.to_vec())
    }

    /// A schedule that deals only `kinds`.
    pub fn with_kinds(rng: Rng, kinds: Vec<FaultKind>) -> Schedule {
        assert!(
            !kinds.is_empty(),
            "a schedule needs at least one kind of fault"
        );
        Schedule {
            rng,
            deck: Vec::new(),
            kinds,
        }
    }

    pub fn next_fault(&mut self) -> Fault {
        if self.deck.is_empty() {
            self.deck = self.kinds.clone();
            self.rng.shuffle(&mut self.deck);
        }
        let kind = self.deck.pop().expect("a refilled deck");
        let r = &mut self.rng;
        let (target, hold) = match kind {
            FaultKind::Kill => (leader_biased(r), r.millis(100, 6000)),
            // Pauses shorter and longer than the election timeout: a short one is a hiccup, a long
            // one deposes a paused leader that wakes up believing it still leads.
            FaultKind::Pause => (leader_biased(r), r.millis(300, 6000)),
            FaultKind::WipeFollower => (Target::Follower, r.millis(100, 2000)),
            // An isolated leader keeps believing it leads until its lease runs out: reads and
            // writes sent to it must not succeed on its word alone.
            FaultKind::Isolate => (leader_biased(r), r.millis(500, 8000)),
            FaultKind::CutLink => (Target::Follower, r.millis(500, 8000)),
            FaultKind::SlowDisk => (leader_biased(r), r.millis(1000, 8000)),
        };
        // Drawn only for slow disks, so the schedules of seeds recorded before that kind existed
        // stay the same.
        let sync_delay = match kind {
            FaultKind::SlowDisk => r.millis(20, 400),
            _ => Duration::ZERO,
        };
        Fault {
            kind,
            target,
            hold,
            calm_before: r.millis(300, 2500),
            pick: r.next_u64(),
            sync_delay,
        }
    }
}

/// The leader 60% of the time: fail-over, dedup of retried writes and read-index bugs live there.
/// Draws exactly one number from `r`: recorded seeds depend on the order of the draws.
fn leader_biased(r: &mut Rng) -> Target {
    if r.percent(60) {
        Target::Leader
    } else {
        Target::Follower
    }
}

/// What the nemesis did in one round.
#[derive(Debug, Default, Clone)]
pub struct NemesisLog {
    pub injected: BTreeMap<FaultKind, u64>,
    /// One line per event, with its time since the round started.
    pub timeline: Vec<String>,
    /// Liveness problems: the cluster did not recover within a generous bound.
    pub problems: Vec<String>,
}

/// How long a node may take to catch up after a wipe before that counts as a problem.
const CATCH_UP: Duration = Duration::from_secs(30);
/// How long to wait for every node to catch up before a wipe; if they do not, the wipe is
/// skipped (under heavy faults a node may be legitimately behind).
const BEFORE_WIPE: Duration = Duration::from_secs(20);

/// Injects faults into `cluster`.
pub struct Nemesis<'a> {
    cluster: &'a mut ProcessCluster,
    schedule: Schedule,
    start: Instant,
    pub log: NemesisLog,
}

impl<'a> Nemesis<'a> {
    pub fn new(
        cluster: &'a mut ProcessCluster,
        rng: Rng,
        start: Instant,
        kinds: Vec<FaultKind>,
    ) -> Self {
        Nemesis {
            cluster,
            schedule: Schedule::with_kinds(rng, kinds),
            start,
            log: NemesisLog::default(),
        }
    }

    fn note(&mut self, what: String) {
        let t = self.start.elapsed().as_secs_f64();
        self.log.timeline.push(format!("{t:>9.3}s {what}"));
    }

    /// Injects faults until `until`; returns with every node running and none paused.
    pub async fn run(&mut self, until: Instant) {
        loop {
            let fault = self.schedule.next_fault();
            if Instant::now() + fault.calm_before + fault.hold >= until {
                break;
            }
            tokio::time::sleep(fault.calm_before).await;
            self.inject(fault).await;
        }
    }

    /// The node a fault hits: the leader if one answers as such, else a follower chosen by
    /// `pick` (when no leader is known, any node).
    async fn resolve(&self, target: Target, pick: u64) -> usize {
        let leader = self.current_leader().await;
        let n = self.cluster.len();
        match (target, leader) {
            (Target::Leader, Some(l)) => l,
            (Target::Follower, Some(l)) => {
                let followers: Vec<usize> = (0..n).filter(|&i| i != l).collect();
                followers[(pick % followers.len() as u64) as usize]
            }
            (_, None) => (pick % n as u64) as usize,
        }
    }

    /// A node that says it leads (no quorum check: the nemesis only aims, it does not verify).
    async fn current_leader(&self) -> Option<usize> {
        let statuses = self.cluster.statuses().await;
        statuses
            .iter()
            .filter(|(_, s)| s.role == "Leader")
            .max_by_key(|(_, s)| s.term)
            .map(|(&i, _)| i)
    }

    async fn inject(&mut self, fault: Fault) {
        let node = self.resolve(fault.target, fault.pick).await;
        let id = self.cluster.node_id(node);
        let target = format!("{:?}", fault.target).to_lowercase();
        match fault.kind {
            FaultKind::Kill => {
                self.note(format!("kill -9 node {id} ({target})"));
                self.cluster.kill9(node).await;
                tokio::time::sleep(fault.hold).await;
                self.cluster.restart(node);
                self.note(format!("restart node {id}"));
            }
            FaultKind::Pause => {
                self.note(format!("SIGSTOP node {id} ({target})"));
                self.cluster.pause(node);
                tokio::time::sleep(fault.hold).await;
                self.cluster.resume(node);
                self.note(format!("SIGCONT node {id}"));
            }
            FaultKind::WipeFollower => {
                if let Err(behind) = caught_up(self.cluster, BEFORE_WIPE).await {
                    self.note(format!("skip wipe: {behind}"));
                    return;
                }
                // Re-resolve: the leader may have changed while waiting.
                let node = self.resolve(Target::Follower, fault.pick).await;
                let id = self.cluster.node_id(node);
                self.note(format!("kill -9 node {id} (follower) and wipe its volume"));
                self.cluster.kill9(node).await;
                self.cluster.wipe_data_dir(node);
                tokio::time::sleep(fault.hold).await;
                self.cluster.restart(node);
                self.note(format!("restart node {id} with an empty volume"));
                if let Err(behind) = caught_up(self.cluster, CATCH_UP).await {
                    let problem = format!("after wiping node {id}: {behind}");
                    self.note(format!("PROBLEM {problem}"));
                    self.log.problems.push(problem);
                }
            }
            FaultKind::Isolate => {
                self.note(format!("isolate node {id} ({target}) from its peers"));
                self.cluster.isolate(node);
                tokio::time::sleep(fault.hold).await;
                self.cluster.heal_network();
                self.note("heal the network".to_string());
            }
            FaultKind::CutLink => {
                // `node` is a follower; the other end is the leader (any other node if none).
                let other = self
                    .current_leader()
                    .await
                    .filter(|&l| l != node)
                    .unwrap_or((node + 1) % self.cluster.len());
                let other_id = self.cluster.node_id(other);
                self.note(format!("cut the link node {id} <-> node {other_id}"));
                self.cluster.cut(node, other);
                tokio::time::sleep(fault.hold).await;
                self.cluster.heal_network();
                self.note("heal the network".to_string());
            }
            FaultKind::SlowDisk => {
                let delay = fault.sync_delay;
                self.note(format!(
                    "slow disk on node {id} ({target}): {delay:?} per fsync"
                ));
                self.cluster.slow_disk(node, delay);
                tokio::time::sleep(fault.hold).await;
                self.cluster.fast_disk(node);
                self.note(format!("disk of node {id} back to normal"));
            }
        }
        *self.log.injected.entry(fault.kind).or_default() += 1;
    }
}

/// Waits until every node of `cluster` has applied what the leader had applied when the wait
/// began; the error names the nodes still behind.
pub async fn caught_up(cluster: &ProcessCluster, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut target = None;
    loop {
        let statuses = cluster.statuses().await;
        if target.is_none() {
            target = statuses
                .values()
                .filter(|s| s.role == "Leader")
                .max_by_key(|s| s.term)
                .map(|s| s.last_applied);
        }
        if let Some(index) = target {
            let behind: Vec<u64> = (0..cluster.len())
                .filter(|i| statuses.get(i).is_none_or(|s| s.last_applied < index))
                .map(|i| cluster.node_id(i))
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "nodes {behind:?} had not applied index {index} after {timeout:?}"
                ));
            }
        } else if Instant::now() >= deadline {
            return Err(format!("no leader after {timeout:?}"));
        }
        tokio::time::sleep(crate::POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_follows_from_the_seed_and_deals_every_kind() {
        let plan = |seed| {
            let mut s = Schedule::new(Rng::new(seed));
            (0..2 * FaultKind::ALL.len())
                .map(|_| {
                    let f = s.next_fault();
                    (
                        f.kind,
                        f.target,
                        f.hold,
                        f.calm_before,
                        f.pick,
                        f.sync_delay,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(plan(1), plan(1));
        assert_ne!(plan(1), plan(2));
        for chunk in plan(3).chunks(FaultKind::ALL.len()) {
            let mut kinds: Vec<FaultKind> = chunk.iter().map(|f| f.0).collect();
            kinds.sort();
            assert_eq!(kinds, FaultKind::ALL.to_vec());
        }
    }
}
