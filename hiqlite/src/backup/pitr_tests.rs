//! Point-in-time assembly: the plan from listings alone, and whole restores from a local store
//! of a real state-machine database.

use std::path::Path;

use super::*;
use crate::backup::LocalBackups;
use crate::config::{EncKey, EncKeys};
use crate::engine::backups::NewSegment;
use crate::store::sqlite::test_db::{execute, timed_entries, Db};

fn backup(index: u64, ms: i64) -> BackupInfo {
    backup_of(1, index, ms)
}

fn backup_of(lineage: u64, index: u64, ms: i64) -> BackupInfo {
    BackupInfo {
        name: crate::backup::LocalDir::name_for(lineage, index, ms),
        created_ms: ms,
        log_index: index,
        log_term: 1,
        size: 1,
        key_id: "k1".into(),
        location: BackupLocation::Local,
        lineage,
    }
}

fn seg(first: u64, last: u64, first_ms: i64, last_ms: i64) -> SegmentInfo {
    seg_of(1, first, last, first_ms, last_ms)
}

fn seg_of(lineage: u64, first: u64, last: u64, first_ms: i64, last_ms: i64) -> SegmentInfo {
    segment::info_from_name(
        &segment::name_for(lineage, first, last, first_ms, last_ms),
        1,
        None,
        BackupLocation::S3,
    )
    .unwrap()
}

#[test]
fn a_plan_never_mixes_two_histories_of_log_indexes() {
    // History 1 ran to index 20; then the cluster was restored (history 2 starts at index 5).
    let backups = vec![backup_of(1, 10, 1000), backup_of(2, 5, 3000)];
    let segments = vec![
        seg_of(1, 11, 20, 1000, 2000),
        seg_of(2, 6, 8, 3000, 3500),
        // History 1's index range overlaps history 2's: never taken for it.
        seg_of(1, 9, 9, 900, 900),
    ];
    let latest = plan(backups.clone(), segments.clone(), RestoreTarget::Latest).unwrap();
    assert_eq!(latest.snapshot.lineage, 2);
    assert_eq!(ranges(&latest), vec![(6, 8)]);
    let back_then = plan(backups.clone(), segments.clone(), RestoreTarget::Time(1500)).unwrap();
    assert_eq!(back_then.snapshot.lineage, 1);
    assert_eq!(ranges(&back_then), vec![(11, 20)]);
    // A log index counts in the current history.
    assert!(matches!(
        plan(backups, segments, RestoreTarget::LogIndex(15)),
        Err(BackupError::TargetNotShipped {
            newest_index: 8,
            ..
        })
    ));
}

fn ranges(plan: &Plan) -> Vec<(u64, u64)> {
    plan.segments
        .iter()
        .map(|s| (s.first_index, s.last_index))
        .collect()
}

#[test]
fn plan_picks_the_newest_snapshot_at_or_before_the_target() {
    let backups = vec![backup(10, 100), backup(50, 500)];
    let segments = vec![
        seg(11, 30, 110, 300),
        seg(31, 60, 310, 600),
        seg(61, 80, 610, 800),
    ];
    let p = plan(backups.clone(), segments.clone(), RestoreTarget::Latest).unwrap();
    assert_eq!(p.snapshot.log_index, 50);
    assert_eq!(ranges(&p), vec![(31, 60), (61, 80)]);

    let p = plan(
        backups.clone(),
        segments.clone(),
        RestoreTarget::LogIndex(40),
    )
    .unwrap();
    assert_eq!(p.snapshot.log_index, 10);
    assert_eq!(ranges(&p), vec![(11, 30), (31, 60)]);

    let p = plan(
        backups.clone(),
        segments.clone(),
        RestoreTarget::LogIndex(50),
    )
    .unwrap();
    assert_eq!((p.snapshot.log_index, p.segments.len()), (50, 0));

    // By time: the snapshot made at or before it, then segments until one ends after it.
    let p = plan(backups.clone(), segments.clone(), RestoreTarget::Time(499)).unwrap();
    assert_eq!(p.snapshot.log_index, 10);
    assert_eq!(ranges(&p), vec![(11, 30), (31, 60)]);
    let p = plan(backups.clone(), segments.clone(), RestoreTarget::Time(650)).unwrap();
    assert_eq!(p.snapshot.log_index, 50);
    assert_eq!(ranges(&p), vec![(31, 60), (61, 80)]);
    // The newest shipped time itself is restorable.
    let p = plan(backups, segments, RestoreTarget::Time(800)).unwrap();
    assert_eq!(ranges(&p), vec![(31, 60), (61, 80)]);
}

