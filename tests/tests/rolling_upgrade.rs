//! The rolling upgrade of issue 12 (item 4): a 3-node cluster of `hiqlite serve` processes on an
//! older release (the binary in `HIQLITE_OLD_BIN`: `scripts/upgrade-test` builds commit f4f5ed9,
//! the last one without format versions) moves to the workspace's binary one node at a time,
//! leader included, while one writer per node keeps inserting unique ids through that node.
//! Two nodes come back only after the others purged their logs past them, so snapshots cross
//! versions both ways: an old leader's to a new node, and (the last old node restarting once on
//! the old binary before its upgrade) a new leader's to an old node. Nothing acknowledged may be
//! lost, every node must end with the same rows, and once every
//! member runs the new binary the cluster must move to the newest format (2 or later), where a
//! format-2 feature works.
//!
//! Opt-in (`#[ignore]`, it needs the old binary): run `scripts/upgrade-test`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hiqlite::types::format::NEWEST;
use hiqlite::{params, Client, Error, Value};
use hiqlite_cluster_tests::faults::history::{write_outcome, Outcome};
use hiqlite_cluster_tests::{hiqlite_bin, ProcessCluster, POLL};

/// Where the test finds the old release's `hiqlite` binary.
const OLD_BIN_ENV: &str = "HIQLITE_OLD_BIN";

const NODES: usize = 3;

/// Acknowledged inserts every writer must add in each phase (old cluster, after each node's
/// upgrade, on the new format) before the test moves on: writes go through every node in every
/// mix of versions.
const WRITES_PER_PHASE: u64 = 100;

/// A snapshot every this many entries, and logs purged behind it: a node that was away for a
/// few seconds may be sent a snapshot, so the snapshot crosses versions too.
const SNAPSHOT_AFTER_LOGS: u64 = 500;

/// Longer than a remote client's own deadline for a write (the request timeout, 10 s, and its
/// answer margin, 5 s): a write normally ends with the client's verdict, not this one.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a restarted node may take to serve again and catch up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the cluster may take to move to the newest format once every member runs the new
/// binary.
const FORMAT_TIMEOUT: Duration = Duration::from_secs(120);

/// Ids of writer `w` (1-based) are `w * ID_STRIDE + seq`: unique across writers.
const ID_STRIDE: i64 = 1_000_000_000;

/// What the writers share with the test: acknowledged inserts per writer, and the stop flag.
#[derive(Default)]
struct Progress {
    acked: [AtomicU64; NODES],
    stop: AtomicBool,
}

impl Progress {
    fn acked(&self) -> [u64; NODES] {
        std::array::from_fn(|i| self.acked[i].load(Ordering::Relaxed))
    }
}

/// What one writer did: ids by outcome, and how often each kind of error came back.
#[derive(Default)]
struct WriterLog {
    acked: Vec<i64>,
    /// Timed out or ended with an unknown outcome: may be in the table or not.
    maybe: Vec<i64>,
    /// Said not to be applied (no leader, a SQL error): must not be in the table.
    failed: Vec<i64>,
    /// Error kind (the variant and the start of its message) → count.
    errors: BTreeMap<String, usize>,
}

