//! Scheduled backups (`backup_cron`): at each tick of the schedule (UTC), the node that leads
//! at that moment claims the tick through Raft (`WriteOp::ClaimTick`, job [`JOB`]) and, only if
//! its claim wins, makes a backup the way `hiqlite backup now` does (linearized first), then
//! applies retention (`retention.rs`) to the store.
//!
//! Once per tick across the cluster: the state machine lets a claim win only for a tick later
//! than the job's last claimed one, so two leaders of a fail-over that both see the same tick
//! cannot both run it. A tick missed because the leader died before claiming it runs once
//! afterwards: a node that becomes leader claims the most recent due tick at once, and wins
//! only if nobody claimed it. Ticks missed while a backup ran, or while no leader was known, are
//! not made up one by one: only the most recent due tick runs.
//!
//! Nodes that do not lead only keep their own `backup_dir` tidy at each tick (local retention),
//! since a node that led earlier holds the backups it made then.
//!
//! A failed backup is logged and recorded in the engine's [`BackupHealth`]; the next tick
//! tries again. The claim stays: a tick's backup is attempted once.
//!
//! [`BackupHealth`]: crate::engine::backups::BackupHealth

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::async_runtime::WatchReceiver;
use tokio::sync::watch;

use super::retention::{self, Windows};
use crate::config::CronSchedule;
use crate::engine::backups::BackupStore;
use crate::engine::Engine;
use crate::types::command::{WriteOp, WriteOutput};
use crate::types::write_key::WriteKey;

/// The job name scheduled backups claim their ticks under (`_hiqlite_ticks.job`).
pub const JOB: &str = "backup";

/// The longest single sleep: the schedule is looked at again at least this often, so a wall
/// clock that jumps (NTP, a suspended VM) delays a tick by at most this much.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// What the scheduler needs of the node, besides the engine.
pub(crate) struct Scheduler {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn BackupStore>,
    pub schedule: CronSchedule,
    /// `backup_keep_days_local`, `backup_keep_days`.
    pub keep_days_local: u32,
    pub keep_days: u32,
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
    /// The last tick at which this node, not leading, applied local retention.
    tidied: Option<i64>,
}

/// The tick to claim at `now_ms`, if any: the most recent due one, when it is later than the
/// last tick this node handled.
pub(crate) fn tick_to_claim(
    schedule: &CronSchedule,
    now_ms: i64,
    last_handled: Option<i64>,
) -> Option<i64> {
    let due = schedule.latest_due(now_ms)?;
    (last_handled < Some(due)).then_some(due)
}

/// What a claim's answer means for this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimOutcome {
    /// This node won the tick: back up now.
    Won,
    /// Another node (or an earlier leader) already ran this tick or a later one.
    Lost { last_tick_ms: Option<i64> },
}

