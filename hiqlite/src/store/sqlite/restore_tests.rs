//! Restoring through the log (`restore.rs`) and claiming ticks (`ticks.rs`) on the real writer.

use rusqlite::types::Value as Sql;
use sha2::{Digest, Sha256};

use crate::store::sqlite::test_db::{execute, Db};
use crate::store::sqlite::writer::read_applied_state;
use crate::types::command::{SqlError, WriteOp, WriteOutput};

/// A database of another cluster with table `t` (rows 1..=3), as the plain SQLite file a backup
/// decrypts to, and the log index it had applied.
async fn backup_bytes() -> (Vec<u8>, u64) {
    let mut source = Db::open();
    let results = source
        .apply(vec![
            execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"),
            execute("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')"),
        ])
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.sqlite");
    source
        .read()
        .execute("VACUUM INTO ?", [copy.to_str().unwrap()])
        .unwrap();
    (std::fs::read(&copy).unwrap(), 2)
}

fn pieces(restore: u64, bytes: &[u8], size: usize) -> Vec<WriteOp> {
    bytes
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| WriteOp::RestoreChunk {
            restore,
            offset: (i * size) as u64,
            bytes: chunk.to_vec(),
        })
        .collect()
}

fn commit(restore: u64, bytes: &[u8]) -> WriteOp {
    WriteOp::RestoreCommit {
        restore,
        size: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
    }
}