/// Inserts ids through `client` (bound to node `node` only) until told to stop.
async fn write_until_stopped(client: Client, node: usize, progress: Arc<Progress>) -> WriterLog {
    let mut log = WriterLog::default();
    let writer = node as i64 + 1;
    let mut seq = 0;
    while !progress.stop.load(Ordering::Relaxed) {
        seq += 1;
        let id = writer * ID_STRIDE + seq;
        let insert = client.execute(
            "INSERT INTO t (id, writer) VALUES (?, ?)",
            params!(id, writer),
        );
        let result = tokio::time::timeout(WRITE_TIMEOUT, insert)
            .await
            .unwrap_or_else(|_| Err(Error::Timeout(format!("no answer in {WRITE_TIMEOUT:?}"))));
        match write_outcome(&result) {
            Outcome::Ok => {
                log.acked.push(id);
                progress.acked[node].fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Unknown => log.maybe.push(id),
            Outcome::Fail => log.failed.push(id),
        }
        if let Err(e) = result {
            *log.errors.entry(error_kind(&e)).or_default() += 1;
            // The node may be down for a while: no busy loop meanwhile.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    log
}

/// The variant and the first words of its message: errors that differ only in addresses or
/// numbers count as one kind.
fn error_kind(e: &Error) -> String {
    let debug = format!("{e:?}");
    let variant = debug.split(['(', ' ', '{']).next().unwrap_or_default();
    let message: String = e.to_string().chars().take(90).collect();
    format!("{variant}: {message}")
}

/// Polls `check` every [`POLL`] until it returns `Ok`; after `timeout` panics with `what` and the
/// last reason `check` gave.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let reason = match check().await {
            Ok(value) => return value,
            Err(reason) => reason,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last: {reason}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Node `i`'s status, or why there is none (the error text, unlike the harness's `try_status`:
/// a status the client cannot decode must show).
async fn status(cluster: &ProcessCluster, i: usize) -> Result<hiqlite::client::NodeStatus, String> {
    match tokio::time::timeout(Duration::from_secs(2), cluster.client(i).status()).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(e)) => Err(format!("node {}: {e}", i + 1)),
        Err(_) => Err(format!("node {}: no status answer within 2 s", i + 1)),
    }
}

/// The index of the node that leads, as every running node sees it.
async fn agreed_leader(cluster: &ProcessCluster) -> Result<usize, String> {
    let mut leaders = BTreeSet::new();
    for i in cluster.started() {
        leaders.insert(status(cluster, i).await?.leader_id);
    }
    match leaders.into_iter().collect::<Vec<_>>()[..] {
        [Some(id)] => Ok(cluster.index_of(id)),
        ref other => Err(format!("running nodes name leaders {other:?}")),
    }
}

/// Waits until every writer has `WRITES_PER_PHASE` more acknowledged inserts than `from`.
async fn wait_for_writes(progress: &Progress, from: [u64; NODES], phase: &str) {
    wait_for(
        &format!("{WRITES_PER_PHASE} acknowledged writes through every node ({phase})"),
        CATCH_UP_TIMEOUT,
        || async {
            let now = progress.acked();
            let behind: Vec<usize> = (0..NODES)
                .filter(|&i| now[i] < from[i] + WRITES_PER_PHASE)
                .map(|i| i + 1)
                .collect();
            if behind.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "writes through nodes {behind:?} lag (acknowledged since: {:?})",
                    std::array::from_fn::<u64, NODES, _>(|i| now[i] - from[i])
                ))
            }
        },
    )
    .await
}

/// How long a restarted node stays away while the others go on.
#[derive(Clone, Copy, PartialEq)]
enum Away {
    /// It starts again at once: it catches up from the others' logs.
    Briefly,
    /// It starts again only once the others have purged their logs well past its last entry:
    /// it can only catch up from a snapshot the leader sends.
    PastPurge,
}

/// Stops node `i` (SIGTERM), starts `bin` on its data directory and configuration (after `away`),
/// and waits until it serves, has caught up with the others and took writes of its own again.
/// Returns the time from its start until then.
async fn restart_node(
    cluster: &mut ProcessCluster,
    i: usize,
    bin: &Path,
    away: Away,
    progress: &Progress,
) -> Duration {
    let me = cluster.node_id(i);
    let last_log = status(cluster, i)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .last_log_index
        .unwrap_or(0);
    let clean = cluster.stop(i).await;
    assert!(clean, "node {me} did not exit cleanly on SIGTERM");
    if away == Away::PastPurge {
        // A snapshot interval beyond what it may have appended between the status and its stop.
        let past = last_log + SNAPSHOT_AFTER_LOGS;
        let others: Vec<usize> = cluster.started();
        let c: &ProcessCluster = cluster;
        wait_for(
            &format!("nodes other than {me} to purge their logs past index {past}"),
            CATCH_UP_TIMEOUT,
            || async {
                let mut purged = Vec::new();
                for &k in &others {
                    purged.push(status(c, k).await?.purged_index);
                }
                purged
                    .iter()
                    .all(|p| p.is_some_and(|p| p >= past))
                    .then_some(())
                    .ok_or(format!("purged up to {purged:?}"))
            },
        )
        .await;
    }
    let acked_before = progress.acked();
    let t = Instant::now();
    cluster.restart_with_bin(i, bin);
    wait_node(cluster, i, Until::Serving).await;
    // It caught up: it applied what the others had applied when it came back.
    let mut target = 0;
    for k in cluster.started().into_iter().filter(|&k| k != i) {
        let s = status(cluster, k).await.unwrap_or_else(|e| panic!("{e}"));
        target = target.max(s.last_applied);
    }
    wait_node(cluster, i, Until::Applied(target)).await;
    let caught_up = t.elapsed();
    // Writes go through every node again, this one included.
    wait_for_writes(progress, acked_before, &format!("node {me} back")).await;
    caught_up
}

