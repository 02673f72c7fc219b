//! Starts in-process clusters on loopback for the integration tests.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use hiqlite::config::NodeConfigBuilder;
use hiqlite::{Client, NodeConfig};

pub const SECRET_RAFT: &str = "test-raft-secret-0123456789";
pub const SECRET_API: &str = "test-api-secret-0123456789";

pub struct TestCluster {
    pub clients: Vec<Client>,
    pub configs: Vec<NodeConfig>,
    _dir: tempfile::TempDir,
}

/// Free loopback ports (released before use; the tiny race is acceptable in tests).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

pub fn cluster_configs(
    n: usize,
    root: &std::path::Path,
    customize: impl Fn(NodeConfigBuilder) -> NodeConfigBuilder,
) -> Vec<NodeConfig> {
    let ports = free_ports(2 * n);
    let mut builder = NodeConfig::builder();
    for i in 0..n {
        builder = builder.node(
            i as u64 + 1,
            format!("127.0.0.1:{}", ports[2 * i]),
            format!("127.0.0.1:{}", ports[2 * i + 1]),
        );
    }
    (0..n)
        .map(|i| {
            customize(builder.clone())
                .node_id(i as u64 + 1)
                .data_dir(root.join(format!("node{}", i + 1)))
                .secret_raft(SECRET_RAFT)
                .secret_api(SECRET_API)
                .build()
                .expect("valid test config")
        })
        .collect()
}

impl TestCluster {
    /// Starts `n` nodes in this process and waits until every node is healthy.
    pub async fn start(n: usize) -> TestCluster {
        Self::start_with(n, |b| b).await
    }

    /// Like [`start`](Self::start), with settings changed on every node's config.
    pub async fn start_with(
        n: usize,
        customize: impl Fn(NodeConfigBuilder) -> NodeConfigBuilder,
    ) -> TestCluster {
        let dir = tempfile::tempdir().unwrap();
        let configs = cluster_configs(n, dir.path(), customize);
        let mut clients = Vec::new();
        for c in &configs {
            clients.push(hiqlite::start_node(c.clone()).await.expect("node starts"));
        }
        for c in &clients {
            c.wait_until_healthy(Duration::from_secs(30))
                .await
                .expect("cluster becomes healthy");
        }
        TestCluster {
            clients,
            configs,
            _dir: dir,
        }
    }

    /// Index of the node that leads now.
    pub async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for (i, c) in self.clients.iter().enumerate() {
                if c.is_leader().await.unwrap_or(false) {
                    return i;
                }
            }
            assert!(Instant::now() < deadline, "no leader within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Index of some node that does not lead now.
    pub async fn follower(&self) -> usize {
        (self.leader().await + 1) % self.clients.len()
    }

    pub fn api_addr(&self, idx: usize) -> String {
        self.configs[idx].nodes[idx].api_addr.clone()
    }

    /// Stops node `idx` gracefully (its client stays in place, unusable until `restart`).
    pub async fn stop(&self, idx: usize) {
        self.clients[idx]
            .shutdown()
            .await
            .expect("graceful shutdown");
    }

    /// Starts node `idx` again with its configuration and data directory.
    pub async fn restart(&mut self, idx: usize) {
        self.clients[idx] = hiqlite::start_node(self.configs[idx].clone())
            .await
            .expect("node restarts");
    }

    pub async fn shutdown(self) {
        for c in &self.clients {
            let _ = c.shutdown().await;
        }
    }
}
