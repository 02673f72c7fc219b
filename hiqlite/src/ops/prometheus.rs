//! `/metrics`: this node's Prometheus text exposition.
//!
//! One `metrics-exporter-prometheus` recorder per node (never the process-global one: several
//! nodes may run in one process, and the embedding program may install its own). The engine
//! records writes and reads through handles registered here ([`EngineMetrics`]); everything else
//! is read when scraped: Raft's metrics, the database files' sizes, the backup scheduler's
//! health. Units are in the names (`_seconds`, `_bytes`, `_entries`) and in each `# HELP` line.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use openraft::async_runtime::WatchReceiver;
use openraft::ServerState;

use crate::engine::metrics::EngineMetrics;
use crate::engine::Engine;

/// The metadata the recorder ignores but its API asks for.
static META: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Latency histogram buckets, seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];

/// Roles reported by `hiqlite_role`, one series each (1 for the current role, 0 otherwise).
const ROLES: [&str; 5] = ["leader", "follower", "learner", "candidate", "shutdown"];

/// Every metric the recorder holds: name, kind, help (what it is, and its unit).
const DESCRIBED: [(&str, Kind, &str); 25] = [
    ("hiqlite_writes_total", Kind::Counter, "Writes submitted on this node (execute, txn, batch, ...), whatever their outcome; a count."),
    ("hiqlite_write_errors_total", Kind::Counter, "Writes submitted on this node that returned an error; a count."),
    ("hiqlite_write_duration_seconds", Kind::Histogram, "Time from submitting a write on this node until it is applied here or fails, in seconds."),
    ("hiqlite_reads_total", Kind::Counter, "Reads run on this node's database (local, consistent and remote clients' reads); a count."),
    ("hiqlite_read_errors_total", Kind::Counter, "Reads on this node's database that returned an error; a count."),
    ("hiqlite_read_duration_seconds", Kind::Histogram, "Time a read spent on this node's database (pooled connection, statement, rows; not a consistent read's barrier), in seconds."),
    ("hiqlite_role", Kind::Gauge, "This node's Raft role: 1 for the current role (label role), 0 for the others."),
    ("hiqlite_leader_id", Kind::Gauge, "The node id of the leader this node knows, 0 when it knows none."),
    ("hiqlite_term", Kind::Gauge, "The current Raft term; a number that grows with every election."),
    ("hiqlite_commit_index", Kind::Gauge, "The last log index this node knows to be committed by the cluster; a log index."),
    ("hiqlite_applied_index", Kind::Gauge, "The last log index applied to this node's SQLite database; a log index."),
    ("hiqlite_last_log_index", Kind::Gauge, "The last log index in this node's Raft log; a log index."),
    ("hiqlite_snapshot_index", Kind::Gauge, "The log index of this node's last snapshot, 0 before the first; a log index."),
    ("hiqlite_purged_index", Kind::Gauge, "The last log index purged from this node's Raft log, 0 before the first purge; a log index."),
    ("hiqlite_db_size_bytes", Kind::Gauge, "Size of this node's SQLite database file, in bytes."),
    ("hiqlite_wal_size_bytes", Kind::Gauge, "Size of this node's SQLite write-ahead log file (-wal), in bytes; 0 when there is none."),
    ("hiqlite_connections", Kind::Gauge, "Authenticated connections open on this node, label channel: raft (peers) or api (clients and followers forwarding); a count."),
    ("hiqlite_disk_full", Kind::Gauge, "1 while this node's disk has no space left for its Raft log, database or snapshots (writes through it are refused, it lags until space is freed), else 0."),
    ("hiqlite_log_size_bytes", Kind::Gauge, "Size of this node's Raft log on disk (every file of its RocksDB directory), in bytes."),
    ("hiqlite_runtime_tasks", Kind::Gauge, "Tasks alive in the Tokio runtime that serves this node's HTTP listener (in `hiqlite serve`, the whole process's runtime); a count."),
    ("hiqlite_log_fsync_duration_seconds", Kind::Histogram, "Time each synced write of the Raft log took (a group of appends, votes or purges written and fsynced together), in seconds."),
    ("hiqlite_snapshot_timestamp_seconds", Kind::Gauge, "When this node's current snapshot file was written (built here or received from the leader), in seconds since the Unix epoch; absent before the first."),
    ("hiqlite_backup_last_success_timestamp_seconds", Kind::Gauge, "When a scheduled backup last succeeded on this node, in seconds since the Unix epoch; absent before the first (only with backup_cron)."),
    ("hiqlite_backup_last_attempt_timestamp_seconds", Kind::Gauge, "When this node last started a scheduled backup, in seconds since the Unix epoch; absent before the first (only with backup_cron)."),
    ("hiqlite_backup_failures_total", Kind::Counter, "Scheduled backups that failed on this node since it started; a count (only with backup_cron)."),
];

