//! Scheduled backups (`backup_cron`): at each tick of the schedule (UTC), the node that leads
//! at that moment claims the tick through Raft (`WriteOp::ClaimTick`, job [`JOB`]) and, only if
//! its claim wins, makes a backup the way `hiqlite backup now` does (linearized first), then
//! applies retention (`retention.rs`) to the store.
//!
//! Once per tick across the cluster, on the shared cron runner (`crate::cron::runner`, which
//! says what "once" means across fail-overs): the state machine lets a claim win only for a tick
//! later than the job's last claimed one, so two leaders of a fail-over that both see the same
//! tick cannot both run it. A tick missed because the leader died before claiming it runs once
//! afterwards. Ticks missed while a backup ran, or while no leader was known, are not made up one
//! by one: only the most recent due tick runs.
//!
//! Nodes that do not lead only keep their own `backup_dir` tidy at each tick (local retention),
//! since a node that led earlier holds the backups it made then.
//!
//! A failed backup is logged and recorded in the engine's [`BackupHealth`]; the next tick
//! tries again. The claim stays: a tick's backup is attempted once.
//!
//! [`BackupHealth`]: crate::engine::backups::BackupHealth

use std::sync::Arc;

use tokio::sync::watch;

use super::retention::{self, Windows};
use crate::config::CronSchedule;
use crate::cron::claim::now_ms;
use crate::cron::runner::{CronTick, Runner, TickJob};
use crate::engine::backups::BackupStore;
use crate::engine::Engine;

/// The job name scheduled backups claim their ticks under (`_hiqlite_ticks.job`).
pub const JOB: &str = "backup";

/// What the scheduler needs of the node, besides the engine.
pub(crate) struct Scheduler {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn BackupStore>,
    pub schedule: CronSchedule,
    /// `backup_keep_days_local`, `backup_keep_days`.
    pub keep_days_local: u32,
    pub keep_days: u32,
}

impl TickJob for Scheduler {
    async fn run(&mut self, tick: CronTick) {
        self.back_up(tick).await;
    }

    /// A node that does not lead keeps its own `backup_dir` tidy (it may hold backups it made
    /// while it led).
    async fn follower_tick(&mut self, _tick_ms: i64) {
        self.retention(Windows::days(Some(self.keep_days_local), None))
            .await;
    }
}

impl Scheduler {
    /// Runs the schedule until `shutdown` turns true. Work in progress at shutdown is dropped
    /// (a backup being written leaves only a temporary file, removed at the next start).
    pub(crate) async fn run(self, shutdown: watch::Receiver<bool>) {
        tracing::info!(cron = %self.schedule, "scheduled backups on (times in UTC; the leader makes them)");
        let runner = Runner {
            engine: self.engine.clone(),
            schedule: self.schedule.clone(),
            name: JOB.into(),
            job: self,
        };
        runner.run(shutdown).await;
    }

    /// Makes the backup of `tick` (claimed by this node), records the outcome, then applies
    /// retention.
    async fn back_up(&self, tick: CronTick) {
        let health = self.engine.backup_health();
        let (late, tick) = (tick.late, tick.tick_ms);
        health.started(tick, now_ms());
        let late = if late {
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
}
