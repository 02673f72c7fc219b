//! Recording what clients did: each operation with its invoke and complete time and whether it
//! took effect. Times are offsets from the start of the round on the monotonic clock, taken just
//! before the request leaves and just after the answer arrives, so the real-time order the
//! checkers rely on is never narrower than what really happened.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hiqlite::{Error, SqlError};

/// What the client knows about an operation's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: it took effect (or, for a read, returned this value).
    Ok,
    /// Definitely did not take effect (a failed guard, a SQL error from the state machine).
    Fail,
    /// Timed out, no leader, connection lost: it may take effect at any time after its invoke,
    /// or never.
    Unknown,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Unknown => "unknown",
        })
    }
}

/// The outcome of a replicated write that returned `result`.
///
/// A SQL error is computed by the state machine after the entry committed, identically on every
/// node, and the entry's savepoint is rolled back: definitely no effect. `NoLeader` and `Removed`
/// promise that the write was never proposed (the checker holds the client to it). Anything else
/// (an unknown outcome, a timeout, network, Raft or storage trouble) leaves the write in flight.
pub fn write_outcome<T>(result: &Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::Sql(
            SqlError::GuardFailed { .. } | SqlError::Sqlite { .. } | SqlError::Constraint { .. },
        )) => Outcome::Fail,
        Err(Error::NoLeader(_) | Error::Removed { .. }) => Outcome::Fail,
        Err(_) => Outcome::Unknown,
    }
}

/// One finished operation.
#[derive(Debug, Clone)]
pub struct Entry<O> {
    /// Logical client ("process" in Jepsen's terms). A client whose operation had an unknown
    /// outcome continues as a new process, so one process never has two operations in flight.
    pub process: usize,
    pub op: O,
    pub invoke: Duration,
    /// When the client stopped waiting (for an unknown outcome: not when it took effect).
    pub complete: Duration,
    pub outcome: Outcome,
    /// The error text for failed and unknown operations.
    pub error: Option<String>,
}

/// Operations per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub ok: u64,
    pub fail: u64,
    pub unknown: u64,
}

impl OpCounts {
    pub fn add(&mut self, other: OpCounts) {
        self.ok += other.ok;
        self.fail += other.fail;
        self.unknown += other.unknown;
    }

    pub fn total(&self) -> u64 {
        self.ok + self.fail + self.unknown
    }
}

impl fmt::Display for OpCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>6} ops: {:>6} ok {:>5} fail {:>5} unknown",
            self.total(),
            self.ok,
            self.fail,
            self.unknown
        )
    }
}

/// A shared, append-only history for the tasks of one workload.
#[derive(Debug)]
pub struct History<O> {
    start: Instant,
    entries: Arc<Mutex<Vec<Entry<O>>>>,
}

impl<O> Clone for History<O> {
    fn clone(&self) -> Self {
        History {
            start: self.start,
            entries: Arc::clone(&self.entries),
        }
    }
}

impl<O: fmt::Debug + Clone> History<O> {
    pub fn new(start: Instant) -> Self {
        History {
            start,
            entries: Arc::default(),
        }
    }

    /// Time since the round started.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn push(&self, entry: Entry<O>) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
    }

    /// All entries, in invoke order.
    pub fn entries(&self) -> Vec<Entry<O>> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        entries.sort_by_key(|e| (e.invoke, e.complete));
        entries
    }

    pub fn counts(&self) -> OpCounts {
        let mut counts = OpCounts::default();
        for e in self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            match e.outcome {
                Outcome::Ok => counts.ok += 1,
                Outcome::Fail => counts.fail += 1,
                Outcome::Unknown => counts.unknown += 1,
            }
        }
        counts
    }

    /// Writes the history as text, one operation per line:
    /// `invoke_ms complete_ms process outcome op [error]`.
    pub fn write_to(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(out, "# invoke_ms complete_ms process outcome op [error]")?;
        for e in self.entries() {
            write!(
                out,
                "{:>10.3} {:>10.3} p{:<4} {:<7} {:?}",
                e.invoke.as_secs_f64() * 1e3,
                e.complete.as_secs_f64() * 1e3,
                e.process,
                e.outcome,
                e.op
            )?;
            if let Some(err) = &e.error {
                write!(out, "  [{err}]")?;
            }
            writeln!(out)?;
        }
        out.flush()
    }
}