fn refusal(result: &crate::types::command::CommandResult) -> String {
    match result {
        Err(SqlError::Sqlite { message }) => message.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_committed_restore_replaces_the_data_and_rolls_the_log_index_over() {
    let (bytes, source_index) = backup_bytes().await;
    let mut db = Db::open();
    let before = db
        .apply(vec![
            execute("CREATE TABLE mine (x)"),
            execute("INSERT INTO mine VALUES (1)"),
        ])
        .await;
    assert!(before.iter().all(Result::is_ok));
    // Pieces out of order, one sent twice; the commit and a write after it in one batch.
    let mut ops = pieces(7, &bytes, 1000);
    ops.reverse();
    ops.push(ops[0].clone());
    let commit_index = 2 + ops.len() as u64 + 1;
    ops.push(commit(7, &bytes));
    ops.push(execute("INSERT INTO t (name) VALUES ('after')"));
    let results = db.apply(ops).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        results[results.len() - 2],
        Ok(WriteOutput::Restored {
            log_index: source_index,
            log_term: 1,
            entry_time_ms: crate::store::sqlite::test_db::LEADER_TIME_MS,
            at_index: commit_index,
        })
    );

    let names: Vec<Sql> = db
        .rows("SELECT name FROM t ORDER BY id")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let text = |s: &str| Sql::Text(s.into());
    assert_eq!(names, vec![text("a"), text("b"), text("c"), text("after")]);
    assert!(!db.has_table("mine"), "the old data is gone");
    assert!(!db.has_table("_hiqlite_restore"), "the pieces are gone");
    // This cluster's request results survive (a retried earlier write is answered, not re-run),
    // and the log index is this log's: the commit entry, then the write after it.
    assert!(db.result(2).is_ok());
    let state = read_applied_state(&db.read()).unwrap();
    assert_eq!(state.last_applied.map(|l| l.index), Some(commit_index + 1));
    assert_eq!(*db.writer().applied_index().borrow(), commit_index + 1);
    assert_eq!(state.lineage, 7, "a restore starts a lineage: its id");
    assert_eq!(*db.writer().lineage().borrow(), 7);

    // A restart finds the restored database as it was left.
    db.reopen();
    assert_eq!(
        db.rows("SELECT count(*) FROM t"),
        vec![vec![Sql::Integer(4)]]
    );
}

#[tokio::test]
async fn a_restore_whose_pieces_do_not_match_is_refused_and_changes_nothing() {
    let (bytes, _) = backup_bytes().await;
    let mut db = Db::open();
    db.apply(vec![execute("CREATE TABLE mine (x)")]).await;

    // A changed byte: the checksum differs.
    let mut ops = pieces(1, &bytes, 4096);
    let mut wrong = bytes.clone();
    wrong[100] ^= 1;
    ops.push(commit(1, &wrong));
    let results = db.apply(ops).await;
    assert!(
        refusal(results.last().unwrap()).contains("SHA-256"),
        "{results:?}"
    );
    assert!(db.has_table("mine") && !db.has_table("t"));
    assert_eq!(
        db.rows("SELECT count(*) FROM _hiqlite_restore WHERE restore = 1"),
        vec![vec![Sql::Integer(0)]],
        "a refused restore's pieces are dropped"
    );

    // A missing piece.
    let mut ops = pieces(2, &bytes, 4096);
    ops.remove(1);
    ops.push(commit(2, &bytes));
    let results = db.apply(ops).await;
    assert!(
        refusal(results.last().unwrap()).contains("piece at byte 4096 is missing"),
        "{results:?}"
    );

    // Bytes that are not a database.
    let junk = vec![7u8; 8192];
    let mut ops = pieces(3, &junk, 4096);
    ops.push(commit(3, &junk));
    let results = db.apply(ops).await;
    assert!(
        refusal(results.last().unwrap()).contains("not a sound Hiqlite database"),
        "{results:?}"
    );
    assert!(db.has_table("mine") && !db.has_table("t"));
}

#[tokio::test]
async fn a_new_restore_drops_the_pieces_of_an_abandoned_one() {
    let (bytes, _) = backup_bytes().await;
    let mut db = Db::open();
    let mut ops = pieces(1, &bytes, 4096);
    ops.truncate(2);
    db.apply(ops).await;
    db.apply(pieces(2, &bytes, 4096)).await;
    assert_eq!(
        db.rows("SELECT DISTINCT restore FROM _hiqlite_restore"),
        vec![vec![Sql::Integer(2)]]
    );
}

#[tokio::test]
async fn restore_entries_need_format_4() {
    let mut db = Db::open_in_format(3);
    let results = db
        .apply(vec![
            WriteOp::RestoreChunk {
                restore: 1,
                offset: 0,
                bytes: vec![1],
            },
            WriteOp::ClaimTick {
                job: "backup".into(),
                tick_ms: 1,
            },
        ])
        .await;
    for result in &results {
        assert!(
            refusal(result).contains("needs cluster format 4"),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn a_tick_is_claimed_once_and_only_forwards() {
    let mut db = Db::open();
    let claim = |tick_ms| WriteOp::ClaimTick {
        job: "backup".into(),
        tick_ms,
    };
    let results = db
        .apply(vec![claim(100), claim(100), claim(50), claim(200)])
        .await;
    let claimed = |claimed, last_tick_ms| {
        Ok(WriteOutput::TickClaimed {
            claimed,
            last_tick_ms,
        })
    };
    assert_eq!(
        results,
        vec![
            claimed(true, None),
            claimed(false, Some(100)),
            claimed(false, Some(100)),
            claimed(true, Some(100)),
        ]
    );
}

#[tokio::test]
async fn reaching_format_4_starts_the_same_lineage_on_every_node() {
    let lineage_after_raise = || async {
        let mut db = Db::open_in_format(3);
        assert_eq!(*db.writer().lineage().borrow(), 0);
        db.apply(vec![
            WriteOp::SetFormat { format: 4 },
            WriteOp::SetFormat { format: 4 },
        ])
        .await;
        let published = *db.writer().lineage().borrow();
        assert_eq!(read_applied_state(&db.read()).unwrap().lineage, published);
        db.reopen();
        assert_eq!(
            *db.writer().lineage().borrow(),
            published,
            "kept across a restart"
        );
        published
    };
    let first = lineage_after_raise().await;
    assert_ne!(first, 0);
    assert_eq!(
        lineage_after_raise().await,
        first,
        "same entries, same lineage"
    );
}
