//! Membership changes through the `hiqlite` command on real processes: remove a voter, add it
//! back as a learner, promote it, and check it ends with the cluster's data.

use std::time::Duration;

use hiqlite::params;
use hiqlite_cluster_tests::{poll_until, run_cli, ProcessCluster, SECRET_API};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remove_and_add_nodes_with_the_cli() {
    let cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let client = cluster.failover_client(leader);
    client.batch("CREATE TABLE t (v INTEGER)").await.unwrap();
    let api = cluster.api_addr(leader).to_string();
    let target = (leader + 1) % 3;
    let target_id = (target + 1).to_string();

    let out = run_cli(&[
        "remove-node",
        "--api",
        &api,
        "--secret-api",
        SECRET_API,
        "--id",
        &target_id,
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let members: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(members["voters"].as_array().unwrap().len(), 2, "{members}");

    // Writes go on with two voters; the removed node no longer receives them.
    client
        .execute("INSERT INTO t VALUES (1)", params!())
        .await
        .unwrap();

    let spec = format!(
        "{} {} {}",
        target + 1,
        cluster.raft_addr(target),
        cluster.api_addr(target)
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
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let members: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        members["learners"],
        serde_json::json!([target + 1]),
        "{members}"
    );

    let out = run_cli(&[
        "add-node",
        "--api",
        &api,
        "--secret-api",
        SECRET_API,
        "--node",
        &spec,
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let members: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(members["voters"].as_array().unwrap().len(), 3, "{members}");

    client
        .execute("INSERT INTO t VALUES (2)", params!())
        .await
        .unwrap();
    let back = cluster.client(target);
    poll_until(
        "the re-added node to hold both rows",
        Duration::from_secs(30),
        || async {
            let n: Vec<(i64,)> = back
                .query_map("SELECT count(*) FROM t", params!())
                .await
                .ok()?;
            (n.first()?.0 == 2).then_some(())
        },
    )
    .await;
    let out = run_cli(&[
        "add-node",
        "--api",
        &api,
        "--secret-api",
        SECRET_API,
        "--node",
        "not a member",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid member"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
