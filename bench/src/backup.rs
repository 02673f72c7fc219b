//! `backup` mode (issue 14, "Measure"): on a 3-node in-process cluster with `backup_dir`, a
//! random key and log shipping every second, in order:
//! 1. fill a table to about `--backup-mb` MiB (bulk INSERT statements through Raft, each one
//!    transaction of [`FILL_ROWS`] rows);
//! 2. time `Client::backup` next to a plain copy of the leader's database file (the file and its
//!    WAL, copied with `std::fs::copy` and fsynced, into the same directory tree);
//! 3. single-row INSERT/s at C tasks for a window without a backup, then while a backup runs;
//! 4. RPO: from a write's acknowledgement until a log segment holding its index is in the
//!    leader's `backup_dir`;
//! 5. time `Client::restore_file` of the backup of step 2, and a point-in-time restore to the
//!    latest shipped state, next to the same plain copy.
//!
//! Restores come last because they replace the database. A restore starts a new backup history,
//! whose first snapshot backup the leader makes in the background; the point-in-time restore
//! waits for it, so the two do not overlap. Nothing is asserted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hiqlite::backup::{RestoreInfo, RestoreSource, RestoreTarget};
use hiqlite::config::EncKeys;
use hiqlite::{params, Client};

use crate::modes::{self, BackupSetup, Target};
use crate::report::{Figure, Section, Unit};
use crate::stats::per_sec;
use crate::workload::{self, WriteRun};
use crate::{progress, Result, Settings};

const TAG: &str = "backup";
/// Rows per fill statement: about 8 MiB each, one Raft entry.
const FILL_ROWS: u64 = 10_000;
/// Bytes of `randomblob` per row, stored as hex text (twice as long): half its bytes carry
/// entropy, so zstd roughly halves it, as it would a table of mixed real data.
const FILL_BLOB_BYTES: u32 = 384;
const FILL_TABLE: &str = "CREATE TABLE IF NOT EXISTS _backup_fill \
     (id INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL)";
/// `backup_log_interval` of every node.
const LOG_INTERVAL: Duration = Duration::from_secs(1);
/// The longest a write may wait for its log segment before the RPO probe gives up.
const RPO_TIMEOUT: Duration = Duration::from_secs(30);
const MIB: f64 = 1_048_576.0;
/// The longest the leader may take to make the first snapshot backup after a restore.
const NEW_HISTORY_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs the backup measurements in `dir`; returns the baseline section (plain copies) and the
/// mode's section.
pub async fn run(dir: &Path, s: &Settings) -> Result<(Section, Section)> {
    let setup = BackupSetup {
        request_timeout: s.request_timeout,
        ..random_key()?
    };
    let keys = EncKeys {
        keys: vec![hiqlite::config::EncKey::parse(&setup.key_entry)?],
        active: Some(setup.key_id.clone()),
    };
    progress(
        TAG,
        "starting 3 nodes with backup_dir and log shipping every 1 s",
    );
    let target = modes::start_backup_cluster(dir, s, &setup).await?;
    let measured = measure(dir, &target, &keys, s).await;
    target.stop().await;
    measured
}

/// A fresh random 32-byte key, id `bench`.
fn random_key() -> Result<BackupSetup> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| format!("no random key: {e}"))?;
    Ok(BackupSetup {
        key_entry: format!(
            "bench/{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        ),
        key_id: "bench".into(),
        log_interval: LOG_INTERVAL,
        request_timeout: None,
    })
}

