//! TLS with real certificates on loopback: the right CA, a wrong one, an expired certificate, a
//! wrong name, plaintext against TLS both ways, reload, mutual TLS, generated certificates.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use super::testing::{TestCa, TestCert};
use super::Reload;
use super::{NodeCert, TlsClient, TlsError, TlsServer, Transport};
use crate::net::testing::{secret, TestRequest, TestResponse, TestServer, MAX_FRAME};
use crate::net::{handshake, Channel, NetError, RpcClient, HANDSHAKE_TIMEOUT};

const T: Duration = Duration::from_secs(10);

fn node_cert(cert: &TestCert, dir: &std::path::Path, name: &str) -> Arc<NodeCert> {
    let (c, k) = cert.write(dir, name);
    NodeCert::from_files(&c, &k).unwrap()
}

fn client_for(ca: &TestCa, dir: &std::path::Path) -> Transport {
    Transport::Tls(TlsClient::from_ca_file(&ca.write(dir)).unwrap())
}

async fn call(transport: &Transport, addr: &str) -> Result<TestResponse, NetError> {
    let client =
        RpcClient::connect_over(transport, addr, &secret(), Channel::Api, MAX_FRAME).await?;
    client.call(&TestRequest::Add(40, 2), T).await
}

/// Runs one `TlsServer::accept` on a fresh loopback port: the address, and the server side's
/// outcome.
async fn accept_once(
    tls: TlsServer,
) -> (
    String,
    tokio::task::JoinHandle<Result<super::Stream, NetError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tls.accept(tcp).await
    });
    (addr, task)
}

/// The certificate a TLS server at `addr` presents to `client`.
async fn served_certificate(client: &TlsClient, addr: &str) -> Vec<u8> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream = client.handshake(addr, tcp).await.unwrap();
    stream.peer_certificates().unwrap()[0].as_ref().to_vec()
}

#[tokio::test]
async fn the_right_ca_serves_calls_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hiqlite test CA");
    let cert = ca.leaf(&["127.0.0.1", "localhost"], 1);
    let server =
        TestServer::start_tls(TlsServer::new(node_cert(&cert, dir.path(), "n1"), None).unwrap())
            .await;

    let transport = client_for(&ca, dir.path());
    assert_eq!(
        call(&transport, &server.addr).await.unwrap(),
        TestResponse::Sum(42)
    );
    // By name too: `localhost` is in the certificate.
    let port = server.addr.rsplit_once(':').unwrap().1;
    let by_name = format!("localhost:{port}");
    assert_eq!(
        call(&transport, &by_name).await.unwrap(),
        TestResponse::Sum(42)
    );
    // The secret's handshake still runs inside TLS.
    let wrong = crate::config::Secret::new("not-the-right-secret-at-all");
    let err = RpcClient::connect_over(&transport, &server.addr, &wrong, Channel::Api, MAX_FRAME)
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::AuthFailed), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_ca_is_refused_clearly_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("the cluster's CA");
    let other = TestCa::new("some other CA");
    let tls = TlsServer::new(
        node_cert(&ca.leaf(&["127.0.0.1"], 1), dir.path(), "n1"),
        None,
    )
    .unwrap();
    let (addr, server) = accept_once(tls).await;

    let err = call(&client_for(&other, dir.path()), &addr)
        .await
        .unwrap_err();
    println!("client: {err}");
    assert!(
        matches!(&err, NetError::TlsCertificate(m) if m.contains("not signed by")),
        "{err}"
    );
    let server_side = server
        .await
        .unwrap()
        .err()
        .expect("the server must fail too");
    println!("server: {server_side}");
    assert!(
        matches!(&server_side, NetError::Tls(m) if m.contains("UnknownCA")),
        "{server_side}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hiqlite test CA");
    let expired = ca.expired_leaf(&["127.0.0.1"], 1);
    let tls = TlsServer::new(node_cert(&expired, dir.path(), "n1"), None).unwrap();
    let (addr, server) = accept_once(tls).await;

    let err = call(&client_for(&ca, dir.path()), &addr).await.unwrap_err();
    println!("client: {err}");
    assert!(
        matches!(&err, NetError::TlsCertificate(m) if m.contains("expired")),
        "{err}"
    );
    let server_side = server
        .await
        .unwrap()
        .err()
        .expect("the server must fail too");
    println!("server: {server_side}");
    assert!(matches!(server_side, NetError::Tls(_)), "{server_side}");
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hiqlite test CA");
    let tls = TlsServer::new(
        node_cert(&ca.leaf(&["db.example.org"], 1), dir.path(), "n1"),
        None,
    )
    .unwrap();
    let server = TestServer::start_tls(tls).await;
    let err = call(&client_for(&ca, dir.path()), &server.addr)
        .await
        .unwrap_err();
    println!("client: {err}");
    assert!(
        matches!(&err, NetError::TlsCertificate(m) if m.contains("db.example.org")),
        "{err}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_plaintext_client_on_a_tls_port_is_told_so_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hiqlite test CA");
    let tls = TlsServer::new(
        node_cert(&ca.leaf(&["127.0.0.1"], 1), dir.path(), "n1"),
        None,
    )
    .unwrap();
    let (addr, server) = accept_once(tls).await;

    let started = Instant::now();
    let err = call(&Transport::Plain, &addr).await.unwrap_err();
    println!("client: {err} (after {:?})", started.elapsed());
    assert!(matches!(err, NetError::TlsRequired), "{err}");
    assert!(
        started.elapsed() < HANDSHAKE_TIMEOUT,
        "the client must learn it before its handshake timeout"
    );
    let server_side = server.await.unwrap().err().expect("the server must refuse");
    println!("server: {server_side}");
    assert!(
        matches!(server_side, NetError::PlaintextOnTlsPort),
        "{server_side}"
    );
}

