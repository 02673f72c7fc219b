//! In-process 3-node clusters on loopback: every client API on leader and followers, forwarding,
//! RETURNING, transactions, determinism across replicas, bad input, exactly-once retries.

mod common;

use std::time::Duration;

use common::{TestCluster, SECRET_API};
use hiqlite::client::protocol::{ApiRequest, ApiResponse, WriteReply};
use hiqlite::client::{FromRow, Row};
use hiqlite::net::{Channel, RpcClient};
use hiqlite::store::command::{RequestId, WriteOp, WriteOutput};
use hiqlite::{params, Client, Error, SqlError, StatementOutput, Txn, Value};
use serde::Deserialize;

/// Clusters are CPU-hungry; on a 2-core machine running them one at a time keeps election timing
/// realistic.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SCHEMA: &str = "
    CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT);
    CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
";

#[derive(Debug, PartialEq)]
struct User {
    id: i64,
    name: String,
    email: Option<String>,
}

impl FromRow for User {
    fn from_row(row: &Row<'_>) -> Result<Self, Error> {
        Ok(User {
            id: row.get("id")?,
            name: row.get("name")?,
            email: row.get("email")?,
        })
    }
}

#[derive(Debug, PartialEq, Deserialize)]
struct UserSerde {
    id: i64,
    name: String,
    email: Option<String>,
}

async fn count(client: &Client, sql: &str) -> i64 {
    client
        .query_consistent_one::<(i64,)>(sql, params!())
        .await
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_api_on_leader_and_followers() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.follower().await;
    let (l, f) = (&cluster.clients[leader], &cluster.clients[follower]);

    assert_eq!(l.batch(SCHEMA).await.unwrap(), 2);
    let leaders: Vec<bool> = futures_all(cluster.clients.iter().map(|c| c.is_leader())).await;
    assert_eq!(
        leaders.iter().filter(|x| **x).count(),
        1,
        "exactly one leader: {leaders:?}"
    );

    // Writes on the leader and on a follower (forwarded).
    let r1 = l
        .execute(
            "INSERT INTO users (name, email) VALUES (?, ?)",
            params!("alice", "a@x"),
        )
        .await
        .unwrap();
    assert_eq!((r1.rows_affected, r1.last_insert_rowid), (1, 1));
    let r2 = f
        .execute("INSERT INTO users (name) VALUES (?)", params!("bob"))
        .await
        .unwrap();
    assert_eq!((r2.rows_affected, r2.last_insert_rowid), (1, 2));

    // A read after a write on the same node sees the write, locally, on leader and follower.
    let on_follower: Vec<User> = f
        .query_map("SELECT * FROM users ORDER BY id", params!())
        .await
        .unwrap();
    assert_eq!(
        on_follower,
        vec![
            User {
                id: 1,
                name: "alice".into(),
                email: Some("a@x".into())
            },
            User {
                id: 2,
                name: "bob".into(),
                email: None
            },
        ]
    );
    let one: User = l
        .query_map_one("SELECT * FROM users WHERE id = ?", params!(2))
        .await
        .unwrap();
    assert_eq!(one.name, "bob");
    let none: Option<User> = l
        .query_map_optional("SELECT * FROM users WHERE id = ?", params!(99))
        .await
        .unwrap();
    assert!(none.is_none());
    assert!(matches!(
        l.query_map_one::<User>("SELECT * FROM users WHERE id = ?", params!(99))
            .await,
        Err(Error::NoRows)
    ));

    // serde mapping.
    let as_serde: Vec<UserSerde> = f
        .query_as("SELECT * FROM users ORDER BY id", params!())
        .await
        .unwrap();
    assert_eq!(
        as_serde[0],
        UserSerde {
            id: 1,
            name: "alice".into(),
            email: Some("a@x".into())
        }
    );
    let bob: UserSerde = f
        .query_as_one("SELECT * FROM users WHERE name = 'bob'", params!())
        .await
        .unwrap();
    assert_eq!(bob.id, 2);
    assert!(f
        .query_as_optional::<UserSerde>("SELECT * FROM users WHERE id = 7", params!())
        .await
        .unwrap()
        .is_none());

    // RETURNING through Raft, on a follower.
    let returned: Vec<User> = f
        .execute_returning(
            "INSERT INTO users (name, email) VALUES (?, ?) RETURNING id, name, email",
            params!("carol", "c@x"),
        )
        .await
        .unwrap();
    assert_eq!(
        returned,
        vec![User {
            id: 3,
            name: "carol".into(),
            email: Some("c@x".into())
        }]
    );
    let updated: Vec<(String,)> = l
        .execute_returning(
            "UPDATE users SET email = 'new' WHERE id < 3 RETURNING name",
            params!(),
        )
        .await
        .unwrap();
    assert_eq!(updated.len(), 2);

    // Consistent reads see every completed write from every node.
    for c in &cluster.clients {
        assert_eq!(count(c, "SELECT count(*) FROM users").await, 3);
        let u: User = c
            .query_consistent_one("SELECT * FROM users WHERE id = ?", params!(3))
            .await
            .unwrap();
        assert_eq!(u.name, "carol");
        let opt: Option<User> = c
            .query_consistent_optional("SELECT * FROM users WHERE id = 42", params!())
            .await
            .unwrap();
        assert!(opt.is_none());
        let all: Vec<UserSerde> = c
            .query_consistent_as("SELECT * FROM users", params!())
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
    }
    // And the follower's local copy converges.
    let rows = cluster.clients[follower]
        .query_rows("SELECT name FROM users ORDER BY id", params!())
        .await
        .unwrap();
    assert_eq!(rows.columns, vec!["name".to_string()]);
    assert_eq!(rows.rows.len(), 3);

    let status = f.status().await.unwrap();
    assert_eq!(status.leader_id, Some(leader as u64 + 1));
    assert_eq!(status.voters, vec![1, 2, 3]);
    cluster.shutdown().await;
}

