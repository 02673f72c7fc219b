//! Snapshots built in pieces: one consistent state whatever the writer does meanwhile, a file
//! that stands alone, and a build that never replaces a newer snapshot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openraft::storage::RaftSnapshotBuilder;
use rusqlite::{Connection, OpenFlags};

use super::snapshot::{copy_snapshot, read_file_meta, SnapshotStore};
use super::test_db::{execute, Db};

/// Rows of about 1 KiB: 20 000 of them span several copy steps.
const ROWS: i64 = 20_000;

#[test]
fn a_paced_copy_holds_one_state_while_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE t (x INTEGER PRIMARY KEY, pad BLOB NOT NULL);",
    )
    .unwrap();
    // Rows come in pairs x, -x, each pair one transaction: any state has sum(x) = 0.
    conn.execute(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)
         INSERT INTO t SELECT i, randomblob(1000) FROM s UNION ALL SELECT -i, x'00' FROM s",
        [ROWS / 2],
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut next = ROWS;
            let mut pairs = 0;
            while !stop.load(Ordering::Relaxed) {
                next += 1;
                conn.execute_batch(&format!(
                    "BEGIN; INSERT INTO t VALUES ({next}, randomblob(1000));
                     INSERT INTO t VALUES (-{next}, x'00'); COMMIT;"
                ))
                .unwrap();
                pairs += 1;
            }
            pairs
        }
    });
    let dest = dir.path().join("copy.db");
    copy_snapshot(&db, &dest).unwrap();
    stop.store(true, Ordering::Relaxed);
    let pairs_during = writer.join().unwrap();

    let copy = Connection::open_with_flags(&dest, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let check: String = copy
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let (count, sum): (i64, i64) = copy
        .query_row("SELECT count(*), sum(x) FROM t", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(sum, 0, "a pair was torn: the copy mixes two states");
    assert!(count >= ROWS, "{count} rows");
    assert!(count <= ROWS + 2 * pairs_during, "{count} rows");
    // The copy is a file of its own: it is not in WAL mode, so reading it leaves no -wal next to it.
    let mode: String = copy
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_ne!(mode, "wal");
    drop(copy);
    assert!(!dir.path().join("copy.db-wal").exists());
}

#[tokio::test]
async fn a_build_never_replaces_a_newer_snapshot() {
    let mut db = Db::open();
    db.apply(vec![execute("CREATE TABLE t (x)")]).await;
    let db_path = db.writer().db_path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    let mut store = SnapshotStore::open(&db_path, &snaps).unwrap();
    let first = store.build_snapshot().await.unwrap().meta;
    // The database as it was then, kept aside.
    let old_db = dir.path().join("old.sqlite");
    std::fs::copy(store.file(), &old_db).unwrap();

    db.apply(vec![execute("INSERT INTO t VALUES (1)")]).await;
    let newer = store.build_snapshot().await.unwrap().meta;
    assert!(newer.last_log_id > first.last_log_id);

    // A build of the older state (as a build that began before a newer snapshot was installed)
    // hands back the newer snapshot and leaves it in place.
    let mut late = SnapshotStore::open(&old_db, &snaps).unwrap();
    let built = late.build_snapshot().await.unwrap();
    assert_eq!(built.meta, newer);
    assert_eq!(late.current_meta(), Some(newer.clone()));
    assert_eq!(read_file_meta(&late.file()).unwrap(), newer);
    let leftovers: Vec<_> = std::fs::read_dir(&snaps)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "snapshot.db")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
