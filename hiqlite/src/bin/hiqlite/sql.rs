//! `hiqlite sql` and `hiqlite status`: talk to a running cluster through one node's API port.

use std::io::{IsTerminal, Read};

use clap::Args;
use hiqlite::client::NodeStatus;
use hiqlite::store::sqlite::clock::MAX_CLOCK_OFFSET_MS;
use hiqlite::Error;

use crate::conn::ConnArgs;
use crate::render::{print_output, Format};
use crate::shell::Session;

#[derive(Args)]
pub struct SqlArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Linearizable read: sees every write completed before it, whichever node took it.
    #[arg(long)]
    consistent: bool,
    /// Print one JSON array of row objects instead of a table: keys in column order, a repeated
    /// column name numbered as SQLite numbers it (the second `a` is `a:1`).
    #[arg(long, conflicts_with = "json_rows")]
    json: bool,
    /// Print one JSON object `{"columns":[...],"rows":[[...]]}` that loses nothing: every column
    /// in order, every value as `{"type":"integer|real|text|blob|null","value":...}`.
    #[arg(long)]
    json_rows: bool,
    /// Run the statements and dot commands in FILE (as when piped to stdin), stop at the first
    /// error.
    #[arg(long, value_name = "FILE", conflicts_with = "sql")]
    file: Option<std::path::PathBuf>,
    /// The SQL to run. Without it (and without --file): on a terminal an interactive shell,
    /// otherwise the statements read from stdin.
    sql: Option<String>,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Print one JSON object (with --cluster: one JSON array, an object per node).
    #[arg(long)]
    json: bool,
    /// Ask every --api address for its node's status and print one row per node: id, API
    /// address, role, term, last applied index, lag behind the leader.
    #[arg(long)]
    cluster: bool,
}

impl SqlArgs {
    fn format(&self) -> Format {
        if self.json_rows {
            Format::JsonRows
        } else if self.json {
            Format::Json
        } else {
            Format::Table
        }
    }
}

pub async fn run_sql(args: SqlArgs) -> Result<(), Error> {
    let client = args.conn.client()?;
    let format = args.format();
    match &args.sql {
        Some(sql) => {
            let output = client.sql(sql.clone(), args.consistent).await?;
            print_output(&output, format);
            Ok(())
        }
        None => {
            let mut session = Session {
                client: &client,
                consistent: args.consistent,
                format,
            };
            if let Some(path) = &args.file {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Io(std::io::Error::new(
                        e.kind(),
                        format!("cannot read {}: {e}", path.display()),
                    ))
                })?;
                session.run_script(&text).await
            } else if std::io::stdin().is_terminal() {
                session.interactive().await
            } else {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                session.run_script(&text).await
            }
        }
    }
}

pub async fn run_status(args: StatusArgs) -> Result<(), Error> {
    if args.cluster {
        return crate::cluster_status::run(&args.conn, args.json).await;
    }
    let status = args.conn.client()?.status().await?;
    if args.json {
        println!("{}", status_json(&status));
    } else {
        let opt = |v: Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
        println!("node_id:        {}", status.node_id);
        println!("role:           {}", status.role);
        println!("leader_id:      {}", opt(status.leader_id));
        println!("term:           {}", status.term);
        println!("last_applied:   {}", status.last_applied);
        println!("last_log_index: {}", opt(status.last_log_index));
        println!("snapshot_index: {}", opt(status.snapshot_index));
        println!("purged_index:   {}", opt(status.purged_index));
        println!("voters:         {:?}", status.voters);
        println!("learners:       {:?}", status.learners);
        if !status.membership_committed {
            println!("membership:     changing (the change is not committed yet)");
        }
        if status.removed {
            println!(
                "removed:        yes: this node is no longer a member (the leader lists voters \
                 {:?}); it takes no writes; stop it, or add it again",
                status.voters
            );
        }
        match status.clock_offset_ms {
            Some(ms) if ms.abs() > MAX_CLOCK_OFFSET_MS => println!(
                "clock_offset:   {ms} ms (WARNING: more than {MAX_CLOCK_OFFSET_MS} ms off the \
                 leader's clock; check NTP)"
            ),
            Some(ms) => println!("clock_offset:   {ms} ms"),
            None => println!("clock_offset:   unknown (measured over 10 s of applied writes)"),
        }
        let (oldest, newest) = status.supported_formats;
        println!(
            "format:         {} (this binary speaks formats {oldest}..={newest})",
            status.cluster_format
        );
    }
    Ok(())
}

fn status_json(s: &NodeStatus) -> serde_json::Value {
    serde_json::json!({
        "node_id": s.node_id,
        "role": s.role,
        "leader_id": s.leader_id,
        "term": s.term,
        "last_applied": s.last_applied,
        "last_log_index": s.last_log_index,
        "snapshot_index": s.snapshot_index,
        "purged_index": s.purged_index,
        "voters": s.voters,
        "learners": s.learners,
        "membership_index": s.membership_index,
        "membership_committed": s.membership_committed,
        "removed": s.removed,
        "clock_offset_ms": s.clock_offset_ms,
        "cluster_format": s.cluster_format,
        "supported_formats": [s.supported_formats.0, s.supported_formats.1],
    })
}
