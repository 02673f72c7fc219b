//! The `hiqlite` program: run a node (`serve`), talk to a cluster (`sql`, `status`, `migrate`),
//! or watch a local 3-node cluster survive losing its leader (`demo`).

mod backup;
mod cluster_status;
mod conn;
mod demo;
mod dev;
mod members;
mod migrate;
mod recover;
mod render;
mod restore;
mod serve;
mod shell;
mod sql;
mod statements;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hiqlite", version, about = "SQLite replicated with Raft")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one node. Without a config file, node id, members or secrets (flags or HQL_*
    /// variables): a single-node development database on loopback with development secrets.
    Serve(serve::ServeArgs),
    /// Run one SQL statement (or, without SQL, an interactive shell) against a running cluster.
    Sql(sql::SqlArgs),
    /// Show a node's id, role, leader, term, last applied index and membership (with --cluster:
    /// one row per node).
    Status(sql::StatusArgs),
    /// Add a node to a running cluster: a learner that catches up, then a voter (unless --learner).
    AddNode(members::AddNodeArgs),
    /// Remove a node (voter or learner) from a running cluster.
    RemoveNode(members::RemoveNodeArgs),
    /// Apply a directory of migrations (`<version>_<name>.sql`) to a running cluster, once each.
    Migrate(migrate::MigrateArgs),
    /// After losing a majority for good: make a stopped node's data the start of a new cluster of
    /// the members given (run on that node, then start it with those members).
    Recover(recover::RecoverArgs),
    /// Encrypted backups: make one now, list them, verify a backup file (see docs/backups.md).
    Backup(backup::BackupArgs),
    /// Bring the whole running cluster to a backed-up state: one backup (--from), a point in
    /// time (--to-time, --to-index) or, by default, the latest state the backups hold.
    Restore(restore::RestoreArgs),
    /// Start a local 3-node cluster, write and read through different nodes, kill the leader,
    /// show the fail-over and the catch-up, print a throughput figure, clean up.
    Demo(demo::DemoArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Serve(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Sql(args) => sql::run_sql(args).await,
            Command::Status(args) => sql::run_status(args).await,
            Command::AddNode(args) => members::add(args).await,
            Command::RemoveNode(args) => members::remove(args).await,
            Command::Migrate(args) => migrate::run(args).await,
            Command::Recover(args) => recover::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Backup(args) => backup::run(args).await,
            Command::Restore(args) => restore::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(exit_code(&e))
        }
    }
}

/// Exit codes (docs/cli.md): 1 the command failed and changed nothing it was asked to change,
/// 3 a write or membership change may or may not have been applied. (2 is a usage error, from
/// clap, before anything runs.)
fn exit_code(e: &hiqlite::Error) -> u8 {
    match e {
        hiqlite::Error::OutcomeUnknown(_) => 3,
        _ => 1,
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the default level (info for `serve`, with openraft's
/// per-heartbeat warnings silenced, see [`hiqlite::LOG_FILTER`]; warn otherwise).
fn init_tracing(serving: bool) {
    let default = if serving { hiqlite::LOG_FILTER } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
