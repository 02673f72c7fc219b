//! Claiming a tick of a scheduled job through Raft (`WriteOp::ClaimTick`): which tick to claim,
//! proposing the claim, reading the answer.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::CronSchedule;
use crate::engine::Engine;
use crate::types::command::{CommandResult, WriteOp, WriteOutput};
use crate::types::write_key::WriteKey;

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
    /// This node won the tick: run the job now.
    Won,
    /// Another node (or an earlier leader) already claimed this tick or a later one.
    Lost { last_tick_ms: Option<i64> },
}

/// Reads the state machine's answer to a `ClaimTick`.
///
/// # Errors
/// A message when the answer is not a tick claim's (a SQL error or another output).
pub(crate) fn claim_outcome(result: &CommandResult) -> Result<ClaimOutcome, String> {
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

/// Proposes the claim of `tick` of `job` under a fresh request id (retried by the write path
/// across leader changes, applied at most once).
///
/// # Errors
/// A message when the write failed (no leader, shutting down, ...) or the answer is not a claim's.
pub(crate) async fn claim(engine: &Engine, job: &str, tick: i64) -> Result<ClaimOutcome, String> {
    let op = WriteOp::ClaimTick {
        job: job.into(),
        tick_ms: tick,
    };
    let reply = engine
        .write(WriteKey::new().request_id(), op)
        .await
        .map_err(|e| e.to_string())?;
    claim_outcome(&reply.result)
}

/// Milliseconds since the Unix epoch by this machine's clock.
pub(crate) fn now_ms() -> i64 {
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
        // Ticks missed while a job ran are not made up one by one: only the latest.
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