/// Written by hand after the recorder's output: its series come and go with the followers.
const LAG_NAME: &str = "hiqlite_replication_lag_entries";
const LAG_HELP: &str = "On the leader only: log entries a member has not yet replicated (the leader's last log index minus the member's matched index), label node_id; in log entries.";

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A node's metrics: the recorder, and what `render` reads besides the engine.
pub(crate) struct NodeMetrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The node's files whose sizes and times are read when scraped.
    files: NodeFiles,
    /// Whether scheduled backups run here (`backup_cron`): only then are backup metrics shown.
    backups_scheduled: bool,
}

impl NodeMetrics {
    /// Metrics of the node whose files are `files`; `backups_scheduled` when `backup_cron` is
    /// set.
    pub(crate) fn new(files: NodeFiles, backups_scheduled: bool) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            // Cannot fail: the bucket list is not empty. Summaries are the fallback anyway.
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        for (name, kind, help) in DESCRIBED {
            let (name, help) = (name.into(), help.into());
            match kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
                Kind::Histogram => recorder.describe_histogram(name, None, help),
            }
        }
        let handle = recorder.handle();
        NodeMetrics {
            recorder,
            handle,
            files,
            backups_scheduled,
        }
    }

    /// The handles the engine records writes and reads with.
    pub(crate) fn engine_metrics(&self) -> EngineMetrics {
        let counter = |n: &'static str| {
            self.recorder
                .register_counter(&Key::from_static_name(n), &META)
        };
        let histogram = |n: &'static str| {
            self.recorder
                .register_histogram(&Key::from_static_name(n), &META)
        };
        EngineMetrics {
            api_connections: self.connections("api"),
            writes: counter("hiqlite_writes_total"),
            write_errors: counter("hiqlite_write_errors_total"),
            write_seconds: histogram("hiqlite_write_duration_seconds"),
            reads: counter("hiqlite_reads_total"),
            read_errors: counter("hiqlite_read_errors_total"),
            read_seconds: histogram("hiqlite_read_duration_seconds"),
        }
    }

    /// The gauge of authenticated connections open on the `channel` port (`raft` or `api`).
    pub(crate) fn connections(&self, channel: &'static str) -> metrics::Gauge {
        let key = Key::from_parts("hiqlite_connections", vec![Label::new("channel", channel)]);
        let gauge = self.recorder.register_gauge(&key, &META);
        // Shown as 0 until the first connection, rather than missing.
        gauge.increment(0.0);
        gauge
    }

    /// The histogram the Raft log store records its fsync latency into
    /// (`LogStore::record_fsync_latency`).
    pub(crate) fn log_fsync_histogram(&self) -> metrics::Histogram {
        self.recorder.register_histogram(
            &Key::from_static_name("hiqlite_log_fsync_duration_seconds"),
            &META,
        )
    }

    fn gauge(&self, name: &'static str, value: f64) {
        self.recorder
            .register_gauge(&Key::from_static_name(name), &META)
            .set(value);
    }

    /// Reads the node's state into the gauges and returns the whole exposition text.
    pub(crate) fn render(&self, engine: &Engine) -> String {
        let status = engine.status();
        let (role, committed, lags) = {
            let watch = engine.raft.metrics();
            let m = watch.borrow_watched();
            let role = match m.state {
                ServerState::Leader => "leader",
                ServerState::Follower => "follower",
                ServerState::Learner => "learner",
                ServerState::Candidate => "candidate",
                ServerState::Shutdown => "shutdown",
            };
            let committed = [m.cluster_committed, m.local_committed]
                .iter()
                .flatten()
                .map(|l| l.index())
                .max()
                .unwrap_or(0);
            let last = m.last_log_index.unwrap_or(0);
            let lags: Vec<(u64, u64)> = m
                .replication
                .iter()
                .flatten()
                .filter(|(id, _)| **id != engine.node_id)
                .map(|(id, matched)| (*id, last.saturating_sub(matched.map_or(0, |l| l.index()))))
                .collect();
            (role, committed, lags)
        };
        for r in ROLES {
            let key = Key::from_parts("hiqlite_role", vec![Label::new("role", r)]);
            let value = if r == role { 1.0 } else { 0.0 };
            self.recorder.register_gauge(&key, &META).set(value);
        }
        self.gauge("hiqlite_leader_id", status.leader_id.unwrap_or(0) as f64);
        self.gauge("hiqlite_term", status.term as f64);
        self.gauge("hiqlite_commit_index", committed as f64);
        self.gauge("hiqlite_applied_index", status.last_applied as f64);
        self.gauge(
            "hiqlite_last_log_index",
            status.last_log_index.unwrap_or(0) as f64,
        );
        self.gauge(
            "hiqlite_snapshot_index",
            status.snapshot_index.unwrap_or(0) as f64,
        );
        self.gauge(
            "hiqlite_purged_index",
            status.purged_index.unwrap_or(0) as f64,
        );
        let files = &self.files;
        self.gauge("hiqlite_db_size_bytes", file_size(&files.db) as f64);
        self.gauge(
            "hiqlite_wal_size_bytes",
            file_size(&wal_path(&files.db)) as f64,
        );
        self.gauge("hiqlite_log_size_bytes", dir_size(&files.log_dir) as f64);
        let full = engine.disk.state().first().is_some();
        self.gauge("hiqlite_disk_full", if full { 1.0 } else { 0.0 });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.gauge(
                "hiqlite_runtime_tasks",
                runtime.metrics().num_alive_tasks() as f64,
            );
        }
        if let Some(written) = modified_unix_seconds(&files.snapshot) {
            self.gauge("hiqlite_snapshot_timestamp_seconds", written);
        }
        if self.backups_scheduled {
            let b = engine.backup_health().status();
            if let Some(ms) = b.last_success_ms {
                self.gauge(
                    "hiqlite_backup_last_success_timestamp_seconds",
                    ms as f64 / 1000.0,
                );
            }
            if let Some(ms) = b.last_attempt_ms {
                self.gauge(
                    "hiqlite_backup_last_attempt_timestamp_seconds",
                    ms as f64 / 1000.0,
                );
            }
            self.recorder
                .register_counter(
                    &Key::from_static_name("hiqlite_backup_failures_total"),
                    &META,
                )
                .absolute(b.failures);
        }
        let mut text = self.handle.render();
        append_lags(&mut text, &lags);
        text
    }
}

