//! `hiqlite recover`: run on a stopped node after a majority of the voters is lost for good; makes
//! that node's log and database the start of a new cluster with the members given.

use std::path::PathBuf;

use clap::Args;
use hiqlite::Error;

#[derive(Args)]
pub struct RecoverArgs {
    /// The stopped node's data directory (its `data_dir`).
    #[arg(long, value_name = "DIR", env = "HQL_DATA_DIR")]
    data_dir: PathBuf,
    /// The stopped node's id.
    #[arg(long, value_name = "N", env = "HQL_NODE_ID")]
    node_id: u64,
    /// A member of the new cluster as "ID RAFT_ADDR API_ADDR", every one a voter; repeat once per
    /// member. The recovered node must be one of them.
    #[arg(
        long = "node",
        value_name = "\"ID RAFT_ADDR API_ADDR\"",
        required = true
    )]
    nodes: Vec<String>,
    /// File name of the database inside DIR/db (the node's `filename_db`).
    #[arg(
        long,
        value_name = "NAME",
        env = "HQL_FILENAME_DB",
        default_value = "hiqlite.db"
    )]
    filename_db: String,
    /// Print what the node holds and what would be lost, change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(args: RecoverArgs) -> Result<(), Error> {
    let mut members = Vec::new();
    let mut problems = Vec::new();
    for spec in &args.nodes {
        match hiqlite::config::parse_member(spec) {
            Ok(m) => members.push(m),
            Err(e) => problems.push(format!("--node {spec:?}: {}", e.detail())),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Config(problems.join("; ")));
    }
    let report = hiqlite::node::recover::recover(
        &args.data_dir,
        &args.filename_db,
        args.node_id,
        members,
        args.dry_run,
    )
    .await?;
    print!("{report}");
    Ok(())
}
