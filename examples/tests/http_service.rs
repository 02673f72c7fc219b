//! The example HTTP service on three in-process nodes, each serving its router on loopback,
//! driven over real HTTP/1.1: writes through followers, typed reads from other nodes, the
//! status codes of bad input, constraints and guards, migrations applied once, and 503 when the
//! cluster has lost its majority while local reads keep working.

use std::net::SocketAddr;
use std::time::Duration;

use hiqlite::migrate::MigrateReport;
use hiqlite::{Client, NodeConfig};
use hiqlite_examples::http_service::{self, db};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

struct Node {
    id: u64,
    client: Client,
    http: SocketAddr,
    server: JoinHandle<()>,
}

/// Free loopback ports (released before use; the tiny race is acceptable in a test).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address").port())
        .collect()
}

/// Starts three nodes, runs [`startup`] on each, and serves each node's router on a loopback
/// port.
async fn start_cluster(dir: &std::path::Path) -> (Vec<Node>, Vec<MigrateReport>) {
    let ports = free_ports(6);
    let addr = |i: usize| format!("127.0.0.1:{}", ports[i]);
    let mut clients = Vec::new();
    for id in 1..=3u64 {
        let mut config = NodeConfig::builder()
            .node_id(id)
            .data_dir(dir.join(format!("node{id}")))
            .secret_raft("test-raft-secret-1234")
            .secret_api("test-api-secret-12345")
            // Short, so the no-majority case below answers quickly.
            .request_timeout(Duration::from_secs(3));
        for member in 1..=3u64 {
            let i = 2 * (member as usize - 1);
            config = config.node(member, addr(i), addr(i + 1));
        }
        let config = config.build().expect("valid configuration");
        clients.push(hiqlite::start_node(config).await.expect("start a node"));
    }

    // All three at once, as three processes starting together would.
    let (r1, r2, r3) = tokio::join!(
        startup(&clients[0]),
        startup(&clients[1]),
        startup(&clients[2])
    );

    let mut nodes = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind HTTP");
        let http = listener.local_addr().expect("HTTP address");
        let router = http_service::router(client.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve HTTP");
        });
        nodes.push(Node {
            id: i as u64 + 1,
            client,
            http,
            server,
        });
    }
    (nodes, vec![r1, r2, r3])
}

/// What the service's `main` does before it serves: wait for a leader, apply the migrations.
async fn startup(client: &Client) -> MigrateReport {
    client
        .wait_until_healthy(Duration::from_secs(60))
        .await
        .expect("cluster healthy");
    client
        .migrate(hiqlite::migrate!())
        .await
        .expect("migrations apply")
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the body as JSON
/// (`Value::Null` for an empty body).
async fn send(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the service");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("read the response");
    let response = String::from_utf8(response).expect("UTF-8 response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {response:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body:?}"))
    };
    (status, json)
}

async fn get(node: &Node, path: &str) -> (u16, Value) {
    send(node.http, "GET", path, "").await
}

async fn post(node: &Node, path: &str, body: Value) -> (u16, Value) {
    send(node.http, "POST", path, &body.to_string()).await
}

async fn patch(node: &Node, path: &str, body: Value) -> (u16, Value) {
    send(node.http, "PATCH", path, &body.to_string()).await
}

