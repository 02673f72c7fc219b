//! Backups of a real state-machine database: round trip, and each way a file can go wrong
//! giving its own typed error.

use std::path::{Path, PathBuf};

use super::*;
use crate::config::{EncKey, EncKeys};
use crate::store::sqlite::test_db::{execute, Db, LEADER_TIME_MS};

fn keys(active: &str, list: &[(&str, u8)]) -> EncKeys {
    EncKeys {
        keys: list
            .iter()
            .map(|(id, b)| EncKey::new(*id, [*b; 32]).unwrap())
            .collect(),
        active: Some(active.into()),
    }
}

/// A database with rows at log index 3 (term 1), and a backup directory.
async fn db_with_rows() -> (Db, tempfile::TempDir) {
    let mut db = Db::open();
    db.apply(vec![
        execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"),
        execute("INSERT INTO t VALUES (1, 'one')"),
        execute("INSERT INTO t VALUES (2, 'two')"),
    ])
    .await;
    (db, tempfile::tempdir().unwrap())
}

fn backups(db: &Db, dir: &Path, keys: EncKeys) -> LocalBackups {
    LocalBackups::new(db.writer().db_path(), dir, keys)
}

fn file_of(dir: &Path, info: &BackupInfo) -> PathBuf {
    dir.join(&info.name)
}

#[tokio::test]
async fn round_trip_holds_the_rows_and_the_log_id() {
    let (db, dir) = db_with_rows().await;
    let store = backups(&db, dir.path(), keys("k1", &[("k1", 1)]));
    let info = store.create_blocking().unwrap();
    assert_eq!((info.log_index, info.log_term), (3, 1));
    assert_eq!(info.created_ms, LEADER_TIME_MS);
    assert_eq!(info.key_id, "k1");
    assert_eq!(info.location, BackupLocation::Local);
    assert_eq!(store.list_blocking().unwrap(), vec![info.clone()]);

    let header = store.verify_blocking(&info.name).unwrap();
    assert_eq!(header.log_index, 3);
    let out = dir.path().join("restored.db");
    decrypt_file(&file_of(dir.path(), &info), &store.keys, &out).unwrap();
    let conn = rusqlite::Connection::open(&out).unwrap();
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT id, v FROM t ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec![(1, "one".into()), (2, "two".into())]);
    assert_eq!(header.compression, format::Compression::Zstd);
    // The plaintext never lands in the backup file.
    let bytes = std::fs::read(file_of(dir.path(), &info)).unwrap();
    assert!(!bytes.windows(6).any(|w| w == b"SQLite"));
}

