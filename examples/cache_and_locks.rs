//! The replicated cache and distributed locks on three Hiqlite nodes in one process (docs/cache.md).
//!
//! Run it with `cargo run -p hiqlite-examples --example cache_and_locks`.

use std::time::{Duration, Instant};

use hiqlite::{params, Client, NodeConfig, Txn};

#[tokio::main]
async fn main() -> Result<(), hiqlite::Error> {
    let dir = tempfile::tempdir()?;
    let nodes = [
        (1, "127.0.0.1:18110", "127.0.0.1:18210"),
        (2, "127.0.0.1:18111", "127.0.0.1:18211"),
        (3, "127.0.0.1:18112", "127.0.0.1:18212"),
    ];
    let mut clients: Vec<Client> = Vec::new();
    for (id, _, _) in nodes {
        let mut config = NodeConfig::builder()
            .node_id(id)
            .data_dir(dir.path().join(format!("node{id}")))
            .secret_raft("example-raft-secret-123")
            .secret_api("example-api-secret-1234");
        for (member, raft, api) in nodes {
            config = config.node(member, raft, api);
        }
        clients.push(hiqlite::start_node(config.build()?).await?);
    }
    for c in &clients {
        c.wait_until_healthy(Duration::from_secs(30)).await?;
    }

    // A named cache: writes go through Raft from any node, reads are local.
    let sessions = clients[0].cache("sessions");
    sessions
        .put("s-42", "alice", Some(Duration::from_millis(500)))
        .await?;
    let on_node2 = clients[1].cache("sessions").get_consistent("s-42").await?;
    println!("session on node 2: {:?}", on_node2.map(String::from_utf8));

    // The TTL runs on the leader's clock; the leader proposes the expiry by itself.
    let started = Instant::now();
    while sessions.get("s-42").await?.is_some() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("session expired after {:?}", started.elapsed());

    // Atomic counters and compare-and-swap.
    let counters = clients[2].cache("counters");
    for _ in 0..3 {
        counters.add("page:/", 1, None).await?;
    }
    println!("page views: {:?}", counters.counter("page:/").await?);
    let config = clients[1].cache("config");
    let first = config
        .compare_and_swap("mode", None, Some(b"on"), None)
        .await?;
    let second = config
        .compare_and_swap("mode", None, Some(b"off"), None)
        .await?;
    println!("first CAS: {first:?}, second CAS: {second:?}");

    // A lock with a fencing token: the write only happens while this grant holds the lock.
    clients[0]
        .batch("CREATE TABLE reports (id INTEGER PRIMARY KEY, by_token INTEGER NOT NULL)")
        .await?;
    let lock = clients[1].lock("nightly-report").await?;
    let other = clients[2]
        .try_lock("nightly-report", Duration::from_secs(5))
        .await?;
    println!(
        "node 2 holds the lock (token {}); node 3 tried: {}",
        lock.token(),
        if other.is_some() {
            "got it too?!"
        } else {
            "refused"
        }
    );
    let mut txn = Txn::new();
    txn.fence(lock.name(), lock.token());
    txn.execute(
        "INSERT INTO reports (by_token) VALUES (?)",
        params!(lock.token() as i64),
    );
    clients[1].txn(txn).await?;
    let stale_token = lock.token();
    lock.release().await?;
    let mut txn = Txn::new();
    txn.fence("nightly-report", stale_token);
    txn.execute("INSERT INTO reports (by_token) VALUES (-1)", params!());
    println!(
        "write with a released token: {:?}",
        clients[1].txn(txn).await.err()
    );

    for c in &clients {
        c.shutdown().await?;
    }
    Ok(())
}
