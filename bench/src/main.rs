//! `hiqlite-bench`: Hiqlite's write throughput, write latency and read latency, each printed next
//! to a plain-SQLite (or loopback TCP) baseline measured in the same run on the same disk.
//!
//! ```text
//! cargo build --release -p hiqlite -p hiqlite-bench   # `processes` mode also needs `hiqlite`
//! target/release/hiqlite-bench --mode all              # human table
//! target/release/hiqlite-bench --mode cluster --json   # one JSON object on stdout
//! target/release/hiqlite-bench --quick                 # seconds; checks the program, not speed
//! target/release/hiqlite-bench --mode backup --backup-mb 1024   # backups, restores, RPO
//! target/release/hiqlite-bench --mode failover --rounds 5       # kill -9 of the leader
//! target/release/hiqlite-bench --mode snapshot --snapshot-mb 1024  # writes during a snapshot
//! ```
//!
//! Progress goes to stderr, the table or the JSON to stdout. Timings are measured and printed,
//! never asserted. Every node, child process and file the run creates is removed when it ends,
//! fails or is interrupted (Ctrl-C, SIGTERM).

mod backup;
mod baseline;
mod cache;
mod children;
mod failover;
mod modes;
mod report;
mod snapshot;
mod stats;
mod suite;
mod sys;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::modes::Mode;
use crate::report::{Meta, Report};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, BoxError>;

/// Benchmark Hiqlite against plain SQLite on this machine.
///
/// Workload (as the original hiqlite's examples/bench): table `_bench (id, ts, name)`, R rows
/// prepared in memory, split among C concurrent tasks.
#[derive(Parser, Debug)]
#[command(name = "hiqlite-bench", version)]
struct Cli {
    /// What to run: one embedded node, three embedded nodes on loopback TCP, three `hiqlite
    /// serve` child processes (binary next to this one or in HIQLITE_BIN), or all three.
    #[arg(long, value_enum, default_value = "all")]
    mode: Mode,
    /// R: rows per write run [default: 10000; --quick: 200].
    #[arg(long, value_name = "R")]
    rows: Option<usize>,
    /// Rows in the table before measuring, filled through a fast path; point SELECTs read
    /// random ones [default: 10000; --quick: 100].
    #[arg(long, value_name = "N")]
    existing: Option<u64>,
    /// Concurrent tasks, one write run per value [default: 1,4,16,64; --quick: 1,4]. `backup`
    /// mode writes with the first value only [default: 16; --quick: 4]; `failover` mode's steady
    /// phase with the largest.
    #[arg(long, value_name = "C,..", value_delimiter = ',')]
    concurrency: Option<Vec<usize>>,
    /// Point SELECTs per latency figure [default: 5000; --quick: 200].
    #[arg(long, value_name = "K")]
    reads: Option<usize>,
    /// A single-row write run stops after this many seconds, counting the rows it wrote
    /// [default: 10; --quick: 5]. `failover` mode: the length of its steady phase.
    #[arg(long, value_name = "SECS")]
    max_secs: Option<f64>,
    /// Where the temporary data directory (nodes and baseline, one disk) is created
    /// [default: the system temp dir].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// How consistent reads confirm leadership: read_index (default) or lease.
    #[arg(long, value_name = "POLICY", default_value = "read_index")]
    read_policy: String,
    /// `backup` mode: fill the database to about this many MiB [default: 256; --quick: 8].
    #[arg(long, value_name = "MB")]
    backup_mb: Option<u64>,
    /// `backup` mode: every node's `request_timeout` in seconds [default: the library's, 10 s].
    /// A restore's pieces and its final swap are writes bounded by it.
    #[arg(long, value_name = "SECS")]
    request_timeout: Option<u64>,
    /// `snapshot` mode: fill the database to about this many MiB before the snapshot is built
    /// [default: 1024; --quick: 16]. `--concurrency` (first value) sets its writers [default: 1].
    #[arg(long, value_name = "MB")]
    snapshot_mb: Option<u64>,
    /// `failover` mode: how many times the leader is killed [default: 5; --quick: 2].
    #[arg(long, value_name = "N")]
    rounds: Option<usize>,
    /// `failover` mode: the children's heartbeat_interval in milliseconds [default: the
    /// library's].
    #[arg(long, value_name = "MS")]
    heartbeat_ms: Option<u64>,
    /// `failover` mode: the children's election_timeout_min and _max in milliseconds [default:
    /// the library's].
    #[arg(long, value_name = "MIN,MAX", value_delimiter = ',')]
    election_ms: Option<Vec<u64>>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Tiny sizes, for a smoke test in seconds (checks the program works, never speed).
    #[arg(long)]
    quick: bool,
}

