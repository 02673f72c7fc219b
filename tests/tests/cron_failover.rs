//! Cron jobs across a kill -9 of the leader in the middle of a run (issue 16: "fail-over during a
//! cron tick (exactly once)"). Three processes of `cron_node` (a node with the job `record` every
//! second, see `src/bin/cron_node.rs`) run; the test kills the leader while it is inside a run,
//! then checks the runs the cluster recorded:
//! - no tick ever ran on two nodes or twice (the claim through Raft);
//! - the killed run started and never ended, and its tick was not run again (at most once);
//! - the new leader goes on with later ticks, each once.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use hiqlite::params;
use hiqlite_cluster_tests::{poll_until, ProcessCluster};

type Run = (i64, i64, String, bool);

async fn runs(cluster: &ProcessCluster, i: usize) -> Option<Vec<Run>> {
    cluster
        .failover_client(i)
        .query_consistent_map::<Run>(
            "SELECT tick_ms, node_id, phase, late FROM cron_runs ORDER BY tick_ms, phase DESC",
            params!(),
        )
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_interrupted_by_kill9_of_the_leader_is_not_run_twice() {
    let bin = Path::new(env!("CARGO_BIN_EXE_cron_node"));
    let mut cluster = ProcessCluster::start_with_bin(3, bin, &[]).await;
    let leader = cluster.leader().await;
    cluster
        .client(leader)
        .batch(
            "CREATE TABLE cron_runs (tick_ms INTEGER NOT NULL, node_id INTEGER NOT NULL,
                                     phase TEXT NOT NULL, late INTEGER NOT NULL)",
        )
        .await
        .unwrap();

    // Wait for a run that has started on the leader but not ended yet, and kill the leader then.
    let leader_id = cluster.node_id(leader) as i64;
    let interrupted = poll_until(
        "a run in progress on the leader",
        Duration::from_secs(30),
        || async {
            let rows = runs(&cluster, leader).await?;
            let ended: Vec<i64> = rows.iter().filter(|r| r.2 == "end").map(|r| r.0).collect();
            // At least one complete run first, so the job is known to work.
            let last = rows.iter().rev().find(|r| r.2 == "start")?;
            (!ended.is_empty() && last.1 == leader_id && !ended.contains(&last.0)).then_some(last.0)
        },
    )
    .await;
    cluster.kill9(leader).await;
    println!("killed node {leader_id} while it ran tick {interrupted}");

    // The new leader runs later ticks: wait for three complete runs after the interrupted one.
    let survivor = (leader + 1) % 3;
    let rows = poll_until(
        "three complete runs after the fail-over",
        Duration::from_secs(60),
        || async {
            let rows = runs(&cluster, survivor).await?;
            let after = rows
                .iter()
                .filter(|r| r.0 > interrupted && r.2 == "end")
                .count();
            (after >= 3).then_some(rows)
        },
    )
    .await;

    let mut by_tick: BTreeMap<i64, Vec<&Run>> = BTreeMap::new();
    for r in &rows {
        by_tick.entry(r.0).or_default().push(r);
    }
    for (tick, rs) in &by_tick {
        let starts = rs.iter().filter(|r| r.2 == "start").count();
        let ends = rs.iter().filter(|r| r.2 == "end").count();
        assert_eq!(starts, 1, "tick {tick} started {starts} times: {rs:?}");
        assert!(ends <= 1, "tick {tick} ended {ends} times: {rs:?}");
        let nodes: Vec<i64> = rs.iter().map(|r| r.1).collect();
        assert!(
            nodes.windows(2).all(|w| w[0] == w[1]),
            "tick {tick} ran on several nodes: {rs:?}"
        );
    }
    let killed = &by_tick[&interrupted];
    assert_eq!(
        killed.len(),
        1,
        "the interrupted run ended or ran again: {killed:?}"
    );
    let after: Vec<_> = by_tick.range(interrupted + 1..).collect();
    assert!(
        after.iter().all(|(_, rs)| rs[0].1 != leader_id),
        "the killed node ran a later tick: {after:?}"
    );
    let late = after.iter().filter(|(_, rs)| rs[0].3).count();
    println!(
        "ticks after the kill: {} (late: {late}); runs: {:?}",
        after.len(),
        after
            .iter()
            .map(|(t, rs)| (**t, rs[0].1, rs.len()))
            .collect::<Vec<_>>()
    );
}
