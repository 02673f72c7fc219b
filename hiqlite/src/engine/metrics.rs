//! What the engine counts on its hot paths: writes and local reads, how many and how long.
//!
//! The handles come from whoever wires the node (`node` gets them from `ops`' Prometheus
//! recorder, one per node, no global recorder); by default they record nothing. Recording is an
//! atomic add and a histogram sample: cheap enough for every request.

use std::time::Instant;

use metrics::{Counter, Gauge, Histogram};

/// The engine's counters and latency histograms (seconds).
#[derive(Clone)]
pub struct EngineMetrics {
    /// Writes submitted on this node (`execute`, `txn`, `batch`, ...), whatever their outcome.
    pub writes: Counter,
    /// Of those, the writes that returned an error.
    pub write_errors: Counter,
    /// Seconds from submitting a write until it is applied on this node (or fails).
    pub write_seconds: Histogram,
    /// Reads run on this node's own database (local and consistent ones, and remote clients').
    pub reads: Counter,
    /// Of those, the reads that returned an error.
    pub read_errors: Counter,
    /// Seconds a read took on this node's database: waiting for a pooled connection, running
    /// the statement, collecting the rows (a consistent read's barrier before it is not counted).
    pub read_seconds: Histogram,
    /// Authenticated connections open on the API port (clients, followers forwarding).
    pub api_connections: Gauge,
}

impl Default for EngineMetrics {
    /// Handles that record nothing.
    fn default() -> Self {
        EngineMetrics {
            writes: Counter::noop(),
            write_errors: Counter::noop(),
            write_seconds: Histogram::noop(),
            reads: Counter::noop(),
            read_errors: Counter::noop(),
            read_seconds: Histogram::noop(),
            api_connections: Gauge::noop(),
        }
    }
}

impl std::fmt::Debug for EngineMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineMetrics")
    }
}

impl EngineMetrics {
    /// A write that started at `started` finished, successfully when `ok`.
    pub(crate) fn write_done(&self, started: Instant, ok: bool) {
        self.writes.increment(1);
        if !ok {
            self.write_errors.increment(1);
        }
        self.write_seconds.record(started.elapsed().as_secs_f64());
    }

    /// A read that started at `started` finished, successfully when `ok`.
    pub(crate) fn read_done(&self, started: Instant, ok: bool) {
        self.reads.increment(1);
        if !ok {
            self.read_errors.increment(1);
        }
        self.read_seconds.record(started.elapsed().as_secs_f64());
    }
}