async fn measure(
    dir: &Path,
    target: &Target,
    keys: &EncKeys,
    s: &Settings,
) -> Result<(Section, Section)> {
    let leader = &target.leader;
    let leader_dir = target
        .leader_dir
        .clone()
        .ok_or("backup mode needs embedded nodes")?;
    let db = modes::db_file(&leader_dir);
    let backups = leader_dir.join("backups");
    let mut base = Section::new(
        "baseline",
        "baseline: plain copy of the leader's database file (and WAL) on the same disk, fsynced",
    );
    let mut sec = Section::new("backup", modes::Mode::Backup.title());
    sec.notes.push(format!(
        "MiB/s = database size / time; Raft snapshots off; writes at C={}",
        s.backup_writers
    ));

    // 1. Fill.
    let want = s.backup_mb * 1_048_576;
    progress(
        TAG,
        &format!("filling _backup_fill to about {} MiB", s.backup_mb),
    );
    let (fill_time, rows) = fill(leader, &db, want).await?;
    target.settle().await?;
    let db_bytes = db_size(&db).await?;
    let db_mib = db_bytes as f64 / MIB;
    progress(
        TAG,
        &format!(
            "filled {rows} rows, {db_mib:.1} MiB in {:.1} s ({:.1} MiB/s)",
            fill_time.as_secs_f64(),
            db_mib / fill_time.as_secs_f64()
        ),
    );
    sec.figures.extend([
        Figure::new("db_mib", "database size", db_mib, Unit::MiB),
        Figure::new(
            "fill_secs",
            "fill time (bulk INSERT txns through Raft)",
            fill_time.as_secs_f64(),
            Unit::Secs,
        ),
        Figure::new(
            "fill_mb_per_sec",
            "  fill rate",
            db_mib / fill_time.as_secs_f64(),
            Unit::MiBPerSec,
        ),
    ]);
    sec.extra.push(("fill_rows".into(), rows as f64));
    sec.extra.push(("db_bytes".into(), db_bytes as f64));

    // 2. Backup next to a plain copy.
    let copy = plain_copy(&db, &dir.join("plain-copy")).await?;
    let copy_rate = copy.bytes as f64 / MIB / copy.secs;
    progress(
        TAG,
        &format!(
            "plain copy: {:.1} MiB in {:.2} s ({copy_rate:.1} MiB/s)",
            copy.bytes as f64 / MIB,
            copy.secs
        ),
    );
    base.figures.extend([
        Figure::new(
            "copy_mb_per_sec",
            "plain copy (std::fs::copy + fsync)",
            copy_rate,
            Unit::MiBPerSec,
        ),
        Figure::new("copy_secs", "  time", copy.secs, Unit::Secs),
    ]);
    base.extra.push(("copy_bytes".into(), copy.bytes as f64));

    progress(TAG, "client.backup()");
    let t = Instant::now();
    let info = leader.backup().await?;
    let backup_secs = t.elapsed().as_secs_f64();
    progress(
        TAG,
        &format!(
            "backup {} ({:.1} MiB on disk) in {backup_secs:.2} s ({:.1} MiB/s)",
            info.name,
            info.size as f64 / MIB,
            db_mib / backup_secs
        ),
    );
    sec.figures.extend([
        Figure::new(
            "backup_mb_per_sec",
            "backup (client.backup)",
            db_mib / backup_secs,
            Unit::MiBPerSec,
        )
        .vs("copy", copy_rate),
        Figure::new("backup_secs", "  time", backup_secs, Unit::Secs).vs("copy", copy.secs),
        Figure::new(
            "backup_file_mib",
            "  backup file (zstd, encrypted)",
            info.size as f64 / MIB,
            Unit::MiB,
        ),
    ]);
    let backup_path = backups.join(&info.name);

    // 3. Writes without, then during a backup.
    writes_during_backup(target, s, backup_secs, &mut sec).await?;

    // 4. RPO.
    rpo(leader, &backups, s, &mut sec).await?;

    // 5. Restores. First the decryption alone (what restore_file does before sending).
    let decrypted = dir.join("decrypted.db");
    let t = Instant::now();
    {
        let (path, keys, out) = (backup_path.clone(), keys.clone(), decrypted.clone());
        tokio::task::spawn_blocking(move || hiqlite::backup::decrypt_file(&path, &keys, &out))
            .await??;
    }
    let decrypt_secs = t.elapsed().as_secs_f64();
    std::fs::remove_file(&decrypted)?;
    progress(TAG, &format!("decrypt_file alone: {decrypt_secs:.2} s"));

    progress(TAG, &format!("client.restore_file({})", info.name));
    target.settle().await?;
    let t = Instant::now();
    match leader.restore_file(&backup_path, keys).await {
        Ok(restored) => {
            let secs = t.elapsed().as_secs_f64();
            restore_figures(
                &mut sec,
                "restore_file",
                "restore_file of that backup",
                &restored,
                secs,
                copy_rate,
            );
            sec.figures.push(Figure::new(
                "decrypt_secs",
                "  of which decrypt_file (measured alone)",
                decrypt_secs,
                Unit::Secs,
            ));
            target.settle().await?;
            // The restore started a new history: let the leader make its first snapshot backup
            // (it does so in the background) before the point-in-time restore reads the store.
            progress(TAG, "waiting for the new history's first snapshot backup");
            let deadline = Instant::now() + NEW_HISTORY_TIMEOUT;
            while !leader
                .backups()
                .await?
                .iter()
                .any(|b| b.lineage != info.lineage)
            {
                if Instant::now() > deadline {
                    return Err(format!(
                        "no snapshot backup of the restored history within {NEW_HISTORY_TIMEOUT:?}"
                    )
                    .into());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(e) => failed(&mut sec, "restore_file", t.elapsed(), &e),
    }
    target.settle().await?;

    progress(TAG, "client.restore(PointInTime(Latest))");
    let t = Instant::now();
    match leader
        .restore(RestoreSource::PointInTime(RestoreTarget::Latest))
        .await
    {
        Ok(restored) => {
            let secs = t.elapsed().as_secs_f64();
            restore_figures(
                &mut sec,
                "restore_pitr_latest",
                "restore(PointInTime(Latest))",
                &restored,
                secs,
                copy_rate,
            );
            sec.extra.push((
                "restore_pitr_latest_entries_replayed".into(),
                restored.entries_replayed as f64,
            ));
        }
        Err(e) => failed(&mut sec, "restore(PointInTime(Latest))", t.elapsed(), &e),
    }
    target.settle().await?;
    Ok((base, sec))
}

/// Creates `_backup_fill` and `_bench`, then adds [`FILL_ROWS`] rows per statement until the
/// leader's database holds `want` bytes. Returns the time the inserts took and the rows.
pub async fn fill(leader: &Client, db: &Path, want: u64) -> Result<(Duration, u64)> {
    leader.execute(FILL_TABLE, params!()).await?;
    leader.execute(workload::CREATE_TABLE, params!()).await?;
    let start = Instant::now();
    let mut rows = 0u64;
    while db_size(db).await? < want {
        let (from, to) = (rows + 1, rows + FILL_ROWS);
        let sql = format!(
            "WITH RECURSIVE seq(x) AS (SELECT {from} UNION ALL SELECT x + 1 FROM seq WHERE x < \
             {to}) INSERT INTO _backup_fill (id, name, data) \
             SELECT x, 'Name ' || x, hex(randomblob({FILL_BLOB_BYTES})) FROM seq"
        );
        leader.execute(sql, params!()).await?;
        rows = to;
    }
    Ok((start.elapsed(), rows))
}

/// The database's size in bytes (`page_count * page_size`, WAL included), read with a
/// read-only connection of this process.
pub async fn db_size(db: &Path) -> Result<u64> {
    let db = db.to_path_buf();
    let size = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open_with_flags(
            &db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| r.get::<_, i64>(0),
        )
    })
    .await??;
    Ok(size.max(0) as u64)
}

/// A timed plain copy.
struct Copy {
    bytes: u64,
    secs: f64,
}

/// Copies `db` and its `-wal` (when present) into `to` (created, removed afterwards), fsyncing
/// each copy, as a `cp` followed by `sync` would.
async fn plain_copy(db: &Path, to: &Path) -> Result<Copy> {
    let (db, to) = (db.to_path_buf(), to.to_path_buf());
    tokio::task::spawn_blocking(move || -> Result<Copy> {
        std::fs::create_dir_all(&to)?;
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        let start = Instant::now();
        let mut bytes = 0;
        for (i, from) in [db, wal].iter().enumerate() {
            if !from.exists() {
                continue;
            }
            let dest = to.join(format!("copy{i}"));
            bytes += std::fs::copy(from, &dest)?;
            std::fs::File::open(&dest)?.sync_all()?;
        }
        let secs = start.elapsed().as_secs_f64();
        std::fs::remove_dir_all(&to)?;
        Ok(Copy { bytes, secs })
    })
    .await?
}

/// Single-row INSERT/s for a window without a backup (as long as the first backup took, 3 to 20
/// s; 1 to 3 s with `--quick`), then while a backup runs on the leader, until it has finished.
async fn writes_during_backup(
    target: &Target,
    s: &Settings,
    backup_secs: f64,
    sec: &mut Section,
) -> Result<()> {
    let leader = &target.leader;
    let c = s.backup_writers;
    let (lo, hi) = if s.quick { (1.0, 3.0) } else { (3.0, 20.0) };
    let window = Duration::from_secs_f64(backup_secs.clamp(lo, hi));
    let next_id = Arc::new(AtomicI64::new(1));

    target.settle().await?;
    progress(
        TAG,
        &format!(
            "INSERT C={c} without a backup for {:.1} s",
            window.as_secs_f64()
        ),
    );
    let quiet = workload::inserts_until(
        leader,
        next_id.clone(),
        c,
        Instant::now() + window,
        Arc::new(AtomicBool::new(false)),
    )
    .await?;

    target.settle().await?;
    progress(TAG, &format!("INSERT C={c} while client.backup() runs"));
    let stop = Arc::new(AtomicBool::new(false));
    let backup = {
        let (leader, stop) = (leader.clone(), stop.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let r = leader.backup().await;
            stop.store(true, Ordering::Release);
            r.map(|_| t.elapsed())
        })
    };
    // A generous deadline: the run ends when the backup does.
    let busy = workload::inserts_until(
        leader,
        next_id,
        c,
        Instant::now() + Duration::from_secs(3600),
        stop.clone(),
    )
    .await;
    stop.store(true, Ordering::Release);
    let busy = busy?;
    let busy_backup = backup.await??;

    let rate = |r: &WriteRun| per_sec(r.rows, r.elapsed);
    let (q, b) = (rate(&quiet), rate(&busy));
    let dip = if q > 0.0 { (q - b) / q * 100.0 } else { 0.0 };
    progress(
        TAG,
        &format!(
            "INSERT/s {q:.0} without, {b:.0} during a backup ({:.2} s): dip {dip:.1} %",
            busy_backup.as_secs_f64()
        ),
    );
    let (ql, bl) = (quiet.latencies.summary(), busy.latencies.summary());
    sec.figures.extend([
        Figure::new(
            &format!("insert_during_backup_c{c}_per_sec"),
            &format!("single-row INSERT/s during a backup, C={c}"),
            b,
            Unit::PerSec,
        )
        .vs("no backup", q),
        Figure::new(
            &format!("insert_during_backup_c{c}_p99_us"),
            "  write latency p99",
            bl.p99_us,
            Unit::Micros,
        )
        .vs("no backup", ql.p99_us),
        Figure::new(
            "write_dip_percent",
            "  dip in INSERT/s (goal: at most 10 %)",
            dip,
            Unit::Percent,
        ),
        Figure::new(
            "backup_under_writes_secs",
            "  backup time under these writes",
            busy_backup.as_secs_f64(),
            Unit::Secs,
        )
        .vs("idle", backup_secs),
    ]);
    sec.extra.extend([
        (format!("insert_no_backup_c{c}_per_sec"), q),
        (format!("insert_no_backup_c{c}_rows"), quiet.rows as f64),
        (format!("insert_during_backup_c{c}_rows"), busy.rows as f64),
        ("insert_window_secs".into(), window.as_secs_f64()),
    ]);
    Ok(())
}