/// Appends the per-member replication lag (leader only: `lags` is empty elsewhere).
fn append_lags(text: &mut String, lags: &[(u64, u64)]) {
    if lags.is_empty() {
        return;
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let _ = writeln!(text, "# HELP {LAG_NAME} {LAG_HELP}");
    let _ = writeln!(text, "# TYPE {LAG_NAME} gauge");
    for (id, lag) in lags {
        let _ = writeln!(text, "{LAG_NAME}{{node_id=\"{id}\"}} {lag}");
    }
}

/// Where a node keeps what `/metrics` measures on disk.
pub(crate) struct NodeFiles {
    /// The SQLite database file (its `-wal` lies next to it).
    pub(crate) db: PathBuf,
    /// The Raft log's RocksDB directory.
    pub(crate) log_dir: PathBuf,
    /// The current snapshot file.
    pub(crate) snapshot: PathBuf,
}

/// The total size of the files directly in `dir` in bytes (RocksDB keeps no subdirectories), 0
/// when it cannot be read.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(|entry| entry.ok()?.metadata().ok())
            .filter(|meta| meta.is_file())
            .map(|meta| meta.len())
            .sum()
    })
}

/// When the file at `path` was last written, in seconds since the Unix epoch; `None` when it
/// does not exist.
fn modified_unix_seconds(path: &Path) -> Option<f64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since_epoch = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since_epoch.as_secs_f64())
}

/// The size of the file at `path` in bytes, 0 when it does not exist or cannot be read.
fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// SQLite's write-ahead log next to the database: the same name with `-wal` appended.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = OsString::from(db.as_os_str());
    name.push("-wal");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_sits_next_to_the_database() {
        assert_eq!(
            wal_path(Path::new("/data/db/hiqlite.db")),
            PathBuf::from("/data/db/hiqlite.db-wal")
        );
    }

    #[test]
    fn lag_lines_are_prometheus_text_with_help_and_type() {
        let mut text = String::from("# TYPE x gauge\nx 1\n");
        append_lags(&mut text, &[(2, 0), (3, 17)]);
        assert!(text.contains("# HELP hiqlite_replication_lag_entries On the leader only"));
        assert!(text.contains("# TYPE hiqlite_replication_lag_entries gauge\n"));
        assert!(text.ends_with(
            "hiqlite_replication_lag_entries{node_id=\"2\"} 0\nhiqlite_replication_lag_entries{node_id=\"3\"} 17\n"
        ));
        let mut none = String::new();
        append_lags(&mut none, &[]);
        assert!(none.is_empty());
    }

    #[test]
    fn engine_handles_show_up_with_their_help() {
        let files = NodeFiles {
            db: PathBuf::from("/nonexistent/db"),
            log_dir: PathBuf::from("/nonexistent/logs"),
            snapshot: PathBuf::from("/nonexistent/snapshot.db"),
        };
        let m = NodeMetrics::new(files, false);
        let e = m.engine_metrics();
        e.write_done(std::time::Instant::now(), true);
        e.write_done(std::time::Instant::now(), false);
        let text = m.handle.render();
        assert!(text.contains("hiqlite_writes_total 2"), "{text}");
        assert!(text.contains("hiqlite_write_errors_total 1"), "{text}");
        assert!(
            text.contains("# HELP hiqlite_write_duration_seconds"),
            "{text}"
        );
        assert!(
            text.contains("hiqlite_write_duration_seconds_bucket"),
            "{text}"
        );
    }
}