/// What [`wait_node`] waits for.
enum Until {
    /// The node answers, and knows a leader that counts it as a voter.
    Serving,
    /// The node applied the log up to this index.
    Applied(u64),
}

/// Waits until node `i` is as `until` says, failing at once if its process exits.
async fn wait_node(cluster: &mut ProcessCluster, i: usize, until: Until) {
    let me = cluster.node_id(i);
    let what = match until {
        Until::Serving => format!("node {me} on {} to serve", cluster.bin(i).display()),
        Until::Applied(index) => format!("node {me} to apply up to index {index}"),
    };
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        assert!(
            cluster.is_running(i),
            "node {me} exited while waiting for {what} (see its log below)"
        );
        let s = status(cluster, i).await;
        let reason = match (&until, s) {
            (_, Err(e)) => e,
            (Until::Serving, Ok(s)) if s.leader_id.is_some() && s.voters.contains(&me) => return,
            (Until::Applied(index), Ok(s)) if s.last_applied >= *index => return,
            (_, Ok(s)) => format!(
                "node {me}: role {}, leader {:?}, voters {:?}, applied up to {}",
                s.role, s.leader_id, s.voters, s.last_applied
            ),
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {CATCH_UP_TIMEOUT:?} waiting for {what}; last: {reason}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Every node's `(cluster_format, supported_formats)`, by index.
async fn formats(cluster: &ProcessCluster) -> Result<Vec<(u8, (u8, u8))>, String> {
    let mut formats = Vec::new();
    for i in 0..cluster.len() {
        let s = status(cluster, i).await?;
        formats.push((s.cluster_format, s.supported_formats));
    }
    Ok(formats)
}

/// While a node runs the old binary, every node still applies format 1.
async fn assert_still_format_1(cluster: &ProcessCluster) -> Vec<(u8, (u8, u8))> {
    let formats = formats(cluster).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        formats.iter().all(|f| f.0 == 1),
        "a node runs the old binary, yet formats (cluster, supported) by node are {formats:?}"
    );
    formats
}

/// Which binary a step starts a node on.
#[derive(Clone, Copy, PartialEq)]
enum Bin {
    Old,
    New,
}

/// What every step of the upgrade needs.
struct Steps<'a> {
    old_bin: &'a Path,
    new_bin: &'a Path,
    progress: &'a Progress,
    started: Instant,
}

impl Steps<'_> {
    /// Restarts node `i` on `bin` after `away`, and reports the cluster afterwards; while a node
    /// still runs the old binary, asserts that the cluster still runs format 1.
    async fn run(&self, cluster: &mut ProcessCluster, what: &str, i: usize, bin: Bin, away: Away) {
        let leader = wait_for("a leader all nodes agree on", CATCH_UP_TIMEOUT, || {
            agreed_leader(cluster)
        })
        .await;
        let path = match bin {
            Bin::Old => self.old_bin,
            Bin::New => self.new_bin,
        };
        let role = if i == leader {
            "the leader"
        } else {
            "a follower"
        };
        let caught_up = restart_node(cluster, i, path, away, self.progress).await;
        cluster.assert_all_running();
        let c: &ProcessCluster = cluster;
        let leader = wait_for("a leader all nodes agree on", CATCH_UP_TIMEOUT, || {
            agreed_leader(c)
        })
        .await;
        let s = status(c, i).await.unwrap_or_else(|e| panic!("{e}"));
        let old = |k: usize| c.bin(k) == self.old_bin;
        let binaries: Vec<String> = (0..c.len())
            .map(|k| format!("{}:{}", k + 1, if old(k) { "old" } else { "new" }))
            .collect();
        let formats = if (0..c.len()).any(old) {
            assert_still_format_1(c).await
        } else {
            formats(c).await.unwrap_or_else(|e| panic!("{e}"))
        };
        eprintln!(
            "[{:>6.1?}] step {what}: node {} (was {role}) serves and caught up {:.1?} after its \
             start (snapshot at {:?}, purged up to {:?}); binaries {}; leader node {} ({}); \
             formats (cluster, supported) {formats:?}; acknowledged so far {:?}",
            self.started.elapsed(),
            i + 1,
            caught_up,
            s.snapshot_index,
            s.purged_index,
            binaries.join(" "),
            leader + 1,
            if old(leader) { "old" } else { "new" },
            self.progress.acked()
        );
    }
}