/// The run's parameters, defaults filled in.
#[derive(Debug, Clone)]
pub struct Settings {
    mode: Mode,
    pub rows: usize,
    pub existing: u64,
    pub concurrency: Vec<usize>,
    pub reads: usize,
    pub max_per_run: Duration,
    data_dir: Option<PathBuf>,
    pub read_policy: hiqlite::config::ReadPolicy,
    read_policy_name: String,
    /// `backup` mode: the database size to fill to, in MiB.
    pub backup_mb: u64,
    /// `backup` mode: concurrent writers.
    pub backup_writers: usize,
    /// `backup` mode: every node's `request_timeout`, when given.
    pub request_timeout: Option<Duration>,
    /// `snapshot` mode: the database size to fill to, in MiB.
    pub snapshot_mb: u64,
    /// `snapshot` mode: concurrent writers.
    pub snapshot_writers: usize,
    /// `failover` mode: leader kills.
    pub rounds: usize,
    /// `failover` mode: heartbeat_interval for the children, when given.
    pub heartbeat: Option<Duration>,
    /// `failover` mode: election_timeout_min and _max for the children, when given.
    pub election: Option<(Duration, Duration)>,
    pub quick: bool,
}

impl Settings {
    fn from_cli(cli: &Cli) -> Result<Settings> {
        let q = cli.quick;
        let default_secs = if q { 5.0 } else { 10.0 };
        let s = Settings {
            mode: cli.mode,
            rows: cli.rows.unwrap_or(if q { 200 } else { 10_000 }),
            existing: cli.existing.unwrap_or(if q { 100 } else { 10_000 }),
            concurrency: cli.concurrency.clone().unwrap_or(if q {
                vec![1, 4]
            } else {
                vec![1, 4, 16, 64]
            }),
            reads: cli.reads.unwrap_or(if q { 200 } else { 5_000 }),
            max_per_run: Duration::try_from_secs_f64(cli.max_secs.unwrap_or(default_secs))
                .map_err(|_| "--max-secs must be a positive number of seconds")?,
            data_dir: cli.data_dir.clone(),
            read_policy: cli.read_policy.parse().map_err(|e: String| e)?,
            read_policy_name: cli.read_policy.clone(),
            backup_mb: cli.backup_mb.unwrap_or(if q { 8 } else { 256 }),
            backup_writers: cli
                .concurrency
                .as_ref()
                .and_then(|c| c.first().copied())
                .unwrap_or(if q { 4 } else { 16 }),
            snapshot_mb: cli.snapshot_mb.unwrap_or(if q { 16 } else { 1024 }),
            snapshot_writers: cli
                .concurrency
                .as_ref()
                .and_then(|c| c.first().copied())
                .unwrap_or(1),
            quick: q,
            request_timeout: cli.request_timeout.map(Duration::from_secs),
            rounds: cli.rounds.unwrap_or(if q { 2 } else { 5 }),
            heartbeat: cli.heartbeat_ms.map(Duration::from_millis),
            election: match cli.election_ms.as_deref() {
                None => None,
                Some([min, max]) if min < max => {
                    Some((Duration::from_millis(*min), Duration::from_millis(*max)))
                }
                Some(_) => return Err("--election-ms takes MIN,MAX with MIN < MAX".into()),
            },
        };
        if s.rounds == 0 {
            return Err("--rounds must be at least 1".into());
        }
        if s.request_timeout.is_some_and(|t| t.is_zero()) {
            return Err("--request-timeout must be at least 1 second".into());
        }
        if s.backup_mb == 0 || s.backup_mb > 1 << 20 {
            return Err("--backup-mb takes 1 to 1048576 (MiB)".into());
        }
        if s.snapshot_mb == 0 || s.snapshot_mb > 1 << 20 {
            return Err("--snapshot-mb takes 1 to 1048576 (MiB)".into());
        }
        if s.max_per_run.is_zero() {
            return Err("--max-secs must be more than 0".into());
        }
        if s.rows == 0 || s.reads == 0 {
            return Err("--rows and --reads must be at least 1".into());
        }
        if s.existing == 0 {
            return Err("--existing must be at least 1: point SELECTs read existing rows".into());
        }
        if s.concurrency.is_empty() || s.concurrency.contains(&0) {
            return Err("--concurrency takes a list of positive numbers, e.g. 1,4,16,64".into());
        }
        if s.existing > i64::MAX as u64 / 2 {
            return Err("--existing is too large".into());
        }
        Ok(s)
    }
}

