//! [`CronSchedule`]: a cron expression (`backup_cron`) parsed with `croner`, and the tick
//! arithmetic the backup scheduler needs, in milliseconds since the Unix epoch, in UTC.
//!
//! Accepted: 5 fields (`min hour day-of-month month day-of-week`), 6 (a leading `sec`), or 7
//! (`sec ... day-of-week year`, the original hiqlite's form, e.g. `0 30 2 * * * *`), and the
//! nicknames `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`. Steps need a range or `*`
//! (`*/5`, `10-50/5`; a bare `5/5` is refused).

use chrono::{DateTime, Utc};
use croner::parser::CronParser;
use croner::Cron;

/// A parsed cron expression. Ticks are whole seconds, in UTC.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: String,
    cron: Cron,
}

impl CronSchedule {
    /// Parses `expr` and checks that it has a next tick.
    ///
    /// # Errors
    /// A message naming the expression and the problem (too few or many fields, a value out of
    /// range, a bad step, or an expression that never matches, like `0 0 30 2 *`).
    pub fn parse(expr: &str) -> Result<CronSchedule, String> {
        let cron = CronParser::new()
            .parse(expr)
            .map_err(|e| format!("backup_cron {expr:?} is not a cron expression: {e}"))?;
        let schedule = CronSchedule {
            expr: expr.trim().to_string(),
            cron,
        };
        // From the Unix epoch, so that the check does not depend on today's date.
        if schedule.next_after(0).is_none() {
            return Err(format!(
                "backup_cron {expr:?} never matches (no tick within croner's search limit)"
            ));
        }
        Ok(schedule)
    }

    /// The expression as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first tick strictly after `ms` (ms since the Unix epoch), or `None` when there is
    /// none within croner's search limit or the time is out of chrono's range.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        let t = DateTime::<Utc>::from_timestamp_millis(ms)?;
        let next = self.cron.find_next_occurrence(&t, false).ok()?;
        Some(next.timestamp_millis())
    }

    /// The most recent tick at or before `ms`: the tick that is due at `ms`.
    pub fn latest_due(&self, ms: i64) -> Option<i64> {
        let t = DateTime::<Utc>::from_timestamp_millis(ms)?;
        let due = self.cron.find_previous_occurrence(&t, true).ok()?;
        Some(due.timestamp_millis())
    }
}

impl std::fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-11-30T10:20:00Z.
    const T: i64 = 1_764_498_000_000;

    #[test]
    fn every_second_ticks_on_whole_seconds() {
        let s = CronSchedule::parse("*/1 * * * * *").unwrap();
        assert_eq!(s.next_after(T), Some(T + 1000));
        assert_eq!(s.next_after(T + 1), Some(T + 1000));
        assert_eq!(s.next_after(T + 999), Some(T + 1000));
        assert_eq!(s.latest_due(T), Some(T), "a tick is due at its own instant");
        assert_eq!(s.latest_due(T + 999), Some(T));
        assert_eq!(s.latest_due(T + 1000), Some(T + 1000));
    }

    #[test]
    fn five_six_and_seven_fields_mean_the_same_daily_tick() {
        // 02:30:00 UTC every day: the original hiqlite's default, in its 7-field form too.
        let day = 86_400_000;
        let midnight = T - T % day;
        let at_0230 = midnight + (2 * 3600 + 30 * 60) * 1000;
        for expr in ["30 2 * * *", "0 30 2 * * *", "0 30 2 * * * *"] {
            let s = CronSchedule::parse(expr).unwrap();
            // T is 10:20, after today's 02:30.
            assert_eq!(s.latest_due(T), Some(at_0230), "{expr}");
            assert_eq!(s.next_after(T), Some(at_0230 + day), "{expr}");
            assert_eq!(s.next_after(at_0230 - 1), Some(at_0230), "{expr}");
            assert_eq!(s.next_after(at_0230), Some(at_0230 + day), "{expr}");
        }
        let s = CronSchedule::parse("@daily").unwrap();
        assert_eq!(s.latest_due(T), Some(midnight));
    }

    #[test]
    fn a_missed_tick_is_the_latest_due_one() {
        // Every 10 s; a node that looks at T + 25 s finds T + 20 s due, not T + 10 s.
        let s = CronSchedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(s.latest_due(T + 25_000), Some(T + 20_000));
        assert_eq!(s.next_after(T + 25_000), Some(T + 30_000));
    }

    #[test]
    fn bad_expressions_name_the_problem() {
        let e = CronSchedule::parse("every day").unwrap_err();
        assert!(
            e.contains("\"every day\"") && e.contains("between 5 and 7 fields"),
            "{e}"
        );
        let e = CronSchedule::parse("61 * * * *").unwrap_err();
        assert!(e.contains("out of bounds"), "{e}");
        let e = CronSchedule::parse("5/5 * * * *").unwrap_err();
        assert!(e.contains("step"), "{e}");
        let e = CronSchedule::parse("0 0 30 2 *").unwrap_err();
        assert!(e.contains("never matches"), "{e}");
        let e = CronSchedule::parse("  ").unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }
}
