//! Soak: a 3-node cluster of `hiqlite serve` processes under a mixed, paced load (writes that
//! insert, update and delete so the data set stays bounded; local reads; consistent reads; on
//! every node) with membership changes (a node removed and added back) and restarts (SIGTERM of
//! the leader, SIGKILL of a follower) every few minutes, and snapshots every
//! `HQL_SNAPSHOT_AFTER_LOGS` entries. Every few seconds each node is sampled: RSS, open file
//! descriptors and threads from `/proc/PID`; Tokio tasks (`hiqlite_runtime_tasks`), Raft log,
//! SQLite WAL and database sizes from its `/metrics`; plus the cluster's operations per second.
//!
//! Two profiles, the same code:
//! - `short_soak` (~45 s, runs with `cargo test --workspace`): one membership change early on;
//!   keeps the harness, the plot and the bounds tested.
//! - `long_soak` (`#[ignore]`, opt-in): as long as `HIQLITE_SOAK_DURATION` (default `60m`),
//!   a disruption every `HIQLITE_SOAK_DISRUPT_EVERY` (default `5m`), membership changes and
//!   restarts in turn.
//!
//! ```sh
//! HIQLITE_SOAK_DURATION=60m cargo test --release -p hiqlite-cluster-tests --test soak -- --ignored --nocapture
//! ```
//!
//! Output: a CSV (`HIQLITE_SOAK_CSV`, default `<target dir>/soak/soak-<profile>.csv`), an SVG
//! plot (`HIQLITE_SOAK_SVG`, default beside the CSV), and a Markdown summary table beside the
//! CSV (`.md`): start, end and largest value per metric per node.
//!
//! Bounds (see `bounds.rs` for the two rules: a ceiling after the warm-up, the first 10 % of the
//! run; and no growth of the last quarter's largest value over the second quarter's beyond an
//! allowance), per node, and why:
//! - RSS: at most 512 MiB; growth at most +20 % + 32 MiB. The data set is bounded (3 x 1000 rows
//!   of ~230 bytes), SQLite's page cache and the read pool are fixed in size, so a steady state
//!   exists; the allowance covers allocator fragmentation and a restarted node warming up.
//! - open file descriptors: at most 512; growth at most +25 % + 16. Sockets: one per peer and
//!   per client connection (a few dozen); files: SQLite's database, WAL and shm per pooled
//!   connection, RocksDB's SST and log files (a few dozen).
//! - threads: at most 256; growth at most +25 % + 16. Tokio's workers, its blocking pool (idle
//!   threads leave after 10 s), RocksDB's background threads, the SQLite writer and readers.
//! - Tokio tasks: at most 2000; growth at most +25 % + 32. A few per connection and per peer;
//!   a leak of one task per request would pass thousands within minutes.
//! - Raft log on disk: at most [`LOG_MAX_MIB`] (64 MiB); growth at most +25 % + 8 MiB. The log
//!   is purged after every snapshot down to the last 1000 entries, so live entries stay below
//!   `snapshot_after_logs` + 1000 (~3000 entries of < 1 KiB: a few MiB of SST files once
//!   compacted); RocksDB's write-ahead log holds at most 32 MiB before its data is flushed and the
//!   file deleted (`MAX_WAL_BYTES` in the log store); info `LOG` files roll at 1 MiB, 10 kept.
//!   `hiqlite_log_size_bytes` counts the files' lengths, not the blocks RocksDB preallocates for
//!   the live write-ahead log file (~70 MiB, which `du` shows).
//! - SQLite WAL: at most 64 MiB; growth at most +25 % + 8 MiB. Checkpoints run every 1000 pages
//!   (4 MiB) and after each snapshot; the file is reused from its start, so it stays near that
//!   size unless a long read holds a checkpoint back.
//! - SQLite database: at most 64 MiB; growth at most +25 % + 8 MiB. The rows are bounded (each
//!   writer deletes all but its last [`load::KEEP`]); free pages are reused.
//!
//! The test also fails when a node's process exits on its own, when the load made no progress in
//! the last quarter, or when the nodes disagree on the data after the load stops.

