//! A new user's crate: three nodes in one process, migrations embedded with `migrate!()`, and
//! queries checked against `migrations/` when this crate compiles.
//!
//! Usage: `hiqlite-dependent-crate [RAFT_1 API_1 RAFT_2 API_2 RAFT_3 API_3]` (addresses default to
//! 127.0.0.1:19100..19102 for Raft and 127.0.0.1:19200..19202 for the API). Prints one line per
//! check and exits 0 when all hold.

use std::time::Duration;

use hiqlite::{query, query_as, Client, HiqliteRow, HiqliteType, NodeConfig};

#[derive(HiqliteRow, Debug, PartialEq)]
struct Note {
    id: i64,
    author: String,
    body: String,
    stars: Option<i64>,
}

/// Stored as TEXT: 'login', 'logout'.
#[derive(HiqliteType, Debug, Clone, Copy, PartialEq)]
#[hiqlite(rename_all = "lowercase")]
enum Kind {
    Login,
    Logout,
}

#[tokio::main]
async fn main() -> Result<(), hiqlite::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addrs: Vec<String> = if args.len() == 6 {
        args
    } else {
        (0..3)
            .flat_map(|i| [format!("127.0.0.1:{}", 19100 + i), format!("127.0.0.1:{}", 19200 + i)])
            .collect()
    };
    let data = std::env::temp_dir().join(format!("hiqlite-dependent-{}", std::process::id()));

    let mut nodes: Vec<Client> = Vec::new();
    for id in 1..=3u64 {
        let mut config = NodeConfig::builder()
            .node_id(id)
            .data_dir(data.join(format!("node{id}")))
            .secret_raft("dependent-raft-secret-123")
            .secret_api("dependent-api-secret-1234");
        for (member, pair) in addrs.chunks(2).enumerate() {
            config = config.node(member as u64 + 1, &pair[0], &pair[1]);
        }
        nodes.push(hiqlite::start_node(config.build()?).await?);
    }
    for node in &nodes {
        node.wait_until_healthy(Duration::from_secs(30)).await?;
    }
    println!("cluster: 3 nodes healthy");

    let report = nodes[0].migrate(hiqlite::migrate!()).await?;
    println!("migrations: {} applied", report.applied.len());

    // A write through each node (followers forward to the leader).
    for (i, node) in nodes.iter().enumerate() {
        let row = query!(
            "INSERT INTO notes (author, body, stars) VALUES (?, ?, ?) RETURNING id",
            format!("node{}", i + 1),
            "hello",
            i as i64
        )
        .fetch_one(node)
        .await?;
        println!("insert through node {}: id {}", i + 1, row.id);
    }

    // Linearizable reads on every node see all three rows.
    for (i, node) in nodes.iter().enumerate() {
        let notes: Vec<Note> =
            query_as!(Note, "SELECT id, author, body, stars FROM notes ORDER BY id")
                .fetch_all_consistent(node)
                .await?;
        let authors: Vec<&str> = notes.iter().map(|n| n.author.as_str()).collect();
        assert_eq!(authors, ["node1", "node2", "node3"], "node {} reads {notes:?}", i + 1);
        println!("consistent read on node {}: {} notes", i + 1, notes.len());
    }

    // Value types: a UUID key (BLOB), a timestamp (TEXT), an enum and a JSON document, with the
    // Rust types `query!` infers from the declared column types (UUID-less BLOB stays bytes).
    let id = uuid::Uuid::new_v4();
    let at = chrono::Utc::now();
    query!(
        "INSERT INTO events (id, at, kind, detail) VALUES (?, ?, ?, ?)",
        id,
        at,
        Kind::Logout,
        serde_json::json!({"ip": "10.0.0.1"})
    )
    .execute(&nodes[1])
    .await?;
    let event = query!(
        "SELECT at, kind AS \"kind: Kind\", detail FROM events WHERE id = ? AND at <= ?",
        id,
        at
    )
    .fetch_one_consistent(&nodes[2])
    .await?;
    let read_at: chrono::DateTime<chrono::Utc> = event.at;
    assert_eq!(read_at, at, "the timestamp round-trips");
    assert_eq!(event.kind, Kind::Logout);
    assert_eq!(event.detail, Some(serde_json::json!({"ip": "10.0.0.1"})));
    println!("value types: uuid, timestamp, enum and json round-trip");

    for node in nodes {
        node.shutdown().await?;
    }
    let _ = std::fs::remove_dir_all(&data);
    println!("ok");
    Ok(())
}
