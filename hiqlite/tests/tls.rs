//! TLS on an in-process 3-node cluster with real certificates (a CA and node certificates made
//! with rcgen, written as PEM files): writes and reads over TLS with mutual TLS on the Raft
//! ports, a remote client with the right CA, a wrong CA, without TLS; and a cluster on
//! generated development certificates.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{cluster_configs, SECRET_API};
use hiqlite::net::TlsClient;
use hiqlite::{params, Client, RemoteOptions};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Row {
    id: i64,
    name: String,
}

/// A CA: writes `DIR/NAME.pem` and returns its issuer.
fn ca(dir: &Path, name: &str) -> Issuer<'static, KeyPair> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    std::fs::write(
        dir.join(format!("{name}.pem")),
        params.self_signed(&key).unwrap().pem(),
    )
    .unwrap();
    Issuer::new(params, key)
}

/// A certificate for 127.0.0.1 signed by `ca`: writes `DIR/NAME.crt` and `DIR/NAME.key`.
fn node_cert(dir: &Path, name: &str, ca: &Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

async fn start(configs: &[hiqlite::NodeConfig]) -> Vec<Client> {
    let mut clients = Vec::new();
    for c in configs {
        clients.push(hiqlite::start_node(c.clone()).await.expect("node starts"));
    }
    for c in &clients {
        c.wait_until_healthy(Duration::from_secs(30))
            .await
            .expect("cluster becomes healthy");
    }
    clients
}

fn remote(addr: &str, options: RemoteOptions) -> Client {
    let options = options
        .with_retry_unreachable(false)
        .with_request_timeout(Duration::from_secs(10));
    Client::remote_with(vec![addr.to_string()], SECRET_API, options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_over_tls_serves_writes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let cluster_ca = ca(&certs, "cluster-ca");
    let _other_ca = ca(&certs, "other-ca");
    for i in 1..=3 {
        node_cert(&certs, &format!("node{i}"), &cluster_ca);
    }
    let configs = cluster_configs(3, dir.path(), |b| b);
    let configs: Vec<_> = configs
        .into_iter()
        .map(|c| {
            let id = c.node_id;
            let mut c = c;
            c.tls = hiqlite::config::TlsConfig {
                raft_cert: Some(certs.join(format!("node{id}.crt"))),
                raft_key: Some(certs.join(format!("node{id}.key"))),
                api_cert: Some(certs.join(format!("node{id}.crt"))),
                api_key: Some(certs.join(format!("node{id}.key"))),
                ca: Some(certs.join("cluster-ca.pem")),
                auto_certs: false,
                client_auth: true,
            };
            c.validate().expect("valid TLS config");
            c
        })
        .collect();
    let clients = start(&configs).await;

    // Writes from every node (followers forward over the API ports, TLS), reads everywhere.
    clients[0]
        .execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
            params!(),
        )
        .await
        .unwrap();
    for (i, c) in clients.iter().enumerate() {
        c.execute("INSERT INTO t (name) VALUES (?)", params!(format!("n{i}")))
            .await
            .unwrap();
    }
    for c in &clients {
        let rows: Vec<Row> = c
            .query_consistent_as("SELECT id, name FROM t ORDER BY id", params!())
            .await
            .unwrap();
        assert_eq!(rows.len(), 3, "{rows:?}");
    }

    // A remote client with the cluster's CA.
    let api = configs[1].nodes[1].api_addr.clone();
    let options = RemoteOptions::default()
        .with_tls_ca(certs.join("cluster-ca.pem"))
        .unwrap();
    let good = remote(&api, options);
    good.execute("INSERT INTO t (name) VALUES ('remote')", params!())
        .await
        .unwrap();
    let rows: Vec<Row> = good
        .query_consistent_as("SELECT id, name FROM t WHERE name = 'remote'", params!())
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![Row {
            id: 4,
            name: "remote".into()
        }]
    );

    // With another CA: refused, and the message says why.
    let options = RemoteOptions::default()
        .with_tls_ca(certs.join("other-ca.pem"))
        .unwrap();
    let err = remote(&api, options).status().await.unwrap_err();
    println!("wrong CA: {err}");
    assert!(err.to_string().contains("not signed by"), "{err}");

    // Without TLS: told that the port speaks TLS, well before any timeout.
    let started = std::time::Instant::now();
    let err = remote(&api, RemoteOptions::default())
        .status()
        .await
        .unwrap_err();
    println!("no TLS: {err} (after {:?})", started.elapsed());
    assert!(err.to_string().contains("speaks TLS"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    for c in &clients {
        c.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_on_generated_certificates_works_for_clients_that_accept_any() {
    let dir = tempfile::tempdir().unwrap();
    let configs = cluster_configs(3, dir.path(), |b| b.tls_auto_certs(true));
    let clients = start(&configs).await;
    clients[0]
        .execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
            params!(),
        )
        .await
        .unwrap();
    clients[2]
        .execute("INSERT INTO t (name) VALUES ('x')", params!())
        .await
        .unwrap();

    let api = configs[0].nodes[0].api_addr.clone();
    let any = remote(
        &api,
        RemoteOptions::default().with_tls(TlsClient::accept_any()),
    );
    let rows: Vec<Row> = any
        .query_consistent_as("SELECT id, name FROM t", params!())
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![Row {
            id: 1,
            name: "x".into()
        }]
    );

    for c in &clients {
        c.shutdown().await.unwrap();
    }
}