mod bounds;
mod load;
mod plot;
mod sample;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hiqlite::{params, Member};
use hiqlite_cluster_tests::faults::parse_duration;
use hiqlite_cluster_tests::{free_addrs, poll_until, ProcessCluster};

use bounds::Bound;
use load::{Load, Pace, Totals};
use sample::{LoadSample, Metric, Sample};

const NODES: usize = 3;

/// Ceiling of the Raft log's directory, MiB (see the header).
const LOG_MAX_MIB: f64 = 64.0;

/// How long a disruption may take to heal (every node serving linearizable reads again).
const HEAL_TIMEOUT: Duration = Duration::from_secs(120);

/// The bounds every profile checks (see the header for why these numbers).
const BOUNDS: [Bound; 7] = [
    Bound {
        metric: Metric::RssMib,
        max: 512.0,
        growth_frac: 0.20,
        growth_abs: 32.0,
    },
    Bound {
        metric: Metric::Fds,
        max: 512.0,
        growth_frac: 0.25,
        growth_abs: 16.0,
    },
    Bound {
        metric: Metric::Threads,
        max: 256.0,
        growth_frac: 0.25,
        growth_abs: 16.0,
    },
    Bound {
        metric: Metric::Tasks,
        max: 2000.0,
        growth_frac: 0.25,
        growth_abs: 32.0,
    },
    Bound {
        metric: Metric::LogMib,
        max: LOG_MAX_MIB,
        growth_frac: 0.25,
        growth_abs: 8.0,
    },
    Bound {
        metric: Metric::WalMib,
        max: 64.0,
        growth_frac: 0.25,
        growth_abs: 8.0,
    },
    Bound {
        metric: Metric::DbMib,
        max: 64.0,
        growth_frac: 0.25,
        growth_abs: 8.0,
    },
];

/// What distinguishes the profiles.
struct Profile {
    name: &'static str,
    duration: Duration,
    sample_every: Duration,
    /// When the disruptions happen, since the load started.
    disruptions: Vec<Duration>,
    pace: Pace,
    snapshot_after_logs: u64,
}

impl Profile {
    fn short() -> Profile {
        Profile {
            name: "short",
            duration: Duration::from_secs(48),
            sample_every: Duration::from_secs(2),
            disruptions: vec![Duration::from_secs(7)],
            pace: Pace {
                write: Duration::from_millis(40),
                read: Duration::from_millis(20),
                consistent_read: Duration::from_millis(40),
            },
            snapshot_after_logs: 500,
        }
    }

    fn long() -> Profile {
        let duration = duration_env("HIQLITE_SOAK_DURATION", Duration::from_secs(3600));
        let every = duration_env("HIQLITE_SOAK_DISRUPT_EVERY", Duration::from_secs(300));
        let disruptions = (1..)
            .map(|k| every * k)
            .take_while(|t| *t + Duration::from_secs(60) < duration)
            .collect();
        Profile {
            name: "long",
            duration,
            sample_every: Duration::from_secs(5),
            disruptions,
            pace: Pace {
                write: Duration::from_millis(20),
                read: Duration::from_millis(10),
                consistent_read: Duration::from_millis(20),
            },
            snapshot_after_logs: 2000,
        }
    }
}

fn duration_env(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .map(|d| parse_duration(&d).unwrap_or_else(|| panic!("{name}={d:?}: use 90s, 3m, 1h")))
        .unwrap_or(default)
}