async fn futures_all<F: std::future::Future<Output = Result<bool, Error>>>(
    futs: impl Iterator<Item = F>,
) -> Vec<bool> {
    let mut out = Vec::new();
    for f in futs {
        out.push(f.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactions_with_outputs_and_guards() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let f = &cluster.clients[cluster.follower().await];
    f.batch(SCHEMA).await.unwrap();
    f.execute(
        "INSERT INTO accounts VALUES ('alice', 100), ('bob', 0)",
        params!(),
    )
    .await
    .unwrap();

    let transfer = |amount: i64| {
        let mut txn = Txn::new();
        txn.guard(
            "SELECT balance >= ? FROM accounts WHERE name = 'alice'",
            params!(amount),
        );
        txn.execute(
            "UPDATE accounts SET balance = balance - ? WHERE name = 'alice'",
            params!(amount),
        );
        txn.execute(
            "UPDATE accounts SET balance = balance + ? WHERE name = 'bob'",
            params!(amount),
        );
        txn
    };
    let outputs = f.txn(transfer(60)).await.unwrap();
    assert_eq!(outputs.len(), 3);
    assert!(matches!(
        outputs[1],
        StatementOutput::Executed {
            rows_affected: 1,
            ..
        }
    ));

    // The guard fails: nothing of the transaction is applied.
    let err = f.txn(transfer(60)).await.unwrap_err();
    assert!(
        matches!(err, Error::Sql(SqlError::GuardFailed { statement: 0 })),
        "{err:?}"
    );
    for c in &cluster.clients {
        let balances: Vec<(String, i64)> = c
            .query_consistent_map(
                "SELECT name, balance FROM accounts ORDER BY name",
                params!(),
            )
            .await
            .unwrap();
        assert_eq!(balances, vec![("alice".into(), 40), ("bob".into(), 60)]);
    }

    // A later statement uses an earlier one's output.
    let mut txn = Txn::new();
    let user = txn.execute("INSERT INTO users (name) VALUES (?)", params!("dave"));
    let returning = txn.query(
        "INSERT INTO users (name, email) VALUES ('erin', 'e@x') RETURNING id, email",
        params!(),
    );
    txn.execute(
        "INSERT INTO accounts (name, balance) VALUES ('user-' || ?, ?)",
        vec![user.last_insert_rowid(), returning.column("id")],
    );
    let outputs = f.txn(txn).await.unwrap();
    assert!(matches!(
        outputs[0],
        StatementOutput::Executed {
            last_insert_rowid: 1,
            ..
        }
    ));
    let acc: (String, i64) = f
        .query_map_one(
            "SELECT name, balance FROM accounts WHERE name LIKE 'user-%'",
            params!(),
        )
        .await
        .unwrap();
    assert_eq!(acc, ("user-1".into(), 2));

    // A failing statement in the middle rolls back the earlier ones; the error names it.
    let mut txn = Txn::new();
    txn.execute(
        "INSERT INTO users (name) VALUES ('frank')",
        Vec::<Value>::new(),
    );
    txn.execute(
        "UPDATE accounts SET balance = -1 WHERE name = 'bob'",
        Vec::<Value>::new(),
    );
    let err = f.txn(txn).await.unwrap_err();
    assert!(err.to_string().contains("CHECK constraint failed"), "{err}");
    assert_eq!(
        count(f, "SELECT count(*) FROM users WHERE name = 'frank'").await,
        0
    );

    // A reference to a statement that does not run earlier is a clear error.
    let mut txn = Txn::new();
    txn.execute(
        "INSERT INTO users (name) VALUES (?)",
        vec![hiqlite::store::command::TxnParam::Output {
            statement: 5,
            output: hiqlite::store::command::OutputRef::LastInsertRowid,
        }],
    );
    let err = f.txn(txn).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Sql(SqlError::InvalidReference { statement: 0, .. })
        ),
        "{err:?}"
    );
    cluster.shutdown().await;
}

