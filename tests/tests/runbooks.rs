//! The membership commands and the majority-loss runbook of docs/operations.md, run exactly as the
//! document writes them (issue 10: "every command is run by a test").

use std::time::Duration;

use hiqlite::{params, Client};
use hiqlite_cluster_tests::docs::{read_doc, section, shell_commands, Runbook};
use hiqlite_cluster_tests::{free_addrs, poll_until, ProcessCluster, SECRET_API, SECRET_RAFT};

fn secrets() -> Vec<(String, String)> {
    vec![
        ("HQL_SECRET_RAFT".into(), SECRET_RAFT.into()),
        ("HQL_SECRET_API".into(), SECRET_API.into()),
    ]
}

/// Waits until the node at `api` lists `id` among its voters (`true`) or not at all (`false`).
async fn wait_voter(api: &str, id: u64, voter: bool) {
    let client = Client::remote(vec![api.to_string()], SECRET_API);
    poll_until(
        &format!("node {id} voter: {voter}"),
        Duration::from_secs(60),
        || async {
            let status = client.status().await.ok()?;
            (status.voters.contains(&id) == voter).then_some(())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_documented_membership_commands_work_as_written() {
    let cluster = ProcessCluster::start(3).await;
    let members = cluster.members();
    let new = free_addrs(2);
    let api = cluster.api_addr(0).to_string();
    let mut env = secrets();
    for (i, m) in members.iter().enumerate() {
        env.push((format!("NODE{}", i + 1), m.clone()));
    }
    env.push(("NODE4".into(), format!("4 {} {}", new[0], new[1])));
    env.push(("API".into(), api.clone()));
    env.push((
        "DATA_DIR".into(),
        cluster.root().join("doc-node4").display().to_string(),
    ));
    let mut runbook = Runbook::new(env, cluster.root());

    let doc = read_doc("operations.md");
    let commands = shell_commands(section(&doc, "Membership"));
    assert_eq!(commands.len(), 5, "{commands:?}");
    for command in &commands {
        let out = runbook.run(command).await;
        if command.starts_with("hiqlite serve") {
            // It joins by itself, as a voter once it caught up.
            wait_voter(&api, 4, true).await;
        } else if command.starts_with("hiqlite status") {
            assert!(out.contains("voters:         [1, 2, 3, 4]"), "{out}");
        } else if command.starts_with("hiqlite remove-node") {
            assert!(out.contains("voters:   [1, 2, 3]"), "{out}");
        } else if command.ends_with("--learner") {
            assert!(out.contains("learners: [4]"), "{out}");
        } else if command.starts_with("hiqlite add-node") {
            assert!(out.contains("voters:   [1, 2, 3, 4]"), "{out}");
        }
    }
    // The node added by the documented commands has the data and takes writes.
    let client = cluster.failover_client(0);
    client.batch("CREATE TABLE t (v INTEGER)").await.unwrap();
    client
        .execute("INSERT INTO t VALUES (1)", params!())
        .await
        .unwrap();
    let node4 = Client::remote(vec![new[1].clone()], SECRET_API);
    let n: Vec<(i64,)> = node4
        .query_consistent_map("SELECT count(*) FROM t", params!())
        .await
        .unwrap();
    assert_eq!(n[0].0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_majority_loss_runbook_works_as_written() {
    let mut cluster = ProcessCluster::start(3).await;
    let client = cluster.failover_client(0);
    client.batch("CREATE TABLE t (v INTEGER)").await.unwrap();
    for v in 0..20 {
        client
            .execute("INSERT INTO t VALUES (?)", params!(v))
            .await
            .unwrap();
    }
    cluster.wait_converged(Duration::from_secs(30)).await;
    // Nodes 2 and 3 are lost for good, disks and all; node 1 survives and is stopped (step 1).
    for i in [1, 2] {
        cluster.kill9(i).await;
        cluster.wipe_data_dir(i);
    }
    assert!(cluster.stop(0).await, "node 1 did not stop cleanly");

    // What does not work: restarting the survivor with a shorter member list. Its stored
    // membership wins (it cannot lead alone), and it says so at start.
    let alone = format!("1 {} {}", cluster.raft_addr(0), cluster.api_addr(0));
    let shorter = format!(
        "hiqlite serve --data-dir '{}' --node-id 1 --node '{alone}'",
        cluster.data_dir(0).display()
    );
    let mut quick = secrets();
    quick.push(("HQL_REQUEST_TIMEOUT_MS".into(), "2000".into()));
    let mut attempt = Runbook::new(quick, cluster.root());
    attempt.run(&shorter).await;
    let node1 = Client::remote(vec![cluster.api_addr(0).to_string()], SECRET_API);
    let status = poll_until("node 1 to answer", Duration::from_secs(30), || async {
        node1.status().await.ok()
    })
    .await;
    assert_eq!(status.voters, vec![1, 2, 3]);
    poll_until(
        "the warning about the member list",
        Duration::from_secs(30),
        || async {
            attempt
                .serve_log(1)
                .contains("differ from the membership stored in this node's Raft log")
                .then_some(())
        },
    )
    .await;
    assert!(node1
        .execute("INSERT INTO t VALUES (99)", params!())
        .await
        .is_err());
    drop(attempt);
    poll_until("node 1 to stop", Duration::from_secs(30), || async {
        node1.status().await.is_err().then_some(())
    })
    .await;

    let new = free_addrs(2);
    let mut env = secrets();
    let survivor = [
        ("DATA_DIR", cluster.data_dir(0).display().to_string()),
        ("NODE_ID", "1".to_string()),
        ("RAFT_ADDR", cluster.raft_addr(0).to_string()),
        ("API_ADDR", cluster.api_addr(0).to_string()),
        (
            "NEW_DATA_DIR",
            cluster.root().join("new-node4").display().to_string(),
        ),
        ("NEW_ID", "4".to_string()),
        ("NEW_RAFT_ADDR", new[0].clone()),
        ("NEW_API_ADDR", new[1].clone()),
    ];
    env.extend(survivor.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let mut runbook = Runbook::new(env, cluster.root());
    let survivor_api = cluster.api_addr(0).to_string();

    let doc = read_doc("operations.md");
    let commands = shell_commands(section(&doc, "Runbook: recovering from a lost majority"));
    assert_eq!(commands.len(), 6, "{commands:?}");
    let mut serves = 0;
    for command in &commands {
        let out = runbook.run(command).await;
        if command.starts_with("hiqlite recover --dry-run") {
            assert!(out.contains("dry run: nothing was changed"), "{out}");
            assert!(out.contains("what may be lost"), "{out}");
        } else if command.starts_with("hiqlite recover") {
            assert!(out.contains("done:"), "{out}");
            assert!(out.contains("old members: voters [1, 2, 3]"), "{out}");
        } else if command.starts_with("hiqlite serve") {
            serves += 1;
            let (api, id) = match serves {
                1 => (survivor_api.clone(), 1),
                _ => (survivor_api.clone(), 4),
            };
            wait_voter(&api, id, true).await;
        } else if command.contains("$NEW_API_ADDR") {
            assert!(out.contains("node_id:        4"), "{out}");
            assert!(out.contains("voters:         [1, 4]"), "{out}");
        } else if command.starts_with("hiqlite status") {
            assert!(out.contains("role:           Leader"), "{out}");
            assert!(out.contains("voters:         [1]"), "{out}");
        }
    }
    assert_eq!(serves, 2);
    // Every acknowledged write survived, on both nodes of the new cluster, which takes writes.
    let recovered = Client::remote(vec![survivor_api.clone(), new[1].clone()], SECRET_API);
    recovered
        .execute("INSERT INTO t VALUES (100)", params!())
        .await
        .unwrap();
    for api in [&survivor_api, &new[1]] {
        let node = Client::remote(vec![api.to_string()], SECRET_API);
        let n: Vec<(i64,)> = node
            .query_consistent_map("SELECT count(*) FROM t", params!())
            .await
            .unwrap();
        assert_eq!(n[0].0, 21, "node at {api}");
    }
    assert!(
        !runbook.serve_log(1).contains("differ from the membership"),
        "{}",
        runbook.serve_log(1)
    );
}

/// The configuration examples under "Deploying a cluster" build valid node configurations with
/// the settings they claim (the systemd TOML file plus its secrets file; the StatefulSet's env).
#[test]
fn the_deployment_examples_are_valid_configuration() {
    let doc = read_doc("operations.md");
    let systemd = section(&doc, "With systemd");
    let toml = code_block(systemd, "toml");
    let config = hiqlite::NodeConfig::builder()
        .toml_str(&toml)
        .unwrap()
        .secret_raft(SECRET_RAFT)
        .secret_api(SECRET_API)
        .build()
        .unwrap_or_else(|e| panic!("the systemd example does not build: {e}\n{toml}"));
    assert_eq!(config.node_id, 1);
    assert_eq!(config.nodes.len(), 3);
    assert_eq!(config.http_addr.as_deref(), Some("0.0.0.0:9100"));
    assert_eq!(
        config.data_dir,
        std::path::PathBuf::from("/var/lib/hiqlite")
    );

    let yaml = code_block(section(&doc, "On Kubernetes"), "yaml");
    let mut env = std::collections::HashMap::from([
        ("HQL_NODE_ID".to_string(), "1".to_string()),
        ("HQL_SECRET_RAFT".to_string(), SECRET_RAFT.to_string()),
        ("HQL_SECRET_API".to_string(), SECRET_API.to_string()),
    ]);
    let lines: Vec<&str> = yaml.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        // `- { name: HQL_X, value: "..." }`
        if let Some(rest) = line.strip_prefix("- { name: HQL_") {
            let (name, value) = rest.split_once(", value: ").expect("name, value");
            let value = value.trim_end_matches(" }").trim_matches('"');
            env.insert(format!("HQL_{name}"), value.to_string());
        }
        // `- name: HQL_NODES` followed by `value: |` and one member per line.
        if *line == "- name: HQL_NODES" {
            let members: Vec<&str> = lines[i + 2..]
                .iter()
                .take_while(|l| l.starts_with(|c: char| c.is_ascii_digit()))
                .copied()
                .collect();
            env.insert("HQL_NODES".into(), members.join("\n"));
        }
    }
    let config = hiqlite::NodeConfig::builder()
        .env_with(|name| env.get(name).cloned())
        .unwrap()
        .build()
        .unwrap_or_else(|e| panic!("the StatefulSet's environment does not build: {e}\n{env:?}"));
    assert_eq!(config.nodes.len(), 3);
    assert_eq!(
        config.own_member().map(|m| m.raft_addr.as_str()),
        Some("hiqlite-0.hiqlite.default.svc.cluster.local:8100")
    );
    assert_eq!(config.data_dir, std::path::PathBuf::from("/data"));
    assert_eq!(config.listen_raft_addr.as_deref(), Some("0.0.0.0:8100"));
    assert_eq!(config.listen_api_addr.as_deref(), Some("0.0.0.0:8200"));
    assert_eq!(config.http_addr.as_deref(), Some("0.0.0.0:9100"));
}

/// The first ```LANG block of `markdown`.
fn code_block(markdown: &str, lang: &str) -> String {
    let fence = format!("```{lang}\n");
    let start = markdown
        .find(&fence)
        .unwrap_or_else(|| panic!("no ```{lang} block"))
        + fence.len();
    let end = markdown[start..].find("```").expect("a closing fence") + start;
    markdown[start..end].to_string()
}
