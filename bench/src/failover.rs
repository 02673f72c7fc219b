//! `failover` mode (issue 17, goal 4): how long a client cannot write after `kill -9` of the
//! leader, and whether full write load alone causes elections.
//!
//! Three `hiqlite serve` children with the library's default Raft timing (unless `--heartbeat-ms`
//! / `--election-ms` override it), one writer (a [`Client::remote`] with all three API addresses)
//! inserting one row at a time without pause. Each round kills the leader with SIGKILL and takes
//! the time from the kill to the acknowledgement of the first write *sent* after the kill (a write
//! in flight at the kill may be answered by the dying leader, so it does not count; waiting for the
//! next one adds at most one write's latency). The killed node is then started again on its data
//! and the next round begins once all three nodes follow one leader and the restarted node has
//! caught up.
//!
//! Before the rounds, a steady phase writes with the largest `--concurrency` for `--max-secs`
//! without killing anything and counts the elections (term increases) it saw: there should be
//! none.
//!
//! The floor printed next to the figures is `election_timeout_max + election_timeout_min`: in
//! openraft a follower refuses to vote while its leader lease (`election_timeout_max` since the
//! last heartbeat) runs, and starts its own election only a randomized election timeout (at least
//! `election_timeout_min`) after that lease ran out; so no new leader can be elected sooner.
//! The worst case of detection alone is `2 × election_timeout_max`. Nothing is asserted.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hiqlite::{params, Client};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::children::Cluster;
use crate::modes::{Mode, SECRET_API};
use crate::report::{Figure, Section, Unit};
use crate::stats::percentile;
use crate::{progress, Result, Settings};

const TAG: &str = "failover";
/// The longest one round may wait for the first write after the kill.
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// Raft timing the children run with.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub heartbeat: Duration,
    pub election_min: Duration,
    pub election_max: Duration,
    /// Whether the library's defaults are used (no override).
    pub defaults: bool,
}

