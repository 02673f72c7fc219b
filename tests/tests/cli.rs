//! The `hiqlite` command line as a user meets it (issue 10): a refused address is skipped at once
//! (item 6), development mode and the development secret work without configuration, all
//! configuration problems are reported together under the names they were given as, an ordinary
//! shutdown logs no errors, and docs/cli.md documents every command, flag and variable.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use hiqlite_cluster_tests::docs::read_doc;
use hiqlite_cluster_tests::{
    free_addrs, hiqlite_bin, poll_until, run_cli, run_cli_with_env, ProcessCluster, SECRET_API,
};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_skips_a_refused_address_at_once() {
    let cluster = ProcessCluster::start(1).await;
    let refused = free_addrs(1).remove(0);
    let good = cluster.api_addr(0);

    let started = Instant::now();
    let out = run_cli(&[
        "status",
        "--api",
        &refused,
        "--api",
        good,
        "--secret-api",
        SECRET_API,
        "--json",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["node_id"], 1);

    let started = Instant::now();
    let out = run_cli(&["status", "--api", &refused, "--secret-api", SECRET_API]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(stderr(&out).contains(&refused), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    // The plain status lists every key the docs name, snapshot and purge indexes included.
    let out = run_cli(&["status", "--api", good, "--secret-api", SECRET_API]).await;
    for key in [
        "node_id:",
        "role:",
        "leader_id:",
        "term:",
        "last_applied:",
        "last_log_index:",
        "snapshot_index:",
        "purged_index:",
        "voters:",
        "learners:",
    ] {
        assert!(stdout(&out).contains(key), "{key}: {}", stdout(&out));
    }
}

/// `hiqlite serve` and `hiqlite status` with nothing but the development secret: the command line
/// falls back to the same secret `serve` uses without configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_default_to_the_development_secret() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = free_addrs(2);
    let member = format!("1 {} {}", addrs[0], addrs[1]);
    let mut serve = tokio::process::Command::new(hiqlite_bin());
    serve
        .args(["serve", "--node-id", "1", "--node", &member])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--secret-raft", "dev-only-raft-secret-change-me"])
        .args(["--secret-api", "dev-only-api-secret-change-me"])
        .env_remove("HQL_SECRET_API")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let _node = serve.spawn().unwrap();
    let out = poll_until("the node to answer", Duration::from_secs(30), || async {
        let out = run_cli(&["status", "--api", &addrs[1]]).await;
        out.status.success().then_some(out)
    })
    .await;
    assert!(
        stdout(&out).contains("node_id:        1"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("using the development API secret"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_is_development_mode_unless_a_cluster_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    // Variables of other commands, or other settings, leave development mode on. The fixed
    // development ports may be taken on this machine: only the announcement is checked.
    let log = dir.path().join("serve.log");
    let mut serve = tokio::process::Command::new(hiqlite_bin());
    serve
        .arg("serve")
        .env("HQL_API", "127.0.0.1:1")
        .env("HQL_DATA_DIR", &data)
        .env_remove("HQL_NODE_ID")
        .env_remove("HQL_NODES")
        .env_remove("HQL_SECRET_RAFT")
        .env_remove("HQL_SECRET_API")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true);
    let _node = serve.spawn().unwrap();
    poll_until(
        "the development mode warning",
        Duration::from_secs(30),
        || async {
            let text = std::fs::read_to_string(&log).ok()?;
            text.contains("DEVELOPMENT database").then_some(())
        },
    )
    .await;

    // A node id alone is a cluster configuration: every missing value is reported at once.
    let out = run_cli_with_env(&["serve"], &[("HQL_NODE_ID", "1"), ("HQL_DATA_DIR", &data)]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(!err.contains("DEVELOPMENT"), "{err}");
    for problem in [
        "3 problems",
        "nodes is empty",
        "secret_raft is not set",
        "secret_api is not set",
    ] {
        assert!(err.contains(problem), "{problem}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configuration_problems_are_reported_together_under_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    // Only the API secret: the missing values and the empty member list, together.
    let out = run_cli_with_env(
        &["serve", "--data-dir", &data],
        &[("HQL_SECRET_API", "api-secret-0123456789")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for problem in [
        "node_id is not set",
        "secret_raft is not set",
        "nodes is empty",
    ] {
        assert!(err.contains(problem), "{problem}: {err}");
    }
    // A bad --node is named as the flag, next to the other problems.
    let out = run_cli(&[
        "serve",
        "--data-dir",
        &data,
        "--node-id",
        "1",
        "--node",
        "1 127.0.0.1:1 127.0.0.1:2",
        "--node",
        "2 127.0.0.1:3",
        "--secret-raft",
        "short",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("--node \"2 127.0.0.1:3\""), "{err}");
    assert!(!err.contains("HQL_NODES:"), "{err}");
    assert!(err.contains("secret_raft is too short"), "{err}");
    assert!(err.contains("secret_api is not set"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_shutdown_logs_no_errors() {
    let mut cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    assert!(
        cluster.stop(leader).await,
        "the leader did not exit cleanly"
    );
    let next = cluster.leader().await;
    assert_ne!(next, leader);
    let log = cluster.log_text(leader);
    assert!(log.contains("handed leadership over"), "{log}");
    for i in 0..3 {
        let log = cluster.log_text(i);
        let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
        assert!(errors.is_empty(), "node {}:\n{}", i + 1, errors.join("\n"));
    }
}

/// docs/cli.md names every command, every flag and every variable that `--help` shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_reference_documents_every_command_flag_and_variable() {
    let doc = read_doc("cli.md");
    let help = stdout(&run_cli(&["--help"]).await);
    let commands: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 8, "{help}");
    for command in &commands {
        assert!(
            doc.contains(&format!("`hiqlite {command}")),
            "docs/cli.md: hiqlite {command}"
        );
        let help = stdout(&run_cli(&[command, "--help"]).await);
        for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']') {
            let flag = word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
            if flag.starts_with("--") && flag != "--help" {
                assert!(doc.contains(flag), "docs/cli.md: {command} {flag}");
            }
            if let Some(var) = word
                .strip_prefix("env: ")
                .or(word.strip_prefix("HQL_").map(|_| word))
            {
                let var = var.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_');
                assert!(doc.contains(var), "docs/cli.md: {command} {var}");
            }
        }
    }
    for section in ["### Exit codes", "## Errors"] {
        assert!(doc.contains(section), "docs/cli.md: {section}");
    }
    for error in [
        "NoLeader",
        "OutcomeUnknown",
        "Removed",
        "Membership",
        "Sql",
        "Network",
    ] {
        assert!(
            doc.contains(&format!("`{error}`")),
            "docs/cli.md: error {error}"
        );
    }
}
