//! A todo service over HTTP (axum), one node of a Hiqlite cluster per process. Every SQL
//! statement in it is checked at build time against `migrations/` (see
//! `src/http_service/db.rs`); on start it applies those migrations, once cluster-wide.
//!
//! The node is configured like `hiqlite serve`: `HQL_*` environment variables, or a TOML file
//! given as the only argument (with `HQL_*` overriding it); see docs/configuration.md.
//! `HTTP_ADDR` is where the HTTP API listens (default 127.0.0.1:3000).
//!
//! Three nodes on one machine (each waits for a majority, then migrates and serves):
//!
//! ```sh
//! cargo build -p hiqlite-examples --example http_service
//! export HQL_NODES="1 127.0.0.1:8100 127.0.0.1:8200; 2 127.0.0.1:8101 127.0.0.1:8201; 3 127.0.0.1:8102 127.0.0.1:8202"
//! export HQL_SECRET_RAFT=example-raft-secret-123 HQL_SECRET_API=example-api-secret-1234
//! for n in 1 2 3; do
//!   HQL_NODE_ID=$n HQL_DATA_DIR=/tmp/todo-cluster/node$n HTTP_ADDR=127.0.0.1:300$n \
//!     target/debug/examples/http_service &
//! done
//! ```
//!
//! Write through node 1, read on node 2 and node 3 (`?consistent=true` waits for every write
//! that completed anywhere; without it the read is local and may trail by a few milliseconds):
//!
//! ```sh
//! curl -s localhost:3001/users -H 'content-type: application/json' -d '{"name": "ada", "email": "ada@example.com"}'
//! # => 201 {"id":1,"name":"ada","email":"ada@example.com","member_since":"..."}
//! curl -s 'localhost:3002/users/1?consistent=true'
//! curl -s localhost:3003/users/1/todos -H 'content-type: application/json' -d '{"title": "write docs"}'
//! curl -s 'localhost:3001/users/1/todos?consistent=true'
//! curl -s -X PATCH localhost:3002/todos/1 -H 'content-type: application/json' -d '{"status": "done"}'
//! curl -s -i localhost:3003/users/1/todos -H 'content-type: application/json' -d '{"title": "write docs"}'
//! # => 409 {"error":"SQL error: UNIQUE constraint failed: todos.user_id, todos.title"}
//! curl -s -i localhost:3001/users/999
//! # => 404 {"error":"no user 999"}
//! curl -s localhost:3002/status          # this node's role and the leader's id
//! kill %1 %2 %3                          # stops the nodes gracefully
//! ```

use std::process::ExitCode;
use std::time::Duration;

use hiqlite::NodeConfig;
use hiqlite_examples::http_service;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = match std::env::args_os().nth(1) {
        Some(file) => NodeConfig::from_toml(file)?,
        None => NodeConfig::from_env()?,
    };
    let http_addr = std::env::var("HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_string());
    // Bind first: a taken port fails now, before the node joins the cluster.
    let listener = tokio::net::TcpListener::bind(&http_addr).await?;

    let client = hiqlite::start_node(config).await?;
    // Migrations go through Raft, so they need a leader: a majority of the nodes must be up.
    client.wait_until_healthy(Duration::from_secs(120)).await?;
    // Every node calls this on every start; each migration is applied once, cluster-wide.
    let report = client.migrate(hiqlite::migrate!()).await?;
    for m in &report.applied {
        eprintln!("applied migration {m}");
    }

    eprintln!("listening on http://{http_addr}");
    let served = axum::serve(listener, http_service::router(client.clone()))
        .with_graceful_shutdown(hiqlite::shutdown_signal())
        .await;
    // Leave the cluster cleanly even if the HTTP server failed.
    client.shutdown().await?;
    Ok(served?)
}