/// Clock and random functions give byte-identical results on every replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nondeterministic_functions_are_identical_on_every_node() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let f = &cluster.clients[cluster.follower().await];
    f.batch(
        "CREATE TABLE det (
            id INTEGER PRIMARY KEY, r INTEGER, rb BLOB, dt TEXT, d TEXT, t TEXT, jd REAL, sf TEXT,
            ue INTEGER, ue0 INTEGER, cts TEXT, cd TEXT, ct TEXT, dflt TEXT DEFAULT CURRENT_TIMESTAMP)",
    )
    .await
    .unwrap();
    let insert = "INSERT INTO det (r, rb, dt, d, t, jd, sf, ue, ue0, cts, cd, ct) VALUES (random(), randomblob(16),
        datetime('now'), date('now'), time('now'), julianday('now'), strftime('%Y-%m-%d %H:%M:%f', 'now'),
        unixepoch('now'), unixepoch(), CURRENT_TIMESTAMP, CURRENT_DATE, CURRENT_TIME)";
    for c in &cluster.clients {
        for _ in 0..5 {
            c.execute(insert, params!()).await.unwrap();
        }
    }
    let mut txn = Txn::new();
    txn.execute(insert, Vec::<Value>::new());
    txn.execute(
        "UPDATE det SET r = random() WHERE id = 1",
        Vec::<Value>::new(),
    );
    f.txn(txn).await.unwrap();
    f.batch(&format!("{insert}; {insert}")).await.unwrap();

    let mut snapshots = Vec::new();
    for c in &cluster.clients {
        let rows = c
            .query_consistent_rows("SELECT * FROM det ORDER BY id", params!())
            .await
            .unwrap();
        assert_eq!(rows.rows.len(), 18);
        snapshots.push(rows);
    }
    assert_eq!(snapshots[0], snapshots[1]);
    assert_eq!(snapshots[0], snapshots[2]);
    // The values are real, not constants: random differs between rows, the clock is today's.
    let randoms: std::collections::HashSet<String> =
        snapshots[0].rows.iter().map(|r| r[1].to_string()).collect();
    assert!(randoms.len() > 10, "random() repeated: {randoms:?}");
    let year = snapshots[0].rows[0][3].to_string();
    assert!(year.starts_with("20"), "datetime('now') = {year}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_sql_fails_identically_and_the_cluster_keeps_serving() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.follower().await;
    cluster.clients[leader].batch(SCHEMA).await.unwrap();

    for c in [&cluster.clients[leader], &cluster.clients[follower]] {
        let err = c
            .execute("INSRT INTO users VALUES (1)", params!())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Sql(SqlError::Sqlite { message }) if message.contains("syntax error")),
            "{err:?}"
        );
        let err = c
            .execute("INSERT INTO nope VALUES (1)", params!())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no such table"), "{err}");
        let err = c
            .execute("INSERT INTO users (name) VALUES (?, ?)", params!("x"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Sql(_)), "{err:?}");
        // Transaction control would break the writer's own transaction: refused.
        let err = c.execute("COMMIT", params!()).await.unwrap_err();
        assert!(err.to_string().contains("not authorized"), "{err}");
        let err = c.batch("PRAGMA journal_mode = DELETE").await.unwrap_err();
        assert!(err.to_string().contains("not authorized"), "{err}");
        // Bad reads are errors too, not panics.
        assert!(c.query_rows("SELECT * FROM nope", params!()).await.is_err());
        assert!(c.query_consistent_rows("SELEC 1", params!()).await.is_err());
    }
    // A constraint violation is the same error on every node, and nothing diverged.
    cluster.clients[leader]
        .execute("INSERT INTO users (name) VALUES ('dup')", params!())
        .await
        .unwrap();
    let e1 = cluster.clients[leader]
        .execute("INSERT INTO users (name) VALUES ('dup')", params!())
        .await
        .unwrap_err();
    let e2 = cluster.clients[follower]
        .execute("INSERT INTO users (name) VALUES ('dup')", params!())
        .await
        .unwrap_err();
    assert_eq!(e1.to_string(), e2.to_string());
    assert!(e1.to_string().contains("UNIQUE constraint failed"), "{e1}");

    // Still serving.
    cluster.clients[follower]
        .execute("INSERT INTO users (name) VALUES ('after')", params!())
        .await
        .unwrap();
    for c in &cluster.clients {
        assert_eq!(count(c, "SELECT count(*) FROM users").await, 2);
    }
    cluster.shutdown().await;
}

