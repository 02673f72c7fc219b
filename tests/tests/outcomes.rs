//! Item 3 of issue 10: a write that fails says whether it was applied. Without a leader it is
//! `NoLeader` (exit code 1, nothing applied); when a leader took it but could not commit it, the
//! outcome is unknown (exit code 3), and indeed it commits once the majority is back.

use std::process::Output;
use std::time::Duration;

use hiqlite::params;
use hiqlite_cluster_tests::{poll_until, run_cli, ProcessCluster, SECRET_API};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn sql(api: &str, statement: &str) -> Output {
    run_cli(&["sql", "--api", api, "--secret-api", SECRET_API, statement]).await
}

/// How many rows with `v` the cluster holds, by a consistent read through node `i`.
async fn rows_with(cluster: &ProcessCluster, i: usize, v: i64) -> Option<i64> {
    let n: Vec<(i64,)> = cluster
        .client(i)
        .query_consistent_map("SELECT count(*) FROM t WHERE v = ?", params!(v))
        .await
        .ok()?;
    Some(n[0].0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_write_says_whether_it_was_applied() {
    let env = [("HQL_REQUEST_TIMEOUT_MS", "3000")];
    let mut cluster = ProcessCluster::start_with_env(3, &env).await;
    let leader = cluster.leader().await;
    cluster
        .failover_client(leader)
        .batch("CREATE TABLE t (v INTEGER)")
        .await
        .unwrap();
    cluster.wait_converged(Duration::from_secs(30)).await;

    // The leader loses both followers: it has the write in its log but cannot commit it.
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    for &f in &followers {
        cluster.kill9(f).await;
    }
    let out = sql(cluster.api_addr(leader), "INSERT INTO t VALUES (1)").await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("outcome unknown"), "{err}");
    assert!(err.contains("may or may not have been applied"), "{err}");
    // Unknown was the truth: with the majority back, it commits (once).
    for &f in &followers {
        cluster.restart(f);
    }
    poll_until(
        "the write of unknown outcome to commit",
        Duration::from_secs(60),
        || async { (rows_with(&cluster, leader, 1).await? == 1).then_some(()) },
    )
    .await;

    // A node whose leader and other peer are gone: no leader at all, nothing proposed.
    let leader = cluster.leader().await;
    let survivor = (leader + 1) % 3;
    let other = (0..3).find(|&i| i != leader && i != survivor).unwrap();
    cluster.wait_converged(Duration::from_secs(30)).await;
    cluster.kill9(leader).await;
    cluster.kill9(other).await;
    let out = sql(cluster.api_addr(survivor), "INSERT INTO t VALUES (2)").await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no leader could be reached"), "{err}");
    assert!(err.contains("the request was not applied"), "{err}");
    assert!(!err.contains("network error"), "{err}");
    cluster.restart(leader);
    cluster.restart(other);
    cluster.wait_all_healthy(Duration::from_secs(60)).await;
    let n = poll_until("a consistent read", Duration::from_secs(60), || {
        rows_with(&cluster, survivor, 2)
    })
    .await;
    assert_eq!(n, 0, "a write reported as not applied was applied");
}
