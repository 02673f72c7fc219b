//! `hiqlite sql` and `hiqlite status`: talk to a running cluster through one node's API port.

use std::io::{BufRead, Write};

use clap::Args;
use hiqlite::client::{NodeStatus, SqlOutput};
use hiqlite::{Client, Error};

use crate::render::{render, Format};

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
    /// The SQL to run. Without it, an interactive shell reads statements ending in `;`.
    sql: Option<String>,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ConnArgs {
    /// API address (host:port) of the node to talk to; repeat to fall back to other nodes.
    #[arg(
        long = "api",
        value_name = "ADDR",
        env = "HQL_API",
        default_value = "127.0.0.1:8200",
        value_delimiter = ','
    )]
    api: Vec<String>,
    /// The cluster's API secret.
    #[arg(long, value_name = "S", env = "HQL_SECRET_API", hide_env_values = true)]
    secret_api: String,
}

impl ConnArgs {
    pub fn client(&self) -> Client {
        Client::remote(self.api.clone(), self.secret_api.clone())
    }
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
    let client = args.conn.client();
    let format = args.format();
    match &args.sql {
        Some(sql) => {
            let output = client.sql(sql.clone(), args.consistent).await?;
            print_output(&output, format);
            Ok(())
        }
        None => shell(&client, args.consistent, format).await,
    }
}

/// A minimal interactive shell: statements end with `;`, errors are printed and the shell goes on.
async fn shell(client: &Client, consistent: bool, format: Format) -> Result<(), Error> {
    let status = client.status().await?;
    eprintln!(
        "connected to node {} ({}); statements end with ';', Ctrl-D quits",
        status.node_id, status.role
    );
    let stdin = std::io::stdin();
    let mut buffer = String::new();
    loop {
        eprint!(
            "{}",
            if buffer.is_empty() {
                "hiqlite> "
            } else {
                "   ...> "
            }
        );
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Ok(());
        }
        buffer.push_str(&line);
        if !buffer.trim_end().ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut buffer);
        match client.sql(sql.trim().to_string(), consistent).await {
            Ok(output) => print_output(&output, format),
            Err(e) => eprintln!("error: {e}"),
        }
    }
}

fn print_output(output: &SqlOutput, format: Format) {
    let rendered = render(output, format);
    if let Some(text) = rendered.stdout {
        println!("{text}");
    }
    if let Some(note) = rendered.stderr {
        eprintln!("{note}");
    }
}

pub async fn run_status(args: StatusArgs) -> Result<(), Error> {
    let status = args.conn.client().status().await?;
    if args.json {
        println!("{}", status_json(&status));
    } else {
        println!("node_id:      {}", status.node_id);
        println!("role:         {}", status.role);
        println!(
            "leader_id:    {}",
            status.leader_id.map_or("none".into(), |l| l.to_string())
        );
        println!("term:         {}", status.term);
        println!("last_applied: {}", status.last_applied);
        println!("voters:       {:?}", status.voters);
        println!("learners:     {:?}", status.learners);
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
    })
}
