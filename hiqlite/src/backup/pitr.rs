//! Point-in-time assembly: the newest snapshot backup at or before a target, plus the shipped
//! log segments after it up to the target, replayed through the state machine's own apply code
//! (`SqliteWriter`) into a plain SQLite file. Restoring that file into a cluster is the caller's
//! job (the restore through Raft).
//!
//! First a plan from the listings alone (names tell each segment's range and times), so a target
//! outside what the store holds, or a gap in the shipped log, is refused before anything is
//! downloaded; then the snapshot is fetched and decrypted into `work_dir`, and each segment is
//! fetched, decrypted, replayed and deleted in turn.

use crate::engine::backups::PreparedRestore;
use std::path::Path;

use openraft::vote::RaftLeaderId;
use rusqlite::Connection;

use super::segment::{self, entry_time};
use super::{decrypt_file, LocalDir};
use crate::config::EncKeys;
use crate::engine::backups::BackupStore;
use crate::store::sqlite::writer::{read_applied_state, ApplyItem, SqliteWriter};
use crate::types::backup::{BackupError, BackupInfo, BackupLocation, RestoreTarget, SegmentInfo};

/// Entries handed to the writer in one apply (one SQLite transaction).
const REPLAY_BATCH: usize = 1024;

/// What to fetch: a snapshot backup and the segments after it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub snapshot: BackupInfo,
    pub segments: Vec<SegmentInfo>,
}

/// Assembles the database of `target` from `store` into a new file in `work_dir` (see the
/// module docs); `keys` decrypt the snapshot and the segments.
///
/// # Errors
/// From planning: [`BackupError::NoSnapshot`], [`BackupError::TargetBeforeOldest`],
/// [`BackupError::TargetNotShipped`] (names the newest restorable point),
/// [`BackupError::SegmentGap`]. From fetching and decrypting: every error of reading a backup
/// (`NotFound`, `UnknownKey`, `WrongKey`, `Truncated`, `Tampered`, `Mismatch`, `NotADatabase`,
/// `Io`, `S3`). From replaying: [`BackupError::Replay`]. On an error nothing is left in
/// `work_dir`.
pub async fn prepare_point_in_time(
    store: &dyn BackupStore,
    keys: &EncKeys,
    target: RestoreTarget,
    work_dir: &Path,
) -> Result<PreparedRestore, BackupError> {
    let plan = plan(store.list().await?, store.list_segments().await?, target)?;
    let dir = LocalDir::new(work_dir);
    dir.ensure()?;
    let db = work_dir.join(format!(
        "restore-{:020}-{}.db",
        plan.snapshot.log_index,
        random_suffix(&dir)?
    ));
    let result = assemble(store, keys, target, &plan, &dir, &db).await;
    if result.is_err() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    result
}

