//! The HTTP listener (`http_addr`) on an in-process 3-node cluster: `/health`, `/ready` on every
//! node, `/ready` 503 on a node whose peers are gone, and `/metrics` behind the API secret,
//! parsed as Prometheus text.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::{cluster_configs, free_ports, SECRET_API};
use hiqlite::{params, Client};

/// Calls `check` until it returns `Some`, at most `timeout`; panics naming `what` otherwise.
async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(http: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let resp = req.send().await.expect("HTTP request");
    let code = resp.status().as_u16();
    (code, resp.text().await.expect("HTTP body"))
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let (code, body) = get(http, url, None).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (code, json)
}

fn scrape(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

/// The value of the unlabelled sample `name` (or the one whose labels include `label`).
fn value(s: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .find(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .and_then(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_ready_and_metrics_over_http() {
    let root = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    // Small snapshots, so that the snapshot's timestamp shows up after a handful of writes.
    let configs: Vec<_> = cluster_configs(3, root.path(), |b| b.snapshot_after_logs(5))
        .into_iter()
        .zip(&ports)
        .map(|(mut c, p)| {
            c.http_addr = Some(format!("127.0.0.1:{p}"));
            c
        })
        .collect();
    let mut clients: Vec<Client> = Vec::new();
    for c in &configs {
        clients.push(hiqlite::start_node(c.clone()).await.expect("node starts"));
    }
    for c in &clients {
        c.wait_until_healthy(Duration::from_secs(30)).await.unwrap();
    }
    let http = reqwest::Client::new();
    let base: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();

    for (i, b) in base.iter().enumerate() {
        let (code, body) = get_json(&http, &format!("{b}/health")).await;
        assert_eq!(code, 200);
        assert_eq!(body, serde_json::json!({"status": "ok", "node_id": i + 1}));
        let body = poll("ready on every node", Duration::from_secs(20), || async {
            let (code, body) = get_json(&http, &format!("{b}/ready")).await;
            (code == 200).then_some(body)
        })
        .await;
        println!("node {}: /ready {body}", i + 1);
        assert_eq!(body["ready"], true);
        assert_eq!(body["member"], true);
        assert!(body["leader_id"].is_u64(), "{body}");
    }

    // /metrics: 401 without or with a wrong token, 200 with the API secret.
    let url = format!("{}/metrics", base[1]);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.starts_with("Bearer")),
        Some(true)
    );
    assert_eq!(
        get(&http, &url, Some("not-the-secret-0123456789")).await.0,
        401
    );
    let (code, text) = get(&http, &url, Some(SECRET_API)).await;
    assert_eq!(code, 200, "{text}");
    let before = value(&scrape(&text), "hiqlite_writes_total", None).unwrap_or(0.0);

    clients[1]
        .batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .await
        .unwrap();
    for id in 0..5i64 {
        clients[1]
            .execute("INSERT INTO t (id, v) VALUES (?, ?)", params!(id, "x"))
            .await
            .unwrap();
    }
    let rows: Vec<(i64, String)> = clients[1]
        .query_map("SELECT id, v FROM t", params!())
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);

    // The applied index equals the status' last_applied (when nothing was applied meanwhile).
    let (s, text) = poll(
        "a scrape between two equal statuses",
        Duration::from_secs(10),
        || async {
            let a = clients[1].status().await.unwrap().last_applied;
            let (_, text) = get(&http, &url, Some(SECRET_API)).await;
            let b = clients[1].status().await.unwrap().last_applied;
            (a == b).then_some((a, text))
        },
    )
    .await;
    println!("{text}");
    let m = scrape(&text);
    assert_eq!(value(&m, "hiqlite_applied_index", None), Some(s as f64));
    let after = value(&m, "hiqlite_writes_total", None).unwrap();
    assert!(after >= before + 6.0, "writes_total {before} -> {after}");
    assert!(value(&m, "hiqlite_reads_total", None).unwrap() >= 1.0);
    assert!(value(&m, "hiqlite_term", None).unwrap() >= 1.0);
    assert!(value(&m, "hiqlite_db_size_bytes", None).unwrap() > 0.0);
    assert!(value(&m, "hiqlite_log_size_bytes", None).unwrap() > 0.0);
    // The node's own tasks (Raft, listeners, connections) are alive on the runtime.
    assert!(value(&m, "hiqlite_runtime_tasks", None).unwrap() >= 1.0);
    let fsyncs = m
        .samples
        .iter()
        .find_map(|x| match &x.value {
            prometheus_parse::Value::Histogram(buckets)
                if x.metric == "hiqlite_log_fsync_duration_seconds" =>
            {
                buckets.last().map(|b| b.count)
            }
            _ => None,
        })
        .expect("an fsync latency histogram");
    assert!(fsyncs >= 1.0, "no synced log write counted:\n{text}");
    let is_leader = clients[1].is_leader().await.unwrap();
    let role = if is_leader { "leader" } else { "follower" };
    assert_eq!(value(&m, "hiqlite_role", Some(("role", role))), Some(1.0));
    assert!(m.docs.contains_key("hiqlite_write_duration_seconds"));
    assert!(m
        .samples
        .iter()
        .any(|x| x.metric == "hiqlite_write_duration_seconds"
            && matches!(x.value, prometheus_parse::Value::Histogram(_))));

    // Every node built or received a snapshot by now (snapshot_after_logs = 5); its time shows.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let written = poll("a snapshot timestamp", Duration::from_secs(20), || async {
        let (_, text) = get(&http, &url, Some(SECRET_API)).await;
        value(&scrape(&text), "hiqlite_snapshot_timestamp_seconds", None)
    })
    .await;
    assert!(
        (now - written).abs() < 120.0,
        "snapshot at {written}, now {now}"
    );

    // The leader reports each member's replication lag.
    let mut leader = None;
    for (i, c) in clients.iter().enumerate() {
        if c.is_leader().await.unwrap() {
            leader = Some(i);
        }
    }
    let leader = leader.expect("a leader");
    let (_, text) = get(
        &http,
        &format!("{}/metrics", base[leader]),
        Some(SECRET_API),
    )
    .await;
    let m = scrape(&text);
    for id in (1..=3u64).filter(|id| *id != leader as u64 + 1) {
        let lag = value(
            &m,
            "hiqlite_replication_lag_entries",
            Some(("node_id", &id.to_string())),
        );
        assert!(lag.is_some(), "no lag for node {id} in:\n{text}");
    }
    assert_eq!(
        value(&m, "hiqlite_role", Some(("role", "leader"))),
        Some(1.0)
    );

    // Every follower has the leader's Raft connection open to it; the API gauge is there too.
    for f in (0..3).filter(|f| *f != leader) {
        let (_, text) = get(&http, &format!("{}/metrics", base[f]), Some(SECRET_API)).await;
        let m = scrape(&text);
        let raft = value(&m, "hiqlite_connections", Some(("channel", "raft")));
        assert!(
            raft.is_some_and(|n| n >= 1.0),
            "raft connections on node {}: {raft:?}",
            f + 1
        );
        assert!(
            value(&m, "hiqlite_connections", Some(("channel", "api"))).is_some(),
            "no API connection gauge on node {}",
            f + 1
        );
    }

    // A node whose peers are gone stops being ready.
    clients[0].shutdown().await.unwrap();
    clients[2].shutdown().await.unwrap();
    let body = poll(
        "node 2 not ready without peers",
        Duration::from_secs(30),
        || async {
            let (code, body) = get_json(&http, &format!("{}/ready", base[1])).await;
            (code == 503).then_some(body)
        },
    )
    .await;
    println!("node 2 alone: /ready {body}");
    assert_eq!(body["ready"], false);
    assert!(!body["reasons"].as_array().unwrap().is_empty(), "{body}");
    assert_eq!(
        get(&http, &format!("{}/health", base[1]), None).await.0,
        200
    );
    clients[1].shutdown().await.unwrap();
    // The listener stopped with the node.
    assert!(http
        .get(format!("{}/health", base[1]))
        .send()
        .await
        .is_err());
}
