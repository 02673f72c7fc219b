//! `hiqlite add-node` and `hiqlite remove-node`: change a running cluster's members.

use clap::Args;
use hiqlite::client::Members;
use hiqlite::Error;

use crate::conn::ConnArgs;

#[derive(Args)]
pub struct AddNodeArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// The new member as "ID RAFT_ADDR API_ADDR".
    #[arg(long = "node", value_name = "\"ID RAFT_ADDR API_ADDR\"")]
    node: String,
    /// Keep the node a learner: it receives the data and serves reads but never votes.
    #[arg(long)]
    learner: bool,
    /// Print the members as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RemoveNodeArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Id of the node to remove.
    #[arg(long)]
    id: u64,
    /// Print the members as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn add(args: AddNodeArgs) -> Result<(), Error> {
    let member = hiqlite::config::parse_member(&args.node)?;
    let members = args.conn.client()?.add_node(member, !args.learner).await?;
    print(&members, args.json);
    Ok(())
}

pub async fn remove(args: RemoveNodeArgs) -> Result<(), Error> {
    let members = args.conn.client()?.remove_node(args.id).await?;
    print(&members, args.json);
    Ok(())
}

fn print(members: &Members, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({ "voters": members.voters, "learners": members.learners })
        );
    } else {
        println!("voters:   {:?}", members.voters);
        println!("learners: {:?}", members.learners);
    }
}