/// The same request id sent twice is applied once; the second answer is the first result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retried_writes_apply_exactly_once() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let follower = cluster.follower().await;
    cluster.clients[0].batch(SCHEMA).await.unwrap();

    let rpc = RpcClient::connect(
        &cluster.api_addr(follower),
        &hiqlite::config::Secret::new(SECRET_API),
        Channel::Api,
        1 << 20,
    )
    .await
    .unwrap();
    let req = ApiRequest::Write {
        id: RequestId {
            client: 77,
            seq: 1,
            answered_below: 1,
        },
        op: WriteOp::Execute {
            sql: "INSERT INTO users (name) VALUES ('once')".into(),
            params: vec![],
        },
        forwarded: false,
    };
    let mut results = Vec::new();
    for _ in 0..3 {
        match rpc
            .call::<_, ApiResponse>(&req, Duration::from_secs(10))
            .await
            .unwrap()
        {
            ApiResponse::Write(Ok(WriteReply { result, .. })) => results.push(result),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        results[0],
        Ok(WriteOutput::Executed {
            rows_affected: 1,
            last_insert_rowid: 1
        })
    );
    assert_eq!(results[1], results[0]);
    assert_eq!(results[2], results[0]);
    for c in &cluster.clients {
        assert_eq!(
            count(c, "SELECT count(*) FROM users WHERE name = 'once'").await,
            1
        );
    }

    // Once the client says it has seen every answer below seq 3, the state machine forgets them:
    // the table of remembered results stays as small as the number of requests in flight.
    let later = ApiRequest::Write {
        id: RequestId {
            client: 77,
            seq: 3,
            answered_below: 3,
        },
        op: WriteOp::Execute {
            sql: "INSERT INTO users (name) VALUES ('later')".into(),
            params: vec![],
        },
        forwarded: false,
    };
    rpc.call::<_, ApiResponse>(&later, Duration::from_secs(10))
        .await
        .unwrap();
    let remembered = cluster.clients[0]
        .query_consistent_one::<(i64,)>(
            "SELECT count(*) FROM _hiqlite_requests WHERE client = 77",
            params!(),
        )
        .await
        .unwrap()
        .0;
    assert_eq!(remembered, 1, "only the result of seq 3 is kept");
    cluster.shutdown().await;
}