async fn assemble(
    store: &dyn BackupStore,
    keys: &EncKeys,
    target: RestoreTarget,
    plan: &Plan,
    dir: &LocalDir,
    db: &Path,
) -> Result<PreparedRestore, BackupError> {
    let snapshot = &plan.snapshot;
    let fetched = dir.temp_path("pitr-backup")?;
    let result = store
        .fetch(&snapshot.name, snapshot.location, &fetched)
        .await;
    let result = match result {
        Ok(()) => {
            let (fetched, keys2, db2) = (fetched.clone(), keys.clone(), db.to_path_buf());
            blocking(move || decrypt_file(&fetched, &keys2, &db2).map(|_| ())).await
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&fetched);
    result?;

    let replay_err = |index: u64, e: std::io::Error| BackupError::Replay {
        index,
        message: e.to_string(),
    };
    let (writer, state) =
        SqliteWriter::open(db).map_err(|e| replay_err(snapshot.log_index + 1, e))?;
    let mut last = state
        .last_applied
        .map_or((0, 0), |id| (id.index, id.leader_id.term()));
    let mut last_ms = state.entry_time_ms;
    let mut replayed = 0u64;
    'segments: for seg in &plan.segments {
        let path = dir.temp_path("pitr-segment")?;
        let fetched = store.fetch(&seg.name, seg.location, &path).await;
        let read = match fetched {
            Ok(()) => {
                let (path2, keys2, name) = (path.clone(), keys.clone(), seg.name.clone());
                blocking(move || {
                    let file = std::fs::File::open(&path2).map_err(|e| BackupError::Io {
                        path: path2.display().to_string(),
                        message: e.to_string(),
                    })?;
                    segment::read_segment(&mut std::io::BufReader::new(file), &keys2, &name)
                })
                .await
            }
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&path);
        let (_, entries) = read?;
        let mut batch: Vec<ApplyItem> = Vec::new();
        let mut reached = false;
        for entry in entries {
            let index = entry.log_id.index;
            if index <= last.0 {
                continue; // overlapping segments: already replayed
            }
            if index != last.0 + 1 {
                return Err(BackupError::SegmentGap {
                    missing_from: last.0 + 1,
                    detail: format!("{} starts at log index {index}", seg.name),
                });
            }
            let time = entry_time(last_ms, &entry);
            let beyond = match target {
                RestoreTarget::Latest => false,
                RestoreTarget::Time(t) => time > t,
                RestoreTarget::LogIndex(i) => index > i,
            };
            if beyond {
                reached = true;
                break;
            }
            last = (index, entry.log_id.leader_id.term());
            last_ms = time;
            batch.push((entry, None));
            if batch.len() >= REPLAY_BATCH {
                replay(&writer, std::mem::take(&mut batch), &mut replayed).await?;
            }
        }
        replay(&writer, batch, &mut replayed).await?;
        if reached {
            break 'segments;
        }
    }
    drop(writer);
    if let RestoreTarget::LogIndex(i) = target {
        if last.0 < i {
            return Err(BackupError::TargetNotShipped {
                target: target.to_string(),
                newest_index: last.0,
                newest_ms: last_ms,
            });
        }
    }
    let db2 = db.to_path_buf();
    let state = blocking(move || {
        single_file(&db2).map_err(|e| BackupError::Replay {
            index: last.0,
            message: format!("checkpointing the restored database: {e}"),
        })
    })
    .await?;
    let found = state
        .last_applied
        .map_or((0, 0), |id| (id.index, id.leader_id.term()));
    if found != last {
        return Err(BackupError::Replay {
            index: last.0,
            message: format!(
                "the restored database holds log entry {found:?} (index, term), expected {last:?}"
            ),
        });
    }
    Ok(PreparedRestore {
        db: db.to_path_buf(),
        log_index: last.0,
        log_term: last.1,
        entry_time_ms: state.entry_time_ms,
        snapshot: snapshot.name.clone(),
        entries_replayed: replayed,
    })
}

async fn replay(
    writer: &SqliteWriter,
    batch: Vec<ApplyItem>,
    replayed: &mut u64,
) -> Result<(), BackupError> {
    let (Some(first), n) = (batch.first().map(|(e, _)| e.log_id.index), batch.len()) else {
        return Ok(());
    };
    writer.apply(batch).await.map_err(|e| BackupError::Replay {
        index: first,
        message: e.to_string(),
    })?;
    *replayed += n as u64;
    Ok(())
}

/// Folds the WAL into the database file and leaves it in rollback-journal mode, so the file
/// alone is the whole database; returns what it holds.
fn single_file(db: &Path) -> Result<crate::store::sqlite::writer::AppliedState, String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(|e| e.to_string())?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(format!("journal_mode stayed {mode}"));
    }
    read_applied_state(&conn).map_err(|e| e.to_string())
}

