//! `hiqlite backup now|list|verify`: make a backup on a running node, list a node's backups, and
//! check a backup file offline with the keys in `ENC_KEYS` (see docs/backups.md).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL, Table};
use hiqlite::backup::BackupInfo;
use hiqlite::config::{EncKey, EncKeys};
use hiqlite::Error;

use crate::conn::ConnArgs;

#[derive(Args)]
pub struct BackupArgs {
    #[command(subcommand)]
    command: BackupCommand,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Make an encrypted backup now, on the node --api names, into that node's backup_dir.
    Now {
        #[command(flatten)]
        conn: ConnArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the backups of the node --api names, oldest log index first.
    List {
        #[command(flatten)]
        conn: ConnArgs,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Check a backup file here, without a running node: decrypt it with the keys in ENC_KEYS,
    /// check its SHA-256, and open it as a Hiqlite database.
    Verify {
        /// The backup: a path, or a name as `backup list` prints it (looked up in --dir).
        backup: PathBuf,
        /// The backup directory a bare name is looked up in.
        #[arg(long, env = "HQL_BACKUP_DIR")]
        dir: Option<PathBuf>,
    },
}

pub async fn run(args: BackupArgs) -> Result<(), Error> {
    match args.command {
        BackupCommand::Now { conn, json } => {
            let info = conn.client()?.backup().await?;
            if json {
                println!("{}", info_json(&info));
            } else {
                println!("{}", table(std::slice::from_ref(&info)));
            }
        }
        BackupCommand::List { conn, json } => {
            let list = conn.client()?.backups().await?;
            if json {
                let all: Vec<_> = list.iter().map(info_json).collect();
                println!("{}", serde_json::Value::Array(all));
            } else {
                println!("{}", table(&list));
            }
        }
        BackupCommand::Verify { backup, dir } => {
            let path = match dir {
                Some(dir) if backup.components().count() == 1 && !backup.exists() => {
                    dir.join(&backup)
                }
                _ => backup,
            };
            let keys = keys_from_env()?;
            let header = tokio::task::spawn_blocking(move || {
                hiqlite::backup::verify_file(&path, &keys).map(|h| (h, path))
            })
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
            let (h, path) = header;
            println!(
                "ok: {} holds log index {} (term {}), {} bytes of data, key {:?}, created {}",
                path.display(),
                h.log_index,
                h.log_term,
                h.plain_len,
                h.key_id,
                utc(h.created_ms)
            );
        }
    }
    Ok(())
}

/// The keys in `ENC_KEYS` (entries `ID/BASE64`, separated by newlines, spaces or commas).
pub fn keys_from_env() -> Result<EncKeys, Error> {
    let raw = std::env::var("ENC_KEYS").map_err(|_| {
        Error::Config("ENC_KEYS is not set: it must hold the key the backup was made with".into())
    })?;
    let mut keys = Vec::new();
    for entry in raw
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|e| !e.is_empty())
    {
        keys.push(EncKey::parse(entry).map_err(|e| Error::Config(format!("ENC_KEYS: {e}")))?);
    }
    Ok(EncKeys {
        keys,
        active: std::env::var("ENC_KEY_ACTIVE").ok(),
    })
}

fn table(list: &[BackupInfo]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL).set_header([
        "name",
        "created (UTC)",
        "log index",
        "size (bytes)",
        "key id",
        "location",
        "lineage",
    ]);
    for b in list {
        table.add_row([
            b.name.clone(),
            utc(b.created_ms),
            b.log_index.to_string(),
            b.size.to_string(),
            b.key_id.clone(),
            b.location.to_string(),
            format!("{:016x}", b.lineage),
        ]);
    }
    format!("{table}\n({} backups)", list.len())
}

fn info_json(b: &BackupInfo) -> serde_json::Value {
    serde_json::json!({
        "name": b.name,
        "created_ms": b.created_ms,
        "log_index": b.log_index,
        "log_term": b.log_term,
        "size": b.size,
        "key_id": b.key_id,
        "location": b.location.to_string(),
        "lineage": format!("{:016x}", b.lineage),
    })
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM:SS.mmm` (UTC), without a date crate.
pub fn utc(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}.{milli:03}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(super::utc(951_782_400_123), "2000-02-29 00:00:00.123");
        assert_eq!(super::utc(1_764_495_600_000), "2025-11-30 09:40:00.000");
    }
}
