//! Cache and lock operations applied through the real writer: expiry by entry time, the format
//! gate, lock grants, renewals, fences and the size bound.

use super::test_db::{execute, Db, LEADER_TIME_MS as T};
use crate::types::cache::{CacheOp, CacheOutput, FENCE_SQL};
use crate::types::command::{CommandResult, SqlError, TxnParam, TxnStatement, TxnStatementKind};
use crate::types::command::{WriteOp, WriteOutput};
use crate::types::value::Value;

fn put(key: &str, ttl_ms: Option<u64>, max_bytes: u64) -> WriteOp {
    WriteOp::Cache(CacheOp::Put {
        cache: "c".into(),
        key: key.as_bytes().to_vec(),
        value: vec![b'v'; 8],
        ttl_ms,
        max_bytes,
    })
}

fn cache(op: CacheOp) -> WriteOp {
    WriteOp::Cache(op)
}

fn out(result: &CommandResult) -> CacheOutput {
    match result {
        Ok(WriteOutput::Cache(o)) => o.clone(),
        other => panic!("not a cache output: {other:?}"),
    }
}

fn keys(db: &Db) -> Vec<String> {
    db.rows("SELECT key FROM _hiqlite_cache ORDER BY key")
        .into_iter()
        .map(|r| match &r[0] {
            rusqlite::types::Value::Blob(b) => String::from_utf8(b.clone()).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn cache_entries_need_format_5() {
    let mut db = Db::open_in_format(4);
    let results = db.apply(vec![put("k", None, 0)]).await;
    let refused = format!("{:?}", results[0]);
    assert!(refused.contains("needs cluster format 5"), "{refused}");
    assert!(!db.has_table("_hiqlite_cache"));
}

#[tokio::test]
async fn keys_expire_at_the_first_entry_at_or_after_their_expiry() {
    let mut db = Db::open();
    db.apply_timed(vec![
        (T, put("short", Some(100), 0)),
        (T, put("long", None, 0)),
    ])
    .await;
    // An entry 99 ms later leaves it; one at 100 ms removes it, whatever kind of cache entry.
    let results = db
        .apply_timed(vec![
            (T + 99, cache(CacheOp::Expire)),
            (T + 100, cache(CacheOp::Expire)),
        ])
        .await;
    assert_eq!(out(&results[0]), CacheOutput::Expired(0));
    assert_eq!(out(&results[1]), CacheOutput::Expired(1));
    assert_eq!(keys(&db), ["long"]);
    // An SQL entry does not expire keys.
    db.apply_timed(vec![(T + 200, put("s2", Some(1), 0))]).await;
    db.apply_timed(vec![(T + 300, execute("CREATE TABLE t (x)"))])
        .await;
    assert_eq!(keys(&db), ["long", "s2"]);
}

#[tokio::test]
async fn counters_and_compare_and_swap() {
    let mut db = Db::open();
    let add = |delta| {
        cache(CacheOp::Add {
            cache: "c".into(),
            key: b"n".to_vec(),
            delta,
            ttl_ms: None,
            max_bytes: 0,
        })
    };
    let results = db.apply(vec![add(5), add(-2), add(i64::MAX)]).await;
    assert_eq!(out(&results[0]), CacheOutput::Counter(5));
    assert_eq!(out(&results[1]), CacheOutput::Counter(3));
    assert!(
        matches!(results[2], Err(SqlError::Sqlite { .. })),
        "{:?}",
        results[2]
    );
    let cas = |expected: Option<&[u8]>, new: &[u8]| {
        cache(CacheOp::CompareAndSwap {
            cache: "c".into(),
            key: b"k".to_vec(),
            expected: expected.map(<[u8]>::to_vec),
            new: Some(new.to_vec()),
            ttl_ms: None,
            max_bytes: 0,
        })
    };
    let results = db
        .apply(vec![
            cas(None, b"a"),
            cas(None, b"b"),
            cas(Some(b"a"), b"c"),
        ])
        .await;
    assert_eq!(
        out(&results[0]),
        CacheOutput::Swapped {
            swapped: true,
            previous: None
        }
    );
    assert_eq!(
        out(&results[1]),
        CacheOutput::Swapped {
            swapped: false,
            previous: Some(b"a".to_vec())
        }
    );
    assert_eq!(
        out(&results[2]),
        CacheOutput::Swapped {
            swapped: true,
            previous: Some(b"a".to_vec())
        }
    );
}

fn fenced(token: u64) -> WriteOp {
    WriteOp::Txn {
        statements: vec![
            TxnStatement {
                sql: FENCE_SQL.into(),
                params: vec![
                    TxnParam::Value(Value::Text("l".into())),
                    TxnParam::Value(Value::Integer(token as i64)),
                ],
                kind: TxnStatementKind::Guard,
            },
            TxnStatement {
                sql: "INSERT INTO t (x) VALUES (1)".into(),
                params: vec![],
                kind: TxnStatementKind::Execute,
            },
        ],
    }
}

/// A fence on a database where no lock was ever granted fails as a guard (no grant holds the
/// lock), not with "no such table".
#[tokio::test]
async fn a_fence_before_any_lock_fails_as_a_guard() {
    let mut db = Db::open();
    db.apply_timed(vec![(T, execute("CREATE TABLE t (x)"))])
        .await;
    let results = db.apply_timed(vec![(T, fenced(1))]).await;
    assert_eq!(results[0], Err(SqlError::GuardFailed { statement: 0 }));
    assert!(!db.has_table("_hiqlite_locks"));
    assert!(db.rows("SELECT x FROM t").is_empty());
}

#[tokio::test]
async fn locks_grant_renew_expire_and_fence() {
    let mut db = Db::open();
    db.apply_timed(vec![(T, execute("CREATE TABLE t (x)"))])
        .await;
    let lock = |holder| {
        cache(CacheOp::Lock {
            name: "l".into(),
            holder,
            lease_ms: 1000,
        })
    };
    // Index 2: A is granted (token 2); B is refused while the lease runs.
    let results = db.apply_timed(vec![(T, lock(1)), (T + 10, lock(2))]).await;
    assert_eq!(
        out(&results[0]),
        CacheOutput::Lock {
            token: Some(2),
            expires_ms: T + 1000
        }
    );
    assert_eq!(
        out(&results[1]),
        CacheOutput::Lock {
            token: None,
            expires_ms: T + 1000
        }
    );
    let renew = |token| {
        cache(CacheOp::Renew {
            name: "l".into(),
            token,
            lease_ms: 1000,
        })
    };
    let results = db
        .apply_timed(vec![(T + 900, renew(2)), (T + 1500, fenced(2))])
        .await;
    assert_eq!(
        out(&results[0]),
        CacheOutput::Held {
            held: true,
            expires_ms: T + 1900
        }
    );
    assert!(results[1].is_ok(), "{:?}", results[1]);
    // The lease runs out at T + 1900: B gets a larger token; A's renewal and fence fail.
    let results = db
        .apply_timed(vec![
            (T + 1900, lock(2)),
            (T + 1901, renew(2)),
            (T + 1902, fenced(2)),
        ])
        .await;
    let CacheOutput::Lock { token: Some(b), .. } = out(&results[0]) else {
        panic!("{:?}", results[0]);
    };
    assert!(b > 2);
    assert_eq!(
        out(&results[1]),
        CacheOutput::Held {
            held: false,
            expires_ms: T + 1901
        }
    );
    assert_eq!(results[2], Err(SqlError::GuardFailed { statement: 0 }));
    let results = db.apply_timed(vec![(T + 1903, fenced(b))]).await;
    assert!(results[0].is_ok(), "{:?}", results[0]);
}

#[tokio::test]
async fn the_size_bound_evicts_soonest_expiry_then_least_recently_written() {
    let mut db = Db::open();
    // Each key plus value: 10 bytes; the bound holds 3.
    db.apply(vec![
        put("a1", None, 30),
        put("b2", Some(60_000), 30),
        put("c3", None, 30),
        put("a1", None, 30), // rewritten: now the most recent
        put("d4", None, 30), // over: b2 (has an expiry) goes
        put("e5", None, 30), // over: c3 (least recently written) goes
    ])
    .await;
    assert_eq!(keys(&db), ["a1", "d4", "e5"]);
    let total = db.rows("SELECT bytes FROM _hiqlite_cache_bytes");
    assert_eq!(total, vec![vec![rusqlite::types::Value::Integer(30)]]);
    let results = db
        .apply(vec![put(
            "a-much-longer-key-than-fits-in-30-bytes",
            None,
            30,
        )])
        .await;
    assert!(results[0].is_err(), "{:?}", results[0]);
}

/// A batch applies its operations in order, each on its own: a refused one changes nothing and
/// the others still apply; kinds that cannot be batched are refused alone.
#[tokio::test]
async fn a_batch_applies_each_operation_on_its_own() {
    let mut db = Db::open();
    let add = |key: &str, delta| CacheOp::Add {
        cache: "c".into(),
        key: key.as_bytes().to_vec(),
        delta,
        ttl_ms: None,
        max_bytes: 0,
    };
    let first_put = CacheOp::Put {
        cache: "c".into(),
        key: b"a".to_vec(),
        value: b"abc".to_vec(),
        ttl_ms: None,
        max_bytes: 0,
    };
    let batch = CacheOp::Many(vec![
        first_put,
        add("n", 5),
        add("n", i64::MAX), // overflow: refused, "n" stays 5
        add("a", 1),        // "a" holds 3 bytes: refused, not a counter
        add("n", 1),
        CacheOp::Expire,
        CacheOp::Many(vec![]),
    ])
    .with_max_bytes(1 << 20);
    let results = db.apply(vec![cache(batch)]).await;
    let CacheOutput::Many(outputs) = out(&results[0]) else {
        panic!("{results:?}")
    };
    assert_eq!(outputs.len(), 7);
    assert_eq!(outputs[0], Ok(CacheOutput::Previous(None)));
    assert_eq!(outputs[1], Ok(CacheOutput::Counter(5)));
    assert!(
        matches!(&outputs[2], Err(SqlError::Sqlite { message }) if message.contains("overflow")),
        "{:?}",
        outputs[2]
    );
    assert!(
        matches!(&outputs[3], Err(SqlError::Sqlite { message }) if message.contains("not a counter")),
        "{:?}",
        outputs[3]
    );
    assert_eq!(outputs[4], Ok(CacheOutput::Counter(6)));
    for refused in &outputs[5..] {
        assert!(
            matches!(refused, Err(SqlError::Sqlite { message }) if message.contains("cannot be part of a cache batch")),
            "{refused:?}"
        );
    }
    assert_eq!(keys(&db), ["a", "n"]);
    let n = db.rows("SELECT value FROM _hiqlite_cache WHERE key = CAST('n' AS BLOB)");
    assert_eq!(
        n[0][0],
        rusqlite::types::Value::Blob(6i64.to_be_bytes().to_vec())
    );
    // The byte count kept by every write matches the table after the refused ones.
    let counted = db.rows("SELECT bytes FROM _hiqlite_cache_bytes");
    let actual = db.rows("SELECT sum(length(key) + length(value)) FROM _hiqlite_cache");
    assert_eq!(counted, actual);
}
