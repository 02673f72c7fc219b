//! `snapshot` mode (issue 17, goal 5): do Raft snapshots stall writes?
//!
//! Three `hiqlite serve` children with `snapshot_after_logs` = [`SNAPSHOT_AFTER_LOGS`] (quick:
//! [`SNAPSHOT_AFTER_LOGS_QUICK`]). In order:
//! 1. fill a table to about `--snapshot-mb` MiB (bulk INSERT statements through Raft, as `backup`
//!    mode does) and wait until every node has applied it;
//! 2. kill one follower (the *lagging* one), then write single rows at C=64 through the leader
//!    until the leader's log is [`MARGIN`] entries short of its next snapshot (not measured);
//! 3. phase (b), *snapshot*: C writers (`--concurrency`, first value; default 1) insert one row
//!    at a time through the other (healthy) follower, whose requests are forwarded to the leader.
//!    Their first entries cross the threshold: the leader (and the healthy follower, which keeps
//!    its own snapshots) builds a snapshot of the whole database and purges its log. Once the
//!    leader's log no longer holds what the lagging follower misses, that follower is started
//!    again, and the leader streams the snapshot to it. The phase ends when the lagging follower
//!    has installed it;
//! 4. wait until all three nodes have applied the same index;
//! 5. phase (a), *steady*: the same writers through the same follower for as long as phase (b)
//!    took, no snapshot (it stops early, with a note, should the next snapshot come near).
//!
//! Printed: write p50/p99/max latency and writes/s of both phases side by side, and the ratio;
//! the snapshot's size, its build time (threshold crossed → the leader reports the snapshot) and
//! its transfer time (lagging follower started → snapshot installed). Nothing is asserted.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hiqlite::Client;
use tokio::task::JoinSet;

use crate::children::{Cluster, POLL};
use crate::modes::{self, Mode};
use crate::report::{Figure, Section, Unit};
use crate::stats::{per_sec, Latencies};
use crate::workload::{self, WriteRun};
use crate::{backup, progress, Result, Settings};

const TAG: &str = "snapshot";
/// The children's `snapshot_after_logs`: far above what the fill and both phases write, so the
/// only snapshot in the measured window is the one the pump leads up to.
pub const SNAPSHOT_AFTER_LOGS: u64 = 30_000;
/// The same with `--quick`.
pub const SNAPSHOT_AFTER_LOGS_QUICK: u64 = 3_000;
/// Entries the pump leaves before the threshold: the measured writers cross it within moments.
const MARGIN: u64 = 20;
/// Concurrent writers of the (unmeasured) pump.
const PUMP_TASKS: usize = 64;
/// The longest phase (b) may take (building and sending a snapshot of the whole database).
const PHASE_TIMEOUT: Duration = Duration::from_secs(1800);
const MIB: f64 = 1_048_576.0;

/// Moments of phase (b), from its start.
#[derive(Debug, Default)]
struct Timeline {
    /// The leader applied the entry that crosses the snapshot threshold.
    crossed: Option<Duration>,
    /// The leader reports the new snapshot.
    built: Option<Duration>,
    /// The leader's log no longer holds what the lagging follower misses; it is started again.
    restarted: Option<Duration>,
    /// The lagging follower has installed the snapshot.
    installed: Option<Duration>,
    /// Log index the snapshot covers.
    snapshot_index: u64,
}

/// Runs the snapshot measurement with `bin` (`hiqlite serve`) in `dir`; returns the steady phase
/// as the baseline section and the snapshot phase as the mode's section.
pub async fn run(dir: &Path, bin: &Path, s: &Settings) -> Result<(Section, Section)> {
    let after_logs = if s.quick {
        SNAPSHOT_AFTER_LOGS_QUICK
    } else {
        SNAPSHOT_AFTER_LOGS
    };
    progress(
        TAG,
        &format!("3 `hiqlite serve` children, snapshot_after_logs {after_logs}"),
    );
    let env = vec![(
        "HQL_SNAPSHOT_AFTER_LOGS".to_string(),
        after_logs.to_string(),
    )];
    let mut cluster = Cluster::start(bin, dir, s.read_policy, env).await?;
    let measured = measure(&mut cluster, s, after_logs).await;
    if measured.is_err() {
        eprintln!("{}", cluster.log_tails());
    }
    cluster.stop().await;
    measured
}

