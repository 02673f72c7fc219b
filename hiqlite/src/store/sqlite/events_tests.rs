//! The writer's events (`events_hook.rs`): published once per committed entry, never for what
//! rolled back, also when a segment starts over.

use super::test_db::{execute, Db};
use crate::store::events::{Notification, Subscription, TableEvent, TableOp};
use crate::types::command::{SqlError, WriteOp};

fn drain<T: Clone>(sub: &mut Subscription<T>) -> Vec<T> {
    let mut out = Vec::new();
    while let Some(m) = sub.try_recv().expect("no lag") {
        out.push(m);
    }
    out
}

fn notify(payload: &str) -> WriteOp {
    WriteOp::Notify {
        channel: "c".into(),
        payload: payload.into(),
    }
}

#[tokio::test]
async fn notify_needs_format_5() {
    let mut db = Db::open_in_format(4);
    let results = db.apply(vec![notify("x")]).await;
    match &results[0] {
        Err(SqlError::Sqlite { message }) => {
            assert!(message.contains("needs cluster format 5"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn committed_entries_publish_once_and_rolled_back_ones_never() {
    let mut db = Db::open();
    db.apply(vec![execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")])
        .await;
    let events = db.writer().events();
    let mut tables = events.listen_tables(&["t"]);
    let mut notes = events.listen("c");
    let results = db
        .apply(vec![
            execute("INSERT INTO t VALUES (1)"),
            notify("kept"),
            // Fails alone: its savepoint rolls back, and its row event with it.
            execute("INSERT INTO t VALUES (10), (1)"),
            // Ends the whole transaction: the segment starts over and the entries before it
            // run again; their events must not come twice.
            execute("INSERT OR ROLLBACK INTO t VALUES (1)"),
            execute("INSERT INTO t VALUES (2)"),
        ])
        .await;
    assert!(results[2].is_err() && results[3].is_err(), "{results:?}");
    let got: Vec<(TableOp, i64)> = drain(&mut tables)
        .into_iter()
        .map(|e: TableEvent| (e.op, e.rowid))
        .collect();
    assert_eq!(got, vec![(TableOp::Insert, 1), (TableOp::Insert, 2)]);
    let notes: Vec<String> = drain(&mut notes)
        .into_iter()
        .map(|n: Notification| n.payload)
        .collect();
    assert_eq!(notes, vec!["kept".to_string()]);
}
