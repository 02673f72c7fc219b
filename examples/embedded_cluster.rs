//! Three Hiqlite nodes in one process, on loopback: the smallest complete tour of the client API.
//!
//! Run it with `cargo run -p hiqlite-examples --example embedded_cluster`. In a real deployment
//! each node is its own process (or machine) running the same binary with its own `node_id`.

use std::time::Duration;

use hiqlite::{params, Client, FromRow, NodeConfig, Row, Txn};

struct Account {
    name: String,
    balance: i64,
}

impl FromRow for Account {
    fn from_row(row: &Row<'_>) -> Result<Self, hiqlite::Error> {
        Ok(Account {
            name: row.get("name")?,
            balance: row.get("balance")?,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), hiqlite::Error> {
    let dir = tempfile::tempdir()?;
    let nodes = [
        (1, "127.0.0.1:18100", "127.0.0.1:18200"),
        (2, "127.0.0.1:18101", "127.0.0.1:18201"),
        (3, "127.0.0.1:18102", "127.0.0.1:18202"),
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

    // Any node takes writes; followers forward them to the leader.
    let node3 = &clients[2];
    node3
        .batch("CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL)")
        .await?;
    node3
        .execute(
            "INSERT INTO accounts VALUES (?, ?), (?, ?)",
            params!("alice", 100, "bob", 0),
        )
        .await?;

    // A transfer that only happens if alice can pay: one atomic, replicated transaction.
    let mut transfer = Txn::new();
    transfer.guard(
        "SELECT balance >= 30 FROM accounts WHERE name = 'alice'",
        params!(),
    );
    transfer.execute(
        "UPDATE accounts SET balance = balance - 30 WHERE name = 'alice'",
        params!(),
    );
    transfer.execute(
        "UPDATE accounts SET balance = balance + 30 WHERE name = 'bob'",
        params!(),
    );
    clients[1].txn(transfer).await?;

    // Local read on the node that wrote; linearizable read on another.
    let local: Vec<Account> = clients[1]
        .query_map("SELECT * FROM accounts ORDER BY name", params!())
        .await?;
    let consistent: Vec<Account> = clients[0]
        .query_consistent_map("SELECT * FROM accounts ORDER BY name", params!())
        .await?;
    let show = |rows: &[Account]| {
        rows.iter()
            .map(|a| format!("{}={}", a.name, a.balance))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("local read on node 2:      {}", show(&local));
    println!("consistent read on node 1: {}", show(&consistent));
    for c in &clients {
        let s = c.status().await?;
        println!(
            "node {} is {} (leader {:?}, applied {})",
            s.node_id, s.role, s.leader_id, s.last_applied
        );
    }
    for c in &clients {
        c.shutdown().await?;
    }
    Ok(())
}