async fn measure(
    cluster: &mut Cluster,
    s: &Settings,
    after_logs: u64,
) -> Result<(Section, Section)> {
    let (li, _) = cluster.leader().await?;
    let (healthy, lagging) = ((li + 1) % 3, (li + 2) % 3);
    let leader = cluster.nodes[li].client.clone();
    let writer = cluster.nodes[healthy].client.clone();
    let leader_dir = cluster.node_dir(li);

    // 1. Fill.
    progress(
        TAG,
        &format!("filling _backup_fill to about {} MiB", s.snapshot_mb),
    );
    let db = modes::db_file(&leader_dir);
    let (fill_time, rows) = backup::fill(&leader, &db, s.snapshot_mb * 1_048_576).await?;
    let db_mib = backup::db_size(&db).await? as f64 / MIB;
    progress(
        TAG,
        &format!(
            "filled {rows} rows, {db_mib:.1} MiB in {:.1} s",
            fill_time.as_secs_f64()
        ),
    );
    all_applied(cluster, &[0, 1, 2]).await?;

    // 2. Lag one follower, pump the log close to the threshold.
    let lagging_id = cluster.nodes[lagging].id;
    let lagging_st = cluster.nodes[lagging].client.status().await?;
    let lagging_last = lagging_st.last_log_index.unwrap_or(lagging_st.last_applied);
    progress(
        TAG,
        &format!("killing follower node {lagging_id} (the lagging one)"),
    );
    cluster.kill(lagging).await?;
    let st = leader.status().await?;
    let base = st.snapshot_index.unwrap_or(0);
    // openraft snapshots once committed >= last snapshot index + snapshot_after_logs.
    let threshold = base + after_logs - u64::from(st.snapshot_index.is_none());
    let pump = threshold.saturating_sub(MARGIN + st.last_applied);
    let next_id = Arc::new(AtomicI64::new(1));
    progress(
        TAG,
        &format!("pumping {pump} single-row writes at C={PUMP_TASKS} (not measured)"),
    );
    pump_writes(&leader, next_id.clone(), pump).await?;
    all_applied(cluster, &[li, healthy]).await?;

    // 3. Phase (b): writes while the snapshot is built and sent.
    let c = s.snapshot_writers;
    let through = cluster.nodes[healthy].id;
    progress(
        TAG,
        &format!(
            "phase (b): {c} writer(s) through follower node {through} while the leader snapshots \
             and sends the snapshot to node {lagging_id}"
        ),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let writes = tokio::spawn({
        let (writer, next_id, stop) = (writer.clone(), next_id.clone(), stop.clone());
        async move { timed_inserts(&writer, next_id, c, started + PHASE_TIMEOUT, stop, started).await }
    });
    let marks = Marks {
        threshold,
        base,
        lagging_last,
    };
    let timeline = watch_snapshot(cluster, li, lagging, &marks, started).await;
    stop.store(true, Ordering::Release);
    let (busy, busy_samples) = writes.await??;
    let timeline = timeline?;
    report_slow(&busy_samples);
    let phase = busy.elapsed;
    let snapshot_mib = std::fs::metadata(leader_dir.join("db/snapshots/snapshot.db"))
        .map(|m| m.len() as f64 / MIB)
        .unwrap_or(0.0);
    progress(
        TAG,
        &format!(
            "phase (b) took {:.1} s: {timeline:?}, snapshot {snapshot_mib:.1} MiB",
            phase.as_secs_f64()
        ),
    );

    // 4./5. Phase (a): the same writers for as long, no snapshot.
    all_applied(cluster, &[0, 1, 2]).await?;
    progress(
        TAG,
        &format!(
            "phase (a): {c} writer(s) through follower node {through} for {:.1} s, no snapshot",
            phase.as_secs_f64()
        ),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let next_threshold = timeline.snapshot_index + after_logs;
    let guard = tokio::spawn(stop_before(
        leader.clone(),
        next_threshold.saturating_sub(MARGIN),
        stop.clone(),
    ));
    let now = Instant::now();
    let quiet = timed_inserts(&writer, next_id, c, now + phase, stop.clone(), now).await;
    let cut_short = stop.swap(true, Ordering::AcqRel);
    guard.abort();
    let (quiet, slow) = quiet?;
    report_slow(&slow);
    for i in 0..3 {
        for line in node_log_lines(cluster, i) {
            progress(TAG, &format!("node {}: {line}", cluster.nodes[i].id));
        }
    }

    let mut sec = Section::new("snapshot", Mode::Snapshot.title());
    sec.notes.push(format!(
        "single-row INSERTs, C={c}, through a follower (forwarded to the leader); phase (b) from \
         {MARGIN} entries before the snapshot threshold until the lagging follower installed the \
         snapshot, phase (a) as long, after it"
    ));
    if cut_short {
        sec.notes.push(format!(
            "phase (a) stopped after {:.1} s, before the next snapshot",
            quiet.elapsed.as_secs_f64()
        ));
    }
    let mut base_sec = Section::new(
        "baseline",
        "phase (a): the same writes, same cluster, no snapshot",
    );
    figures(&mut base_sec, &mut sec, &quiet, &busy);
    // Where in phase (b) the tail is: while the leader builds, and while the lagging follower
    // receives and installs (all three nodes share one disk here).
    let quiet_p99 = quiet.latencies.summary().p99_us;
    let windows = [
        (
            "write_p99_building_us",
            "  write latency p99 while the leader builds",
            sent_between(&busy_samples, timeline.crossed, timeline.built),
        ),
        (
            "write_p99_installing_us",
            "  write latency p99 while the follower receives and installs",
            sent_between(&busy_samples, timeline.restarted, timeline.installed),
        ),
    ];
    for (key, label, window) in windows {
        if window.len() > 0 {
            sec.figures.push(
                Figure::new(key, label, window.summary().p99_us, Unit::Micros)
                    .vs("no snapshot", quiet_p99),
            );
        }
    }
    let secs = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64());
    sec.figures.extend([
        Figure::new("db_mib", "database size", db_mib, Unit::MiB),
        Figure::new("snapshot_mib", "snapshot file", snapshot_mib, Unit::MiB),
        Figure::new(
            "snapshot_build_secs",
            "  build: threshold crossed → leader reports it",
            secs(timeline.built) - secs(timeline.crossed),
            Unit::Secs,
        ),
        Figure::new(
            "snapshot_transfer_secs",
            "  transfer + install on the lagging follower",
            secs(timeline.installed) - secs(timeline.restarted),
            Unit::Secs,
        ),
        Figure::new(
            "phase_secs",
            "phase length (each)",
            phase.as_secs_f64(),
            Unit::Secs,
        ),
    ]);
    sec.extra.extend([
        ("fill_rows".into(), rows as f64),
        ("fill_secs".into(), fill_time.as_secs_f64()),
        ("pump_writes".into(), pump as f64),
        ("snapshot_index".into(), timeline.snapshot_index as f64),
        ("snapshot_after_logs".into(), after_logs as f64),
        ("crossed_secs".into(), secs(timeline.crossed)),
        ("built_secs".into(), secs(timeline.built)),
        ("restarted_secs".into(), secs(timeline.restarted)),
        ("installed_secs".into(), secs(timeline.installed)),
    ]);
    Ok((base_sec, sec))
}

/// Latency and throughput of both phases: the steady one in `base`, the snapshot one, next to
/// it, in `sec`.
fn figures(base: &mut Section, sec: &mut Section, quiet: &WriteRun, busy: &WriteRun) {
    let (q, b) = (quiet.latencies.summary(), busy.latencies.summary());
    let (qr, br) = (
        per_sec(quiet.rows, quiet.elapsed),
        per_sec(busy.rows, busy.elapsed),
    );
    let rows = [
        ("writes_per_sec", "writes/s", qr, br, Unit::PerSec),
        (
            "write_p50_us",
            "  write latency p50",
            q.p50_us,
            b.p50_us,
            Unit::Micros,
        ),
        (
            "write_p99_us",
            "  write latency p99",
            q.p99_us,
            b.p99_us,
            Unit::Micros,
        ),
        (
            "write_max_us",
            "  write latency max",
            q.max_us,
            b.max_us,
            Unit::Micros,
        ),
    ];
    for (key, label, quiet_v, busy_v, unit) in rows {
        base.figures.push(Figure::new(key, label, quiet_v, unit));
        sec.figures.push(
            Figure::new(key, &format!("{label} during a snapshot"), busy_v, unit)
                .vs("no snapshot", quiet_v),
        );
    }
    base.extra.push(("writes".into(), quiet.rows as f64));
    sec.extra.push(("writes".into(), busy.rows as f64));
}

/// A write slower than this is listed with the moment it was sent.
const SLOW: Duration = Duration::from_millis(50);

/// One write of a phase: when it was sent (from the phase's start) and how long it took.
type Sample = (Duration, Duration);

/// `tasks` tasks each run one single-row INSERT after the other, ids from `next_id`, until
/// `deadline` or `stop`; also returns every write as a [`Sample`], in the order they were sent
/// after `t0`.
async fn timed_inserts(
    client: &Client,
    next_id: Arc<AtomicI64>,
    tasks: usize,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    t0: Instant,
) -> Result<(WriteRun, Vec<Sample>)> {
    let ts = workload::unix_ts();
    let mut set = JoinSet::new();
    for _ in 0..tasks.max(1) {
        let (client, next_id, stop) = (client.clone(), next_id.clone(), stop.clone());
        set.spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
                let e = workload::Entity::new(next_id.fetch_add(1, Ordering::Relaxed), ts);
                let t = Instant::now();
                client.execute(workload::INSERT, e.params()).await?;
                samples.push((t.duration_since(t0), t.elapsed()));
            }
            Ok::<_, crate::BoxError>(samples)
        });
    }
    let mut samples = Vec::new();
    while let Some(joined) = set.join_next().await {
        samples.extend(joined??);
    }
    samples.sort();
    let mut all = Latencies::with_capacity(samples.len());
    for (_, took) in &samples {
        all.push(*took);
    }
    Ok((
        WriteRun {
            rows: all.len(),
            elapsed: t0.elapsed(),
            latencies: all,
        },
        samples,
    ))
}

