//! `hiqlite serve`: runs one node until SIGINT/SIGTERM, then shuts it down gracefully.

use std::path::PathBuf;

use clap::Args;
use hiqlite::{Error, NodeConfig};

use crate::dev::{DEV_NODE, DEV_SECRET_API, DEV_SECRET_RAFT};

#[derive(Args)]
pub struct ServeArgs {
    /// TOML config file (see docs/configuration.md); HQL_* variables and flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// This node's id (HQL_NODE_ID).
    #[arg(long, value_name = "N")]
    node_id: Option<u64>,
    /// A cluster member as "ID RAFT_ADDR API_ADDR"; repeat once per member (HQL_NODES, one member
    /// per line).
    #[arg(long = "node", value_name = "\"ID RAFT_ADDR API_ADDR\"")]
    nodes: Vec<String>,
    /// Where the Raft log and the database live (HQL_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Secret for node-to-node Raft traffic, at least 16 characters (HQL_SECRET_RAFT).
    #[arg(long, value_name = "S")]
    secret_raft: Option<String>,
    /// Secret for the API port, at least 16 characters (HQL_SECRET_API).
    #[arg(long, value_name = "S")]
    secret_api: Option<String>,
    /// Where the HTTP listener for /health, /ready and /metrics binds, as HOST:PORT
    /// (HQL_HTTP_ADDR). Unset: no HTTP listener.
    #[arg(long, value_name = "HOST:PORT")]
    http_addr: Option<String>,
}

/// The settings that make a cluster: when none of them is given anywhere, `serve` runs the
/// development set-up.
const IDENTITY_VARS: [&str; 4] = [
    "HQL_NODE_ID",
    "HQL_NODES",
    "HQL_SECRET_RAFT",
    "HQL_SECRET_API",
];

impl ServeArgs {
    /// Development mode: no config file, and neither flags nor `HQL_*` variables give the node
    /// id, the members or a secret. Other settings (`--data-dir`, `HQL_DATA_DIR`, timeouts, and
    /// variables of other commands such as `HQL_API`) still apply.
    fn development_mode(&self) -> bool {
        let set = |var: &str| std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
        self.config.is_none()
            && self.node_id.is_none()
            && self.nodes.is_empty()
            && self.secret_raft.is_none()
            && self.secret_api.is_none()
            && !IDENTITY_VARS.iter().any(|v| set(v))
    }

    /// Defaults < file < `HQL_*` variables < flags; every problem is reported in one error, a bad
    /// flag under the flag's name.
    fn config(&self) -> Result<NodeConfig, Error> {
        let mut builder = NodeConfig::builder();
        if self.development_mode() {
            eprintln!(
                "\n  WARNING: no configuration given; running a single-node DEVELOPMENT database\n  \
                 on 127.0.0.1 (raft 8100, api 8200) in ./hiqlite-data with PUBLIC development secrets\n  \
                 (api secret: {DEV_SECRET_API}). Never use this set-up for real data.\n"
            );
            builder = builder
                .node_id(1)
                .nodes(vec![hiqlite::config::parse_member(DEV_NODE)?])
                .data_dir("./hiqlite-data")
                .secret_raft(DEV_SECRET_RAFT)
                .secret_api(DEV_SECRET_API);
        }
        if let Some(path) = &self.config {
            builder = builder.toml_file(path)?;
        }
        builder = builder.env()?;
        if let Some(id) = self.node_id {
            builder = builder.node_id(id);
        }
        if !self.nodes.is_empty() {
            builder = builder.parse_nodes("--node", &self.nodes);
        }
        if let Some(dir) = &self.data_dir {
            builder = builder.data_dir(dir);
        }
        if let Some(s) = &self.secret_raft {
            builder = builder.secret_raft(s.as_str());
        }
        if let Some(s) = &self.secret_api {
            builder = builder.secret_api(s.as_str());
        }
        if let Some(addr) = &self.http_addr {
            builder = builder.http_addr(addr.as_str());
        }
        Ok(builder.build()?)
    }
}

pub async fn run(args: ServeArgs) -> Result<(), Error> {
    let config = args.config()?;
    let client = hiqlite::start_node(config).await?;
    hiqlite::shutdown_signal().await;
    eprintln!("shutting down");
    client.shutdown().await
}
