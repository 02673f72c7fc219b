//! The replicated clock with one node's clock an hour ahead (libfaketime, installed by
//! `scripts/install-deps`): time along the log never goes backwards as leadership moves between
//! nodes whose clocks differ, every node stores the same times, and the node that is off says so.

use std::path::Path;
use std::time::Duration;

use hiqlite::Value;
use hiqlite_cluster_tests::{poll_until, ProcessCluster};

const HOUR_MS: i64 = 3_600_000;

fn libfaketime() -> &'static str {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("libfaketime is missing: scripts/install-deps installs the `faketime` package")
}

/// Inserts `n` rows through node `via`; each stores the entry time in ms and the leader's id.
async fn insert(cluster: &ProcessCluster, via: usize, n: usize, phase: &str) {
    let leader = cluster.leader().await;
    for _ in 0..n {
        cluster
            .failover_client(via)
            .execute(
                "INSERT INTO t (phase, leader, ms) VALUES (?, ?, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
                vec![phase.into(), Value::Integer(leader as i64 + 1)],
            )
            .await
            .unwrap_or_else(|e| panic!("insert in phase {phase}: {e}"));
    }
}

/// Moves leadership to node `target`: with the third node paused, a graceful stop (SIGTERM) of
/// the leader hands leadership over to the only voter that answers, `target`; the stopped node
/// then starts again. (Killing the leader until `target` wins is not enough: openraft draws a
/// node's election timeout anew only when it campaigns, so a survivor that drew a long one keeps
/// losing.)
async fn make_leader(cluster: &mut ProcessCluster, target: usize) {
    for _ in 0..5 {
        let leader = cluster.leader().await;
        if leader == target {
            return;
        }
        let third = (0..cluster.len())
            .find(|i| *i != leader && *i != target)
            .expect("three nodes");
        cluster.pause(third);
        cluster.stop(leader).await;
        cluster.resume(third);
        cluster.restart(leader);
        cluster.wait_all_healthy(Duration::from_secs(30)).await;
    }
    panic!("node {} never became the leader", target + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn entry_time_never_goes_backwards_when_a_leader_clock_is_ahead() {
    let ahead = 0;
    let mut cluster = ProcessCluster::start_with_node_env(
        3,
        &[
            (ahead, "LD_PRELOAD", libfaketime()),
            (ahead, "FAKETIME", "+1h"),
            // tokio's timers and Raft's timeouts keep the real monotonic clock.
            (ahead, "FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    )
    .await;
    let first = cluster.leader().await;
    cluster
        .client(first)
        .execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, phase TEXT, leader INTEGER, ms INTEGER, \
             at TEXT DEFAULT CURRENT_TIMESTAMP)",
            vec![],
        )
        .await
        .unwrap();
    // A leader with the right time, then the one an hour ahead, then the right time again.
    make_leader(&mut cluster, 1).await;
    insert(&cluster, 2, 5, "a: right time").await;
    make_leader(&mut cluster, ahead).await;
    insert(&cluster, 1, 5, "b: an hour ahead").await;
    cluster.kill9(ahead).await;
    let _ = cluster.leader_within(Duration::from_secs(30)).await;
    insert(&cluster, 1, 5, "c: right time again").await;
    cluster.restart(ahead);
    cluster.wait_all_healthy(Duration::from_secs(30)).await;

    let query = "SELECT phase, leader, ms, at FROM t ORDER BY id";
    let rows = cluster
        .client(1)
        .query_consistent_rows(query, vec![])
        .await
        .unwrap();
    for i in 0..3 {
        let theirs = cluster
            .client(i)
            .query_consistent_rows(query, vec![])
            .await
            .unwrap();
        assert_eq!(theirs, rows, "node {} stores the same times", i + 1);
    }
    let ms: Vec<i64> = rows
        .rows
        .iter()
        .map(|r| match r[2] {
            Value::Integer(ms) => ms,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        ms.windows(2).all(|w| w[0] <= w[1]),
        "entry times go backwards along the log: {:#?}",
        rows.rows
    );
    // Leadership really moved to the node an hour ahead and back, and time stood still after it.
    let leaders: Vec<&Value> = rows.rows.iter().map(|r| &r[1]).collect();
    assert!(leaders[5..10]
        .iter()
        .all(|l| **l == Value::Integer(ahead as i64 + 1)));
    assert!(leaders[10..]
        .iter()
        .all(|l| **l != Value::Integer(ahead as i64 + 1)));
    assert!(
        ms[5] - ms[4] > HOUR_MS - 60_000,
        "phase b ran an hour ahead: {ms:?}"
    );

    // The node that is off says so: in its status and in its log.
    let offset = poll_until(
        "node 1 to report its clock an hour ahead",
        Duration::from_secs(60),
        || async {
            insert(&cluster, 1, 1, "d: probe").await;
            let offset = cluster.status(ahead).await.clock_offset_ms?;
            (offset > HOUR_MS - 60_000).then_some(offset)
        },
    )
    .await;
    assert!(offset < HOUR_MS + 60_000, "{offset}");
    let log = cluster.log_text(ahead);
    assert!(
        log.contains("this node's clock is") && log.contains("ahead of the leader's"),
        "node 1 warns about its clock"
    );
    // A node with the right clock comes back to no offset once the node ahead leads no more.
    poll_until(
        "node 3 to report its clock in line with the leader's",
        Duration::from_secs(60),
        || async {
            insert(&cluster, 1, 1, "d: probe").await;
            let offset = cluster.status(2).await.clock_offset_ms?;
            (offset.abs() < 60_000).then_some(())
        },
    )
    .await;
}