/// The latencies of the writes sent between `from` and `to` (from the phase's start).
fn sent_between(samples: &[Sample], from: Option<Duration>, to: Option<Duration>) -> Latencies {
    let mut window = Latencies::default();
    if let (Some(from), Some(to)) = (from, to) {
        for (_, took) in samples.iter().filter(|(at, _)| (from..to).contains(at)) {
            window.push(*took);
        }
    }
    window
}

/// Prints the slow writes as `sent at s: took ms`.
fn report_slow(samples: &[Sample]) {
    let slow: Vec<&Sample> = samples.iter().filter(|(_, took)| *took >= SLOW).collect();
    let list: Vec<String> = slow
        .iter()
        .map(|(at, took)| format!("{:.2}s:{}ms", at.as_secs_f64(), took.as_millis()))
        .collect();
    progress(
        TAG,
        &format!("{} write(s) over {SLOW:?}: {}", slow.len(), list.join(" ")),
    );
}

/// The lines of node `i`'s log about snapshots (what a build or an install took).
fn node_log_lines(cluster: &Cluster, i: usize) -> Vec<String> {
    let text = std::fs::read_to_string(&cluster.nodes[i].log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("snapshot built") || l.contains("snapshot installed"))
        .map(str::to_string)
        .collect()
}

/// `count` single-row INSERTs through `client` at [`PUMP_TASKS`] tasks, ids from `next_id`.
async fn pump_writes(client: &Client, next_id: Arc<AtomicI64>, count: u64) -> Result<()> {
    let left = Arc::new(AtomicI64::new(count as i64));
    let ts = workload::unix_ts();
    let mut tasks = JoinSet::new();
    for _ in 0..PUMP_TASKS {
        let (client, next_id, left) = (client.clone(), next_id.clone(), left.clone());
        tasks.spawn(async move {
            while left.fetch_sub(1, Ordering::Relaxed) > 0 {
                let e = workload::Entity::new(next_id.fetch_add(1, Ordering::Relaxed), ts);
                client.execute(workload::INSERT, e.params()).await?;
            }
            Ok::<_, hiqlite::Error>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(())
}

/// Log indexes phase (b) watches for.
struct Marks {
    /// The leader snapshots once it has applied this.
    threshold: u64,
    /// The snapshot before (0: none).
    base: u64,
    /// The lagging node's last log entry when it was killed.
    lagging_last: u64,
}

/// Polls while phase (b) runs: when the leader (node index `li`) crosses the threshold and
/// reports a snapshot newer than the last one; then, once its log no longer holds the entry after
/// the lagging node's last one, starts that node again and waits until it has installed the
/// snapshot.
async fn watch_snapshot(
    cluster: &mut Cluster,
    li: usize,
    lagging: usize,
    m: &Marks,
    started: Instant,
) -> Result<Timeline> {
    let leader = cluster.nodes[li].client.clone();
    let lagging_client = cluster.nodes[lagging].client.clone();
    let mut t = Timeline::default();
    loop {
        if started.elapsed() > PHASE_TIMEOUT {
            return Err(format!("no snapshot installed within {PHASE_TIMEOUT:?}: {t:?}").into());
        }
        if t.restarted.is_none() {
            let st = leader.status().await?;
            if t.crossed.is_none() && st.last_applied >= m.threshold {
                t.crossed = Some(started.elapsed());
            }
            let snap = st.snapshot_index.unwrap_or(0);
            if t.built.is_none() && snap > m.base {
                t.built = Some(started.elapsed());
                t.snapshot_index = snap;
                t.crossed.get_or_insert(started.elapsed());
            }
            // Once the purge passed the lagging node's next entry, only a snapshot can help it.
            if t.built.is_some() && st.purged_index.unwrap_or(0) > m.lagging_last {
                cluster.respawn(lagging)?;
                t.restarted = Some(started.elapsed());
            }
        } else if let Ok(st) = lagging_client.status().await {
            if st.snapshot_index.unwrap_or(0) >= t.snapshot_index
                && st.last_applied >= t.snapshot_index
            {
                t.installed = Some(started.elapsed());
                return Ok(t);
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Sets `stop` once the leader has applied `index` (the next snapshot is near).
async fn stop_before(leader: Client, index: u64, stop: Arc<AtomicBool>) {
    loop {
        if let Ok(st) = leader.status().await {
            if st.last_applied >= index {
                stop.store(true, Ordering::Release);
                return;
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the nodes at indexes `which` have applied the same index.
async fn all_applied(cluster: &Cluster, which: &[usize]) -> Result<()> {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    loop {
        let mut applied = Vec::new();
        for &i in which {
            applied.push(
                cluster.nodes[i]
                    .client
                    .status()
                    .await
                    .ok()
                    .map(|s| s.last_applied),
            );
        }
        if applied[0].is_some() && applied.windows(2).all(|w| w[0] == w[1]) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("nodes did not catch up within {PHASE_TIMEOUT:?}").into());
        }
        tokio::time::sleep(POLL).await;
    }
}