#[test]
fn plan_refuses_targets_outside_the_store() {
    let backups = vec![backup(10, 100), backup(50, 500)];
    let segments = vec![seg(11, 60, 110, 600)];
    assert_eq!(
        plan(vec![], segments.clone(), RestoreTarget::Latest).unwrap_err(),
        BackupError::NoSnapshot
    );
    for target in [RestoreTarget::LogIndex(9), RestoreTarget::Time(99)] {
        assert_eq!(
            plan(backups.clone(), segments.clone(), target).unwrap_err(),
            BackupError::TargetBeforeOldest {
                target: target.to_string(),
                oldest_index: 10,
                oldest_ms: 100
            }
        );
    }
    for target in [RestoreTarget::LogIndex(61), RestoreTarget::Time(601)] {
        assert_eq!(
            plan(backups.clone(), segments.clone(), target).unwrap_err(),
            BackupError::TargetNotShipped {
                target: target.to_string(),
                newest_index: 60,
                newest_ms: 600
            }
        );
    }
    // Without any segment, the snapshot is the newest point.
    let e = plan(backups, vec![], RestoreTarget::Time(501)).unwrap_err();
    assert!(
        matches!(
            e,
            BackupError::TargetNotShipped {
                newest_index: 50,
                newest_ms: 500,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn plan_reports_gaps() {
    let backups = vec![backup(10, 100)];
    // Between the snapshot and the first segment.
    let e = plan(
        backups.clone(),
        vec![seg(12, 20, 120, 200)],
        RestoreTarget::Latest,
    )
    .unwrap_err();
    assert!(
        matches!(
            &e,
            BackupError::SegmentGap {
                missing_from: 11,
                ..
            }
        ),
        "{e:?}"
    );
    // Between two segments.
    let segments = vec![seg(11, 20, 110, 200), seg(25, 30, 250, 300)];
    let e = plan(
        backups.clone(),
        segments.clone(),
        RestoreTarget::LogIndex(26),
    )
    .unwrap_err();
    assert!(
        matches!(
            &e,
            BackupError::SegmentGap {
                missing_from: 21,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("restore to a point before it"),
        "{e}"
    );
    // A target before the gap needs nothing after it.
    let p = plan(backups, segments, RestoreTarget::LogIndex(20)).unwrap();
    assert_eq!(ranges(&p), vec![(11, 20)]);
}

#[test]
fn plan_takes_overlaps_and_duplicates_once() {
    let backups = vec![backup(10, 100)];
    // Two leaders shipped overlapping ranges; the local copy of a name wins over the bucket's.
    let mut local = seg(11, 20, 110, 200);
    local.location = BackupLocation::Local;
    let segments = vec![
        seg(11, 20, 110, 200),
        local,
        seg(11, 15, 110, 150),
        seg(16, 30, 160, 300),
    ];
    let p = plan(backups, segments, RestoreTarget::Latest).unwrap();
    assert_eq!(ranges(&p), vec![(11, 20), (16, 30)]);
    assert_eq!(p.segments[0].location, BackupLocation::Local);
}

#[test]
fn plan_ends_at_the_last_log_index_there_is() {
    // Names in the store are outside input: a segment, or a backup, reaching u64::MAX ends the
    // plan instead of overflowing (found with the fuzz target `segment`'s sibling check).
    let segments = vec![seg(11, u64::MAX, 110, 200), seg(0, 5, 1, 2)];
    let p = plan(vec![backup(10, 100)], segments, RestoreTarget::Latest).unwrap();
    assert_eq!(ranges(&p), vec![(11, u64::MAX)]);

    let p = plan(vec![backup(u64::MAX, 100)], vec![], RestoreTarget::Latest).unwrap();
    assert_eq!(p.snapshot.log_index, u64::MAX);
    assert!(p.segments.is_empty());
}

fn keys() -> EncKeys {
    EncKeys {
        keys: vec![EncKey::new("k1", [7; 32]).unwrap()],
        active: Some("k1".into()),
    }
}

/// A store holding a snapshot at index 2 (time 1000, row 1) and segments 3..=4 (rows 2, 3 at
/// times 2000, 3000) and 5..=6 (rows 4, 5 at 4000, 5000).
async fn store_with_log() -> (Db, tempfile::TempDir, LocalBackups) {
    let mut db = Db::open();
    db.apply_timed(vec![
        (1000, execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")),
        (1000, execute("INSERT INTO t VALUES (1)")),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBackups::new(db.writer().db_path(), dir.path(), keys());
    let snap = store.create_blocking().unwrap();
    assert_eq!((snap.log_index, snap.created_ms), (2, 1000));
    let entries: Vec<_> = timed_entries(
        3,
        (2..=5)
            .map(|i| (i * 1000, execute(&format!("INSERT INTO t VALUES ({i})"))))
            .collect(),
    )
    .into_iter()
    .map(|(e, _)| e)
    .collect();
    for (chunk, prev) in [(&entries[..2], 1000), (&entries[2..], 3000)] {
        store
            .write_segment_blocking(&NewSegment {
                entries: chunk.to_vec(),
                prev_entry_ms: prev,
                data_format: crate::types::format::NEWEST,
                // The test database never reached format 4 through the log: no lineage.
                lineage: 0,
            })
            .unwrap();
    }
    (db, dir, store)
}

fn ids(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn restores_to_latest_a_time_and_an_index() {
    let (_db, _dir, store) = store_with_log().await;
    let segs = store.dir().list_segments().unwrap();
    assert_eq!(
        segs.iter()
            .map(|s| (s.first_index, s.last_index, s.first_ms, s.last_ms))
            .collect::<Vec<_>>(),
        vec![(3, 4, 2000, 3000), (5, 6, 4000, 5000)]
    );
    assert_eq!(segs[0].key_id.as_deref(), Some("k1"));

    let cases = [
        (RestoreTarget::Latest, vec![1, 2, 3, 4, 5], 6, 5000, 4),
        (RestoreTarget::Time(3500), vec![1, 2, 3], 4, 3000, 2),
        (RestoreTarget::Time(3000), vec![1, 2, 3], 4, 3000, 2),
        (RestoreTarget::LogIndex(5), vec![1, 2, 3, 4], 5, 4000, 3),
        (RestoreTarget::LogIndex(2), vec![1], 2, 1000, 0),
    ];
    for (target, rows, index, ms, replayed) in cases {
        let work = tempfile::tempdir().unwrap();
        let r = prepare_point_in_time(&store, &keys(), target, work.path())
            .await
            .unwrap();
        assert_eq!(ids(&r.db), rows, "{target:?}");
        assert_eq!(
            (r.log_index, r.log_term, r.entry_time_ms, r.entries_replayed),
            (index, 1, ms, replayed),
            "{target:?}"
        );
        assert_eq!(
            r.snapshot,
            "hiqlite-0000000000000000-00000000000000000002-1000.hqbackup"
        );
        // One plain file: no WAL beside it, no segment left behind.
        let name = r.db.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(files_in(work.path()), vec![name], "{target:?}");
        let conn = rusqlite::Connection::open(&r.db).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
    }
}

#[tokio::test]
async fn refuses_with_typed_errors_and_leaves_nothing() {
    let (_db, dir, store) = store_with_log().await;
    let work = tempfile::tempdir().unwrap();
    let e = prepare_point_in_time(&store, &keys(), RestoreTarget::Time(999), work.path())
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::TargetBeforeOldest { .. }), "{e:?}");
    let e = prepare_point_in_time(&store, &keys(), RestoreTarget::Time(5001), work.path())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            BackupError::TargetNotShipped {
                newest_index: 6,
                newest_ms: 5000,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("entry time 5000 ms"), "{e}");

    // A tampered segment: the errors of backups; nothing stays in the work directory.
    let segs = store.dir().list_segments().unwrap();
    let path = dir.path().join(&segs[1].name);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let e = prepare_point_in_time(&store, &keys(), RestoreTarget::Latest, work.path())
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::Tampered { .. }), "{e:?}");
    assert!(
        files_in(work.path()).is_empty(),
        "{:?}",
        files_in(work.path())
    );
    // A wrong key.
    let other = EncKeys {
        keys: vec![EncKey::new("k1", [8; 32]).unwrap()],
        active: Some("k1".into()),
    };
    let e = prepare_point_in_time(&store, &other, RestoreTarget::LogIndex(2), work.path())
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::WrongKey { .. }), "{e:?}");

    // A missing segment is a gap.
    std::fs::remove_file(dir.path().join(&segs[0].name)).unwrap();
    let e = prepare_point_in_time(&store, &keys(), RestoreTarget::LogIndex(6), work.path())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            BackupError::SegmentGap {
                missing_from: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(files_in(work.path()).is_empty());
}