/// `<target dir>/soak/`: the test executable is `<target dir>/<profile>/deps/soak-<hash>`.
fn default_out_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.ancestors()
        .nth(3)
        .map(|target| target.join("soak"))
        .unwrap_or_else(std::env::temp_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_soak() {
    run(Profile::short()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: run with HIQLITE_SOAK_DURATION=60m ... -- --ignored (see the file's header)"]
async fn long_soak() {
    run(Profile::long()).await;
}

/// What the sampler collects while the load runs.
#[derive(Default)]
struct Record {
    samples: Vec<Sample>,
    load: Vec<LoadSample>,
}

async fn run(p: Profile) {
    let http_addrs = free_addrs(NODES);
    let snapshot_after = p.snapshot_after_logs.to_string();
    let mut node_env: Vec<(usize, &str, &str)> = Vec::new();
    for (i, addr) in http_addrs.iter().enumerate() {
        node_env.push((i, "HQL_HTTP_ADDR", addr.as_str()));
        node_env.push((i, "HQL_SNAPSHOT_AFTER_LOGS", snapshot_after.as_str()));
    }
    let mut cluster = ProcessCluster::start_with_node_env(NODES, &node_env).await;
    let leader = cluster.leader().await;
    cluster
        .failover_client(leader)
        .batch(load::SCHEMA)
        .await
        .expect("create the soak table");
    cluster.wait_converged(Duration::from_secs(30)).await;
    eprintln!(
        "soak ({}): {:?}, sampling every {:?}, disruptions at {:?}",
        p.name, p.duration, p.sample_every, p.disruptions
    );

    let pids: Arc<Mutex<Vec<Option<u32>>>> =
        Arc::new(Mutex::new((0..NODES).map(|i| cluster.pid(i)).collect()));
    let record = Arc::new(Mutex::new(Record::default()));
    let start = Instant::now();
    let load = Load::start((0..NODES).map(|i| cluster.client(i)).collect(), p.pace);
    let sampler = tokio::spawn(sampler(
        start,
        p.sample_every,
        http_addrs.clone(),
        pids.clone(),
        load.counters.clone(),
        record.clone(),
    ));

    let mut events: Vec<(f64, String)> = Vec::new();
    let (mut memberships, mut restarts) = (0usize, 0usize);
    for (k, at) in p.disruptions.iter().enumerate() {
        tokio::time::sleep_until((start + *at).into()).await;
        let t = start.elapsed().as_secs_f64();
        let what = if k % 2 == 0 {
            memberships += 1;
            membership_change(&cluster, memberships).await
        } else {
            restarts += 1;
            restart(&mut cluster, restarts).await
        };
        *pids.lock().expect("pids") = (0..NODES).map(|i| cluster.pid(i)).collect();
        eprintln!(
            "[{:6.0} s] {what} (healed after {:.1} s)",
            t,
            start.elapsed().as_secs_f64() - t
        );
        events.push((t, what));
        cluster.assert_all_running();
    }
    tokio::time::sleep_until((start + p.duration).into()).await;
    sampler.abort();
    let _ = sampler.await;
    let totals = load.stop().await;
    cluster.assert_all_running();
    let duration_s = start.elapsed().as_secs_f64();

    let Record { samples, load } = std::mem::take(&mut *record.lock().expect("record"));
    let out_dir = default_out_dir();
    let csv = std::env::var_os("HIQLITE_SOAK_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|| out_dir.join(format!("soak-{}.csv", p.name)));
    let svg = std::env::var_os("HIQLITE_SOAK_SVG")
        .map(PathBuf::from)
        .unwrap_or_else(|| csv.with_extension("svg"));
    sample::write_csv(&csv, &samples, &load, &events).expect("write the CSV");
    let title = format!(
        "hiqlite soak: 3 nodes, {:.0} min, {} writes, {} reads, {} consistent reads, {} disruptions",
        duration_s / 60.0,
        totals.writes,
        totals.reads,
        totals.consistent_reads,
        events.len()
    );
    plot::draw(&svg, &title, NODES, &samples, &load, &events).expect("draw the plot");
    let summary = summary(&samples, &totals, duration_s, &events);
    std::fs::write(csv.with_extension("md"), &summary).expect("write the summary");
    eprintln!("{summary}");
    eprintln!("CSV: {}\nSVG: {}", csv.display(), svg.display());

    // The data: every node holds the same rows, and each writer kept at most KEEP (+ the insert
    // after its last delete).
    cluster.wait_converged(Duration::from_secs(60)).await;
    let mut counts = Vec::new();
    for i in 0..NODES {
        let rows: Vec<(i64, i64)> = cluster
            .client(i)
            .query_map("SELECT count(*), coalesce(sum(k), 0) FROM soak", params!())
            .await
            .expect("count the rows");
        counts.push(rows[0]);
    }
    assert!(
        counts.iter().all(|c| *c == counts[0]),
        "the nodes disagree on the data (rows, sum of keys): {counts:?}"
    );
    assert!(
        counts[0].0 <= NODES as i64 * (load::KEEP + 2),
        "the data set was not kept bounded: {} rows",
        counts[0].0
    );

    let mut failures = bounds::check(&samples, NODES, duration_s, &BOUNDS);
    let last_quarter_writes: f64 = load
        .iter()
        .filter(|l| l.t >= 0.75 * duration_s)
        .map(|l| l.writes_per_s)
        .sum();
    if last_quarter_writes <= 0.0 {
        failures.push("no write succeeded in the last quarter of the run".into());
    }
    assert!(
        memberships + restarts == p.disruptions.len(),
        "not every disruption ran"
    );
    assert!(
        failures.is_empty(),
        "the soak run broke its bounds:\n{}\n{summary}",
        failures.join("\n")
    );
}

/// Samples every node every `every` until aborted, and the load done since the last sample.
async fn sampler(
    start: Instant,
    every: Duration,
    http_addrs: Vec<String>,
    pids: Arc<Mutex<Vec<Option<u32>>>>,
    counters: Arc<load::Counters>,
    record: Arc<Mutex<Record>>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut before: Option<(f64, Totals)> = None;
    let mut last_print = 0.0;
    loop {
        tick.tick().await;
        let t = start.elapsed().as_secs_f64();
        let now = counters.totals();
        let current: Vec<Option<u32>> = pids.lock().expect("pids").clone();
        let samples = futures::future::join_all(
            (0..NODES).map(|i| sample::sample(t, i, current[i], &http_addrs[i])),
        )
        .await;
        let load = before.map(|(t0, b)| {
            let dt = (t - t0).max(1e-3);
            LoadSample {
                t,
                writes_per_s: (now.writes - b.writes) as f64 / dt,
                reads_per_s: (now.reads - b.reads) as f64 / dt,
                consistent_reads_per_s: (now.consistent_reads - b.consistent_reads) as f64 / dt,
                errors_per_s: (now.errors - b.errors) as f64 / dt,
            }
        });
        before = Some((t, now));
        if t - last_print >= 60.0 || last_print == 0.0 {
            last_print = t.max(1e-3);
            eprintln!("[{t:6.0} s] {}", progress_line(&samples, load.as_ref()));
        }
        let mut r = record.lock().expect("record");
        r.samples.extend(samples);
        r.load.extend(load);
    }
}

fn progress_line(samples: &[Sample], load: Option<&LoadSample>) -> String {
    let mut line = String::new();
    if let Some(l) = load {
        let _ = write!(
            line,
            "{:.0} w/s {:.0} r/s {:.0} cr/s {:.1} err/s |",
            l.writes_per_s, l.reads_per_s, l.consistent_reads_per_s, l.errors_per_s
        );
    }
    for s in samples {
        let v = |m| s.get(m).map_or("-".to_string(), |v| format!("{v:.0}"));
        let _ = write!(
            line,
            " n{}: rss {} fds {} thr {} tasks {} log {:.1} wal {:.1} db {:.1} |",
            s.node + 1,
            v(Metric::RssMib),
            v(Metric::Fds),
            v(Metric::Threads),
            v(Metric::Tasks),
            s.get(Metric::LogMib).unwrap_or(f64::NAN),
            s.get(Metric::WalMib).unwrap_or(f64::NAN),
            s.get(Metric::DbMib).unwrap_or(f64::NAN),
        );
    }
    line
}

/// Removes a follower and adds it back as a voter (learner first, then promoted once caught
/// up); waits until every node serves linearizable reads again. Returns what it did.
async fn membership_change(cluster: &ProcessCluster, round: usize) -> String {
    let leader = cluster.leader_within(HEAL_TIMEOUT).await;
    let target = (leader + 1 + round % 2) % NODES;
    let id = cluster.node_id(target);
    let admin = cluster.failover_client(leader);
    poll_until("the node to be removed", HEAL_TIMEOUT, || async {
        let status = admin.status().await.ok()?;
        if !status.voters.contains(&id) && !status.learners.contains(&id) {
            return Some(());
        }
        let _ = admin.remove_node(id).await;
        None
    })
    .await;
    poll_until("the removed node to know it", HEAL_TIMEOUT, || async {
        cluster.try_status(target).await?.removed.then_some(())
    })
    .await;
    let member = Member {
        id,
        raft_addr: cluster.raft_addr(target).to_string(),
        api_addr: cluster.api_addr(target).to_string(),
    };
    poll_until("the node to be a voter again", HEAL_TIMEOUT, || async {
        let status = admin.status().await.ok()?;
        if status.voters.contains(&id) {
            return Some(());
        }
        let _ = admin.add_node(member.clone(), true).await;
        None
    })
    .await;
    cluster.wait_all_healthy(HEAL_TIMEOUT).await;
    format!("node {id} removed and added back")
}

/// Restarts a node: odd rounds stop the leader with SIGTERM (it hands leadership over), even
/// rounds SIGKILL a follower; waits until every node serves linearizable reads again.
async fn restart(cluster: &mut ProcessCluster, round: usize) -> String {
    let leader = cluster.leader_within(HEAL_TIMEOUT).await;
    let (target, how) = if round % 2 == 1 {
        let clean = cluster.stop(leader).await;
        assert!(clean, "the leader did not shut down cleanly on SIGTERM");
        (leader, "SIGTERM")
    } else {
        let follower = (leader + 1) % NODES;
        cluster.kill9(follower).await;
        (follower, "SIGKILL")
    };
    cluster.restart(target);
    cluster.wait_all_healthy(HEAL_TIMEOUT).await;
    format!("node {} restarted ({how})", cluster.node_id(target))
}

/// A Markdown table: per node and metric the first value, the last, the largest, and the
/// bound; then the operations done and the disruptions.
fn summary(
    samples: &[Sample],
    totals: &Totals,
    duration_s: f64,
    events: &[(f64, String)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| metric | node | start | end | max | max after warm-up | bound (ceiling; growth) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for b in BOUNDS {
        for node in 0..NODES {
            let values: Vec<(f64, f64)> = samples
                .iter()
                .filter(|s| s.node == node)
                .filter_map(|s| Some((s.t, s.get(b.metric)?)))
                .collect();
            let first = values.first().map(|v| v.1);
            let last = values.last().map(|v| v.1);
            let max = values.iter().map(|v| v.1).reduce(f64::max);
            let warm = values
                .iter()
                .filter(|v| v.0 >= bounds::WARM_UP * duration_s)
                .map(|v| v.1)
                .reduce(f64::max);
            let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {}; +{:.0} % + {} |",
                b.metric.column(),
                node + 1,
                f(first),
                f(last),
                f(max),
                f(warm),
                b.max,
                b.growth_frac * 100.0,
                b.growth_abs
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{:.0} s: {} writes, {} local reads, {} consistent reads, {} failed operations \
         ({:.0} operations/s on average).",
        duration_s,
        totals.writes,
        totals.reads,
        totals.consistent_reads,
        totals.errors,
        (totals.writes + totals.reads + totals.consistent_reads) as f64 / duration_s
    );
    for (t, what) in events {
        let _ = writeln!(out, "- at {:.0} s: {what}", t);
    }
    out
}