/// `SELECT ... ORDER BY id` on node `i`, linearizable.
async fn rows_on(cluster: &ProcessCluster, i: usize, sql: &str) -> Vec<Vec<Value>> {
    cluster
        .client(i)
        .query_consistent_rows(sql, vec![])
        .await
        .unwrap_or_else(|e| panic!("reading on node {}: {e}", i + 1))
        .rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the f4f5ed9 binary in HIQLITE_OLD_BIN: run scripts/upgrade-test"]
async fn rolling_upgrade_under_writes_loses_nothing_and_ends_on_the_newest_format() {
    let Some(old_bin) = std::env::var_os(OLD_BIN_ENV).map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: {OLD_BIN_ENV} is not set; it names the hiqlite binary of commit f4f5ed9. \
             scripts/upgrade-test builds that binary and runs this test."
        );
        return;
    };
    assert!(
        old_bin.is_file(),
        "{OLD_BIN_ENV}={} is not a file",
        old_bin.display()
    );
    let new_bin = hiqlite_bin().to_path_buf();
    eprintln!("old binary: {}", old_bin.display());
    eprintln!("new binary: {}", new_bin.display());
    let started = Instant::now();
    let snapshot_after_logs = SNAPSHOT_AFTER_LOGS.to_string();
    let env = [("HQL_SNAPSHOT_AFTER_LOGS", snapshot_after_logs.as_str())];
    let mut cluster = ProcessCluster::start_with_bin(NODES, &old_bin, &env).await;
    eprintln!(
        "[{:>6.1?}] 3 nodes up on the old binary ({})",
        started.elapsed(),
        cluster.root().display()
    );
    cluster
        .failover_client(0)
        .batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL); \
             CREATE TABLE f (id INTEGER PRIMARY KEY, v REAL);",
        )
        .await
        .expect("create the tables on the old cluster");

    let progress = Arc::new(Progress::default());
    let writers: Vec<_> = (0..NODES)
        .map(|i| tokio::spawn(write_until_stopped(cluster.client(i), i, progress.clone())))
        .collect();
    wait_for_writes(&progress, [0; NODES], "old cluster").await;
    eprintln!(
        "[{:>6.1?}] old cluster takes writes through every node: {:?} acknowledged",
        started.elapsed(),
        progress.acked()
    );

    // One node at a time: a follower, then the leader, then the last old node. Before that
    // last one moves, it restarts once on the old binary while a new node leads.
    let leader = wait_for("a leader all nodes agree on", CATCH_UP_TIMEOUT, || {
        agreed_leader(&cluster)
    })
    .await;
    let follower = (0..NODES).find(|&k| k != leader).expect("a follower");
    let steps = Steps {
        old_bin: &old_bin,
        new_bin: &new_bin,
        progress: &progress,
        started,
    };
    steps
        .run(
            &mut cluster,
            "1: a follower to the new binary, after a snapshot interval away",
            follower,
            Bin::New,
            Away::PastPurge,
        )
        .await;
    let old_leader = wait_for("a leader all nodes agree on", CATCH_UP_TIMEOUT, || {
        agreed_leader(&cluster)
    })
    .await;
    let old_leader = if cluster.bin(old_leader) == old_bin {
        old_leader
    } else {
        // The upgraded follower won an election meanwhile: the next old node then.
        eprintln!("note: the upgraded node {} leads already", old_leader + 1);
        (0..NODES)
            .find(|&k| cluster.bin(k) == old_bin)
            .expect("an old node")
    };
    steps
        .run(
            &mut cluster,
            "2: the leader to the new binary",
            old_leader,
            Bin::New,
            Away::Briefly,
        )
        .await;
    let last_old = (0..NODES)
        .find(|&k| cluster.bin(k) == old_bin)
        .expect("an old node");
    steps
        .run(
            &mut cluster,
            "2b: the last old node restarts on the old binary, after a snapshot interval away",
            last_old,
            Bin::Old,
            Away::PastPurge,
        )
        .await;
    steps
        .run(
            &mut cluster,
            "3: the last old node to the new binary",
            last_old,
            Bin::New,
            Away::Briefly,
        )
        .await;

    // Every member speaks the newest format: the cluster moves to it by itself (from format 1
    // straight to the newest, `engine::format_upgrade`).
    let t = Instant::now();
    wait_for(
        "every node to report the newest cluster_format",
        FORMAT_TIMEOUT,
        || async {
            let formats = formats(&cluster).await?;
            formats
                .iter()
                .all(|f| f.0 == NEWEST)
                .then_some(())
                .ok_or(format!("cluster_format by node: {formats:?}"))
        },
    )
    .await;
    eprintln!(
        "[{:>6.1?}] every node reports cluster_format {NEWEST} ({:.1?} after the last upgrade)",
        started.elapsed(),
        t.elapsed()
    );
    wait_for_writes(&progress, progress.acked(), "the newest format").await;

    progress.stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for w in writers {
        logs.push(w.await.expect("a writer task"));
    }
    cluster.assert_all_running();
    cluster.wait_converged(CATCH_UP_TIMEOUT).await;

    // Every node holds the same rows, every acknowledged id among them, none said not applied.
    let select = "SELECT id, writer FROM t ORDER BY id";
    let rows = rows_on(&cluster, 0, select).await;
    for i in 1..NODES {
        assert!(
            rows_on(&cluster, i, select).await == rows,
            "node {} holds other rows than node 1",
            i + 1
        );
    }
    let present: BTreeSet<i64> = rows
        .iter()
        .map(|r| match r[0] {
            Value::Integer(id) => id,
            ref other => panic!("id {other:?}"),
        })
        .collect();
    let acked: BTreeSet<i64> = logs.iter().flat_map(|l| l.acked.iter().copied()).collect();
    let maybe: BTreeSet<i64> = logs.iter().flat_map(|l| l.maybe.iter().copied()).collect();
    let failed: BTreeSet<i64> = logs.iter().flat_map(|l| l.failed.iter().copied()).collect();
    for (w, log) in logs.iter().enumerate() {
        eprintln!(
            "writer through node {}: {} acknowledged, {} unknown outcome, {} not applied",
            w + 1,
            log.acked.len(),
            log.maybe.len(),
            log.failed.len()
        );
        for (kind, count) in &log.errors {
            eprintln!("    {count:>5} x {kind}");
        }
    }
    let lost: Vec<i64> = acked.difference(&present).copied().collect();
    let phantoms: Vec<i64> = present
        .iter()
        .filter(|id| !acked.contains(id) && !maybe.contains(id))
        .copied()
        .collect();
    let applied_maybe = maybe.intersection(&present).count();
    eprintln!(
        "rows on every node: {} = {} acknowledged + {applied_maybe} of {} with unknown outcome; \
         {} said not applied",
        present.len(),
        acked.len(),
        maybe.len(),
        failed.len()
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged ids are missing, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(
        phantoms.is_empty(),
        "{} ids said not applied are in the table, e.g. {:?}",
        phantoms.len(),
        &phantoms[..phantoms.len().min(10)]
    );
    for i in 0..NODES {
        let s = status(&cluster, i).await.unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "node {}: {}, last applied {}, snapshot at {:?}, purged up to {:?}",
            i + 1,
            s.role,
            s.last_applied,
            s.snapshot_index,
            s.purged_index
        );
    }

    // A feature of format 2 (and later): a write with one of the math functions.
    cluster
        .failover_client(0)
        .execute("INSERT INTO f (v) VALUES (sqrt(16.0))", vec![])
        .await
        .expect("a write with sqrt() on the newest format");
    for i in 0..NODES {
        assert_eq!(
            rows_on(&cluster, i, "SELECT v FROM f").await,
            vec![vec![Value::Real(4.0)]],
            "sqrt(16.0) on node {}",
            i + 1
        );
    }
    eprintln!(
        "[{:>6.1?}] rolling upgrade done: nothing acknowledged lost, 3 nodes agree, format {} \
         in use",
        started.elapsed(),
        hiqlite::types::format::NEWEST
    );
}
