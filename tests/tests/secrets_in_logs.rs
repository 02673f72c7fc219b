//! Secrets never reach a log line (issue 18, item 5; docs/security.md).
//!
//! Three `hiqlite serve` processes at `RUST_LOG=debug`, with known secrets: the Raft and API
//! secrets, the dashboard password and the backup encryption key. They go through what makes
//! nodes log the most: forming the cluster, writes, a failing statement, a backup and shipped
//! log segments, connections that present the wrong secret on both ports, and a kill -9 and
//! restart of the leader. Then every line every node wrote is searched for every secret.

use std::time::Duration;

use hiqlite::config::Secret;
use hiqlite::net::{Channel, NetError, RpcClient};
use hiqlite::params;
use hiqlite_cluster_tests::{poll_until, ProcessCluster, SECRET_API, SECRET_RAFT};

/// Only the part after `id/` is secret; the key id is printed on purpose.
const KEY_ID: &str = "k1";
const KEY_BASE64: &str = "c2VjcmV0LWtleS1uZXZlci1pbi1sb2dzLTAxMjM0NTY=";
const DASHBOARD_PASSWORD: &str = "dashboard-password-never-in-logs";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_appears_in_any_log_line() {
    let backups = tempfile::tempdir().unwrap();
    let backup_dir = backups.path().to_str().unwrap().to_string();
    let enc_keys = format!("{KEY_ID}/{KEY_BASE64}");
    let env = [
        ("RUST_LOG", "debug"),
        ("HQL_BACKUP_DIR", backup_dir.as_str()),
        ("ENC_KEYS", enc_keys.as_str()),
        ("ENC_KEY_ACTIVE", KEY_ID),
        ("HQL_BACKUP_LOG_INTERVAL", "1"),
        ("HQL_PASSWORD_DASHBOARD", DASHBOARD_PASSWORD),
    ];
    let mut cluster = ProcessCluster::start_with_env(3, &env).await;
    let client = cluster.client(0);

    client
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", params!())
        .await
        .unwrap();
    for i in 0..20 {
        client
            .execute("INSERT INTO t (v) VALUES (?)", params!(format!("row {i}")))
            .await
            .unwrap();
    }
    let failing = client
        .execute("INSERT INTO no_such_table VALUES (1)", params!())
        .await;
    assert!(failing.is_err());
    let backup = client.backup().await.unwrap();
    assert!(backup.log_index > 0, "{backup:?}");

    // The wrong secret on both ports: each node refuses and logs it.
    let wrong = Secret::new("a-wrong-secret-of-enough-length");
    for i in 0..cluster.len() {
        for (addr, channel) in [
            (cluster.api_addr(i), Channel::Api),
            (cluster.raft_addr(i), Channel::Raft),
        ] {
            let refused = RpcClient::connect(addr, &wrong, channel, 1 << 20).await;
            assert!(
                matches!(refused, Err(NetError::AuthFailed)),
                "node {} {channel}: {refused:?}",
                i + 1
            );
        }
    }

    // Kill -9 the leader and restart it: elections, reconnects and a replayed log.
    let leader = cluster.leader().await;
    cluster.kill9(leader).await;
    let survivor = cluster.client((leader + 1) % cluster.len());
    poll_until(
        "a write after the leader died",
        Duration::from_secs(30),
        || {
            let survivor = survivor.clone();
            async move {
                survivor
                    .execute("INSERT INTO t (v) VALUES ('after')", params!())
                    .await
                    .ok()
            }
        },
    )
    .await;
    cluster.restart(leader);
    cluster.wait_all_healthy(Duration::from_secs(60)).await;

    let secrets = [
        ("the Raft secret", SECRET_RAFT),
        ("the API secret", SECRET_API),
        ("the backup key", KEY_BASE64),
        ("the dashboard password", DASHBOARD_PASSWORD),
    ];
    for i in 0..cluster.len() {
        let log = cluster.log_text(i);
        // The search means something only if the node logged at debug level and logged the
        // refusals.
        assert!(
            log.lines().filter(|l| l.contains("DEBUG")).count() > 20,
            "node {} wrote few debug lines:\n{log}",
            i + 1
        );
        assert!(
            log.contains("does not know the secret"),
            "node {} did not log the refused connections",
            i + 1
        );
        for (what, secret) in secrets {
            if let Some(line) = log.lines().find(|l| l.contains(secret)) {
                panic!("node {} logged {what}: {line}", i + 1);
            }
        }
    }
}