/// Reads the state machine's answer to a `ClaimTick`.
///
/// # Errors
/// A message when the answer is not a tick claim's (a SQL error or another output).
pub(crate) fn claim_outcome(
    result: &crate::types::command::CommandResult,
) -> Result<ClaimOutcome, String> {
    match result {
        Ok(WriteOutput::TickClaimed { claimed: true, .. }) => Ok(ClaimOutcome::Won),
        Ok(WriteOutput::TickClaimed {
            claimed: false,
            last_tick_ms,
        }) => Ok(ClaimOutcome::Lost {
            last_tick_ms: *last_tick_ms,
        }),
        Ok(other) => Err(format!("unexpected answer to a tick claim: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

impl Scheduler {
    /// Runs the schedule until `shutdown` turns true. Work in progress at shutdown is dropped
    /// (a backup being written leaves only a temporary file, removed at the next start).
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(cron = %self.schedule, "scheduled backups on (times in UTC; the leader makes them)");
        let mut ticks = Ticks::default();
        loop {
            let now = now_ms();
            let Some(next) = self.schedule.next_after(now) else {
                tracing::warn!(cron = %self.schedule, "backup_cron has no further tick: scheduled backups stop");
                return;
            };
            let leading = self.leads();
            let wait = Duration::from_millis(u64::try_from(next - now).unwrap_or(0)).min(MAX_SLEEP);
            let wake = tokio::select! {
                _ = shutdown.wait_for(|&stop| stop) => return,
                _ = tokio::time::sleep(wait) => Wake::Tick,
                _ = self.became_leader(), if !leading => Wake::BecameLeader,
            };
            let work = self.on_wake(wake, &mut ticks);
            tokio::select! {
                _ = shutdown.wait_for(|&stop| stop) => return,
                _ = work => {}
            }
        }
    }

    async fn on_wake(&self, wake: Wake, ticks: &mut Ticks) {
        let now = now_ms();
        if !self.leads() {
            let due = self.schedule.latest_due(now);
            if wake == Wake::Tick && due > ticks.tidied {
                ticks.tidied = due;
                self.retention(Windows::days(Some(self.keep_days_local), None))
                    .await;
            }
            return;
        }
        let Some(tick) = tick_to_claim(&self.schedule, now, ticks.claimed) else {
            return;
        };
        match self.claim(tick).await {
            Ok(ClaimOutcome::Won) => {
                ticks.claimed = Some(tick);
                self.back_up(tick, wake).await;
            }
            Ok(ClaimOutcome::Lost { last_tick_ms }) => {
                ticks.claimed = Some(tick);
                tracing::debug!(
                    tick_ms = tick,
                    ?last_tick_ms,
                    "backup tick already claimed by another leader"
                );
            }
            Err(e) => tracing::warn!(
                tick_ms = tick,
                error = %e,
                "cannot claim the scheduled backup's tick; no backup for it from this node \
                 (the next tick, or the next leader, tries again)"
            ),
        }
    }

    /// Proposes the claim of `tick` under a fresh request id (retried by the write path across
    /// leader changes, applied at most once).
    async fn claim(&self, tick: i64) -> Result<ClaimOutcome, String> {
        let op = WriteOp::ClaimTick {
            job: JOB.into(),
            tick_ms: tick,
        };
        let reply = self
            .engine
            .write(WriteKey::new().request_id(), op)
            .await
            .map_err(|e| e.to_string())?;
        claim_outcome(&reply.result)
    }

    /// Makes the backup of `tick` (claimed by this node), records the outcome, then applies
    /// retention.
    async fn back_up(&self, tick: i64, wake: Wake) {
        let health = self.engine.backup_health();
        health.started(tick, now_ms());
        let late = if wake == Wake::BecameLeader {
            " (a tick the previous leader did not run)"
        } else {
            ""
        };
        match self.engine.create_backup().await {
            Ok(info) => {
                health.succeeded(&info.name, now_ms());
                tracing::info!(tick_ms = tick, name = %info.name, location = %info.location, log_index = info.log_index, "scheduled backup made{late}");
                self.retention(Windows::days(
                    Some(self.keep_days_local),
                    Some(self.keep_days),
                ))
                .await;
            }
            Err(e) => {
                health.failed(&e.to_string());
                tracing::error!(tick_ms = tick, error = %e, "scheduled backup failed{late}; the next tick tries again");
            }
        }
    }

    /// Deletes what retention says under `windows`.
    async fn retention(&self, windows: Windows) {
        let list = match self.store.list().await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "retention: cannot list the backups; the next tick tries again");
                return;
            }
        };
        let segments = match self.store.list_segments().await {
            Ok(segments) => segments,
            Err(e) => {
                tracing::warn!(error = %e, "retention: cannot list the log segments; the next tick tries again");
                return;
            }
        };
        let segments: Vec<retention::SegmentRef> = segments.iter().map(Into::into).collect();
        let plan = retention::plan(&list, &segments, windows, now_ms());
        if !plan.is_empty() {
            retention::apply(self.store.as_ref(), &plan).await;
        }
    }

    fn leads(&self) -> bool {
        self.engine.current_leader() == Some(self.engine.node_id)
    }

    /// Resolves once this node leads (at once if it does). Never resolves once Raft stopped.
    async fn became_leader(&self) {
        let mut metrics = self.engine.raft.metrics();
        loop {
            if self.leads() {
                return;
            }
            if metrics.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::command::SqlError;

    const T: i64 = 1_764_498_000_000;

    #[test]
    fn claims_the_latest_due_tick_once() {
        let s = CronSchedule::parse("*/10 * * * * *").unwrap();
        // A node that never handled a tick claims the one due now.
        assert_eq!(tick_to_claim(&s, T + 3_000, None), Some(T));
        // The same tick is not claimed twice by one node, however often it wakes.
        assert_eq!(tick_to_claim(&s, T + 9_999, Some(T)), None);
        // The next tick, on time or late.
        assert_eq!(tick_to_claim(&s, T + 10_000, Some(T)), Some(T + 10_000));
        // Ticks missed while a backup ran are not made up one by one: only the latest.
        assert_eq!(tick_to_claim(&s, T + 45_000, Some(T)), Some(T + 40_000));
        // A clock that went back does not repeat a handled tick.
        assert_eq!(tick_to_claim(&s, T - 5_000, Some(T)), None);
    }

    #[test]
    fn a_new_leader_claims_the_tick_its_predecessor_missed() {
        // Every minute. The old leader ran T, died before T + 60 s; this node becomes leader at
        // T + 62 s, having handled nothing: it claims T + 60 s. The state machine decides whether
        // it runs (the old leader may have claimed it just before dying).
        let s = CronSchedule::parse("0 * * * * *").unwrap();
        assert_eq!(tick_to_claim(&s, T + 62_000, None), Some(T + 60_000));
        // Lost claim: remembered, not retried at the next wake.
        assert_eq!(tick_to_claim(&s, T + 63_000, Some(T + 60_000)), None);
    }

    #[test]
    fn reads_the_claim_answer() {
        let won = Ok(WriteOutput::TickClaimed {
            claimed: true,
            last_tick_ms: Some(T),
        });
        assert_eq!(claim_outcome(&won), Ok(ClaimOutcome::Won));
        let lost = Ok(WriteOutput::TickClaimed {
            claimed: false,
            last_tick_ms: Some(T + 1000),
        });
        assert_eq!(
            claim_outcome(&lost),
            Ok(ClaimOutcome::Lost {
                last_tick_ms: Some(T + 1000)
            })
        );
        let failed = Err(SqlError::Sqlite {
            message: "disk I/O error".into(),
        });
        assert!(claim_outcome(&failed)
            .unwrap_err()
            .contains("disk I/O error"));
    }
}
