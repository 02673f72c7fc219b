//! `hiqlite migrate`: applies a directory of migrations to a running cluster, as
//! `Client::migrate` does from an application (same checks, same `_hiqlite_migrations` table).

use std::path::PathBuf;

use clap::Args;
use hiqlite::{Error, Migrations};

use crate::conn::ConnArgs;

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Only show what is applied and what would be, apply nothing.
    #[arg(long)]
    dry_run: bool,
    /// Accept a database that recorded migrations the directory does not have (an older
    /// program during a rolling upgrade).
    #[arg(long)]
    ignore_missing: bool,
    /// The directory of `<version>_<name>.sql` files (default: `migrations/` of the current
    /// directory or of its nearest ancestor that has one).
    dir: Option<PathBuf>,
}

pub async fn run(args: MigrateArgs) -> Result<(), Error> {
    let migrations = match &args.dir {
        Some(dir) => Migrations::from_dir(dir)?,
        None => Migrations::find(std::env::current_dir()?)?,
    }
    .ignore_missing(args.ignore_missing);
    let client = args.conn.client()?;
    if args.dry_run {
        let applied = client.applied_migrations().await?;
        for a in &applied {
            println!("applied  {} ({}) at {}", a.file, a.version, a.applied_at);
        }
        let pending = migrations.check(&applied).map_err(Error::Migration)?;
        for m in &pending {
            println!("pending  {} ({})", m.path(), m.version());
        }
        println!("{} applied, {} pending", applied.len(), pending.len());
        return Ok(());
    }
    let report = client.migrate(migrations).await?;
    for m in &report.applied {
        println!("applied  {m}");
    }
    println!(
        "{} applied now, {} applied already",
        report.applied.len(),
        report.already_applied.len()
    );
    Ok(())
}
