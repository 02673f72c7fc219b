//! A removed node knows it was removed (item 3 of issue 10), and a member that cannot be reached
//! is logged with backoff, not once per heartbeat (item 2).

use std::process::Output;
use std::time::{Duration, Instant};

use hiqlite::params;
use hiqlite_cluster_tests::{poll_until, run_cli, ProcessCluster, SECRET_API};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_node_knows_it_and_refuses_writes() {
    let cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let removed = (leader + 1) % 3;
    let removed_id = cluster.node_id(removed).to_string();
    let client = cluster.failover_client(leader);
    client.batch("CREATE TABLE t (v INTEGER)").await.unwrap();
    let api = cluster.api_addr(leader);
    let out = run_cli(&[
        "remove-node",
        "--api",
        api,
        "--secret-api",
        SECRET_API,
        "--id",
        &removed_id,
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    // Its own status says so, within a few seconds.
    let removed_api = cluster.api_addr(removed).to_string();
    let status = poll_until(
        "the removed node to know",
        Duration::from_secs(15),
        || async {
            let out = run_cli(&[
                "status",
                "--api",
                &removed_api,
                "--secret-api",
                SECRET_API,
                "--json",
            ])
            .await;
            let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (status["removed"] == true).then_some(status)
        },
    )
    .await;
    let id: u64 = removed_id.parse().unwrap();
    let voters = status["voters"].as_array().unwrap();
    assert!(!voters.contains(&id.into()), "{status}");
    let out = run_cli(&["status", "--api", &removed_api, "--secret-api", SECRET_API]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed:        yes"));

    // A write through it fails at once, says why, and was not applied.
    let started = Instant::now();
    let out = run_cli(&[
        "sql",
        "--api",
        &removed_api,
        "--secret-api",
        SECRET_API,
        "INSERT INTO t VALUES (1)",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let err = stderr(&out);
    assert!(err.contains("was removed from the cluster"), "{err}");
    assert!(err.contains("the request was not applied"), "{err}");
    let n: Vec<(i64,)> = client
        .query_consistent_map("SELECT count(*) FROM t", params!())
        .await
        .unwrap();
    assert_eq!(n[0].0, 0);
    // So does a consistent read; a local read still answers from its last state.
    let out = run_cli(&[
        "sql",
        "--api",
        &removed_api,
        "--secret-api",
        SECRET_API,
        "--consistent",
        "SELECT 1",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = run_cli(&[
        "sql",
        "--api",
        &removed_api,
        "--secret-api",
        SECRET_API,
        "SELECT 1",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_learner_is_logged_with_backoff() {
    let mut cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let learner = (leader + 1) % 3;
    let id = cluster.node_id(learner);
    let api = cluster.api_addr(leader).to_string();
    let out = run_cli(&[
        "remove-node",
        "--api",
        &api,
        "--secret-api",
        SECRET_API,
        "--id",
        &id.to_string(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let spec = format!(
        "{id} {} {}",
        cluster.raft_addr(learner),
        cluster.api_addr(learner)
    );
    let out = run_cli(&[
        "add-node",
        "--api",
        &api,
        "--secret-api",
        SECRET_API,
        "--node",
        &spec,
        "--learner",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let before = cluster.log_text(leader).len();
    cluster.kill9(learner).await;
    // Wait until the leader has failed to reach it at least 40 times (several heartbeats a
    // second), as its own reports count them.
    let pattern = format!("cannot reach node {id}");
    let failed = |log: &str| -> u64 {
        log.lines()
            .filter(|l| l.contains(&pattern))
            .filter_map(|l| l.split('[').nth(1)?.split(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    poll_until(
        "40 failed attempts to reach the learner",
        Duration::from_secs(60),
        || async { (failed(&cluster.log_text(leader)[before..]) >= 40).then_some(()) },
    )
    .await;
    let log = cluster.log_text(leader)[before..].to_string();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("node {id}")))
        .collect();
    assert!(
        (1..=8).contains(&lines.len()),
        "{} lines about node {id} for {} failed attempts:\n{}",
        lines.len(),
        failed(&log),
        lines.join("\n")
    );
}
