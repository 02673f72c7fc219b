//! How long the state machine remembers a write key's result (`WRITE_KEY_RETENTION`), applied
//! through the real writer thread at chosen log indexes and entry times.

use openraft::entry::RaftEntry;
use openraft::impls::leader_id_adv::LeaderId;

use crate::store::sqlite::test_db::{execute, Db, LEADER_TIME_MS};
use crate::types::command::{Command, RequestId};
use crate::types::raft::{Entry, LogId};
use crate::types::write_key::{WriteKey, WRITE_KEY_RETENTION};

const RETENTION_MS: i64 = WRITE_KEY_RETENTION.as_millis() as i64;

/// Applies one `INSERT INTO t` under `id` as the entry at `index`, proposed at `time_ms`: the
/// value 1 for a key's request, 2 for an ordinary client's.
async fn insert(db: &Db, index: u64, id: RequestId, time_ms: i64) {
    let value = if id.client == 1 { 2 } else { 1 };
    let cmd = Command {
        request_id: id,
        leader_time_ms: time_ms,
        op: execute(&format!("INSERT INTO t VALUES ({value})")),
    };
    let log_id = LogId::new(
        LeaderId {
            term: 1,
            node_id: 1,
        },
        index,
    );
    db.writer()
        .apply(vec![(Entry::new_normal(log_id, cmd), None)])
        .await
        .unwrap();
}

/// A request of an ordinary client (client 1) that has seen every earlier answer.
fn ordinary(seq: u64) -> RequestId {
    RequestId {
        client: 1,
        seq,
        answered_below: seq,
    }
}

/// How often the keyed (not the ordinary) inserts were applied.
fn rows(db: &Db) -> usize {
    db.rows("SELECT * FROM t WHERE x = 1").len()
}

#[tokio::test]
async fn a_key_is_remembered_for_the_retention_and_forgotten_after_it() {
    let mut db = Db::open();
    db.apply(vec![execute("CREATE TABLE t (x)")]).await;
    let key = WriteKey::new().request_id();
    let t0 = LEADER_TIME_MS;

    insert(&db, 10, key, t0).await;
    assert_eq!(rows(&db), 1);
    // Other writes, and a pruning point (index 1024) just inside the retention: the key stays.
    insert(&db, 11, ordinary(11), t0 + 1).await;
    insert(&db, 1024, ordinary(1024), t0 + RETENTION_MS - 1).await;
    insert(&db, 1025, key, t0 + RETENTION_MS - 1).await;
    assert_eq!(rows(&db), 1, "the repeat was answered from memory");
    // Past the retention, but no pruning point yet: still remembered.
    insert(&db, 1026, key, t0 + RETENTION_MS + 1).await;
    assert_eq!(rows(&db), 1);
    // The next pruning point after the retention forgets it: a repeat applies again.
    insert(&db, 2048, ordinary(2048), t0 + RETENTION_MS + 1).await;
    insert(&db, 2049, key, t0 + RETENTION_MS + 2).await;
    assert_eq!(rows(&db), 2, "forgotten after WRITE_KEY_RETENTION");
}

/// Why a key's `seq` half stays below 2^63: the state machine stores it as a signed integer and
/// forgets a client's results below its `answered_below` (0 for a key), so a larger `seq` would
/// be forgotten by its own repeat.
#[tokio::test]
async fn a_seq_with_the_high_bit_set_would_not_be_remembered() {
    let mut db = Db::open();
    db.apply(vec![execute("CREATE TABLE t (x)")]).await;
    let high = RequestId {
        client: 7,
        seq: (1 << 63) | 5,
        answered_below: 0,
    };
    insert(&db, 10, high, LEADER_TIME_MS).await;
    insert(&db, 11, high, LEADER_TIME_MS).await;
    assert_eq!(rows(&db), 2, "applied twice: keys must not use such a seq");
    let low = RequestId { seq: 5, ..high };
    insert(&db, 12, low, LEADER_TIME_MS).await;
    insert(&db, 13, low, LEADER_TIME_MS).await;
    assert_eq!(rows(&db), 3, "applied once");
}