impl Timing {
    /// The library's defaults, or `--heartbeat-ms` / `--election-ms MIN,MAX` when given.
    pub fn from_settings(s: &Settings) -> Timing {
        let d = Timing {
            heartbeat: hiqlite::config::DEFAULT_HEARTBEAT_INTERVAL,
            election_min: hiqlite::config::DEFAULT_ELECTION_TIMEOUT_MIN,
            election_max: hiqlite::config::DEFAULT_ELECTION_TIMEOUT_MAX,
            defaults: true,
        };
        Timing {
            heartbeat: s.heartbeat.unwrap_or(d.heartbeat),
            election_min: s.election.map_or(d.election_min, |e| e.0),
            election_max: s.election.map_or(d.election_max, |e| e.1),
            defaults: s.heartbeat.is_none() && s.election.is_none(),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        if self.defaults {
            return Vec::new();
        }
        vec![
            (
                "HQL_HEARTBEAT_INTERVAL_MS".into(),
                self.heartbeat.as_millis().to_string(),
            ),
            (
                "HQL_ELECTION_TIMEOUT_MIN_MS".into(),
                self.election_min.as_millis().to_string(),
            ),
            (
                "HQL_ELECTION_TIMEOUT_MAX_MS".into(),
                self.election_max.as_millis().to_string(),
            ),
        ]
    }
}

/// What one round measured.
struct Round {
    killed: u64,
    new_leader: u64,
    failover: Duration,
    /// From the kill until a surviving node first named a new leader.
    elected: Option<Duration>,
    /// Term increases from the kill until the first acknowledged write.
    elections: u64,
    /// Writes that failed while there was no leader.
    failed_writes: u64,
}

/// The last acknowledged write: when it was sent.
type LastAck = watch::Sender<Option<Instant>>;

/// Runs the fail-over measurement with `bin` (`hiqlite serve`) in `dir`; returns the floor
/// section (the configured timing) and the mode's section.
pub async fn run(dir: &Path, bin: &Path, s: &Settings) -> Result<(Section, Section)> {
    let timing = Timing::from_settings(s);
    progress(
        TAG,
        &format!(
            "3 `hiqlite serve` children, heartbeat {:?}, election timeout {:?}..{:?}{}",
            timing.heartbeat,
            timing.election_min,
            timing.election_max,
            if timing.defaults { " (defaults)" } else { "" }
        ),
    );
    let mut cluster = Cluster::start(bin, dir, s.read_policy, timing.env()).await?;
    let measured = measure(&mut cluster, &timing, s).await;
    if measured.is_err() {
        eprintln!("{}", cluster.log_tails());
    }
    cluster.stop().await;
    measured
}

async fn measure(cluster: &mut Cluster, t: &Timing, s: &Settings) -> Result<(Section, Section)> {
    let writer = Client::remote(cluster.api_addrs(), SECRET_API);
    writer
        .execute(
            "CREATE TABLE IF NOT EXISTS _failover (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL)",
            params!(),
        )
        .await?;

    let load = s.concurrency.iter().copied().max().unwrap_or(1);
    progress(
        TAG,
        &format!(
            "steady phase: {load} writers for {:.0} s, no kill",
            s.max_per_run.as_secs_f64()
        ),
    );
    let (steady_elections, steady_writes) = steady(cluster, &writer, load, s.max_per_run).await?;
    progress(
        TAG,
        &format!("steady phase: {steady_writes} writes, {steady_elections} elections"),
    );

    let (ack_tx, ack_rx) = watch::channel(None);
    let ack_tx = Arc::new(ack_tx);
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer_task = tokio::spawn(write_loop(
        writer.clone(),
        ack_tx.clone(),
        failed.clone(),
        stop.clone(),
    ));
    let mut rounds = Vec::new();
    let mut result = Ok(());
    for i in 1..=s.rounds {
        match round(cluster, &ack_rx, &failed).await {
            Ok(r) => {
                progress(
                    TAG,
                    &format!(
                        "round {i}: killed leader node {}; new leader node {} known after {} ms, \
                         first write acknowledged {} ms after the kill ({} election(s), {} failed \
                         writes)",
                        r.killed,
                        r.new_leader,
                        r.elected.map_or("?".into(), |d| d.as_millis().to_string()),
                        r.failover.as_millis(),
                        r.elections,
                        r.failed_writes
                    ),
                );
                rounds.push(r);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        if let Err(e) = cluster.restart_and_settle().await {
            result = Err(e);
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = writer_task.await;
    result?;
    Ok(sections(t, &rounds, steady_elections, steady_writes, load))
}

/// The report's two sections.
fn sections(
    t: &Timing,
    rounds: &[Round],
    steady_elections: u64,
    steady_writes: u64,
    load: usize,
) -> (Section, Section) {
    let floor_ms = (t.election_max + t.election_min).as_secs_f64() * 1e3;
    let mut base = Section::new(
        "baseline",
        "floor: Raft timing of the children (a follower campaigns a randomized election timeout \
         after its leader lease, election_timeout_max, ran out)",
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (key, label, value) in [
        ("heartbeat_ms", "heartbeat_interval", ms(t.heartbeat)),
        (
            "election_timeout_min_ms",
            "election_timeout_min",
            ms(t.election_min),
        ),
        (
            "election_timeout_max_ms",
            "election_timeout_max (= leader lease)",
            ms(t.election_max),
        ),
        (
            "detection_min_ms",
            "earliest election: lease + election_timeout_min",
            floor_ms,
        ),
        (
            "detection_max_ms",
            "latest election: lease + election_timeout_max",
            2.0 * ms(t.election_max),
        ),
    ] {
        base.figures
            .push(Figure::new(key, label, value, Unit::Millis));
    }

    let mut sec = Section::new("failover", Mode::Failover.title());
    sec.notes.push(format!(
        "kill -9 of the leader to the first acknowledged write sent after it; one writer, {} \
         round(s){}",
        rounds.len(),
        if t.defaults {
            ", default timing"
        } else {
            ", timing overridden"
        }
    ));
    let mut ms: Vec<u64> = rounds
        .iter()
        .map(|r| r.failover.as_millis() as u64)
        .collect();
    for (i, r) in rounds.iter().enumerate() {
        sec.figures.push(
            Figure::new(
                &format!("round_{}_ms", i + 1),
                &format!(
                    "round {}: node {} killed, node {} leads",
                    i + 1,
                    r.killed,
                    r.new_leader
                ),
                r.failover.as_secs_f64() * 1e3,
                Unit::Millis,
            )
            .vs("floor", floor_ms),
        );
    }
    for (i, r) in rounds.iter().enumerate() {
        if let Some(e) = r.elected {
            sec.extra
                .push((format!("round_{}_elected_ms", i + 1), e.as_secs_f64() * 1e3));
        }
    }
    let mut elected: Vec<u64> = rounds
        .iter()
        .filter_map(|r| r.elected.map(|d| d.as_millis() as u64))
        .collect();
    elected.sort_unstable();
    sec.figures.push(
        Figure::new(
            "elected_p50_ms",
            "new leader known, p50 (a survivor's status names it)",
            percentile(&elected, 50.0) as f64,
            Unit::Millis,
        )
        .vs("floor", floor_ms),
    );
    ms.sort_unstable();
    for (key, label, p) in [
        ("failover_min_ms", "fail-over min", 0.0),
        ("failover_p50_ms", "fail-over p50", 50.0),
        ("failover_max_ms", "fail-over max", 100.0),
    ] {
        let v = if p == 0.0 {
            ms.first().copied().unwrap_or(0)
        } else {
            percentile(&ms, p)
        };
        sec.figures
            .push(Figure::new(key, label, v as f64, Unit::Millis).vs("floor", floor_ms));
    }
    sec.figures.push(Figure::new(
        "failover_elections",
        "elections during fail-overs (all rounds)",
        rounds.iter().map(|r| r.elections).sum::<u64>() as f64,
        Unit::Count,
    ));
    sec.figures.push(Figure::new(
        "steady_elections",
        &format!("spurious elections, steady phase at C={load}"),
        steady_elections as f64,
        Unit::Count,
    ));
    sec.extra
        .push(("steady_writes".into(), steady_writes as f64));
    sec.extra.push((
        "failed_writes".into(),
        rounds.iter().map(|r| r.failed_writes).sum::<u64>() as f64,
    ));
    (base, sec)
}

/// `load` writers for `secs` on a healthy cluster; returns (term increases seen, writes done).
async fn steady(
    cluster: &Cluster,
    writer: &Client,
    load: usize,
    secs: Duration,
) -> Result<(u64, u64)> {
    let term_before = cluster.max_term().await?;
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + secs;
    let mut tasks = JoinSet::new();
    for _ in 0..load {
        let (c, done) = (writer.clone(), done.clone());
        tasks.spawn(async move {
            while Instant::now() < deadline {
                c.execute("INSERT INTO _failover (ts) VALUES ($1)", params!(now_ms()))
                    .await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), hiqlite::Error>(())
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            first_error.get_or_insert(e);
        }
    }
    let term_after = cluster.max_term().await?;
    if let Some(e) = first_error {
        progress(TAG, &format!("a write failed in the steady phase: {e}"));
    }
    Ok((
        term_after.saturating_sub(term_before),
        done.load(Ordering::Relaxed),
    ))
}

/// Writes one row after another until `stop`; publishes when each acknowledged write was sent and
/// counts the failed ones.
async fn write_loop(c: Client, ack: Arc<LastAck>, failed: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        match c
            .execute("INSERT INTO _failover (ts) VALUES ($1)", params!(now_ms()))
            .await
        {
            Ok(_) => {
                ack.send_replace(Some(sent));
            }
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Kills the leader, waits for the first write sent after the kill to be acknowledged.
async fn round(
    cluster: &mut Cluster,
    acks: &watch::Receiver<Option<Instant>>,
    failed: &AtomicU64,
) -> Result<Round> {
    let (leader_idx, term_before) = cluster.leader().await?;
    let killed = cluster.nodes[leader_idx].id;
    let failed_before = failed.load(Ordering::Relaxed);
    // A write must be flowing before the kill, else the figure would include a stalled writer.
    wait_ack_after(acks, Instant::now()).await?;
    let survivors: Vec<Client> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != killed)
        .map(|n| n.client.clone())
        .collect();
    let node = &mut cluster.nodes[leader_idx];
    let kill_at = Instant::now();
    node.child.start_kill()?;
    let watcher = tokio::spawn(new_leader_seen(survivors, killed, kill_at));
    let acked_sent = wait_ack_after(acks, kill_at).await;
    let elected = tokio::time::timeout(ROUND_TIMEOUT, watcher)
        .await
        .ok()
        .and_then(|joined| joined.ok())
        .flatten();
    let failover = acked_sent?.1.duration_since(kill_at);
    node.child.wait().await?;
    let (new_idx, term_after) = cluster.leader().await?;
    Ok(Round {
        killed,
        new_leader: cluster.nodes[new_idx].id,
        failover,
        elected,
        elections: term_after.saturating_sub(term_before),
        failed_writes: failed.load(Ordering::Relaxed) - failed_before,
    })
}

/// Polls the `survivors` until one names a leader other than `killed`; returns how long after
/// `kill_at` that was (`None` after [`ROUND_TIMEOUT`]).
async fn new_leader_seen(
    survivors: Vec<Client>,
    killed: u64,
    kill_at: Instant,
) -> Option<Duration> {
    while kill_at.elapsed() < ROUND_TIMEOUT {
        for c in &survivors {
            if let Ok(st) = c.status().await {
                if st.leader_id.is_some_and(|l| l != killed) {
                    return Some(kill_at.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

/// Waits (at most [`ROUND_TIMEOUT`]) until a write sent at or after `after` is acknowledged;
/// returns (when it was sent, when this saw the acknowledgement).
async fn wait_ack_after(
    acks: &watch::Receiver<Option<Instant>>,
    after: Instant,
) -> Result<(Instant, Instant)> {
    let mut rx = acks.clone();
    let waited = tokio::time::timeout(
        ROUND_TIMEOUT,
        rx.wait_for(|a| a.is_some_and(|sent| sent >= after)),
    )
    .await;
    let seen = Instant::now();
    match waited {
        Ok(Ok(a)) => Ok(((*a).unwrap_or(after), seen)),
        Ok(Err(_)) => Err("the writer stopped".into()),
        Err(_) => Err(format!("no write was acknowledged within {ROUND_TIMEOUT:?}").into()),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
