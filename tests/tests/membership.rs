//! Membership changes through the `hiqlite` command on real processes: remove a voter, add it
//! back as a learner, promote it, and check it ends with the cluster's data; and every way a
//! change can be refused, each leaving the membership as it was and saying so.

use std::process::Output;
use std::time::{Duration, Instant};

use hiqlite::params;
use hiqlite_cluster_tests::{free_addrs, poll_until, run_cli, ProcessCluster, SECRET_API};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The port of a `host:port` address.
fn port(addr: &str) -> &str {
    addr.rsplit_once(':').expect("host:port").1
}

/// Voters and learners as node `i` reports them.
async fn members(cluster: &ProcessCluster, i: usize) -> (Vec<u64>, Vec<u64>) {
    let status = cluster.status(i).await;
    (status.voters, status.learners)
}

async fn add_node(api: &str, spec: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "add-node",
        "--api",
        api,
        "--secret-api",
        SECRET_API,
        "--node",
        spec,
    ];
    args.extend_from_slice(extra);
    run_cli(&args).await
}

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

/// Item 1 of issue 10: an address a member uses is refused however it is written, before anything
/// changes (one process must never become two voters).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_node_refuses_the_addresses_of_members() {
    let cluster = ProcessCluster::start(3).await;
    let api = cluster.api_addr(0).to_string();
    let raft_port = port(cluster.raft_addr(0)).to_string();
    let unused = free_addrs(1).remove(0);
    for host in ["127.0.0.1", "localhost", "0.0.0.0"] {
        let spec = format!("5 {host}:{raft_port} {unused}");
        let started = Instant::now();
        let out = add_node(&api, &spec, &[]).await;
        assert_eq!(out.status.code(), Some(1), "{spec}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("already used by node 1"), "{spec}: {err}");
        assert!(err.contains("nothing was changed"), "{spec}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{spec}");
    }
    // Another member's API address, as the new node's API address.
    let spec = format!("5 {unused} localhost:{}", port(cluster.api_addr(1)));
    let out = add_node(&api, &spec, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already used by node 2"),
        "{}",
        stderr(&out)
    );
    // A member's id with other addresses.
    let others = free_addrs(2);
    let out = add_node(&api, &format!("2 {} {}", others[0], others[1]), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("node 2 is already a member with other addresses"));

    assert_eq!(members(&cluster, 0).await, (vec![1, 2, 3], vec![]));
}

/// Item 2 of issue 10: adding a node that is not running fails at once, changes nothing, says so,
/// and leaves no learner for the leader to retry (and log) forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_a_node_that_is_not_running_changes_nothing() {
    let cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let addrs = free_addrs(2);
    let spec = format!("5 {} {}", addrs[0], addrs[1]);
    let started = Instant::now();
    let out = add_node(cluster.api_addr(leader), &spec, &[]).await;
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("node 5 cannot be reached"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(took < Duration::from_secs(10), "add-node took {took:?}");
    for i in 0..3 {
        assert_eq!(
            members(&cluster, i).await,
            (vec![1, 2, 3], vec![]),
            "node {i}"
        );
    }
    // Nothing keeps trying to reach node 5.
    let mentions = cluster
        .log_text(leader)
        .lines()
        .filter(|l| l.contains("node 5") && !l.contains("test harness"))
        .count();
    assert!(mentions <= 2, "{}", cluster.log_text(leader));
}

/// Item 5 of issue 10: removing a node that is not a member fails clearly; so does removing the
/// last voter.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_a_non_member_fails() {
    let cluster = ProcessCluster::start(1).await;
    let api = cluster.api_addr(0);
    for (id, expected) in [
        ("9", "node 9 is not a member (voters [1], learners [])"),
        ("1", "node 1 is the only voter"),
    ] {
        let out = run_cli(&[
            "remove-node",
            "--api",
            api,
            "--secret-api",
            SECRET_API,
            "--id",
            id,
        ])
        .await;
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("nothing was changed"),
            "{}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
    }
    assert_eq!(members(&cluster, 0).await, (vec![1], vec![]));
}

/// Item 2 of issue 10: a learner that answers but cannot catch up is removed again, and the
/// command says so. Node 3 comes back with a frame limit too small for an entry it must receive.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_that_cannot_catch_up_is_removed_again() {
    // A short request timeout: a learner gets 9 of them (9 s) to catch up.
    let mut cluster =
        ProcessCluster::start_with_env(3, &[("HQL_REQUEST_TIMEOUT_MS", "1000")]).await;
    let leader = cluster.leader().await;
    let target = (leader + 1) % 3;
    let api = cluster.api_addr(leader).to_string();
    let target_id = cluster.node_id(target).to_string();
    let out = run_cli(&[
        "remove-node",
        "--api",
        &api,
        "--secret-api",
        SECRET_API,
        "--id",
        &target_id,
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    cluster.kill9(target).await;
    cluster.restart_with_env(target, &[("HQL_MAX_FRAME_BYTES", "65536")]);
    let client = cluster.failover_client(leader);
    client.batch("CREATE TABLE t (v BLOB)").await.unwrap();
    client
        .execute("INSERT INTO t VALUES (?)", params!(vec![7u8; 100_000]))
        .await
        .unwrap();
    poll_until(
        "the restarted node to answer",
        Duration::from_secs(30),
        || cluster.try_status(target),
    )
    .await;

    let spec = format!(
        "{target_id} {} {}",
        cluster.raft_addr(target),
        cluster.api_addr(target)
    );
    let out = add_node(&api, &spec, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("did not catch up"), "{err}");
    assert!(
        err.contains("it was removed again, the membership is unchanged"),
        "{err}"
    );
    let (voters, learners) = members(&cluster, leader).await;
    assert!(!voters.contains(&cluster.node_id(target)), "{voters:?}");
    assert!(learners.is_empty(), "{learners:?}");
}
