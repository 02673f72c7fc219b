//! [`Runner`]: runs a [`TickJob`] at the ticks of a [`CronSchedule`] on whichever node leads,
//! once per tick across the cluster.
//!
//! At each tick (UTC), the node that leads claims the tick through Raft (`WriteOp::ClaimTick`
//! under the job's name) and runs the job only if its claim wins. The state machine lets a claim
//! win only for a tick later than the job's last claimed one, so two leaders of a fail-over that
//! both see the same tick cannot both run it. A tick missed because the leader died before
//! claiming it runs once afterwards: a node that becomes leader claims the most recent due tick
//! at once, and wins only if nobody claimed it. Ticks missed while the job ran, or while no
//! leader was known, are not made up one by one: only the most recent due tick runs.
//!
//! The claim is made before the job runs, so a tick runs **at most once**: when the job fails,
//! or the leader dies or stops while the job runs, that tick is not run again by anyone (the
//! next tick runs as usual). A job that must finish its work should make it idempotent and catch
//! up at its next tick.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use tokio::sync::watch;

use super::claim::{claim, now_ms, tick_to_claim, ClaimOutcome};
use crate::config::CronSchedule;
use crate::engine::Engine;

/// The longest single sleep: the schedule is looked at again at least this often, so a wall
/// clock that jumps (NTP, a suspended VM) delays a tick by at most this much.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A tick this node won.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronTick {
    /// The tick, ms since the Unix epoch (UTC).
    pub tick_ms: i64,
    /// Run late: this node claimed it on becoming leader (its predecessor did not run it).
    pub late: bool,
}

/// What runs at the ticks a [`Runner`] wins.
pub(crate) trait TickJob: Send {
    /// Runs tick `tick`, won by this node. Dropped unfinished at shutdown.
    fn run(&mut self, tick: CronTick) -> impl Future<Output = ()> + Send;

    /// Called at a tick while this node does not lead (nothing by default).
    fn follower_tick(&mut self, _tick_ms: i64) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Runs `job` at the ticks of `schedule`, claiming them under `name` (`_hiqlite_ticks.job`).
pub(crate) struct Runner<J> {
    pub engine: Arc<Engine>,
    pub schedule: CronSchedule,
    pub name: String,
    pub job: J,
}

/// Why this node woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// A tick of the schedule came.
    Tick,
    /// This node became leader: a tick its predecessor missed may be due.
    BecameLeader,
}

/// The ticks this node has dealt with.
#[derive(Debug, Default)]
struct Ticks {
    /// The last tick whose claim got an answer (won or lost).
    claimed: Option<i64>,
    /// The last tick at which this node, not leading, called `follower_tick`.
    followed: Option<i64>,
}

impl<J: TickJob> Runner<J> {
    /// Runs the schedule until `shutdown` turns true. A job running at shutdown is dropped.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut ticks = Ticks::default();
        loop {
            let now = now_ms();
            let Some(next) = self.schedule.next_after(now) else {
                tracing::warn!(job = %self.name, cron = %self.schedule, "the schedule has no further tick: the job stops");
                return;
            };
            let leading = self.leads();
            let wait = Duration::from_millis(u64::try_from(next - now).unwrap_or(0)).min(MAX_SLEEP);
            let wake = tokio::select! {
                _ = shutdown.wait_for(|&stop| stop) => return,
                _ = tokio::time::sleep(wait) => Wake::Tick,
                _ = became_leader(&self.engine), if !leading => Wake::BecameLeader,
            };
            let work = self.on_wake(wake, &mut ticks);
            tokio::select! {
                _ = shutdown.wait_for(|&stop| stop) => return,
                _ = work => {}
            }
        }
    }

    async fn on_wake(&mut self, wake: Wake, ticks: &mut Ticks) {
        let now = now_ms();
        if !self.leads() {
            let due = self.schedule.latest_due(now);
            if wake == Wake::Tick && due > ticks.followed {
                ticks.followed = due;
                if let Some(due) = due {
                    self.job.follower_tick(due).await;
                }
            }
            return;
        }
        let Some(tick) = tick_to_claim(&self.schedule, now, ticks.claimed) else {
            return;
        };
        match claim(&self.engine, &self.name, tick).await {
            Ok(ClaimOutcome::Won) => {
                ticks.claimed = Some(tick);
                self.job
                    .run(CronTick {
                        tick_ms: tick,
                        late: wake == Wake::BecameLeader,
                    })
                    .await;
            }
            Ok(ClaimOutcome::Lost { last_tick_ms }) => {
                ticks.claimed = Some(tick);
                tracing::debug!(job = %self.name, tick_ms = tick, ?last_tick_ms, "tick already claimed by another leader");
            }
            Err(e) => tracing::warn!(
                job = %self.name,
                tick_ms = tick,
                error = %e,
                "cannot claim the tick; this node does not run it (the next tick, or the next \
                 leader, tries again)"
            ),
        }
    }

    fn leads(&self) -> bool {
        self.engine.current_leader() == Some(self.engine.node_id)
    }
}

/// Resolves once this node leads (at once if it does). Never resolves once Raft stopped.
async fn became_leader(engine: &Engine) {
    let mut metrics = engine.raft.metrics();
    loop {
        if engine.current_leader() == Some(engine.node_id) {
            return;
        }
        if metrics.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
