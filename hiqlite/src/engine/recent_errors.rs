//! The last few things that went wrong on this node (failed writes and reads), for the
//! dashboard: a bounded ring buffer, newest last, filled where the errors happen.
//!
//! A tracing layer would catch every WARN, but a library must not install the global subscriber,
//! so the engine records its own failures here instead.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// How many events the buffer keeps; older ones are dropped.
pub const RECENT_ERRORS_KEPT: usize = 50;

/// One failure: when, what kind of request, and the error as the caller saw it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorEvent {
    /// Wall-clock time on this node, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `write` or `read`.
    pub kind: &'static str,
    /// The error's message.
    pub message: String,
}

/// A bounded, thread-safe buffer of [`ErrorEvent`]s.
#[derive(Debug, Default)]
pub struct RecentErrors {
    events: Mutex<VecDeque<ErrorEvent>>,
}

impl RecentErrors {
    /// Records a failure of `kind` with `message`, dropping the oldest event when full.
    pub fn record(&self, kind: &'static str, message: impl std::fmt::Display) {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if events.len() == RECENT_ERRORS_KEPT {
            events.pop_front();
        }
        events.push_back(ErrorEvent {
            at_ms,
            kind,
            message: message.to_string(),
        });
    }

    /// The events kept, newest first.
    pub fn newest_first(&self) -> Vec<ErrorEvent> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_events_up_to_the_bound() {
        let errors = RecentErrors::default();
        for i in 0..RECENT_ERRORS_KEPT + 7 {
            errors.record("write", format!("failure {i}"));
        }
        let events = errors.newest_first();
        assert_eq!(events.len(), RECENT_ERRORS_KEPT);
        assert_eq!(
            events[0].message,
            format!("failure {}", RECENT_ERRORS_KEPT + 6)
        );
        assert_eq!(events.last().unwrap().message, "failure 7");
        assert!(events.iter().all(|e| e.kind == "write" && e.at_ms > 0));
    }
}
