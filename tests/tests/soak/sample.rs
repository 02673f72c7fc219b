//! One sample of one node: what `/proc/PID` says about its process (RSS, open file descriptors,
//! threads) and what its `/metrics` says (Tokio tasks, Raft log, SQLite WAL and database sizes);
//! and the CSV they are written to.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use hiqlite_cluster_tests::{http, SECRET_API};

/// How long one `/metrics` request may take before the sample goes without its values.
const METRICS_TIMEOUT: Duration = Duration::from_secs(3);

/// What is measured of a node, in the order of the CSV's columns and the plot's panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Resident set size, MiB (`VmRSS` of `/proc/PID/status`).
    RssMib,
    /// Open file descriptors (entries of `/proc/PID/fd`).
    Fds,
    /// Threads of the process (`Threads` of `/proc/PID/status`).
    Threads,
    /// Tasks alive in the node's Tokio runtime (`hiqlite_runtime_tasks`).
    Tasks,
    /// The Raft log's RocksDB directory, MiB (`hiqlite_log_size_bytes`).
    LogMib,
    /// SQLite's `-wal` file, MiB (`hiqlite_wal_size_bytes`).
    WalMib,
    /// SQLite's database file, MiB (`hiqlite_db_size_bytes`).
    DbMib,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::RssMib,
        Metric::Fds,
        Metric::Threads,
        Metric::Tasks,
        Metric::LogMib,
        Metric::WalMib,
        Metric::DbMib,
    ];

    /// The CSV column's name (unit in the name).
    pub fn column(self) -> &'static str {
        match self {
            Metric::RssMib => "rss_mib",
            Metric::Fds => "fds",
            Metric::Threads => "threads",
            Metric::Tasks => "tokio_tasks",
            Metric::LogMib => "raft_log_mib",
            Metric::WalMib => "sqlite_wal_mib",
            Metric::DbMib => "sqlite_db_mib",
        }
    }

    /// The plot panel's title.
    pub fn title(self) -> &'static str {
        match self {
            Metric::RssMib => "RSS (MiB)",
            Metric::Fds => "open file descriptors",
            Metric::Threads => "threads",
            Metric::Tasks => "Tokio tasks alive",
            Metric::LogMib => "Raft log on disk (MiB)",
            Metric::WalMib => "SQLite WAL (MiB)",
            Metric::DbMib => "SQLite database (MiB)",
        }
    }
}

/// One node at one moment; a value is `None` when it could not be read (the node was down or
/// did not answer in time).
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Seconds since the load started.
    pub t: f64,
    /// Index of the node (0-based; Raft node id is `node + 1`).
    pub node: usize,
    pub pid: Option<u32>,
    pub values: [Option<f64>; 7],
}

impl Sample {
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.values[m as usize]
    }
}

/// Load done across the cluster between two samples.
#[derive(Debug, Clone, Default)]
pub struct LoadSample {
    pub t: f64,
    pub writes_per_s: f64,
    pub reads_per_s: f64,
    pub consistent_reads_per_s: f64,
    pub errors_per_s: f64,
}

/// Reads node `node`'s process `pid` (if running) and its `/metrics` at `http_addr`.
pub async fn sample(t: f64, node: usize, pid: Option<u32>, http_addr: &str) -> Sample {
    let mut s = Sample {
        t,
        node,
        pid,
        ..Sample::default()
    };
    if let Some(pid) = pid {
        let (rss, threads) = proc_status(pid);
        s.values[Metric::RssMib as usize] = rss.map(|kib| kib / 1024.0);
        s.values[Metric::Threads as usize] = threads;
        s.values[Metric::Fds as usize] = open_fds(pid);
    }
    if let Some(text) = metrics_text(http_addr).await {
        let mib = |name| gauge(&text, name).map(|b| b / (1024.0 * 1024.0));
        s.values[Metric::Tasks as usize] = gauge(&text, "hiqlite_runtime_tasks");
        s.values[Metric::LogMib as usize] = mib("hiqlite_log_size_bytes");
        s.values[Metric::WalMib as usize] = mib("hiqlite_wal_size_bytes");
        s.values[Metric::DbMib as usize] = mib("hiqlite_db_size_bytes");
    }
    s
}

/// `VmRSS` (KiB) and `Threads` of `/proc/PID/status`; `None` each when unreadable.
fn proc_status(pid: u32) -> (Option<f64>, Option<f64>) {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    (field("VmRSS:"), field("Threads:"))
}

/// Number of entries in `/proc/PID/fd`; `None` when unreadable.
fn open_fds(pid: u32) -> Option<f64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as f64)
}

/// The node's `/metrics` text, or `None` when it does not answer 200 in time.
async fn metrics_text(http_addr: &str) -> Option<String> {
    let auth = format!("Bearer {SECRET_API}");
    let headers = [("Authorization", auth.as_str())];
    let request = http::request(http_addr, "GET", "/metrics", &headers, b"");
    let response = tokio::time::timeout(METRICS_TIMEOUT, request)
        .await
        .ok()?
        .ok()?;
    (response.status == 200).then(|| String::from_utf8_lossy(&response.body).into_owned())
}

/// The value of the unlabelled series `name` in Prometheus text `text`.
pub fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

/// Writes the node samples, the load samples and the events as one CSV: a row per node sample
/// (`kind` = `node`), per load sample (`kind` = `load`) and per event (`kind` = `event`, its
/// text in `event`). Times in seconds since the load started.
pub fn write_csv(
    path: &Path,
    samples: &[Sample],
    load: &[LoadSample],
    events: &[(f64, String)],
) -> std::io::Result<()> {
    let mut out = String::from("kind,t_s,node,pid");
    for m in Metric::ALL {
        let _ = write!(out, ",{}", m.column());
    }
    out.push_str(",writes_per_s,reads_per_s,consistent_reads_per_s,errors_per_s,event\n");
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
    for s in samples {
        let _ = write!(
            out,
            "node,{:.1},{},{}",
            s.t,
            s.node + 1,
            s.pid.map(|p| p.to_string()).unwrap_or_default()
        );
        for m in Metric::ALL {
            let _ = write!(out, ",{}", opt(s.get(m)));
        }
        out.push_str(",,,,,\n");
    }
    let blanks = ",".repeat(Metric::ALL.len());
    for l in load {
        let _ = writeln!(
            out,
            "load,{:.1},,{blanks},{:.1},{:.1},{:.1},{:.2},",
            l.t, l.writes_per_s, l.reads_per_s, l.consistent_reads_per_s, l.errors_per_s
        );
    }
    for (t, what) in events {
        let _ = writeln!(out, "event,{t:.1},,{blanks},,,,,{}", what.replace(',', ";"));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_are_found_by_exact_name() {
        let text = "# HELP hiqlite_runtime_tasks x\nhiqlite_runtime_tasks_other 9\nhiqlite_runtime_tasks 42\nhiqlite_log_size_bytes 1048576\n";
        assert_eq!(gauge(text, "hiqlite_runtime_tasks"), Some(42.0));
        assert_eq!(gauge(text, "hiqlite_log_size_bytes"), Some(1048576.0));
        assert_eq!(gauge(text, "hiqlite_wal_size_bytes"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let (rss, threads) = proc_status(std::process::id());
        assert!(rss.is_some_and(|r| r > 0.0));
        assert!(threads.is_some_and(|t| t >= 1.0));
        assert!(open_fds(std::process::id()).is_some_and(|n| n >= 3.0));
    }
}