/// A progress line on stderr.
pub fn progress(tag: &str, msg: &str) {
    if std::env::var_os("RUST_LOG").is_some() {
        // Timestamped like the log lines, so the two can be read together.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        eprintln!("{:.3} [{tag}] {msg}", now.as_secs_f64());
        return;
    }
    eprintln!("[{tag}] {msg}");
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // RUST_LOG=hiqlite=info shows the embedded nodes' logs (snapshot builds, elections) on
    // stderr, timestamped, next to the progress lines.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let settings = match Settings::from_cli(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Dropping the run on a signal drops its nodes, children (killed) and temporary directory.
    tokio::select! {
        result = run(&settings) => match result {
            Ok(report) => {
                if cli.json {
                    println!("{}", report.to_json());
                } else {
                    print!("{}", report.to_table());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        _ = hiqlite::shutdown_signal() => {
            eprintln!("interrupted; cleaning up");
            ExitCode::from(130)
        }
    }
}

async fn run(s: &Settings) -> Result<Report> {
    if s.mode == Mode::Backup {
        return run_backup(s).await;
    }
    if s.mode == Mode::Cache {
        return run_cache(s).await;
    }
    if s.mode == Mode::Failover {
        return run_failover(s).await;
    }
    if s.mode == Mode::Snapshot {
        return run_snapshot(s).await;
    }
    let modes = s.mode.expand();
    // Fail before measuring anything when processes mode cannot run.
    let hiqlite_bin = if modes.contains(&Mode::Processes) {
        Some(modes::find_hiqlite_bin()?)
    } else {
        None
    };
    let root = temp_root(s)?;
    progress(
        "baseline",
        &format!("plain rusqlite in {}", root.path().display()),
    );
    let baselines = baseline::measure(root.path().join("baseline"), s).await?;

    let mut results = Vec::new();
    for mode in modes {
        progress(mode.name(), "starting");
        let dir = root.path().join(mode.name());
        let target = modes::start(mode, &dir, hiqlite_bin.as_deref(), s).await?;
        let measured = suite::run(mode, &target, s, &baselines).await;
        let node_rss = target.stop().await;
        let mut section = measured?;
        suite::add_node_rss(&mut section, &node_rss);
        results.push(section);
        // Each mode's files go as soon as it is done, so modes do not share a filling disk.
        let _ = std::fs::remove_dir_all(&dir);
    }

    // VmHWM is updated lazily by the kernel: never report less than a mode already saw.
    let peak_rss_kib = results
        .iter()
        .flat_map(|s| &s.figures)
        .filter(|f| f.key == "peak_rss_kib")
        .map(|f| f.value as u64)
        .chain(sys::own_peak_rss_kib())
        .max();
    Ok(Report {
        meta: meta(s),
        baseline: baselines.section(),
        results,
        peak_rss_kib,
    })
}

/// `backup` mode: its own baseline (a plain file copy) and section.
async fn run_backup(s: &Settings) -> Result<Report> {
    let root = temp_root(s)?;
    let dir = root.path().join("backup");
    let (baseline, section) = backup::run(&dir, s).await?;
    Ok(Report {
        meta: Meta {
            rows: 0,
            concurrency: vec![s.backup_writers],
            existing_rows: 0,
            read_samples: 0,
            max_secs_per_run: 0.0,
            backup_mb: Some(s.backup_mb),
            ..meta(s)
        },
        baseline,
        results: vec![section],
        peak_rss_kib: sys::own_peak_rss_kib(),
    })
}

/// `cache` mode: its own baselines (a `Mutex<HashMap>`, SQL INSERT/s) and section.
async fn run_cache(s: &Settings) -> Result<Report> {
    let root = temp_root(s)?;
    let (baseline, section) = cache::run(&root.path().join("cache"), s).await?;
    Ok(Report {
        meta: Meta {
            existing_rows: 0,
            ..meta(s)
        },
        baseline,
        results: vec![section],
        peak_rss_kib: sys::own_peak_rss_kib(),
    })
}

/// `failover` mode: the configured Raft timing as its floor section, and its own section.
async fn run_failover(s: &Settings) -> Result<Report> {
    let bin = modes::find_hiqlite_bin()?;
    let root = temp_root(s)?;
    let (baseline, section) = failover::run(&root.path().join("failover"), &bin, s).await?;
    Ok(Report {
        meta: Meta {
            rows: 0,
            concurrency: vec![s.concurrency.iter().copied().max().unwrap_or(1)],
            existing_rows: 0,
            read_samples: 0,
            ..meta(s)
        },
        baseline,
        results: vec![section],
        peak_rss_kib: sys::own_peak_rss_kib(),
    })
}

/// `snapshot` mode: the steady phase as its baseline section, the snapshot phase as its own.
async fn run_snapshot(s: &Settings) -> Result<Report> {
    let bin = modes::find_hiqlite_bin()?;
    let root = temp_root(s)?;
    let (baseline, section) = snapshot::run(&root.path().join("snapshot"), &bin, s).await?;
    Ok(Report {
        meta: Meta {
            rows: 0,
            concurrency: vec![s.snapshot_writers],
            existing_rows: 0,
            read_samples: 0,
            max_secs_per_run: 0.0,
            ..meta(s)
        },
        baseline,
        results: vec![section],
        peak_rss_kib: sys::own_peak_rss_kib(),
    })
}

/// The report header of a run with settings `s`; modes override what they measure differently.
fn meta(s: &Settings) -> Meta {
    Meta {
        date: sys::utc_now(),
        cores: sys::cores(),
        mode: s.mode.name().into(),
        rows: s.rows,
        concurrency: s.concurrency.clone(),
        existing_rows: s.existing,
        read_samples: s.reads,
        max_secs_per_run: s.max_per_run.as_secs_f64(),
        read_policy: s.read_policy_name.clone(),
        backup_mb: None,
    }
}

/// The run's temporary directory, in `--data-dir` or the system's temp dir; removed on drop.
fn temp_root(s: &Settings) -> Result<tempfile::TempDir> {
    let mut temp = tempfile::Builder::new();
    temp.prefix("hiqlite-bench-");
    Ok(match &s.data_dir {
        Some(d) => temp.tempdir_in(d)?,
        None => temp.tempdir()?,
    })
}
