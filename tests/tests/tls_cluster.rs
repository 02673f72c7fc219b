//! A cluster of `hiqlite serve` processes with TLS on every port (issue 15, item 1), set up as
//! docs/operations.md "TLS" tells a user to: a CA and three PEM files per node made with the
//! openssl commands it shows (with the node's address as an IP SAN, since the test nodes listen on
//! 127.0.0.1), mutual TLS between the nodes, and the CLI with `--tls-ca`.

use std::path::Path;

use hiqlite::{params, RemoteOptions};
use hiqlite_cluster_tests::cli::shell;
use hiqlite_cluster_tests::{ProcessCluster, SECRET_API};

/// Runs `line` in bash in `dir` and panics with its output if it fails.
async fn run(line: &str, dir: &Path) {
    let out = shell(line, &[], dir).output().await.unwrap();
    assert!(
        out.status.success(),
        "{line} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CA and, per node, a key and a certificate for 127.0.0.1 signed by it, with the commands of
/// docs/operations.md.
async fn make_certificates(dir: &Path, nodes: usize) {
    run(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
         -subj '/CN=hiqlite CA' -keyout ca.key -out ca.pem",
        dir,
    )
    .await;
    for n in 1..=nodes {
        run(
            &format!(
                "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=node{n} \
                 -keyout node{n}.key -out node{n}.csr && \
                 openssl x509 -req -in node{n}.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                 -days 365 -extfile <(printf 'subjectAltName=IP:127.0.0.1') -out node{n}.crt"
            ),
            dir,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_of_processes_over_tls_serves_clients_and_the_cli() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path(), 3).await;
    let file = |name: &str| certs.path().join(name).display().to_string();
    let ca = file("ca.pem");
    let mut settings: Vec<(usize, String, String)> = Vec::new();
    for i in 0..3 {
        let (crt, key) = (
            file(&format!("node{}.crt", i + 1)),
            file(&format!("node{}.key", i + 1)),
        );
        for (name, value) in [
            ("HQL_TLS_RAFT_CERT", crt.clone()),
            ("HQL_TLS_RAFT_KEY", key.clone()),
            ("HQL_TLS_API_CERT", crt),
            ("HQL_TLS_API_KEY", key),
            ("HQL_TLS_CA", ca.clone()),
            ("HQL_TLS_CLIENT_AUTH", "true".into()),
        ] {
            settings.push((i, name.to_string(), value));
        }
    }
    let node_env: Vec<(usize, &str, &str)> = settings
        .iter()
        .map(|(i, k, v)| (*i, k.as_str(), v.as_str()))
        .collect();
    let options = RemoteOptions::default().with_tls_ca(&ca).unwrap();
    let mut cluster = ProcessCluster::start_with_client_options(3, &node_env, options).await;

    // Writes through every node, and a consistent read, over TLS.
    cluster
        .client(0)
        .batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .await
        .unwrap();
    for i in 0..3 {
        cluster
            .client(i)
            .execute("INSERT INTO t (v) VALUES (?)", params!(format!("from {i}")))
            .await
            .unwrap();
    }
    let (n,): (i64,) = cluster
        .client(2)
        .query_consistent_one("SELECT count(*) FROM t", params!())
        .await
        .unwrap();
    assert_eq!(n, 3);

    // Elections and replication run over mutual TLS too: the leader dies, the others go on.
    let leader = cluster.leader().await;
    cluster.kill9(leader).await;
    let survivor = (leader + 1) % 3;
    cluster
        .failover_client(survivor)
        .execute(
            "INSERT INTO t (v) VALUES ('after the fail-over')",
            params!(),
        )
        .await
        .unwrap();

    // The CLI with the CA, as docs/operations.md shows; without it, a clear error.
    let api = cluster.api_addr(survivor).to_string();
    let env = vec![("HQL_SECRET_API".to_string(), SECRET_API.to_string())];
    let dir = certs.path();
    let out = shell(
        &format!("hiqlite sql --api {api} --tls-ca ca.pem --json 'SELECT count(*) AS n FROM t'"),
        &env,
        dir,
    )
    .output()
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sql --tls-ca failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), r#"[{"n":4}]"#);
    let all: Vec<&str> = (0..3).map(|i| cluster.api_addr(i)).collect();
    let out = shell(
        &format!(
            "hiqlite status --cluster --api {} --tls-ca ca.pem",
            all.join(",")
        ),
        &env,
        dir,
    )
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "status --cluster --tls-ca failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The survivors answer over TLS (one leading); the killed node is unreachable (a row for
    // its id, which no address answered for, and one for its address, which refused).
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(table.matches("leader").count(), 1, "{table}");
    assert_eq!(table.matches("follower").count(), 1, "{table}");
    assert!(table.contains("unreachable"), "{table}");

    let started = std::time::Instant::now();
    let out = shell(&format!("hiqlite sql --api {api} 'SELECT 1'"), &env, dir)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "plaintext CLI against TLS succeeded");
    assert!(stderr.contains("speaks TLS"), "stderr: {stderr}");
    assert!(stderr.contains("--tls-ca"), "stderr: {stderr}");
    println!(
        "plaintext CLI refused in {:?}: {}",
        started.elapsed(),
        stderr.trim()
    );
}