#[tokio::test]
async fn a_tls_client_on_a_plaintext_port_is_told_so_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hiqlite test CA");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        handshake::accept(&mut tcp, &secret(), Channel::Api, T).await
    });

    let started = Instant::now();
    let err = call(&client_for(&ca, dir.path()), &addr).await.unwrap_err();
    println!("client: {err} (after {:?})", started.elapsed());
    assert!(matches!(err, NetError::NotTls), "{err}");
    assert!(started.elapsed() < HANDSHAKE_TIMEOUT);
    let server_side = server.await.unwrap().unwrap_err();
    println!("server: {server_side}");
    assert!(
        matches!(server_side, NetError::TlsOnPlaintextPort),
        "{server_side}"
    );
}

#[tokio::test]
async fn a_reloaded_certificate_is_served_to_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hiqlite test CA");
    let first = ca.leaf(&["127.0.0.1"], 1);
    let second = ca.leaf(&["127.0.0.1"], 2);
    let cert = node_cert(&first, dir.path(), "node");
    let server = TestServer::start_tls(TlsServer::new(cert.clone(), None).unwrap()).await;
    let client = TlsClient::from_ca_file(&ca.write(dir.path())).unwrap();
    assert_eq!(
        served_certificate(&client, &server.addr).await,
        first.der.as_ref()
    );
    // A connection made before the reload keeps working.
    let transport = Transport::Tls(client.clone());
    let before =
        RpcClient::connect_over(&transport, &server.addr, &secret(), Channel::Api, MAX_FRAME)
            .await
            .unwrap();

    second.write(dir.path(), "node");
    assert!(matches!(cert.reload_if_changed(), Reload::Reloaded));
    assert_eq!(
        served_certificate(&client, &server.addr).await,
        second.der.as_ref()
    );
    let resp: TestResponse = before.call(&TestRequest::Add(1, 1), T).await.unwrap();
    assert_eq!(resp, TestResponse::Sum(2));

    // A broken new file is refused, and the last good certificate stays.
    std::fs::write(dir.path().join("node.crt"), "not a certificate").unwrap();
    let outcome = cert.reload_if_changed();
    println!("broken file: {outcome:?}");
    assert!(
        matches!(outcome, Reload::Failed(TlsError::Empty { .. })),
        "{outcome:?}"
    );
    assert_eq!(
        served_certificate(&client, &server.addr).await,
        second.der.as_ref()
    );
    assert!(matches!(cert.reload_if_changed(), Reload::Unchanged));
    server.stop().await;
}

