//! The writer's fidelity to SQLite where a replicated state machine differs from one
//! connection: VACUUM, connection-history functions, the log's clock. Each test applies entries
//! through the real writer thread.

use rusqlite::types::Value as Sql;

use crate::store::sqlite::test_db::{execute, Db, LEADER_TIME_MS};
use crate::types::command::{SqlError, TxnStatement, TxnStatementKind, WriteOp, WriteOutput};

fn int(db: &Db, sql: &str) -> i64 {
    match db.rows(sql).as_slice() {
        [row] => match row.as_slice() {
            [Sql::Integer(i)] => *i,
            other => panic!("{sql}: {other:?}"),
        },
        other => panic!("{sql}: {other:?}"),
    }
}

#[tokio::test]
async fn vacuum_runs_between_entries_of_one_batch_and_frees_pages() {
    let mut db = Db::open();
    let setup = db
        .apply(vec![
            execute("CREATE TABLE t (a TEXT)"),
            execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
                 INSERT INTO t SELECT hex(zeroblob(2000)) FROM n",
            ),
            execute("DELETE FROM t WHERE rowid % 10 <> 0"),
        ])
        .await;
    assert!(setup.iter().all(Result::is_ok), "{setup:?}");
    let free_before = int(&db, "PRAGMA freelist_count");
    assert!(
        free_before > 100,
        "deleting rows left free pages: {free_before}"
    );
    let rowids_before = db.rows("SELECT rowid FROM t ORDER BY rowid");

    // One batch: a write, the VACUUM, another write; all three apply, in order.
    let results = db
        .apply(vec![
            execute("INSERT INTO t VALUES ('before')"),
            execute("VACUUM"),
            execute("INSERT INTO t VALUES ('after')"),
        ])
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        int(&db, "PRAGMA freelist_count"),
        0,
        "VACUUM freed the pages"
    );
    assert_eq!(
        int(&db, "SELECT count(*) FROM t WHERE a IN ('before', 'after')"),
        2
    );
    // SQLite's VACUUM renumbers the rows of a table without INTEGER PRIMARY KEY in rowid order:
    // the same on every node, and what plain SQLite gives.
    let reference = rusqlite::Connection::open_in_memory().unwrap();
    reference.execute_batch("CREATE TABLE t (a TEXT)").unwrap();
    for row in &rowids_before {
        let Sql::Integer(r) = row[0] else {
            panic!("{row:?}")
        };
        reference
            .execute("INSERT INTO t (rowid, a) VALUES (?1, 'x')", [r])
            .unwrap();
    }
    reference
        .execute_batch("INSERT INTO t VALUES ('before'); VACUUM; INSERT INTO t VALUES ('after');")
        .unwrap();
    let expected: Vec<Vec<Sql>> = reference
        .prepare("SELECT rowid FROM t ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok(vec![r.get(0)?]))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(db.rows("SELECT rowid FROM t ORDER BY rowid"), expected);

    // Applied once: the last entry's index is recorded, and a repeat is answered, not re-run.
    db.reopen();
    assert_eq!(int(&db, "SELECT count(*) FROM t WHERE a = 'after'"), 1);
    let again = db.apply(vec![execute("VACUUM")]).await;
    assert!(again[0].is_ok(), "{again:?}");
}

#[tokio::test]
async fn vacuum_where_it_cannot_run_is_a_clear_error() {
    let mut db = Db::open();
    let results = db
        .apply(vec![
            execute("CREATE TABLE t (x)"),
            execute("VACUUM INTO '/tmp/hiqlite-should-not-exist.db'"),
            WriteOp::Batch {
                sql: "VACUUM; INSERT INTO t VALUES (1)".into(),
            },
            WriteOp::Txn {
                statements: vec![TxnStatement {
                    sql: "VACUUM".into(),
                    params: vec![],
                    kind: TxnStatementKind::Execute,
                }],
            },
        ])
        .await;
    assert!(results[0].is_ok());
    let message = |i: usize| results[i].clone().unwrap_err().to_string();
    assert!(
        message(1).contains("VACUUM INTO is not allowed in writes"),
        "{}",
        message(1)
    );
    assert!(
        message(2).contains("cannot VACUUM from within a transaction"),
        "{}",
        message(2)
    );
    assert!(
        message(3).contains("cannot VACUUM from within a transaction"),
        "{}",
        message(3)
    );
    assert!(!std::path::Path::new("/tmp/hiqlite-should-not-exist.db").exists());
    assert_eq!(int(&db, "SELECT count(*) FROM t"), 0);
}

