//! Listen/notify and table change notifications on a 3-node cluster in one process: a
//! notification published on one node reaches the subscribers of every node, in log order; a
//! table subscriber sees each committed row change.
//!
//! Run it with `cargo run -p hiqlite-examples --example listen_notify`.

use std::time::Duration;

use hiqlite::{params, Client, ListenError, NodeConfig};

#[tokio::main]
async fn main() -> Result<(), hiqlite::Error> {
    let dir = tempfile::tempdir()?;
    let clients = start_cluster(dir.path(), 18120).await?;
    clients[0]
        .batch("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)")
        .await?;

    // Subscribe first: a subscriber receives what is published after it subscribed.
    let mut on_node3 = clients[2].listen("orders")?;
    let mut changes = clients[1].listen_tables(&["orders"])?;

    clients[0].notify("orders", "hello from node 1").await?;
    clients[0]
        .execute("INSERT INTO orders (item) VALUES (?)", params!("tea"))
        .await?;

    match on_node3.recv().await {
        Ok(n) => println!(
            "node 3 got {:?} on {:?} (log index {})",
            n.payload, n.channel, n.log_index
        ),
        // A subscriber that falls more than the buffer behind is told how many it lost.
        Err(ListenError::Lagged(lost)) => println!("node 3 lost {lost} notifications"),
        Err(ListenError::Closed) => println!("node 3 stopped"),
    }
    if let Ok(change) = changes.recv().await {
        println!(
            "node 2 saw {:?} of rowid {} in {}",
            change.op, change.rowid, change.table
        );
    }

    for c in &clients {
        c.shutdown().await?;
    }
    Ok(())
}

/// Three nodes on loopback ports `base..base + 6`, each in its own directory under `dir`.
async fn start_cluster(dir: &std::path::Path, base: u16) -> Result<Vec<Client>, hiqlite::Error> {
    let mut clients = Vec::new();
    for id in 1..=3u64 {
        let mut config = NodeConfig::builder()
            .node_id(id)
            .data_dir(dir.join(format!("node{id}")))
            .secret_raft("example-raft-secret-123")
            .secret_api("example-api-secret-1234");
        for member in 1..=3u16 {
            config = config.node(
                u64::from(member),
                format!("127.0.0.1:{}", base + member - 1),
                format!("127.0.0.1:{}", base + member + 2),
            );
        }
        clients.push(hiqlite::start_node(config.build()?).await?);
    }
    for c in &clients {
        c.wait_until_healthy(Duration::from_secs(30)).await?;
    }
    Ok(clients)
}