/// Writes one row at a time at spread-out moments of the shipping interval, and times each from
/// its acknowledgement until a `.hqlog` segment in `backups` covers its log index.
async fn rpo(leader: &Client, backups: &Path, s: &Settings, sec: &mut Section) -> Result<()> {
    let samples = if s.quick { 3 } else { 10 };
    progress(
        TAG,
        &format!("RPO: {samples} writes, each until its segment is shipped"),
    );
    let mut observed = Vec::with_capacity(samples);
    for i in 0..samples {
        // Land the writes at different phases of the 1 s interval (pacing, not synchronisation).
        tokio::time::sleep(Duration::from_millis(137 * (i as u64 % 7))).await;
        let id = 1_000_000_000 + i as i64;
        leader
            .execute(
                workload::INSERT,
                workload::Entity::new(id, workload::unix_ts()).params(),
            )
            .await?;
        let acked = Instant::now();
        // The write is applied on the leader when acknowledged: its index is at most this.
        let index = leader.status().await?.last_applied;
        loop {
            if shipped(backups, index)? {
                break;
            }
            if acked.elapsed() > RPO_TIMEOUT {
                return Err(format!(
                    "log index {index} was not shipped to {} within {RPO_TIMEOUT:?}",
                    backups.display()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        observed.push(acked.elapsed().as_secs_f64() * 1000.0);
    }
    observed.sort_by(f64::total_cmp);
    let median = observed[observed.len() / 2];
    let (min, max) = (observed[0], observed[observed.len() - 1]);
    progress(
        TAG,
        &format!("RPO observed: min {min:.0} ms, median {median:.0} ms, max {max:.0} ms"),
    );
    let interval = LOG_INTERVAL.as_secs_f64() * 1000.0;
    sec.figures.extend([
        Figure::new(
            "rpo_min_ms",
            "RPO observed (ack → segment), min",
            min,
            Unit::Millis,
        )
        .vs("interval", interval),
        Figure::new("rpo_median_ms", "  median", median, Unit::Millis).vs("interval", interval),
        Figure::new("rpo_max_ms", "  max", max, Unit::Millis).vs("interval", interval),
    ]);
    sec.extra.push(("rpo_samples".into(), samples as f64));
    Ok(())
}

/// Whether a log segment in `dir` holds `index` (by its name).
fn shipped(dir: &Path, index: u64) -> Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(p) = hiqlite::backup::segment::parse_name(&name.to_string_lossy()) {
            if p.first_index <= index && index <= p.last_index {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A restore that failed: a note with the error and when it came, instead of figures.
fn failed(sec: &mut Section, what: &str, after: Duration, e: &hiqlite::Error) {
    let msg = format!(
        "{what} failed after {:.1} s, not measured: {e}",
        after.as_secs_f64()
    );
    progress(TAG, &msg);
    sec.notes.push(msg);
}

fn restore_figures(
    sec: &mut Section,
    key: &str,
    label: &str,
    r: &RestoreInfo,
    secs: f64,
    copy_rate: f64,
) {
    let mib = r.bytes as f64 / MIB;
    progress(
        TAG,
        &format!(
            "{label}: {mib:.1} MiB from {} in {secs:.2} s ({:.1} MiB/s), {} entries replayed",
            r.from,
            mib / secs,
            r.entries_replayed
        ),
    );
    sec.figures.extend([
        Figure::new(
            &format!("{key}_mb_per_sec"),
            label,
            mib / secs,
            Unit::MiBPerSec,
        )
        .vs("copy", copy_rate),
        Figure::new(&format!("{key}_secs"), "  time (RTO)", secs, Unit::Secs),
    ]);
    sec.extra.push((format!("{key}_bytes"), r.bytes as f64));
}
