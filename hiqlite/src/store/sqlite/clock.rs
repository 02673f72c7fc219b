//! The replicated clock: the time each entry runs at, and how far this node's clock is from it.
//!
//! An entry carries its leader's clock (`Command::leader_time_ms`). Leaders change, and their
//! clocks differ, so the writer runs each entry at the *entry time*: the larger of the entry's
//! leader time and the previous entry's entry time. Computed from the log alone, it is the same
//! on every node, and it never goes backwards along the log, whichever node leads (a node whose
//! clock is an hour ahead that led for a while makes time stand still, not run backwards, until
//! the new leader's clock has caught up). The last entry time is stored in `_hiqlite_meta` in
//! the same transaction as `last_applied`, so restarts and snapshots carry it on.
//!
//! The writer also compares this node's clock with the leader's clock as carried by the entries it
//! applies: the smallest difference over a window ([`OFFSET_WINDOW`]) is the clock offset plus the
//! least replication delay, a close estimate of how far this node's clock is from the leader's
//! (about 0 on the leader itself). A node more than [`MAX_CLOCK_OFFSET_MS`] off logs a warning
//! (once a minute while it stays off) and reports the estimate in its status
//! (`clock_offset_ms`). When an entry's time is held back by an earlier leader's clock by more
//! than that bound, every node logs that too (time in the log stands still until the leader's
//! clock catches up).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How far (ms, either way) this node's clock may be from the leader's before it warns.
/// Writes stay correct beyond it (entry times never go backwards); what suffers is what users
/// read from `CURRENT_TIMESTAMP` & co. and, with `read_policy = "lease"`, the lease's safety
/// margin.
pub const MAX_CLOCK_OFFSET_MS: i64 = 1_000;
/// Samples of one estimate of the offset.
pub const OFFSET_WINDOW: Duration = Duration::from_secs(10);
/// Least time between two warnings while the clock stays off.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// `ClockOffset` before the first estimate.
const UNKNOWN: i64 = i64::MIN;

/// The newest estimate of this node's clock offset, shared with whoever reports status.
#[derive(Clone)]
pub struct ClockOffset(Arc<AtomicI64>);

impl Default for ClockOffset {
    fn default() -> Self {
        ClockOffset(Arc::new(AtomicI64::new(UNKNOWN)))
    }
}

impl ClockOffset {
    /// Milliseconds this node's clock is ahead of (positive) or behind (negative) the clock of the
    /// leader of the entries it applies, plus the least replication delay; `None` until this node
    /// has applied entries for one [`OFFSET_WINDOW`].
    pub fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|o| *o != UNKNOWN)
    }
}

/// The entry time along the log, and the offset estimate (owned by the writer thread).
pub struct EntryClock {
    last_entry_time_ms: i64,
    window_start: Option<Instant>,
    window_min: i64,
    last_warning: Option<Instant>,
    last_held_back_warning: Option<Instant>,
    offset: ClockOffset,
}

impl EntryClock {
    /// Continues the log's clock from `last_entry_time_ms` (0 for a new database).
    pub fn new(last_entry_time_ms: i64, offset: ClockOffset) -> EntryClock {
        EntryClock {
            last_entry_time_ms,
            window_start: None,
            window_min: i64::MAX,
            last_warning: None,
            last_held_back_warning: None,
            offset,
        }
    }

    /// The entry time of the last entry.
    pub fn last(&self) -> i64 {
        self.last_entry_time_ms
    }

    /// Continues from `last_entry_time_ms` again (after a rolled-back batch or a restored
    /// snapshot).
    pub fn reset(&mut self, last_entry_time_ms: i64) {
        self.last_entry_time_ms = last_entry_time_ms;
    }

    /// The entry time of the next entry, whose leader's clock read `leader_time_ms`.
    pub fn next(&mut self, leader_time_ms: i64) -> i64 {
        let held_back = self.last_entry_time_ms - leader_time_ms;
        if held_back > MAX_CLOCK_OFFSET_MS {
            let now = Instant::now();
            if self
                .last_held_back_warning
                .is_none_or(|at| now.duration_since(at) >= WARN_EVERY)
            {
                self.last_held_back_warning = Some(now);
                tracing::warn!(
                    held_back_ms = held_back,
                    "an entry's leader clock is {held_back} ms behind the time of earlier entries \
                     (an earlier leader's clock was ahead): entries keep that earlier time, so \
                     time in the log stands still until the leader's clock catches up"
                );
            }
        }
        self.last_entry_time_ms = self.last_entry_time_ms.max(leader_time_ms);
        self.last_entry_time_ms
    }

    /// Compares this node's clock with `leader_time_ms`, the leader's clock of an entry just
    /// applied.
    pub fn observe(&mut self, leader_time_ms: i64) {
        let now = Instant::now();
        let offset = now_ms() - leader_time_ms;
        let start = *self.window_start.get_or_insert(now);
        self.window_min = self.window_min.min(offset);
        if now.duration_since(start) < OFFSET_WINDOW {
            return;
        }
        let estimate = self.window_min;
        self.window_start = None;
        self.window_min = i64::MAX;
        let previous = self.offset.get();
        self.offset.0.store(estimate, Ordering::Relaxed);
        if estimate.abs() > MAX_CLOCK_OFFSET_MS {
            let due = self
                .last_warning
                .is_none_or(|at| now.duration_since(at) >= WARN_EVERY);
            if due {
                self.last_warning = Some(now);
                tracing::warn!(
                    offset_ms = estimate,
                    "this node's clock is {} ms {} the leader's (more than \
                     {MAX_CLOCK_OFFSET_MS} ms): entry times never go backwards, but \
                     CURRENT_TIMESTAMP & co. follow the fastest leader's clock; synchronise the \
                     clocks (NTP)",
                    estimate.abs(),
                    if estimate > 0 { "ahead of" } else { "behind" },
                );
            }
        } else if previous.is_some_and(|p| p.abs() > MAX_CLOCK_OFFSET_MS) {
            self.last_warning = None;
            tracing::info!(
                offset_ms = estimate,
                "this node's clock agrees with the leader's again"
            );
        }
    }
}

/// This node's clock, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_time_never_goes_backwards() {
        let mut clock = EntryClock::new(0, ClockOffset::default());
        let hour = 3_600_000;
        let leader_times = [
            1_000,
            2_000,
            2_000 + hour,
            3_000,
            4_000,
            5_000 + hour,
            5_001 + hour,
        ];
        let entry_times: Vec<i64> = leader_times.iter().map(|t| clock.next(*t)).collect();
        assert_eq!(
            entry_times,
            [
                1_000,
                2_000,
                2_000 + hour,
                2_000 + hour,
                2_000 + hour,
                5_000 + hour,
                5_001 + hour
            ]
        );
        // Continuing from a stored time (a restart) gives the same sequence.
        let mut restarted = EntryClock::new(2_000 + hour, ClockOffset::default());
        assert_eq!(restarted.next(3_000), 2_000 + hour);
    }

    #[test]
    fn offset_is_unknown_until_a_window_has_passed() {
        let offset = ClockOffset::default();
        let mut clock = EntryClock::new(0, offset.clone());
        clock.observe(now_ms() - 5);
        assert_eq!(offset.get(), None);
        // A window that started long ago closes at the next observation.
        clock.window_start = Some(Instant::now() - OFFSET_WINDOW);
        clock.observe(now_ms() + 3_600_000);
        let estimate = offset.get().expect("an estimate");
        assert!(estimate < -3_599_000, "{estimate}");
    }
}