/// `Client::remote` offers the same API over the network, and wrong secrets are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remote_client_has_the_same_api() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let follower = cluster.follower().await;
    let remote = Client::remote(vec![cluster.api_addr(follower)], SECRET_API);
    remote
        .wait_until_healthy(Duration::from_secs(10))
        .await
        .unwrap();
    remote.batch(SCHEMA).await.unwrap();
    remote
        .execute("INSERT INTO users (name) VALUES (?)", params!("remote"))
        .await
        .unwrap();
    let users: Vec<User> = remote
        .query_map("SELECT * FROM users", params!())
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    let as_serde: UserSerde = remote
        .query_as_one("SELECT * FROM users", params!())
        .await
        .unwrap();
    assert_eq!(as_serde.name, "remote");
    let ret: Vec<User> = remote
        .execute_returning("UPDATE users SET email = 'r@x' RETURNING *", params!())
        .await
        .unwrap();
    assert_eq!(ret[0].email.as_deref(), Some("r@x"));
    let mut txn = Txn::new();
    txn.guard("SELECT count(*) = 1 FROM users", Vec::<Value>::new());
    txn.execute("DELETE FROM users", Vec::<Value>::new());
    remote.txn(txn).await.unwrap();
    assert_eq!(count(&remote, "SELECT count(*) FROM users").await, 0);
    assert!(!remote.is_leader().await.unwrap());
    assert!(remote.execute("BAD SQL", params!()).await.is_err());

    let wrong = Client::remote(vec![cluster.api_addr(follower)], "wrong-secret-0123456789");
    let err = wrong.query_rows("SELECT 1", params!()).await.unwrap_err();
    assert!(err.to_string().contains("authentication failed"), "{err}");
    cluster.shutdown().await;
}

/// Losing the leader: a new one takes over, writes through any survivor continue, nothing
/// acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_failover_in_process() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    cluster.clients[leader].batch(SCHEMA).await.unwrap();
    for i in 0..20 {
        cluster.clients[i % 3]
            .execute(
                "INSERT INTO users (name) VALUES (?)",
                params!(format!("u{i}")),
            )
            .await
            .unwrap();
    }
    cluster.clients[leader].shutdown().await.unwrap();
    // The stopped node's own client refuses writes and consistent reads: nothing reaches the
    // cluster through a node that was shut down (the count below stays 30).
    let stopped = &cluster.clients[leader];
    let late = stopped
        .execute("INSERT INTO users (name) VALUES ('late')", params!())
        .await;
    assert!(matches!(late, Err(Error::ShuttingDown)), "{late:?}");
    let read = stopped
        .query_consistent_map::<(i64,)>("SELECT count(*) FROM users", params!())
        .await;
    assert!(matches!(read, Err(Error::ShuttingDown)), "{read:?}");
    let survivors: Vec<&Client> = (0..3)
        .filter(|i| *i != leader)
        .map(|i| &cluster.clients[i])
        .collect();
    // A graceful shutdown hands leadership over before it returns: no election timeout to sit out.
    let mut handed_over = false;
    for c in &survivors {
        handed_over |= c.is_leader().await.unwrap();
    }
    assert!(
        handed_over,
        "no survivor leads right after the leader's graceful shutdown"
    );
    for i in 20..30 {
        survivors[i % 2]
            .execute(
                "INSERT INTO users (name) VALUES (?)",
                params!(format!("u{i}")),
            )
            .await
            .unwrap();
    }
    for c in &survivors {
        assert_eq!(count(c, "SELECT count(*) FROM users").await, 30);
    }
    let new_leader = survivors[0].status().await.unwrap().leader_id.unwrap();
    assert_ne!(new_leader, leader as u64 + 1);
    cluster.shutdown().await;
}

