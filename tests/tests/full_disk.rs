//! A full disk (issue 18, item 3): one node's data directory lives on a small tmpfs the test
//! mounts, and fills up under writes. What docs/operations.md ("A full disk") promises is
//! checked against real `hiqlite serve` processes:
//!
//! - a write sent to the full node fails at once with `Error::DiskFull`, naming the path;
//! - local reads on the full node keep working;
//! - the other two nodes keep taking writes (a majority has space), also when the full node was
//!   the leader: it hands leadership over;
//! - once space is back (the test deletes its ballast file) the node catches up by itself,
//!   without a restart, and takes writes again;
//! - every acknowledged write is on every node afterwards.
//!
//! Needs root (to mount); without it each test prints "skipped: ..." and passes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hiqlite::{params, Client, Error};
use hiqlite_cluster_tests::small_fs::SmallFs;
use hiqlite_cluster_tests::{poll_until, ProcessCluster};

/// Size of the full node's filesystem.
const FS_MIB: u64 = 64;
/// Free space left beside the ballast when the test starts filling the disk.
const HEADROOM: u64 = 3 * 1024 * 1024;
/// Bytes of each row's blob: a dozen or two writes fill the headroom (log + WAL + database).
const ROW_BYTES: usize = 192 * 1024;
/// Writes in flight at once while filling.
const CONCURRENCY: i64 = 4;
const CONVERGE: Duration = Duration::from_secs(60);
/// Raft timing of the node(s) that should win an election, and of the others. Both more generous
/// than the defaults, so that a loaded test machine does not cause elections of its own.
const QUICK_ELECTION: [(&str, &str); 3] = [
    ("HQL_HEARTBEAT_INTERVAL_MS", "150"),
    ("HQL_ELECTION_TIMEOUT_MIN_MS", "1000"),
    ("HQL_ELECTION_TIMEOUT_MAX_MS", "1400"),
];
const SLOW_ELECTION: [(&str, &str); 3] = [
    ("HQL_HEARTBEAT_INTERVAL_MS", "150"),
    ("HQL_ELECTION_TIMEOUT_MIN_MS", "4000"),
    ("HQL_ELECTION_TIMEOUT_MAX_MS", "5000"),
];

/// The full-disk tests mount filesystems and start six processes: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The node whose data directory is on the small filesystem.
const FULL: usize = 0;

/// A follower's disk fills: it refuses writes with `DiskFull`, serves reads, the leader and the
/// other follower go on, and it catches up by itself once space is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_follower_refuses_writes_serves_reads_and_catches_up_by_itself() {
    let _serial = SERIAL.lock().await;
    let Some((fs, cluster)) = start(false).await else {
        return;
    };
    let leader = cluster.leader().await;
    assert_ne!(leader, FULL, "the slow-to-elect node became the leader");
    run_scenario(&fs, &cluster, "follower").await;
}

/// The leader's disk fills: it refuses writes with `DiskFull` and hands leadership over, the
/// two others go on under the new leader, and it catches up by itself once space is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_leader_hands_over_and_catches_up_by_itself() {
    let _serial = SERIAL.lock().await;
    let Some((fs, cluster)) = start(true).await else {
        return;
    };
    let leader = cluster.leader().await;
    assert_eq!(
        leader, FULL,
        "the quick-to-elect node did not become the leader"
    );
    run_scenario(&fs, &cluster, "leader").await;
}