/// `changes()` and `total_changes()` count from the start of each entry, so the values stored do
/// not depend on how entries were cut into batches or on restarts.
#[tokio::test]
async fn connection_history_functions_do_not_depend_on_batches_or_restarts() {
    let ops = || {
        vec![
            execute("CREATE TABLE t (x); CREATE TABLE log (what, changes, total)"),
            execute("INSERT INTO t VALUES (1), (2), (3)"),
            execute("INSERT INTO log VALUES ('fresh entry', changes(), total_changes())"),
            WriteOp::Batch {
                sql: "UPDATE t SET x = x + 1 WHERE x > 1;
                      INSERT INTO log VALUES ('after update', changes(), total_changes());"
                    .into(),
            },
        ]
    };
    let fix = |ops: Vec<WriteOp>| -> Vec<WriteOp> {
        ops.into_iter()
            .map(|op| match op {
                WriteOp::Execute { sql, .. } if sql.contains(';') => WriteOp::Batch { sql },
                other => other,
            })
            .collect()
    };
    let mut one_batch = Db::open();
    one_batch.apply(fix(ops())).await;
    let mut one_by_one = Db::open();
    for (i, op) in fix(ops()).into_iter().enumerate() {
        if i == 2 {
            one_by_one.reopen();
        }
        let result = one_by_one.apply(vec![op]).await;
        assert!(result[0].is_ok(), "{result:?}");
    }
    let log = "SELECT what, changes, total FROM log ORDER BY rowid";
    let expected = vec![
        vec![
            Sql::Text("fresh entry".into()),
            Sql::Integer(0),
            Sql::Integer(0),
        ],
        vec![
            Sql::Text("after update".into()),
            Sql::Integer(2),
            Sql::Integer(2),
        ],
    ];
    assert_eq!(one_batch.rows(log), expected);
    assert_eq!(one_by_one.rows(log), expected);
}

