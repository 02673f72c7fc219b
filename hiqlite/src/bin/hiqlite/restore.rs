//! `hiqlite restore`: bring the whole running cluster to a backed-up state (see docs/backups.md).
//!
//! - `--from s3:NAME`, `--from local:NAME` or `--from NAME`: one snapshot backup from the backup
//!   store of the node `--api` names (a bare name: that node's `backup_dir` first, then S3);
//! - `--from file:PATH`: a backup file on this machine, decrypted here with `ENC_KEYS`;
//! - `--to-time TIME` / `--to-index N`: point-in-time recovery from the node's store;
//! - nothing: the latest state the store holds (newest snapshot plus every shipped segment).

use std::path::PathBuf;

use clap::Args;
use hiqlite::backup::{BackupLocation, RestoreInfo, RestoreSource, RestoreTarget};
use hiqlite::Error;

use crate::backup::{keys_from_env, utc};
use crate::conn::ConnArgs;

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup to restore: `s3:NAME`, `local:NAME` (the node's backup_dir), `NAME` (local
    /// first, then S3), or `file:PATH` (a file on this machine; needs ENC_KEYS here).
    #[arg(long, conflicts_with_all = ["to_time", "to_index"])]
    from: Option<String>,
    /// Restore the state at this time (UTC unless it has an offset): every entry up to and
    /// including it, e.g. `2026-11-29T10:15:00Z`, `2026-11-29 10:15:00.250`, or seconds since
    /// the Unix epoch after an `@` as `date +@%s.%N` prints them, `@1764411300.250`.
    #[arg(long, conflicts_with = "to_index")]
    to_time: Option<String>,
    /// Restore the state up to and including this log index (of the cluster the backups are of).
    #[arg(long)]
    to_index: Option<u64>,
    #[command(flatten)]
    conn: ConnArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

enum Plan {
    Store(RestoreSource),
    File(PathBuf),
}

pub async fn run(args: RestoreArgs) -> Result<(), Error> {
    let plan = plan(&args)?;
    let client = args.conn.client()?;
    let info = match plan {
        Plan::Store(source) => client.restore(source).await?,
        Plan::File(path) => client.restore_file(&path, &keys_from_env()?).await?,
    };
    if args.json {
        println!("{}", info_json(&info));
    } else {
        println!(
            "restored {} ({} bytes; log index {} of its cluster, {} UTC; {} entries replayed) \
             at log index {}: every node now holds it",
            info.from,
            info.bytes,
            info.restored_log_index,
            utc(info.restored_time_ms),
            info.entries_replayed,
            info.log_index
        );
    }
    Ok(())
}

fn plan(args: &RestoreArgs) -> Result<Plan, Error> {
    if let Some(from) = &args.from {
        let (location, name) = match from.split_once(':') {
            Some(("s3", name)) => (Some(BackupLocation::S3), name),
            Some(("local", name)) => (Some(BackupLocation::Local), name),
            Some(("file", path)) => return Ok(Plan::File(PathBuf::from(path))),
            Some((other, _)) if !other.is_empty() && !other.contains('/') => {
                return Err(Error::Config(format!(
                    "--from {from}: unknown source {other:?}; use s3:NAME, local:NAME, \
                     file:PATH or a backup name"
                )))
            }
            _ => (None, from.as_str()),
        };
        if name.is_empty() {
            return Err(Error::Config(format!("--from {from}: the name is missing")));
        }
        return Ok(Plan::Store(RestoreSource::Backup {
            name: name.to_string(),
            location,
        }));
    }
    let target = match (&args.to_time, args.to_index) {
        (Some(time), _) => RestoreTarget::Time(parse_time(time)?),
        (None, Some(index)) => RestoreTarget::LogIndex(index),
        (None, None) => RestoreTarget::Latest,
    };
    Ok(Plan::Store(RestoreSource::PointInTime(target)))
}

/// `text` as ms since the Unix epoch, read as SQLite's date and time functions read a time value
/// (so `T` or a space, `Z` or an offset, fractions of a second); without an offset it is UTC.
fn parse_time(text: &str) -> Result<i64, Error> {
    let bad = || {
        Error::Config(format!(
            "--to-time {text:?} is not a time: write e.g. 2026-11-29T10:15:00Z or \
             \"2026-11-29 10:15:00.250\" (UTC unless an offset like +01:00 follows)"
        ))
    };
    if let Some(seconds) = text.trim().strip_prefix('@') {
        let seconds: f64 = seconds.parse().map_err(|_| bad())?;
        return seconds
            .is_finite()
            .then(|| (seconds * 1000.0).round() as i64)
            .ok_or_else(bad);
    }
    let conn = rusqlite::Connection::open_in_memory().map_err(|_| bad())?;
    let ms: Option<i64> = conn
        .query_row(
            "SELECT CAST(round(unixepoch(?1, 'subsec') * 1000) AS INTEGER)",
            [text.trim()],
            |r| r.get(0),
        )
        .map_err(|_| bad())?;
    ms.ok_or_else(bad)
}

fn info_json(info: &RestoreInfo) -> serde_json::Value {
    serde_json::json!({
        "from": info.from,
        "entries_replayed": info.entries_replayed,
        "restored_log_index": info.restored_log_index,
        "restored_time_ms": info.restored_time_ms,
        "bytes": info.bytes,
        "log_index": info.log_index,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_read_as_sqlite_reads_them() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert_eq!(parse_time("1970-01-01 00:00:01.250").unwrap(), 1250);
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert_eq!(parse_time("@1764411300.25").unwrap(), 1_764_411_300_250);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("@soon").is_err());
        assert!(parse_time("2026-13-01").is_err());
    }
}
