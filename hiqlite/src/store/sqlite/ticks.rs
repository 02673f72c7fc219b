//! Claiming the ticks of scheduled jobs (`WriteOp::ClaimTick`): the table `_hiqlite_ticks` holds
//! each job's last claimed tick. A claim wins only for a tick later than that one, so when two
//! leaders of a fail-over both propose the same tick, the first entry wins and the second is told
//! it lost: the job runs once per tick.

use rusqlite::OptionalExtension;

use super::ops::needs_format;
use super::ops::OpError;
use super::restore::CREATE_TICKS;
use super::writer::WriterThread;
use crate::types::command::WriteOutput;
use crate::types::format::Feature;

impl WriterThread {
    /// Claims tick `tick_ms` of `job` (inside the entry's savepoint).
    pub(super) fn apply_claim_tick(&self, job: &str, tick_ms: i64) -> Result<WriteOutput, OpError> {
        if !Feature::ScheduledTicks.enabled_at(self.format) {
            return Err(needs_format(Feature::ScheduledTicks, self.format));
        }
        self.with_internal(CREATE_TICKS, |s| s.execute([]))?;
        let last_tick_ms: Option<i64> = self
            .with_internal("SELECT tick_ms FROM _hiqlite_ticks WHERE job = ?", |s| {
                s.query_row([job], |r| r.get(0)).optional()
            })?;
        let claimed = last_tick_ms.is_none_or(|last| tick_ms > last);
        if claimed {
            self.with_internal(
                "INSERT OR REPLACE INTO _hiqlite_ticks (job, tick_ms) VALUES (?, ?)",
                |s| s.execute(rusqlite::params![job, tick_ms]),
            )?;
        }
        Ok(WriteOutput::TickClaimed {
            claimed,
            last_tick_ms,
        })
    }
}
