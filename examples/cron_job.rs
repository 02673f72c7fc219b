//! A cron job on a 3-node cluster in one process: every node registers the same job; only the
//! leader runs it, once per tick (here every second), and records each run in a table.
//!
//! Run it with `cargo run -p hiqlite-examples --example cron_job`.

use std::time::Duration;

use hiqlite::{params, Client, NodeConfig};

#[tokio::main]
async fn main() -> Result<(), hiqlite::Error> {
    let dir = tempfile::tempdir()?;
    let clients = start_cluster(dir.path(), 18110).await?;
    clients[0]
        .batch("CREATE TABLE runs (tick_ms INTEGER PRIMARY KEY, node INTEGER NOT NULL)")
        .await?;

    // The same job on every node: whichever node leads at a tick runs it.
    let mut jobs = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let c = client.clone();
        let node = i as i64 + 1;
        jobs.push(client.cron("record", "*/1 * * * * *", move |tick| {
            let c = c.clone();
            async move {
                // The job's own errors are the job's to handle: the tick is not run again.
                if let Err(e) = c
                    .execute(
                        "INSERT INTO runs VALUES (?, ?)",
                        params!(tick.tick_ms, node),
                    )
                    .await
                {
                    eprintln!("tick {}: {e}", tick.tick_ms);
                }
            }
        })?);
    }

    // Wait for three runs (in a real program the job just keeps running).
    loop {
        let runs: Vec<(i64, i64)> = clients[0]
            .query_map("SELECT tick_ms, node FROM runs ORDER BY tick_ms", params!())
            .await?;
        if runs.len() >= 3 {
            for (tick_ms, node) in runs {
                println!("tick {tick_ms} ran on node {node}");
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
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
