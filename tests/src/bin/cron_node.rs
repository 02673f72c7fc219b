//! A node with a cron job, for `tests/tests/cron_failover.rs`: it takes the command line the
//! harness gives `hiqlite serve` (`serve --node-id N --data-dir D --secret-raft S --secret-api S
//! --node M ...`) and registers the job `record` every second on every node. Each run writes a
//! `start` row, waits 500 ms, then writes an `end` row into `cron_runs(tick_ms, node_id, phase,
//! late)`, so a test can kill the leader in the middle of a run.

use std::time::Duration;

use hiqlite::{params, NodeConfig};

/// The value following `flag` in `args` (every occurrence).
fn values(args: &[String], flag: &str) -> Vec<String> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].clone())
        .collect()
}

fn one(args: &[String], flag: &str) -> String {
    values(args, flag)
        .pop()
        .unwrap_or_else(|| panic!("{flag} is missing"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let node_id: u64 = one(&args, "--node-id").parse().expect("a node id");
    let config = NodeConfig::builder()
        .node_id(node_id)
        .data_dir(one(&args, "--data-dir"))
        .secret_raft(one(&args, "--secret-raft"))
        .secret_api(one(&args, "--secret-api"))
        .parse_nodes("--node", &values(&args, "--node"))
        .build()
        .expect("a valid configuration");
    let client = hiqlite::start_node(config).await.expect("the node starts");
    let c = client.clone();
    let _job = client
        .cron("record", "* * * * * *", move |tick| {
            let c = c.clone();
            async move {
                let row =
                    |phase: &'static str| params!(tick.tick_ms, node_id as i64, phase, tick.late);
                let insert =
                    "INSERT INTO cron_runs (tick_ms, node_id, phase, late) VALUES (?, ?, ?, ?)";
                // The test creates the table; ticks before that fail and are not recorded.
                if c.execute(insert, row("start")).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = c.execute(insert, row("end")).await;
            }
        })
        .expect("the job is registered");
    hiqlite::shutdown_signal().await;
    let _ = client.shutdown().await;
}