/// Mounts the small filesystem and starts three nodes, node [`FULL`] keeping its data there.
/// `full_leads`: the other two nodes get long election timeouts (so node [`FULL`] wins an
/// election), else node [`FULL`] does. `None` (after printing why) when not root.
async fn start(full_leads: bool) -> Option<(SmallFs, ProcessCluster)> {
    let fs = match SmallFs::mount(FS_MIB) {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let mut node_env: Vec<(usize, &str, &str)> = Vec::new();
    for i in 0..3 {
        node_env.push((i, "HQL_REQUEST_TIMEOUT_MS", "5000"));
        let quick = (i == FULL) == full_leads;
        let timing = if quick { QUICK_ELECTION } else { SLOW_ELECTION };
        node_env.extend(timing.iter().map(|(k, v)| (i, *k, *v)));
    }
    let data = fs.path().join("node1");
    let mut cluster = ProcessCluster::start_with_data_dir(3, &node_env, FULL, &data).await;
    // The first leader comes from the cluster's initialization, whatever the timeouts: if it is
    // not the one wanted, kill it; the node with the short election timeout wins the next
    // election (the killed one then rejoins).
    let leader = cluster.leader().await;
    if (leader == FULL) != full_leads {
        cluster.kill9(leader).await;
        let wanted = poll_until("the wanted leader", CONVERGE, || async {
            let statuses = cluster.statuses().await;
            let leads = statuses.values().find(|s| s.role == "Leader")?;
            let index = cluster.index_of(leads.node_id);
            ((index == FULL) == full_leads).then_some(index)
        })
        .await;
        cluster.restart(leader);
        cluster.wait_all_healthy(CONVERGE).await;
        eprintln!("node {} leads now", cluster.node_id(wanted));
    }
    Some((fs, cluster))
}

/// Fills node [`FULL`]'s disk under writes, checks what a full disk promises, frees the space
/// and checks that the node catches up.
async fn run_scenario(fs: &SmallFs, cluster: &ProcessCluster, role: &str) {
    let other = 1;
    let full_id = cluster.node_id(FULL);
    // Writes go through the two nodes with space, so they go on whoever leads.
    let writer = cluster.failover_client(other);
    writer
        .batch("CREATE TABLE w (n INTEGER PRIMARY KEY, b BLOB NOT NULL)")
        .await
        .expect("create the table");
    let acked = std::cell::RefCell::new(BTreeSet::new());
    let mut next = 0i64;

    fs.fill_leaving(HEADROOM);
    let filling = Instant::now();
    // Fill under writes until the full node refuses a write with `DiskFull`.
    let refusal = poll_until(
        "the full node to refuse a write with DiskFull",
        Duration::from_secs(90),
        || {
            let (writer, probe) = (writer.clone(), cluster.client(FULL));
            let first = next;
            next += CONCURRENCY + 1;
            let acked = &acked;
            async move {
                let (done, probed) = tokio::join!(
                    write_rows(&writer, first, CONCURRENCY),
                    insert(&probe, first + CONCURRENCY, 16)
                );
                acked.borrow_mut().extend(done);
                match probed {
                    Ok(()) => {
                        acked.borrow_mut().insert(first + CONCURRENCY);
                        None
                    }
                    Err(e @ Error::DiskFull { .. }) => Some(e),
                    // A write in flight while the disk filled: its outcome is unknown.
                    Err(_) => None,
                }
            }
        },
    )
    .await;
    let fill_time = filling.elapsed();
    let mut acked = acked.into_inner();
    let acked_before_full = acked.len();
    let Error::DiskFull {
        node_id,
        ref path,
        ref detail,
        ..
    } = refusal
    else {
        unreachable!()
    };
    assert_eq!(node_id, full_id, "{refusal}");
    assert!(
        path.starts_with(&cluster.data_dir(FULL).display().to_string()),
        "the error names a path in the full node's data directory: {refusal}"
    );
    assert!(
        refusal.to_string().contains("no disk space left"),
        "{refusal}"
    );
    eprintln!(
        "{role} full after {fill_time:?}, {acked_before_full} writes acknowledged; it says: \
         {refusal} [{detail}]"
    );

    // The two nodes with space go on (under a new leader when the full one led).
    if role == "leader" {
        let started = Instant::now();
        let new_leader = poll_until("another node to lead", CONVERGE, || async {
            let statuses = cluster.statuses().await;
            let leader = statuses
                .values()
                .find(|s| s.role == "Leader" && s.node_id != full_id)?;
            let followers = statuses
                .values()
                .filter(|s| s.leader_id == Some(leader.node_id))
                .count();
            (followers >= 2).then_some(leader.node_id)
        })
        .await;
        eprintln!(
            "leadership moved from node {full_id} to node {new_leader} {:?} after the refusal",
            started.elapsed()
        );
    }
    // (On a loaded machine an election may make a few fail: count the acknowledged ones.)
    let started = Instant::now();
    let mut during = 0;
    while during < 20 {
        assert!(
            started.elapsed() < CONVERGE,
            "the two nodes with space took only {during} writes in {CONVERGE:?}"
        );
        let done = write_rows(&writer, next, CONCURRENCY).await;
        next += CONCURRENCY;
        during += done.len();
        acked.extend(done);
    }
    eprintln!(
        "{role}: the two nodes with space took {during} writes in {:?} while node {full_id} was \
         full",
        started.elapsed()
    );

    // Writes through the full node are still refused, and local reads there still work.
    let again = insert(&cluster.client(FULL), next, 16).await;
    next += 1;
    assert!(
        matches!(again, Err(Error::DiskFull { .. })),
        "a write through the full node: {again:?}"
    );
    let (seen_on_full,): (i64,) = cluster
        .client(FULL)
        .query_map_one("SELECT count(*) FROM w", params!())
        .await
        .expect("a local read on the full node");
    assert!(seen_on_full <= acked.len() as i64 + 1);

    // Space returns: the node catches up by itself.
    fs.free_ballast();
    let freed = Instant::now();
    let target = {
        let leader = cluster.leader().await;
        cluster.status(leader).await.last_applied
    };
    poll_until("the full node to catch up", CONVERGE, || async {
        let status = cluster.try_status(FULL).await?;
        (status.last_applied >= target).then_some(())
    })
    .await;
    let caught_up = freed.elapsed();
    let write_again = poll_until("a write through the recovered node", CONVERGE, || async {
        insert(&cluster.client(FULL), next, 16).await.ok()
    })
    .await;
    let _: () = write_again;
    acked.insert(next);
    let writes_again = freed.elapsed();
    eprintln!(
        "{role}: space freed; caught up to index {target} after {caught_up:?}, took a write \
         again after {writes_again:?}; it had seen {seen_on_full} rows while full"
    );

    // Every acknowledged write is on every node.
    cluster.wait_converged(CONVERGE).await;
    for i in 0..3 {
        let rows: Vec<(i64,)> = cluster
            .client(i)
            .query_map("SELECT n FROM w", params!())
            .await
            .expect("read the rows");
        let present: BTreeSet<i64> = rows.into_iter().map(|(n,)| n).collect();
        let missing: Vec<_> = acked.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "node {}: acknowledged writes missing: {missing:?}",
            cluster.node_id(i)
        );
    }
    eprintln!(
        "{role}: all {} acknowledged writes are on every node",
        acked.len()
    );
}

/// Inserts row `n` with a blob of `bytes` through `client`.
async fn insert(client: &Client, n: i64, bytes: usize) -> Result<(), Error> {
    client
        .execute(
            "INSERT INTO w (n, b) VALUES (?, ?)",
            params!(n, vec![0x5au8; bytes]),
        )
        .await
        .map(|_| ())
}

/// Inserts rows `first..first + count` concurrently; returns the acknowledged ones.
async fn write_rows(client: &Client, first: i64, count: i64) -> Vec<i64> {
    let writes = (first..first + count)
        .map(|n| async move { insert(client, n, ROW_BYTES).await.ok().map(|()| n) });
    futures::future::join_all(writes)
        .await
        .into_iter()
        .flatten()
        .collect()
}
