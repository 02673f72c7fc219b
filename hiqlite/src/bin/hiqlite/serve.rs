//! `hiqlite serve`: runs one node until SIGINT/SIGTERM, then shuts it down gracefully.

use std::path::PathBuf;

use clap::Args;
use hiqlite::{Error, NodeConfig};

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
}

/// The development set-up used when nothing is configured.
const DEV_NODE: &str = "1 127.0.0.1:8100 127.0.0.1:8200";
const DEV_SECRET_RAFT: &str = "dev-only-raft-secret-change-me";
const DEV_SECRET_API: &str = "dev-only-api-secret-change-me";

impl ServeArgs {
    /// Copies the flags into HQL_* variables (called before any thread starts).
    pub fn export_to_env(&self) {
        let set = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                std::env::set_var(key, v);
            }
        };
        set("HQL_NODE_ID", self.node_id.map(|n| n.to_string()));
        set(
            "HQL_NODES",
            (!self.nodes.is_empty()).then(|| self.nodes.join("\n")),
        );
        set(
            "HQL_DATA_DIR",
            self.data_dir.as_ref().map(|d| d.display().to_string()),
        );
        set("HQL_SECRET_RAFT", self.secret_raft.clone());
        set("HQL_SECRET_API", self.secret_api.clone());
    }

    fn nothing_configured(&self) -> bool {
        self.config.is_none() && std::env::vars().all(|(k, _)| !k.starts_with("HQL_"))
    }
}

pub async fn run(args: ServeArgs) -> Result<(), Error> {
    let config = if args.nothing_configured() {
        eprintln!(
            "\n  WARNING: no configuration given; running a single-node DEVELOPMENT database\n  \
             on 127.0.0.1 (raft 8100, api 8200) in ./hiqlite-data with PUBLIC development secrets\n  \
             (api secret: {DEV_SECRET_API}). Never use this set-up for real data.\n"
        );
        NodeConfig::builder()
            .node_id(1)
            .nodes(vec![hiqlite::config::parse_member(DEV_NODE)?])
            .data_dir("./hiqlite-data")
            .secret_raft(DEV_SECRET_RAFT)
            .secret_api(DEV_SECRET_API)
            .build()?
    } else if let Some(path) = &args.config {
        NodeConfig::from_toml(path)?
    } else {
        NodeConfig::from_env()?
    };
    let client = hiqlite::start_node(config).await?;
    hiqlite::shutdown_signal().await;
    eprintln!("shutting down");
    client.shutdown().await
}
