//! A full disk while applying: `SQLITE_FULL` is this machine's failure, never an entry's result
//! (the other replicas had space). The writer waits for space, then applies the entries as any
//! node with space did.

use std::time::{Duration, Instant};

use super::test_db::{execute, timed_entries, LEADER_TIME_MS};
use super::writer::SqliteWriter;
use crate::types::command::{WriteOp, WriteOutput};
use crate::types::disk::small_fs::SmallFs;
use crate::types::disk::{DiskSpace, DiskUser};
use crate::types::value::Value;

fn insert_blob(n: i64, bytes: usize) -> (i64, WriteOp) {
    let op = WriteOp::Execute {
        sql: "INSERT INTO t (n, b) VALUES (?, ?)".into(),
        params: vec![Value::Integer(n), Value::Blob(vec![0x5a; bytes])],
    };
    (LEADER_TIME_MS, op)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_on_a_full_disk_waits_for_space_and_is_not_an_entry_error() {
    let Some(fs) = SmallFs::mount(8 * 1024) else {
        return;
    };
    let path = fs.path().join("db.sqlite");
    let disk = DiskSpace::default();
    let (writer, _) = SqliteWriter::open_reporting(&path, disk.clone()).unwrap();
    writer
        .apply(timed_entries(
            1,
            vec![(
                LEADER_TIME_MS,
                execute("CREATE TABLE t (n INTEGER PRIMARY KEY, b BLOB)"),
            )],
        ))
        .await
        .unwrap();
    fs.fill();

    // Two entries of 1 MiB each: they cannot fit until the ballast goes.
    let items = timed_entries(2, vec![insert_blob(1, 1 << 20), insert_blob(2, 1 << 20)]);
    let applied = writer.apply(items);
    tokio::pin!(applied);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::select! {
            result = &mut applied => panic!("the apply finished on a full disk: {result:?}"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        if disk.state().first().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no full disk was reported");
    }
    let full = disk.state().first().cloned().unwrap();
    assert_eq!(full.user, DiskUser::Database);
    assert_eq!(full.path, path);
    assert!(full.detail.contains("full"), "{}", full.detail);
    assert_eq!(
        *writer.applied_index().borrow(),
        1,
        "nothing of the batch is applied"
    );

    fs.free();
    tokio::time::timeout(Duration::from_secs(20), &mut applied)
        .await
        .expect("the apply finishes once space is back")
        .unwrap();
    assert_eq!(disk.state().first(), None);
    assert_eq!(*writer.applied_index().borrow(), 3);
    // Both entries ran and succeeded, as on a node that had space: no "disk full" result.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for seq in [2i64, 3] {
        let bytes: Vec<u8> = conn
            .query_row(
                "SELECT result FROM _hiqlite_requests WHERE client = 1 AND seq = ?",
                [seq],
                |r| r.get(0),
            )
            .unwrap();
        let result: crate::types::command::CommandResult = postcard::from_bytes(&bytes).unwrap();
        assert!(
            matches!(
                result,
                Ok(WriteOutput::Executed {
                    rows_affected: 1,
                    ..
                })
            ),
            "entry {seq}: {result:?}"
        );
    }
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);
}
