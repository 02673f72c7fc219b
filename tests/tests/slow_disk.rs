//! A node whose disk flushes slowly (every fsync/fdatasync delayed by a preloaded shim): the
//! cluster keeps acknowledging writes, none is lost, and the slow node catches up when its disk
//! is fast again. The test checks that the shim really delayed the node's syncs, so it cannot
//! pass with a fault that never bit, and that a slow disk (of the leader or of a follower) causes
//! no election with the default Raft timing (issue 17: a short election timeout must not make
//! slow fsyncs look like a dead leader).

use std::time::{Duration, Instant};

use hiqlite_cluster_tests::{insert_round, ProcessCluster};

const CONVERGE: Duration = Duration::from_secs(60);
/// The longest fsync delay the fault suite injects (`tests/src/faults/nemesis.rs`).
const SLOW_SYNC: Duration = Duration::from_millis(400);
/// How long writes go on against each slow disk: several election windows (600–800 ms each
/// with the defaults).
const SLOW_PHASE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_survive_a_slow_leader_disk_and_a_slow_follower_disk() {
    let cluster = ProcessCluster::start(3).await;
    if !cluster.has_slow_disk() {
        eprintln!("skipped: the slow-disk shim could not be built (no C compiler)");
        return;
    }
    let leader = cluster.leader().await;
    let client = cluster.failover_client(leader);
    client
        .batch("CREATE TABLE w (n INTEGER PRIMARY KEY)")
        .await
        .expect("create the table");

    let follower = (leader + 1) % 3;
    let mut expected = 0;
    for slow in [leader, follower] {
        cluster.slow_disk(slow, SLOW_SYNC);
        let before = cluster.delayed_syncs(slow);
        let term_before = cluster.status(leader).await.term;
        // Concurrent writes: they share the slow fsyncs (group commit) and must all succeed.
        let started = Instant::now();
        while started.elapsed() < SLOW_PHASE {
            expected = insert_round(&client, expected, "while a disk is slow").await;
        }
        let status = cluster.status(leader).await;
        assert_eq!(
            (status.term, status.leader_id),
            (term_before, Some(cluster.node_id(leader))),
            "an election while node {}'s disk was slow ({SLOW_SYNC:?} per sync)",
            cluster.node_id(slow)
        );
        assert!(
            cluster.delayed_syncs(slow) > before,
            "the shim delayed no sync of node {}: the fault did not bite",
            cluster.node_id(slow)
        );
        cluster.fast_disk(slow);
    }

    cluster.wait_converged(CONVERGE).await;
    cluster.assert_rows_in_w(expected).await;
}