#[tokio::test]
async fn the_logs_clock_never_goes_backwards_and_survives_restarts() {
    let mut db = Db::open();
    let hour = 3_600_000;
    let t = LEADER_TIME_MS;
    let insert =
        || execute("INSERT INTO times VALUES (CAST(unixepoch('subsec') * 1000 AS INTEGER))");
    let results = db
        .apply_timed(vec![
            (t, execute("CREATE TABLE times (ms INTEGER)")),
            (t, insert()),
            // A leader whose clock is an hour ahead, then one with the right time.
            (t + hour, insert()),
            (t + 1_000, insert()),
        ])
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    db.reopen();
    db.apply_timed(vec![(t + 2_000, insert()), (t + hour + 5, insert())])
        .await;
    let times: Vec<i64> = db
        .rows("SELECT ms FROM times ORDER BY rowid")
        .into_iter()
        .map(|r| match r[0] {
            Sql::Integer(ms) => ms,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(times, [t, t + hour, t + hour, t + hour, t + hour + 5]);
}

#[tokio::test]
async fn temp_objects_are_refused_with_the_reason() {
    let mut db = Db::open();
    let results = db
        .apply(vec![execute("CREATE TEMP VIEW v AS SELECT 1")])
        .await;
    match &results[0] {
        Err(SqlError::Sqlite { message }) => {
            assert!(message.contains("TEMP tables, views"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let ok = db.apply(vec![execute("CREATE VIEW v AS SELECT 1")]).await;
    assert!(matches!(ok[0], Ok(WriteOutput::Executed { .. })), "{ok:?}");
}

/// `OR ROLLBACK`, `RAISE(ROLLBACK)` and an interrupted write end SQLite's whole transaction, not
/// just the statement: the entry fails alone, as in plain SQLite, and the entries before it in
/// the same batch stay applied.
#[tokio::test]
async fn statements_that_end_the_transaction_fail_alone() {
    let mut db = Db::open();
    let setup = db
        .apply(vec![WriteOp::Batch {
            sql: "CREATE TABLE t (id INTEGER PRIMARY KEY);
                  CREATE TABLE g (x);
                  CREATE TRIGGER no_two BEFORE INSERT ON g WHEN new.x = 2
                      BEGIN SELECT RAISE(ROLLBACK, 'no 2'); END;
                  INSERT INTO t VALUES (1);"
                .into(),
        }])
        .await;
    assert!(setup[0].is_ok(), "{setup:?}");
    let results = db
        .apply(vec![
            execute("INSERT INTO t VALUES (2)"),
            execute("INSERT OR ROLLBACK INTO t VALUES (1)"),
            execute("INSERT INTO g VALUES (1)"),
            execute("INSERT INTO g VALUES (2)"),
            execute("INSERT INTO t VALUES (3)"),
        ])
        .await;
    let message = |i: usize| results[i].clone().unwrap_err().to_string();
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(message(1), "SQL error: UNIQUE constraint failed: t.id");
    assert!(results[2].is_ok(), "{results:?}");
    assert_eq!(message(3), "SQL error: no 2");
    assert!(results[4].is_ok(), "{results:?}");
    assert_eq!(
        db.rows("SELECT id FROM t ORDER BY id"),
        vec![
            vec![Sql::Integer(1)],
            vec![Sql::Integer(2)],
            vec![Sql::Integer(3)]
        ]
    );
    assert_eq!(db.rows("SELECT x FROM g"), vec![vec![Sql::Integer(1)]]);
    // Applied: a restart replays nothing of it.
    db.reopen();
    assert_eq!(int(&db, "SELECT count(*) FROM t"), 3);
}

/// A failed write keeps nothing, whatever SQLite would leave inside a transaction: a statement
/// without a statement journal (`INSERT OR IGNORE` into a STRICT table meeting a wrong type)
/// leaves its earlier rows there, and plain SQLite's autocommit undoes them too. `OR FAIL` keeps
/// nothing either (plain SQLite in autocommit mode would keep the rows before the failing one;
/// docs/sql.md).
#[tokio::test]
async fn a_failed_write_keeps_nothing() {
    let mut db = Db::open();
    let results = db
        .apply(vec![
            execute("CREATE TABLE s (a INTEGER PRIMARY KEY, b BLOB) STRICT"),
            WriteOp::ExecuteReturning {
                sql: "INSERT OR IGNORE INTO s VALUES (1, x'01'), (2, x'02'), (3, 3) RETURNING *"
                    .into(),
                params: vec![],
            },
            execute("CREATE TABLE t (a NOT NULL)"),
            execute("INSERT OR FAIL INTO t VALUES (1), (NULL), (3)"),
        ])
        .await;
    assert!(results[1].is_err(), "{results:?}");
    assert_eq!(
        results[3].clone().unwrap_err().to_string(),
        "SQL error: NOT NULL constraint failed: t.a"
    );
    let reference = rusqlite::Connection::open_in_memory().unwrap();
    reference
        .execute_batch("CREATE TABLE s (a INTEGER PRIMARY KEY, b BLOB) STRICT")
        .unwrap();
    assert!(reference
        .execute_batch("INSERT OR IGNORE INTO s VALUES (1, x'01'), (2, x'02'), (3, 3) RETURNING *")
        .is_err());
    let in_reference: i64 = reference
        .query_row("SELECT count(*) FROM s", [], |r| r.get(0))
        .unwrap();
    assert_eq!(in_reference, 0);
    assert_eq!(int(&db, "SELECT count(*) FROM s"), 0);
    assert_eq!(int(&db, "SELECT count(*) FROM t"), 0);
}

/// An AUTOINCREMENT table at the largest rowid makes the next insert fail with SQLITE_FULL on
/// every node: that is the statement's error, not a full disk that stops the node.
#[tokio::test]
async fn autoincrement_at_the_largest_rowid_is_a_statement_error() {
    let mut db = Db::open();
    let results = db
        .apply(vec![
            execute("CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, x)"),
            execute("INSERT INTO a VALUES (9223372036854775807, 1)"),
            execute("DELETE FROM a"),
            execute("INSERT INTO a (x) VALUES (2)"),
            execute("INSERT INTO a VALUES (5, 3)"),
        ])
        .await;
    assert_eq!(
        results[3].clone().unwrap_err().to_string(),
        "SQL error: database or disk is full"
    );
    assert!(results[4].is_ok(), "the node goes on applying: {results:?}");
    assert_eq!(int(&db, "SELECT x FROM a"), 3);
}

/// A statement interrupted by the step budget inside the writer's transaction ends it (SQLite
/// rolls back an interrupted write's whole transaction); the entry fails alone.
#[tokio::test]
async fn an_endless_write_fails_alone() {
    let mut db = Db::open_with_step_budget(2_000_000);
    let results = db
        .apply(vec![
            execute("CREATE TABLE t (x)"),
            execute("INSERT INTO t VALUES (1)"),
            execute(
                "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                 SELECT x FROM c",
            ),
            execute("INSERT INTO t VALUES (2)"),
        ])
        .await;
    assert!(
        results[2]
            .clone()
            .unwrap_err()
            .to_string()
            .contains("statement interrupted"),
        "{results:?}"
    );
    assert_eq!(
        db.rows("SELECT x FROM t ORDER BY x"),
        vec![vec![Sql::Integer(1)], vec![Sql::Integer(2)]]
    );
}
