//! `hiqlite status --cluster` against a real 3-process cluster (issue 15, item 4): one row per
//! node with exactly one leader, and a stopped node shown as unreachable.

use hiqlite_cluster_tests::{run_cli, ProcessCluster, SECRET_API};
use serde_json::Value;

/// `hiqlite status --cluster --json` with every node's address; the parsed array.
async fn cluster_status(cluster: &ProcessCluster) -> Vec<Value> {
    let apis: Vec<String> = (0..cluster.len())
        .map(|i| cluster.api_addr(i).to_string())
        .collect();
    let apis = apis.join(",");
    let out = run_cli(&[
        "status",
        "--cluster",
        "--json",
        "--api",
        &apis,
        "--secret-api",
        SECRET_API,
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status --cluster failed: {stderr}");
    match serde_json::from_slice(&out.stdout).expect("a JSON array") {
        Value::Array(rows) => rows,
        other => panic!("not an array: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_cluster_lists_every_member_and_the_unreachable_ones() {
    let mut cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;

    let rows = cluster_status(&cluster).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let leaders: Vec<&Value> = rows.iter().filter(|r| r["role"] == "leader").collect();
    assert_eq!(leaders.len(), 1, "{rows:?}");
    assert_eq!(leaders[0]["node_id"], cluster.node_id(leader), "{rows:?}");
    assert_eq!(leaders[0]["lag"], 0, "{rows:?}");
    for row in &rows {
        assert_eq!(
            row["api_addr"],
            cluster.api_addr(cluster.index_of(row["node_id"].as_u64().unwrap()))
        );
        assert!(row["term"].as_u64().unwrap() >= 1, "{row}");
        assert!(row["last_applied"].is_u64(), "{row}");
        assert!(row["lag"].is_u64(), "{row}");
        assert!(row["error"].is_null(), "{row}");
    }

    // The plain table, given two of the three addresses: the third member is listed as
    // unreachable (no address answered for it).
    let apis = format!(
        "{},{}",
        cluster.api_addr(leader),
        cluster.api_addr((leader + 1) % 3)
    );
    let out = run_cli(&[
        "status",
        "--cluster",
        "--api",
        &apis,
        "--secret-api",
        SECRET_API,
    ])
    .await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        table.contains("node_id")
            && table.contains("leader")
            && table.contains("follower")
            && table.contains("unreachable"),
        "{table}"
    );

    // A stopped follower: its address does not answer and its member id is unreachable.
    let stopped = (leader + 1) % 3;
    assert!(cluster.stop(stopped).await);
    let rows = cluster_status(&cluster).await;
    let stopped_id = cluster.node_id(stopped);
    let by_id = rows
        .iter()
        .find(|r| r["node_id"] == stopped_id)
        .unwrap_or_else(|| panic!("no row for node {stopped_id}: {rows:?}"));
    assert_eq!(by_id["role"], "unreachable", "{rows:?}");
    let by_addr = rows
        .iter()
        .find(|r| r["api_addr"] == cluster.api_addr(stopped))
        .unwrap_or_else(|| panic!("no row for {}: {rows:?}", cluster.api_addr(stopped)));
    assert_eq!(by_addr["role"], "unreachable", "{rows:?}");
    assert!(by_addr["error"].is_string(), "{rows:?}");
    assert_eq!(
        rows.iter().filter(|r| r["role"] == "leader").count(),
        1,
        "{rows:?}"
    );
}