#[tokio::test]
async fn truncated_file_is_typed() {
    let (db, dir) = db_with_rows().await;
    let store = backups(&db, dir.path(), keys("k1", &[("k1", 1)]));
    let info = store.create_blocking().unwrap();
    let path = file_of(dir.path(), &info);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let e = store.verify_blocking(&info.name).unwrap_err();
    match e {
        BackupError::Truncated {
            expected, found, ..
        } => {
            assert_eq!(expected, bytes.len() as u64);
            assert!(found < expected);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tampered_byte_is_typed_in_body_and_header() {
    let (db, dir) = db_with_rows().await;
    let store = backups(&db, dir.path(), keys("k1", &[("k1", 1)]));
    let info = store.create_blocking().unwrap();
    let path = file_of(dir.path(), &info);
    let clean = std::fs::read(&path).unwrap();
    // A byte in the body.
    let mut bytes = clean.clone();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let e = store.verify_blocking(&info.name).unwrap_err();
    assert!(matches!(e, BackupError::Tampered { .. }), "{e:?}");
    // The creation time in the header (bytes 27..35): authenticated as associated data.
    let mut bytes = clean.clone();
    bytes[30] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let e = store.verify_blocking(&info.name).unwrap_err();
    assert!(matches!(e, BackupError::Tampered { .. }), "{e:?}");
    // A byte added at the end.
    let mut bytes = clean;
    bytes.push(0);
    std::fs::write(&path, &bytes).unwrap();
    let e = store.verify_blocking(&info.name).unwrap_err();
    assert!(matches!(e, BackupError::Tampered { .. }), "{e:?}");
}

#[tokio::test]
async fn wrong_and_unknown_keys_are_typed_and_old_keys_still_read() {
    let (db, dir) = db_with_rows().await;
    let store = backups(&db, dir.path(), keys("k1", &[("k1", 1)]));
    let info = store.create_blocking().unwrap();
    let path = file_of(dir.path(), &info);

    let wrong = keys("k1", &[("k1", 2)]);
    let e = verify_file(&path, &wrong).unwrap_err();
    assert_eq!(
        e,
        BackupError::WrongKey {
            name: info.name.clone(),
            key_id: "k1".into()
        }
    );

    let unknown = keys("k2", &[("k2", 1)]);
    let e = verify_file(&path, &unknown).unwrap_err();
    assert!(
        matches!(&e, BackupError::UnknownKey { key_id, known, .. } if key_id == "k1" && known == &["k2"]),
        "{e:?}"
    );

    // Rotated: k2 is active, k1 stays to read the older backup.
    let rotated = keys("k2", &[("k1", 1), ("k2", 3)]);
    verify_file(&path, &rotated).unwrap();
    let newer = backups(&db, dir.path(), rotated.clone());
    let info2 = newer.create_blocking().unwrap();
    assert_eq!(info2.key_id, "k2");
    verify_file(&file_of(dir.path(), &info2), &rotated).unwrap();
}

#[tokio::test]
async fn newer_backup_format_and_other_files_are_refused() {
    let (db, dir) = db_with_rows().await;
    let store = backups(&db, dir.path(), keys("k1", &[("k1", 1)]));
    let info = store.create_blocking().unwrap();
    let path = file_of(dir.path(), &info);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..10].copy_from_slice(&(BACKUP_FORMAT + 1).to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let e = store.verify_blocking(&info.name).unwrap_err();
    assert!(
        matches!(e, BackupError::NewerFormat { found, .. } if found == BACKUP_FORMAT + 1),
        "{e:?}"
    );
    // A newer file is still listed by nobody: the list skips what it cannot read.
    assert!(store.list_blocking().unwrap().is_empty());

    // Not a backup at all; a name that leaves the directory; a missing one.
    let plain = dir.path().join("x.hqbackup");
    std::fs::copy(db.writer().db_path(), &plain).unwrap();
    let e = store.verify_blocking("x.hqbackup").unwrap_err();
    assert!(matches!(e, BackupError::NotABackup { .. }), "{e:?}");
    let e = store.verify_blocking("../x.hqbackup").unwrap_err();
    assert!(matches!(e, BackupError::InvalidName { .. }), "{e:?}");
    let e = store.verify_blocking("gone.hqbackup").unwrap_err();
    assert!(matches!(e, BackupError::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn a_chunk_boundary_body_and_an_empty_database_round_trip() {
    // Small chunks: many chunks, the last one full.
    let (db, dir) = db_with_rows().await;
    let key = EncKey::new("k1", [7; 32]).unwrap();
    let plain = std::fs::read(db.writer().db_path()).unwrap();
    let header = BackupHeader {
        format_version: BACKUP_FORMAT,
        data_format: 3,
        compression: format::Compression::None,
        log_index: 0,
        log_term: 0,
        created_ms: 0,
        lineage: 0,
        key_id: "k1".into(),
        plain_len: plain.len() as u64,
        sha256: [0; 32],
        nonce_prefix: [5; 16],
        key_check: crypto::key_check(&key, &[5; 16]),
        chunk_size: 512,
    };
    assert_eq!(plain.len() % 512, 0, "SQLite pages are a multiple of 512");
    let hb = header.encode();
    let mut sealed = Vec::new();
    crypto::seal_body(&key, &header, &hb, &mut plain.as_slice(), &mut sealed).unwrap();
    assert_eq!(sealed.len() as u64, header.body_len());
    let mut opened = Vec::new();
    crypto::open_body(&key, &header, &hb, "b", &mut sealed.as_slice(), &mut opened).unwrap();
    assert_eq!(opened, plain);
    // Dropping the whole last chunk is seen as truncation, not as a shorter valid body.
    let cut = &sealed[..sealed.len() - (512 + 16)];
    let e = crypto::open_body(&key, &header, &hb, "b", &mut &cut[..], &mut Vec::new()).unwrap_err();
    assert!(matches!(e, BackupError::Truncated { .. }), "{e:?}");

    // A database nothing was applied to: log index 0.
    let empty = Db::open();
    let store = backups(&empty, dir.path(), keys("k1", &[("k1", 1)]));
    let info = store.create_blocking().unwrap();
    assert_eq!((info.log_index, info.log_term), (0, 0));
    store.verify_blocking(&info.name).unwrap();
}

#[test]
fn without_an_active_key_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBackups::new(
        dir.path().join("db"),
        dir.path().join("b"),
        EncKeys::default(),
    );
    let e = store.create_blocking().unwrap_err();
    assert!(matches!(e, BackupError::NotConfigured(_)), "{e:?}");
}

#[tokio::test]
async fn leftovers_of_a_crash_are_removed_and_backups_kept() {
    let (db, dir) = db_with_rows().await;
    let store = backups(&db, dir.path(), keys("k1", &[("k1", 1)]));
    let info = store.create_blocking().unwrap();
    // What a crash in the middle of a backup leaves: a copy and an unfinished backup.
    let copy = store.dir.temp_path("copy").unwrap();
    let unfinished = store.dir.temp_path("backup").unwrap();
    // And one another node sharing the directory is writing right now.
    let in_progress = store.dir.temp_path("backup").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for (path, written) in [(&copy, an_hour_ago), (&unfinished, an_hour_ago)] {
        let file = std::fs::File::create(path).unwrap();
        file.set_modified(written).unwrap();
    }
    std::fs::write(&in_progress, b"being written").unwrap();
    let idle = std::time::Duration::from_secs(600);
    assert_eq!(store.dir.remove_leftovers(idle).unwrap(), 2);
    assert!(!copy.exists() && !unfinished.exists());
    assert!(
        in_progress.exists(),
        "a file written to just now was removed"
    );
    assert_eq!(store.list_blocking().unwrap(), vec![info]);
    assert_eq!(store.dir.remove_leftovers(idle).unwrap(), 0);
    let missing = LocalDir::new(dir.path().join("not-yet"));
    assert_eq!(missing.remove_leftovers(idle).unwrap(), 0);
}

#[tokio::test]
async fn backups_are_compressed() {
    let (mut db, dir) = db_with_rows().await;
    let rows: Vec<String> = (0..2_000)
        .map(|i| {
            format!("INSERT INTO t (v) VALUES ('row {i} of a table whose text repeats a lot')")
        })
        .collect();
    db.apply(rows.iter().map(|r| execute(r)).collect()).await;
    let store = backups(&db, dir.path(), keys("k1", &[("k1", 1)]));
    let info = store.create_blocking().unwrap();
    let out = dir.path().join("restored.db");
    decrypt_file(&file_of(dir.path(), &info), &store.keys, &out).unwrap();
    // The database (most of it is still in the WAL, so compare with the decrypted copy).
    let db_size = std::fs::metadata(&out).unwrap().len();
    assert!(
        info.size * 3 < db_size,
        "a backup of {} bytes for a database of {db_size} bytes",
        info.size
    );
    let conn = rusqlite::Connection::open(&out).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2_002);
}
