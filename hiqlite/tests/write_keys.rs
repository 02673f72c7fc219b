//! Write keys on an in-process 3-node cluster: a keyed write repeated through any node, an
//! embedded or a remote client, or a key parsed back from its text, returns the first result and
//! applies once; SQL errors, transactions, batches and typed queries are remembered the same way.

mod common;

use common::{TestCluster, SECRET_API};
use hiqlite::{params, query, Client, Error, ExecuteResult, SqlError, Txn, Value, WriteKey};

/// Clusters are CPU-hungry; one at a time keeps election timing realistic on a small machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The example schema (`query!` checks against it at build time) and a table of unique tags.
const SCHEMA: &str = include_str!("../../migrations/0001_init.sql");
const TAGS: &str = "CREATE TABLE tags (name TEXT PRIMARY KEY)";

async fn count(client: &Client, sql: &str) -> i64 {
    client
        .query_consistent_one::<(i64,)>(sql, params!())
        .await
        .unwrap()
        .0
}

async fn start() -> TestCluster {
    let cluster = TestCluster::start(3).await;
    cluster.clients[0].batch(SCHEMA).await.unwrap();
    cluster.clients[0].batch(TAGS).await.unwrap();
    cluster
}

fn remote(cluster: &TestCluster, idx: usize) -> Client {
    Client::remote(vec![cluster.api_addr(idx)], SECRET_API)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_keyed_write_applies_once_whoever_repeats_it() {
    let _serial = SERIAL.lock().await;
    let cluster = start().await;
    let leader = cluster.leader().await;
    let follower = cluster.follower().await;
    let third = 3 - leader - follower;
    let insert = "INSERT INTO users (name) VALUES (?)";

    // Another user first, so the keyed row's id is not simply 1.
    cluster.clients[leader]
        .execute(insert, params!("before"))
        .await
        .unwrap();
    let key = WriteKey::new();
    let first = cluster.clients[follower]
        .with_key(key)
        .execute(insert, params!("once"))
        .await
        .unwrap();
    assert_eq!(
        first,
        ExecuteResult {
            rows_affected: 1,
            last_insert_rowid: 2
        }
    );

    // The same key through the leader, the same follower, a remote client of the third node,
    // and a key parsed from its text by a fresh remote client (another process, say).
    let parsed: WriteKey = key.to_string().parse().unwrap();
    let fresh = remote(&cluster, third);
    let repeats = [
        cluster.clients[leader]
            .with_key(key)
            .execute(insert, params!("once"))
            .await,
        cluster.clients[follower]
            .with_key(key)
            .execute(insert, params!("once"))
            .await,
        remote(&cluster, third)
            .with_key(key)
            .execute(insert, params!("once"))
            .await,
        fresh
            .with_key(parsed)
            .execute(insert, params!("once"))
            .await,
        // Named parameters name the same write.
        cluster.clients[third]
            .with_key(key)
            .execute(
                "INSERT INTO users (name) VALUES (:name)",
                hiqlite::named_params! { ":name" => "once" },
            )
            .await,
    ];
    for repeat in repeats {
        assert_eq!(repeat.unwrap(), first);
    }
    // A key names one write, not a statement: another statement under it returns the first
    // result and applies nothing.
    let other = cluster.clients[leader]
        .with_key(key)
        .execute(insert, params!("other"))
        .await
        .unwrap();
    assert_eq!(other, first);
    for c in &cluster.clients {
        assert_eq!(
            count(c, "SELECT count(*) FROM users WHERE name = 'once'").await,
            1
        );
        assert_eq!(
            count(c, "SELECT count(*) FROM users WHERE name = 'other'").await,
            0
        );
    }

    // Another kind of write cannot return an `execute` result: refused, nothing applied.
    let err = cluster.clients[leader]
        .with_key(key)
        .execute_returning_rows(
            "INSERT INTO users (name) VALUES ('kind') RETURNING id",
            params!(),
        )
        .await
        .unwrap_err();
    match &err {
        Error::WriteKeyReused { key: k, first, now } => {
            assert_eq!((*k, *first, *now), (key, "execute", "execute_returning"))
        }
        other => panic!("expected WriteKeyReused, got {other:?}"),
    }
    assert!(err.to_string().contains(&key.to_string()), "{err}");
    assert_eq!(
        count(&fresh, "SELECT count(*) FROM users WHERE name = 'kind'").await,
        0
    );

    // The client's own later writes do not make the cluster forget the key (its pruning only
    // covers the client's own request ids).
    let writer = &cluster.clients[follower];
    for i in 0..5 {
        writer
            .execute(insert, params!(format!("later {i}")))
            .await
            .unwrap();
    }
    let again = writer
        .with_key(key)
        .execute(insert, params!("once"))
        .await
        .unwrap();
    assert_eq!(again, first);

    // Without a key the same statement is a new write: that is what the key prevented.
    let unkeyed = writer.execute(insert, params!("once")).await.unwrap();
    assert_ne!(unkeyed.last_insert_rowid, first.last_insert_rowid);
    assert_eq!(
        count(writer, "SELECT count(*) FROM users WHERE name = 'once'").await,
        2
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_transactions_batches_and_typed_queries_are_remembered() {
    let _serial = SERIAL.lock().await;
    let cluster = start().await;
    let leader = cluster.leader().await;
    let follower = cluster.follower().await;
    let (l, f) = (&cluster.clients[leader], &cluster.clients[follower]);
    let far = remote(&cluster, follower);

    // A failed write's SQL error is its result: the repeat returns it even once the statement
    // would succeed, and applies nothing.
    l.execute("INSERT INTO tags VALUES ('taken')", params!())
        .await
        .unwrap();
    let key = WriteKey::new();
    let sql_error = |r: Result<ExecuteResult, Error>| match r {
        Err(Error::Sql(e)) => e,
        other => panic!("expected an SQL error, got {other:?}"),
    };
    let first = sql_error(
        f.with_key(key)
            .execute("INSERT INTO tags VALUES ('taken')", params!())
            .await,
    );
    assert!(
        matches!(first, SqlError::Constraint { .. }),
        "a broken constraint: {first:?}"
    );
    l.execute("DELETE FROM tags", params!()).await.unwrap();
    let repeat = sql_error(
        far.with_key(key)
            .execute("INSERT INTO tags VALUES ('taken')", params!())
            .await,
    );
    assert_eq!(repeat, first);
    assert_eq!(count(l, "SELECT count(*) FROM tags").await, 0);

    // A transaction: all of it once, the same outputs every time.
    let txn = || {
        let mut txn = Txn::new();
        txn.execute("INSERT INTO tags VALUES ('a')", Vec::<Value>::new());
        txn.query(
            "INSERT INTO tags VALUES ('b') RETURNING name",
            Vec::<Value>::new(),
        );
        txn
    };
    let key = WriteKey::new();
    let outputs = f.with_key(key).txn(txn()).await.unwrap();
    assert_eq!(outputs.len(), 2);
    assert_eq!(l.with_key(key).txn(txn()).await.unwrap(), outputs);
    assert_eq!(far.with_key(key).txn(txn()).await.unwrap(), outputs);
    assert_eq!(count(l, "SELECT count(*) FROM tags").await, 2);

    // A batch.
    let key = WriteKey::new();
    let batch = "INSERT INTO tags VALUES ('c'); INSERT INTO tags VALUES ('d')";
    assert_eq!(f.with_key(key).batch(batch).await.unwrap(), 2);
    assert_eq!(far.with_key(key).batch(batch).await.unwrap(), 2);
    assert_eq!(count(l, "SELECT count(*) FROM tags").await, 4);

    // RETURNING rows, raw and typed.
    let key = WriteKey::new();
    let rows = f
        .with_key(key)
        .execute_returning::<(String,)>("INSERT INTO tags VALUES ('e') RETURNING name", params!())
        .await
        .unwrap();
    assert_eq!(rows, vec![("e".to_string(),)]);
    let repeat = far
        .with_key(key)
        .execute_returning::<(String,)>("INSERT INTO tags VALUES ('e') RETURNING name", params!())
        .await
        .unwrap();
    assert_eq!(repeat, rows);

    // The typed API: `query!(...).with_key(key)`, run again from another node and client.
    let key = WriteKey::new();
    let insert = query!("INSERT INTO users (name) VALUES (?) RETURNING id", "typed").with_key(key);
    assert_eq!(insert.key(), key);
    let id = insert.fetch_one(f).await.unwrap().id;
    assert_eq!(insert.fetch_one(l).await.unwrap().id, id);
    assert_eq!(insert.clone().fetch_all(&far).await.unwrap().len(), 1);
    assert_eq!(
        insert.fetch_optional(&far).await.unwrap().map(|r| r.id),
        Some(id)
    );
    // `execute` is another kind of write than `fetch_*`: refused, nothing applied.
    assert!(matches!(
        insert.execute(l).await,
        Err(Error::WriteKeyReused {
            first: "execute_returning",
            now: "execute",
            ..
        })
    ));
    let key = WriteKey::new();
    let update = query!("UPDATE users SET email = ? WHERE name = ?", "t@x", "typed").with_key(key);
    let done = update.execute(f).await.unwrap();
    assert_eq!(done.rows_affected, 1);
    assert_eq!(update.execute(&far).await.unwrap(), done);
    assert_eq!(
        count(l, "SELECT count(*) FROM users WHERE name = 'typed'").await,
        1
    );
    cluster.shutdown().await;
}
