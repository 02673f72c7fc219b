//! Cron jobs registered by the application (`Client::cron`): an async closure run by a
//! [`Runner`](super::runner::Runner) on the node that leads, once per tick.

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::runner::{CronTick, Runner, TickJob};
use crate::config::CronSchedule;
use crate::engine::Engine;

/// The prefix of an application job's name in `_hiqlite_ticks` (Hiqlite's own jobs, such as
/// `backup`, have none, so the two never share ticks).
pub const JOB_PREFIX: &str = "cron:";

/// An application job: the closure, called once per tick won.
struct FnJob<F>(F);

impl<F, Fut> TickJob for FnJob<F>
where
    F: Fn(CronTick) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    /// Runs the closure's future in a task of its own, so that a panic ends only this run (it
    /// is logged), not the job. The task is aborted when this future is dropped (shutdown).
    fn run(&mut self, tick: CronTick) -> impl Future<Output = ()> + Send {
        let task = tokio::spawn((self.0)(tick));
        let abort = AbortOnDrop(task.abort_handle());
        async move {
            if let Err(e) = task.await {
                if e.is_panic() {
                    tracing::error!(
                        tick_ms = tick.tick_ms,
                        "the cron job panicked; the tick is not run again"
                    );
                }
            }
            drop(abort);
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A registered cron job. Dropping it leaves the job running (until the node stops);
/// [`stop`](Self::stop) ends it.
#[derive(Debug)]
pub struct CronJob {
    name: String,
    task: JoinHandle<()>,
}

impl CronJob {
    /// The name given to `Client::cron`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops the job on this node; a run in progress is dropped at its next `.await`.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Starts `job` on this node at the ticks of `schedule`, until `shutdown` turns true.
pub(crate) fn spawn<F, Fut>(
    engine: Arc<Engine>,
    name: &str,
    schedule: CronSchedule,
    shutdown: tokio::sync::watch::Receiver<bool>,
    job: F,
) -> CronJob
where
    F: Fn(CronTick) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tracing::info!(job = name, cron = %schedule, "cron job registered (times in UTC; the leader runs it)");
    let runner = Runner {
        engine,
        schedule,
        name: format!("{JOB_PREFIX}{name}"),
        job: FnJob(job),
    };
    CronJob {
        name: name.to_string(),
        task: tokio::spawn(runner.run(shutdown)),
    }
}