/// The `error` text of a JSON error body.
fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_service_on_a_three_node_cluster() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (nodes, reports) = start_cluster(dir.path()).await;

    // Migrations: three nodes migrated at once; each file was applied exactly once.
    let embedded = hiqlite::migrate!();
    let mut applied: Vec<u64> = reports
        .iter()
        .flat_map(|r| r.applied.iter().map(|m| m.version))
        .collect();
    applied.sort();
    let versions: Vec<u64> = embedded.iter().map(|m| m.version()).collect();
    assert_eq!(applied, versions, "each applied once: {reports:?}");
    assert!(versions.contains(&2), "0002_todos.sql is embedded");
    for r in &reports {
        assert_eq!(r.applied.len() + r.already_applied.len(), versions.len());
    }
    for node in &nodes {
        let recorded: Vec<u64> = node
            .client
            .applied_migrations()
            .await
            .expect("read _hiqlite_migrations")
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(recorded, versions, "node {}", node.id);
    }

    // Who leads, according to GET /status.
    let mut leader = None;
    for node in &nodes {
        let (code, status) = get(node, "/status").await;
        assert_eq!(code, 200, "{status}");
        assert_eq!(status["node_id"], node.id);
        if status["leader_id"] == node.id {
            leader = Some(node);
        }
    }
    let leader = leader.expect("one node says it leads");
    let followers: Vec<&Node> = nodes.iter().filter(|n| n.id != leader.id).collect();
    let (a, b) = (followers[0], followers[1]);

    // A write through a follower, read back consistently on the other follower.
    let (code, created) = post(
        a,
        "/users",
        json!({"name": "ada", "email": "ada@example.com"}),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let user_id = created["id"].as_i64().expect("an id");
    assert_eq!(created["name"], "ada");
    assert_eq!(created["email"], "ada@example.com");
    let (code, read) = get(b, &format!("/users/{user_id}?consistent=true")).await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(read, created, "the same row, read on another node");
    // A local read on the node that took the write sees it too.
    let (code, local) = get(a, &format!("/users/{user_id}")).await;
    assert_eq!((code, &local), (200, &created));
    // A user without email: NULL comes back as null.
    let (code, bob) = post(b, "/users", json!({"name": "bob"})).await;
    assert_eq!(code, 201, "{bob}");
    assert_eq!(bob["email"], Value::Null);

    // A todo through the other follower, listed consistently on the leader.
    let todos = format!("/users/{user_id}/todos");
    let (code, todo) = post(b, &todos, json!({"title": "write docs"})).await;
    assert_eq!(code, 201, "{todo}");
    assert_eq!(todo["status"], "open");
    assert_eq!(todo["user_id"], user_id);
    assert_eq!(todo["notes"], Value::Null);
    let todo_id = todo["id"].as_i64().expect("an id");
    let (code, list) = get(leader, &format!("{todos}?consistent=true")).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list, json!([todo]));

    // The same rows, typed, straight from the library on the third node.
    let user = db::user(user_id)
        .fetch_one_consistent(&leader.client)
        .await
        .expect("typed user");
    assert_eq!(
        (user.name.as_str(), user.email.as_deref()),
        ("ada", Some("ada@example.com"))
    );
    let typed = db::todos_of(user_id)
        .fetch_all_consistent(&a.client)
        .await
        .expect("typed todos");
    assert_eq!(typed.len(), 1);
    assert_eq!(typed[0].status, db::Status::Open);
    assert_eq!(typed[0].title, "write docs");

    // Constraints: UNIQUE (user_id, title) is 409; CHECK (title) and FOREIGN KEY are 422.
    let (code, body) = post(a, &todos, json!({"title": "write docs"})).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        error_of(&body).contains("UNIQUE constraint failed"),
        "{body}"
    );
    let (code, body) = post(a, &todos, json!({"title": "   "})).await;
    assert_eq!(code, 422, "{body}");
    assert!(
        error_of(&body).contains("CHECK constraint failed"),
        "{body}"
    );
    let (code, body) = post(a, "/users/999999/todos", json!({"title": "x"})).await;
    assert_eq!(code, 422, "{body}");
    assert!(
        error_of(&body).contains("FOREIGN KEY constraint failed"),
        "{body}"
    );

    // Not found.
    let (code, body) = get(b, "/users/999999?consistent=true").await;
    assert_eq!((code, error_of(&body)), (404, "no user 999999"));
    let (code, body) = patch(a, "/todos/999999", json!({"status": "done"})).await;
    assert_eq!((code, error_of(&body)), (404, "no todo 999999"));

    // Bad input: a JSON error body with axum's status, never a panic.
    let (code, body) = get(a, "/users/abc").await;
    assert_eq!(code, 400, "{body}");
    error_of(&body);
    let (code, body) = send(a.http, "POST", "/users", "{not json").await;
    assert_eq!(code, 400, "{body}");
    error_of(&body);
    let (code, body) = post(a, "/users", json!({"email": "no-name@example.com"})).await;
    assert_eq!(code, 422, "{body}");
    error_of(&body);
    let (code, body) = post(a, "/users", json!({"name": " "})).await;
    assert_eq!((code, error_of(&body)), (422, "name must not be empty"));
    let (code, body) = patch(a, &format!("/todos/{todo_id}"), json!({"status": "maybe"})).await;
    assert_eq!(code, 422, "{body}");
    error_of(&body);
    let (code, body) = get(a, &format!("/users/{user_id}?consistent=maybe")).await;
    assert_eq!(code, 400, "{body}");
    error_of(&body);

    // Status changes and deletes, through a follower.
    let (code, done) = patch(a, &format!("/todos/{todo_id}"), json!({"status": "done"})).await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["status"], "done");
    assert_eq!(done["title"], "write docs");
    let (code, body) = send(a.http, "DELETE", &format!("/todos/{todo_id}"), "").await;
    assert_eq!((code, body), (204, Value::Null));
    let (code, body) = send(b.http, "DELETE", &format!("/todos/{todo_id}"), "").await;
    assert_eq!(
        (code, error_of(&body)),
        (404, &*format!("no todo {todo_id}"))
    );

    // The guard: at most MAX_OPEN_TODOS open todos per user, checked in the insert's
    // transaction; closing one makes room again.
    let limit = db::MAX_OPEN_TODOS;
    let mut first = None;
    for i in 0..limit {
        let (code, body) = post(b, &todos, json!({"title": format!("task {i}")})).await;
        assert_eq!(code, 201, "{body}");
        first.get_or_insert(body["id"].as_i64().expect("an id"));
    }
    let (code, body) = post(a, &todos, json!({"title": "one too many"})).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        error_of(&body),
        format!("user {user_id} already has {limit} open todos")
    );
    let first = first.expect("created todos");
    let (code, _) = patch(
        leader,
        &format!("/todos/{first}"),
        json!({"status": "done"}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, body) = post(a, &todos, json!({"title": "one too many"})).await;
    assert_eq!(code, 201, "{body}");

    // Without a majority: writes answer 503, local reads still work.
    let survivor = a;
    for node in nodes.iter().filter(|n| n.id != survivor.id) {
        node.client.shutdown().await.expect("shut a node down");
    }
    let (code, body) = post(survivor, "/users", json!({"name": "carol"})).await;
    assert_eq!(code, 503, "{body}");
    error_of(&body);
    let (code, local) = get(survivor, &format!("/users/{user_id}")).await;
    assert_eq!((code, &local), (200, &created));

    survivor.client.shutdown().await.expect("shut down");
    for node in &nodes {
        node.server.abort();
    }
}