/// Entries bigger in total than one frame are replicated in several frames; a single write that
/// could never fit a frame is refused with a clear error instead of blocking replication.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_writes_are_replicated_in_frames_that_fit() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start_with(3, |b| b.max_frame_bytes(64 * 1024)).await;
    let leader = cluster.leader().await;
    let l = &cluster.clients[leader];
    l.batch("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        .await
        .unwrap();

    // 24 writes of 20 KiB at once: batches of them exceed the 32 KiB entry budget of a frame.
    let mut tasks = Vec::new();
    for i in 0..24u8 {
        let c = l.clone();
        tasks.push(tokio::spawn(async move {
            c.execute(
                "INSERT INTO blobs (data) VALUES (?)",
                params!(vec![i; 20 * 1024]),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for c in &cluster.clients {
        let (n, bytes): (i64, i64) = c
            .query_consistent_one("SELECT count(*), sum(length(data)) FROM blobs", params!())
            .await
            .unwrap();
        assert_eq!((n, bytes), (24, 24 * 20 * 1024));
    }

    // Too large for one entry: the same error variant on the leader, on a follower, and through
    // remote clients of either (asserted by variant, not by text).
    let follower = cluster.follower().await;
    let callers = [
        ("leader", l.clone()),
        ("follower", cluster.clients[follower].clone()),
        (
            "remote client of the follower",
            Client::remote(vec![cluster.api_addr(follower)], SECRET_API),
        ),
        (
            "remote client of the leader",
            Client::remote(vec![cluster.api_addr(leader)], SECRET_API),
        ),
    ];
    for (who, client) in &callers {
        let err = client
            .execute(
                "INSERT INTO blobs (data) VALUES (?)",
                params!(vec![0u8; 40 * 1024]),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{who}: {err:?}");
    }
    // A migration too large for one entry is a MigrationError naming the file, wherever it runs.
    let dir = tempfile::tempdir().unwrap();
    let filler = format!("-- {}\n", "x".repeat(40 * 1024));
    std::fs::write(
        dir.path().join("0001_big.sql"),
        format!("{filler}CREATE TABLE big (x);"),
    )
    .unwrap();
    for (who, client) in &callers {
        let migrations = hiqlite::Migrations::from_dir(dir.path()).unwrap();
        let err = client.migrate(migrations).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Migration(hiqlite::MigrationError::TooLarge { version: 1, .. })
            ),
            "{who}: {err:?}"
        );
    }
    assert_eq!(count(l, "SELECT count(*) FROM blobs").await, 24);
    cluster.shutdown().await;
}

/// Statements that would stop or split the cluster are refused as ordinary errors: deferred
/// foreign keys (SQLite reports them only at COMMIT), TEMP objects (not replicated), endless
/// transactions on the read pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statements_that_could_break_replication_are_refused() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let f = &cluster.clients[cluster.follower().await];
    f.batch(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY,
             parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
    )
    .await
    .unwrap();
    let err = f
        .execute("INSERT INTO child (parent_id) VALUES (999)", params!())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("FOREIGN KEY constraint failed"),
        "{err}"
    );
    // A transaction that repairs the reference before it ends is fine.
    let mut txn = Txn::new();
    txn.execute(
        "INSERT INTO child (parent_id) VALUES (7)",
        Vec::<Value>::new(),
    );
    txn.execute("INSERT INTO parent (id) VALUES (7)", Vec::<Value>::new());
    f.txn(txn).await.unwrap();

    for sql in [
        "DROP TABLE _hiqlite_requests",
        "UPDATE _hiqlite_meta SET value = x'ff'",
    ] {
        let err = f.execute(sql, params!()).await.unwrap_err();
        assert!(err.to_string().contains("not authorized"), "{sql}: {err}");
    }
    let err = f
        .execute("CREATE TEMP TABLE scratch (x)", params!())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not authorized"), "{err}");

    for c in &cluster.clients {
        assert!(c.query_rows("BEGIN", params!()).await.is_err());
        assert!(c.sql("BEGIN", false).await.is_err());
    }
    // Still serving, and every replica agrees.
    f.execute("INSERT INTO parent (id) VALUES (8)", params!())
        .await
        .unwrap();
    for c in &cluster.clients {
        assert_eq!(count(c, "SELECT count(*) FROM child").await, 1);
        assert_eq!(count(c, "SELECT count(*) FROM parent").await, 2);
    }
    cluster.shutdown().await;
}

/// A follower that missed more than the log keeps gets the leader's snapshot, streamed in many
/// chunks (a 64 KiB frame limit), and ends with the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lagging_follower_catches_up_from_a_streamed_snapshot() {
    let _serial = SERIAL.lock().await;
    let mut cluster =
        TestCluster::start_with(3, |b| b.snapshot_after_logs(50).max_frame_bytes(64 * 1024)).await;
    let leader = cluster.leader().await;
    let lagging = cluster.follower().await;
    let l = cluster.clients[leader].clone();
    l.batch("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        .await
        .unwrap();
    cluster.stop(lagging).await;

    // Far more than 50 entries + the 50 kept: the leader snapshots and purges what `lagging` needs.
    for i in 0..300u32 {
        l.execute(
            "INSERT INTO blobs (data) VALUES (?)",
            params!(vec![(i % 251) as u8; 2000]),
        )
        .await
        .unwrap();
    }
    // Snapshots are built in the background: wait until one has purged the log.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let purged = loop {
        let status = l.status().await.unwrap();
        if let (Some(purged), Some(snapshot)) = (status.purged_index, status.snapshot_index) {
            assert!(snapshot >= purged);
            break purged;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot and purge: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    cluster.restart(lagging).await;
    let back = &cluster.clients[lagging];
    back.wait_until_healthy(Duration::from_secs(30))
        .await
        .unwrap();
    let rows = |c: Client| async move {
        c.query_rows("SELECT id, data FROM blobs ORDER BY id", params!())
            .await
            .unwrap()
    };
    let expected = rows(l.clone()).await;
    assert_eq!(expected.rows.len(), 300);
    assert_eq!(rows(back.clone()).await, expected);
    let back_status = back.status().await.unwrap();
    assert!(
        back_status.snapshot_index.is_some_and(|i| i >= purged),
        "the follower caught up through a snapshot: {back_status:?}"
    );
    // And it keeps replicating normally afterwards.
    l.execute("INSERT INTO blobs (data) VALUES (x'00')", params!())
        .await
        .unwrap();
    assert_eq!(count(back, "SELECT count(*) FROM blobs").await, 301);
    cluster.shutdown().await;
}

/// Nodes join a running cluster by themselves (learner first, then voter), learner-only nodes
/// serve reads without voting, and removed nodes leave the voters.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_join_and_leave_a_running_cluster() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let l = cluster.clients[leader].clone();
    l.batch(SCHEMA).await.unwrap();
    for i in 0..20 {
        l.execute(
            "INSERT INTO users (name) VALUES (?)",
            params!(format!("u{i}")),
        )
        .await
        .unwrap();
    }

    // Node 4 is configured with the three members plus itself: it asks to join, by itself.
    let ports = common::free_ports(4);
    let dir = tempfile::tempdir().unwrap();
    let mut members = cluster.configs[0].nodes.clone();
    let node4 = hiqlite::raft::Member {
        id: 4,
        raft_addr: format!("127.0.0.1:{}", ports[0]),
        api_addr: format!("127.0.0.1:{}", ports[1]),
    };
    members.push(node4.clone());
    let config4 = hiqlite::NodeConfig::builder()
        .node_id(4)
        .nodes(members)
        .data_dir(dir.path().join("node4"))
        .secret_raft(common::SECRET_RAFT)
        .secret_api(SECRET_API)
        .build()
        .unwrap();
    let c4 = hiqlite::start_node(config4).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !l.status().await.unwrap().voters.contains(&4) {
        assert!(
            std::time::Instant::now() < deadline,
            "node 4 did not become a voter"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c4.wait_until_healthy(Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(count(&c4, "SELECT count(*) FROM users").await, 20);
    c4.execute("INSERT INTO users (name) VALUES ('from-4')", params!())
        .await
        .unwrap();

    // Node 5 is added through the API as a learner only: it gets the data, it does not vote.
    let node5 = hiqlite::raft::Member {
        id: 5,
        raft_addr: format!("127.0.0.1:{}", ports[2]),
        api_addr: format!("127.0.0.1:{}", ports[3]),
    };
    let mut members5 = cluster.configs[0].nodes.clone();
    members5.push(node4.clone());
    members5.push(node5.clone());
    let c5 = hiqlite::start_node(
        hiqlite::NodeConfig::builder()
            .node_id(5)
            .nodes(members5)
            // It would otherwise ask to join as a voter by itself, racing the add below.
            .learner(true)
            .data_dir(dir.path().join("node5"))
            .secret_raft(common::SECRET_RAFT)
            .secret_api(SECRET_API)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let follower = &cluster.clients[cluster.follower().await];
    let members = follower.add_node(node5, false).await.unwrap();
    assert!(members.learners.contains(&5), "{members:?}");
    assert!(!members.voters.contains(&5), "{members:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n: Vec<(i64,)> = c5
            .query_map("SELECT count(*) FROM users", params!())
            .await
            .unwrap_or_default();
        if n.first().is_some_and(|(n,)| *n == 21) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the learner did not receive the data"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!c5.is_leader().await.unwrap());

    // Remove both again (one through a remote client): back to the three original voters.
    let remote = Client::remote(vec![cluster.api_addr(leader)], SECRET_API);
    let members = remote.remove_node(4).await.unwrap();
    assert!(!members.voters.contains(&4), "{members:?}");
    let members = l.remove_node(5).await.unwrap();
    assert_eq!(members.voters, vec![1, 2, 3]);
    assert!(members.learners.is_empty(), "{members:?}");
    l.execute(
        "INSERT INTO users (name) VALUES ('after-removal')",
        params!(),
    )
    .await
    .unwrap();
    assert_eq!(count(&l, "SELECT count(*) FROM users").await, 22);
    let _ = c4.shutdown().await;
    let _ = c5.shutdown().await;
    cluster.shutdown().await;
}

/// With the lease read policy, consistent reads on every node still see every completed write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consistent_reads_with_the_lease_policy() {
    let _serial = SERIAL.lock().await;
    let cluster =
        TestCluster::start_with(3, |b| b.read_policy(hiqlite::config::ReadPolicy::Lease)).await;
    let f = &cluster.clients[cluster.follower().await];
    f.batch(SCHEMA).await.unwrap();
    for i in 0..20 {
        cluster.clients[i % 3]
            .execute(
                "INSERT INTO users (name) VALUES (?)",
                params!(format!("u{i}")),
            )
            .await
            .unwrap();
        for c in &cluster.clients {
            assert_eq!(count(c, "SELECT count(*) FROM users").await, i as i64 + 1);
        }
    }
    cluster.shutdown().await;
}

/// `execute_many` runs one statement per parameter row inside the transaction: all rows or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn execute_many_is_atomic() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let f = &cluster.clients[cluster.follower().await];
    f.batch(SCHEMA).await.unwrap();
    let mut txn = Txn::new();
    let rows = (0..500)
        .map(|i| params!(i + 1, format!("user-{i}")))
        .collect();
    txn.execute_many("INSERT INTO users (id, name) VALUES (?, ?)", rows);
    let outputs = f.txn(txn).await.unwrap();
    assert_eq!(
        outputs,
        vec![StatementOutput::Executed {
            rows_affected: 500,
            last_insert_rowid: 500
        }]
    );

    // A duplicate name in the last row: nothing of the statement stays.
    let mut txn = Txn::new();
    let mut rows: Vec<Vec<Value>> = (0..99).map(|i| params!(format!("more-{i}"))).collect();
    rows.push(params!("user-3"));
    txn.execute_many("INSERT INTO users (name) VALUES (?)", rows);
    let err = f.txn(txn).await.unwrap_err();
    assert!(err.to_string().contains("UNIQUE"), "{err}");
    for c in &cluster.clients {
        assert_eq!(count(c, "SELECT count(*) FROM users").await, 500);
    }
    cluster.shutdown().await;
}

/// `listen_*_addr` bind the listeners apart from the advertised member addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listeners_bind_to_listen_addresses() {
    let _serial = SERIAL.lock().await;
    let ports = common::free_ports(4);
    let dir = tempfile::tempdir().unwrap();
    let config = hiqlite::NodeConfig::builder()
        .node_id(1)
        .node(
            1,
            format!("127.0.0.1:{}", ports[0]),
            format!("127.0.0.1:{}", ports[1]),
        )
        .listen_raft_addr(format!("127.0.0.1:{}", ports[2]))
        .listen_api_addr(format!("127.0.0.1:{}", ports[3]))
        .data_dir(dir.path())
        .secret_raft(common::SECRET_RAFT)
        .secret_api(SECRET_API)
        .build()
        .unwrap();
    let node = hiqlite::start_node(config).await.unwrap();
    node.wait_until_healthy(Duration::from_secs(10))
        .await
        .unwrap();
    let remote = Client::remote(vec![format!("127.0.0.1:{}", ports[3])], SECRET_API);
    assert!(remote.is_leader().await.unwrap());
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{}", ports[1])).is_err(),
        "nothing binds the advertised address"
    );
    node.shutdown().await.unwrap();
}