/// Plans a restore to `target` from the store's listings: the snapshot backup and the segments
/// to replay after it, in order (see [`prepare_point_in_time`] for the errors).
pub fn plan(
    backups: Vec<BackupInfo>,
    segments: Vec<SegmentInfo>,
    target: RestoreTarget,
) -> Result<Plan, BackupError> {
    let backups = prefer_local(backups, |b| b.name.clone(), |b| b.location);
    // One history only: the lineage of the newest snapshot at or before a time target, else of
    // the newest snapshot of all (the current history).
    let lineage = backups
        .iter()
        .filter(|b| !matches!(target, RestoreTarget::Time(t) if b.created_ms > t))
        .max_by_key(|b| (b.created_ms, b.log_index))
        .map(|b| b.lineage);
    let oldest_of_all = backups
        .iter()
        .min_by_key(|b| (b.created_ms, b.log_index))
        .cloned()
        .ok_or(BackupError::NoSnapshot)?;
    let Some(lineage) = lineage else {
        return Err(BackupError::TargetBeforeOldest {
            target: target.to_string(),
            oldest_index: oldest_of_all.log_index,
            oldest_ms: oldest_of_all.created_ms,
        });
    };
    let backups: Vec<BackupInfo> = backups
        .into_iter()
        .filter(|b| b.lineage == lineage)
        .collect();
    let mut segments: Vec<SegmentInfo> = prefer_local(segments, |s| s.name.clone(), |s| s.location)
        .into_iter()
        .filter(|s| s.lineage == lineage)
        .collect();
    segments.sort_by_key(|s| (s.first_index, s.last_index));
    let oldest = backups
        .iter()
        .min_by_key(|b| (b.log_index, b.created_ms))
        .ok_or(BackupError::NoSnapshot)?;
    let candidates = backups.iter().filter(|b| match target {
        RestoreTarget::Latest => true,
        RestoreTarget::Time(t) => b.created_ms <= t,
        RestoreTarget::LogIndex(i) => b.log_index <= i,
    });
    let snapshot = candidates
        .max_by_key(|b| (b.log_index, b.created_ms))
        .ok_or_else(|| BackupError::TargetBeforeOldest {
            target: target.to_string(),
            oldest_index: oldest.log_index,
            oldest_ms: oldest.created_ms,
        })?
        .clone();

    let mut chosen = Vec::new();
    // Indexes come from file names in the backup store: checked, u64::MAX is the last there is.
    let Some(after_snapshot) = snapshot.log_index.checked_add(1) else {
        return Ok(Plan {
            snapshot,
            segments: chosen,
        });
    };
    let (mut next, mut last_ms) = (after_snapshot, snapshot.created_ms);
    loop {
        let done = match target {
            RestoreTarget::Latest => false,
            RestoreTarget::Time(t) => last_ms > t,
            RestoreTarget::LogIndex(i) => next > i,
        };
        if done {
            break;
        }
        // The segment holding `next` that reaches furthest.
        let covering = segments
            .iter()
            .filter(|s| s.first_index <= next && s.last_index >= next)
            .max_by_key(|s| s.last_index);
        if let Some(s) = covering {
            last_ms = s.last_ms;
            chosen.push(s.clone());
            match s.last_index.checked_add(1) {
                Some(after) => next = after,
                None => break,
            }
            continue;
        }
        if let Some(later) = segments.iter().find(|s| s.first_index > next) {
            return Err(BackupError::SegmentGap {
                missing_from: next,
                detail: format!(
                    "the next segment, {}, starts at log index {}",
                    later.name, later.first_index
                ),
            });
        }
        match target {
            RestoreTarget::Latest => break,
            // An entry at `t` exactly may still come (entry times can repeat): only a later
            // entry proves that everything up to `t` is shipped, except the newest time itself.
            RestoreTarget::Time(t) if t <= last_ms => break,
            _ => {
                return Err(BackupError::TargetNotShipped {
                    target: target.to_string(),
                    newest_index: next - 1,
                    newest_ms: last_ms,
                })
            }
        }
    }
    Ok(Plan {
        snapshot,
        segments: chosen,
    })
}

/// One of each name, the local copy where both exist.
fn prefer_local<T>(
    items: Vec<T>,
    name: impl Fn(&T) -> String,
    location: impl Fn(&T) -> BackupLocation,
) -> Vec<T> {
    let mut by_name: std::collections::BTreeMap<String, T> = std::collections::BTreeMap::new();
    for item in items {
        let key = name(&item);
        let replace = match by_name.get(&key) {
            None => true,
            Some(held) => {
                location(held) != BackupLocation::Local && location(&item) == BackupLocation::Local
            }
        };
        if replace {
            by_name.insert(key, item);
        }
    }
    by_name.into_values().collect()
}

fn random_suffix(dir: &LocalDir) -> Result<String, BackupError> {
    // A temp path's random part, without its dot and ending.
    let p = dir.temp_path("x")?;
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(name
        .and_then(|n| {
            n.strip_prefix(".x-")
                .map(|s| s.trim_end_matches(".tmp").to_string())
        })
        .unwrap_or_default())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::Io {
            path: "the restore task".into(),
            message: e.to_string(),
        })?
}

#[cfg(test)]
#[path = "pitr_tests.rs"]
mod tests;