#[tokio::test]
async fn the_watcher_reloads_changed_files_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hiqlite test CA");
    let cert = node_cert(&ca.leaf(&["127.0.0.1"], 1), dir.path(), "node");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(cert.clone().watch("api", shutdown));
    let second = ca.leaf(&["127.0.0.1"], 2);
    second.write(dir.path(), "node");
    let deadline = Instant::now() + super::RELOAD_POLL * 5;
    while cert.current().cert[0] != second.der {
        assert!(
            Instant::now() < deadline,
            "the watcher did not reload the files"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    watcher.await.unwrap();
}

#[tokio::test]
async fn mutual_tls_wants_a_client_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hiqlite test CA");
    let other = TestCa::new("some other CA");
    let server_cert = node_cert(&ca.leaf(&["127.0.0.1"], 1), dir.path(), "server");
    let roots = super::pem::roots(&ca.write(dir.path())).unwrap();
    let server =
        TestServer::start_tls(TlsServer::new(server_cert, Some(roots.clone())).unwrap()).await;

    // Without a client certificate.
    let err = call(&client_for(&ca, dir.path()), &server.addr)
        .await
        .unwrap_err();
    println!("no client certificate: {err}");
    assert!(
        matches!(&err, NetError::Tls(m) if m.contains("CertificateRequired")),
        "{err}"
    );

    // With one from another CA.
    let stranger = node_cert(&other.leaf(&["127.0.0.1"], 7), dir.path(), "stranger");
    let with_stranger = TlsClient::from_roots(roots.clone(), Some(stranger)).unwrap();
    let err = call(&Transport::Tls(with_stranger), &server.addr)
        .await
        .unwrap_err();
    println!("client certificate from another CA: {err}");
    assert!(matches!(err, NetError::Tls(_)), "{err}");

    // With one signed by the CA.
    let member = node_cert(&ca.leaf(&["127.0.0.1"], 2), dir.path(), "member");
    let with_member = TlsClient::from_roots(roots, Some(member)).unwrap();
    let resp = call(&Transport::Tls(with_member), &server.addr)
        .await
        .unwrap();
    assert_eq!(resp, TestResponse::Sum(42));
    server.stop().await;
}

#[tokio::test]
async fn generated_certificates_encrypt_but_only_accept_any_trusts_them() {
    let dir = tempfile::tempdir().unwrap();
    let cert = NodeCert::generated(&["127.0.0.1".into()]).unwrap();
    let server = TestServer::start_tls(TlsServer::new(cert, None).unwrap()).await;
    let any = Transport::Tls(TlsClient::accept_any());
    assert_eq!(
        call(&any, &server.addr).await.unwrap(),
        TestResponse::Sum(42)
    );

    let ca = TestCa::new("hiqlite test CA");
    let err = call(&client_for(&ca, dir.path()), &server.addr)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NetError::TlsCertificate(m) if m.contains("not signed by")),
        "{err}"
    );
    server.stop().await;
}

#[test]
fn bad_pem_files_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hiqlite test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1"], 1).write(dir.path(), "a");
    let (_, other_key) = ca.leaf(&["127.0.0.1"], 2).write(dir.path(), "b");
    let missing = dir.path().join("missing.pem");

    let err = NodeCert::from_files(&missing, &key).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let err = NodeCert::from_files(&key, &key).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Empty {
                expected: "CERTIFICATE",
                ..
            }
        ),
        "{err}"
    );

    let err = NodeCert::from_files(&cert, &cert).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Empty {
                expected: "PRIVATE KEY",
                ..
            }
        ),
        "{err}"
    );

    let err = NodeCert::from_files(&cert, &other_key).unwrap_err();
    println!("{err}");
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");

    let err = TlsClient::from_ca_file(&missing).unwrap_err();
    assert!(err.to_string().contains("the CA file"), "{err}");
}
