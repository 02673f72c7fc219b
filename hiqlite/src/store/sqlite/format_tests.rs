//! The cluster's format on the writer (see `types::format`): entries apply as format 1 did until a
//! `SetFormat` entry raises the format; the format is recorded with the data and survives a
//! restart; a format this binary does not know stops the writer with an error that says so.

use rusqlite::types::Value as Sql;

use crate::store::sqlite::test_db::{execute, Db, LEADER_TIME_MS};
use crate::types::command::{SqlError, WriteOp};
use crate::types::format::NEWEST;

fn message(result: &crate::types::command::CommandResult) -> String {
    match result {
        Err(SqlError::Sqlite { message }) => message.clone(),
        other => panic!("expected an SQLite error, got {other:?}"),
    }
}

#[tokio::test]
async fn format_1_applies_as_format_1_did_until_the_format_is_raised() {
    let mut db = Db::open_in_format(1);
    assert_eq!(db.writer().cluster_format().get(), 1);
    let hour = 3_600_000;
    let t = LEADER_TIME_MS;
    let insert_time =
        || execute("INSERT INTO times VALUES (CAST(unixepoch('subsec') * 1000 AS INTEGER))");
    let results = db
        .apply_timed(vec![
            (t, execute("CREATE TABLE times (ms INTEGER)")),
            (t, execute("CREATE TABLE r (x REAL)")),
            (t + hour, insert_time()),
            // Format 1 takes the leader's clock as it is, even when it went back.
            (t + 1_000, insert_time()),
            (t, execute("INSERT INTO r VALUES (sqrt(16.0))")),
            (t, execute("VACUUM")),
        ])
        .await;
    assert!(results[..4].iter().all(Result::is_ok), "{results:?}");
    assert!(
        message(&results[4]).contains("no such function: sqrt"),
        "{results:?}"
    );
    assert!(message(&results[5]).contains("VACUUM"), "{results:?}");

    // The format is raised: in the same batch, the entries after it apply in format 2.
    let results = db
        .apply_timed(vec![
            (t, WriteOp::SetFormat { format: 2 }),
            (t + 500, insert_time()),
            (t + 100, insert_time()),
            (t, execute("INSERT INTO r VALUES (sqrt(16.0))")),
            (t, execute("VACUUM")),
        ])
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(db.writer().cluster_format().get(), 2);
    let times: Vec<Sql> = db
        .rows("SELECT ms FROM times ORDER BY rowid")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    // From format 2 on, an entry's time never goes back (the format change itself, applied in
    // format 1, took its leader's clock as it was).
    assert_eq!(
        times,
        [
            Sql::Integer(t + hour),
            Sql::Integer(t + 1_000),
            Sql::Integer(t + 500),
            Sql::Integer(t + 500)
        ]
    );
    assert_eq!(db.rows("SELECT x FROM r"), [[Sql::Real(4.0)]]);

    // Recorded with the data: a restarted writer applies in format 2.
    db.reopen();
    assert_eq!(db.writer().cluster_format().get(), 2);
    let results = db
        .apply(vec![execute("INSERT INTO r VALUES (exp(0.0))")])
        .await;
    assert!(results[0].is_ok(), "{results:?}");
}

#[tokio::test]
async fn formats_never_go_back() {
    let mut db = Db::open_in_format(1);
    let results = db
        .apply(vec![
            WriteOp::SetFormat { format: 2 },
            WriteOp::SetFormat { format: 1 },
        ])
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(db.writer().cluster_format().get(), 2);
}

#[tokio::test]
async fn a_format_newer_than_this_binary_stops_the_writer_with_a_clear_error() {
    let mut db = Db::open_in_format(NEWEST);
    db.apply(vec![execute("CREATE TABLE t (a)")]).await;
    let newer = NEWEST + 1;
    let err = db
        .try_apply(vec![
            execute("INSERT INTO t VALUES (1)"),
            WriteOp::SetFormat { format: newer },
            execute("INSERT INTO t VALUES (2)"),
        ])
        .await
        .expect_err("a format this binary does not know");
    let text = err.to_string();
    assert!(
        text.contains(&format!("raises the cluster to format {newer}"))
            && text.contains("upgrade this node"),
        "{text}"
    );
    // What came before it is applied; nothing from the entry on.
    assert_eq!(db.rows("SELECT a FROM t"), [[Sql::Integer(1)]]);
    assert_eq!(db.writer().cluster_format().get(), NEWEST);
}
