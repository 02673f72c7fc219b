//! Jobs that run at the ticks of a cron expression, once per tick across the cluster, on the node
//! that leads (see [`runner`] for what "once" means when a job fails or its leader dies).
//! Scheduled backups (`crate::backup::schedule`) and the application's jobs (`Client::cron`)
//! both run on [`runner::Runner`].
//!
//! Sits above `engine` (it proposes tick claims) and below `client` and `backup`.

pub(crate) mod claim;
pub(crate) mod job;
pub(crate) mod runner;

pub use job::{CronJob, JOB_PREFIX};
pub use runner::CronTick;
