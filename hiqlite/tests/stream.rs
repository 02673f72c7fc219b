//! Named parameters and streaming reads on an in-process 3-node cluster, through embedded
//! (leader and follower) and remote clients.

mod common;

use std::time::{Duration, Instant};

use common::{TestCluster, SECRET_API};
use futures::{StreamExt, TryStreamExt};
use hiqlite::client::protocol::{ApiRequest, ApiResponse};
use hiqlite::net::{Channel, RpcClient};
use hiqlite::types::command::TxnParam;
use hiqlite::{named_params, params, Client, Error, NamedParams, ParamsError, Txn};

/// Clusters are CPU-hungry; on a 2-core machine running them one at a time keeps election timing
/// realistic.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ROWS: i64 = 100_000;

fn remote(cluster: &TestCluster, idx: usize) -> Client {
    Client::remote(vec![cluster.api_addr(idx)], SECRET_API)
}

/// Waits until `check` holds, for up to 10 s.
async fn poll_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates `big (x, s)` with rows 1..=ROWS.
async fn fill_big(client: &Client) {
    client
        .batch("CREATE TABLE big (x INTEGER PRIMARY KEY, s TEXT NOT NULL)")
        .await
        .unwrap();
    for start in (1..=ROWS).step_by(25_000) {
        let rows = (start..start + 25_000)
            .map(|x| params!(x, format!("row-{x:06}")))
            .collect();
        let mut txn = Txn::new();
        txn.execute_many("INSERT INTO big (x, s) VALUES (?, ?)", rows);
        client.txn(txn).await.unwrap();
    }
}

/// Reads the whole stream and checks it holds 1..=ROWS in order.
async fn assert_all_rows(stream: hiqlite::client::RowStream<(i64, String)>) -> usize {
    let mut stream = stream;
    let mut expected = 1;
    while let Some((x, s)) = stream.try_next().await.unwrap() {
        assert_eq!(x, expected);
        assert_eq!(s, format!("row-{x:06}"));
        expected += 1;
    }
    assert_eq!(expected - 1, ROWS, "every row, once");
    stream.peak_buffered_rows()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn named_parameters_on_every_client_and_method() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let leader = &cluster.clients[cluster.leader().await];
    let follower = &cluster.clients[cluster.follower().await];
    let far = remote(&cluster, cluster.follower().await);
    leader
        .batch("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)")
        .await
        .unwrap();

    for (i, client) in [leader, follower, &far].into_iter().enumerate() {
        let id = i as i64 + 1;
        let res = client
            .execute(
                "INSERT INTO people (id, name, age) VALUES (:id, @name, $age)",
                named_params! { "$age" => 30 + id, ":id" => id, "@name" => format!("p{id}") },
            )
            .await
            .unwrap();
        assert_eq!(res.rows_affected, 1);
        let returned: Vec<(i64, String)> = client
            .execute_returning(
                "UPDATE people SET age = age + :by WHERE id = :id RETURNING id, name",
                named_params! { ":id" => id, ":by" => 10 },
            )
            .await
            .unwrap();
        assert_eq!(returned, [(id, format!("p{id}"))]);
        // The same name twice takes one value.
        let read: Vec<(String, i64)> = client
            .query_consistent_map(
                "SELECT name, age FROM people WHERE id = :id AND age > :id",
                named_params! { ":id" => id },
            )
            .await
            .unwrap();
        assert_eq!(read, [(format!("p{id}"), 40 + id)]);
        let local: Vec<(String,)> = client
            .query_map(
                "SELECT name FROM people WHERE id = :id -- :ignored\n",
                named_params! { ":id" => id },
            )
            .await
            .unwrap();
        // A write made through the same node is visible to its local read.
        assert_eq!(local, [(format!("p{id}"),)]);

        // Mistakes are reported before anything is sent.
        let err = client
            .execute(
                "INSERT INTO people (id, name) VALUES (:id, :name)",
                named_params! { ":id" => 99 },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Params(ParamsError::Missing { name }) if name == ":name"),
            "{err}"
        );
        let err = client
            .query_map::<(i64,)>(
                "SELECT id FROM people WHERE id = :id",
                named_params! { ":id" => 1, "id" => 1 },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Params(ParamsError::Unknown { .. })),
            "{err}"
        );
        let err = client
            .query_consistent_map::<(i64,)>(
                "SELECT id FROM people WHERE id = :id OR id = ?",
                named_params! { ":id" => 1 },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Params(ParamsError::Positional { .. })),
            "{err}"
        );
    }

    // Transactions: named values and an earlier statement's output by name.
    let mut txn = Txn::new();
    let insert = txn.execute(
        "INSERT INTO people (name, age) VALUES (:name, :age)",
        named_params! { ":name" => "txn", ":age" => 1 },
    );
    let by_name: NamedParams<TxnParam> = NamedParams::from(vec![
        (":id", insert.last_insert_rowid()),
        (":age", 2.into()),
    ]);
    txn.execute("UPDATE people SET age = :age WHERE id = :id", by_name);
    far.txn(txn).await.unwrap();
    let (age,): (i64,) = far
        .query_consistent_one(
            "SELECT age FROM people WHERE name = :n",
            named_params! { ":n" => "txn" },
        )
        .await
        .unwrap();
    assert_eq!(age, 2);

    // A transaction with a statement whose names do not fit is refused whole.
    let mut txn = Txn::new();
    txn.execute("INSERT INTO people (name) VALUES ('never')", params!());
    txn.execute(
        "UPDATE people SET age = :age",
        named_params! { ":agee" => 1 },
    );
    let err = leader.txn(txn).await.unwrap_err();
    assert!(
        matches!(&err, Error::Params(ParamsError::InTxn { statement: 1, .. })),
        "{err}"
    );
    let (n,): (i64,) = leader
        .query_consistent_one("SELECT count(*) FROM people", params!())
        .await
        .unwrap();
    assert_eq!(n, 4, "nothing of the refused transaction was applied");

    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_of_100k_rows_hold_a_bounded_number_of_rows() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let leader_idx = cluster.leader().await;
    let follower_idx = cluster.follower().await;
    let leader = &cluster.clients[leader_idx];
    fill_big(leader).await;
    let sql = "SELECT x, s FROM big WHERE x >= :from ORDER BY x";

    // Embedded node: a consistent stream on a follower sees the leader's writes.
    let follower = &cluster.clients[follower_idx];
    let peak =
        assert_all_rows(follower.query_consistent_stream(sql, named_params! { ":from" => 1 }))
            .await;
    println!("embedded stream of {ROWS} rows: at most {peak} rows held at once");
    assert!(
        peak <= 3 * hiqlite::client::stream::LOCAL_BATCH_ROWS,
        "embedded stream held {peak} rows"
    );

    // Remote client: one chunk on the client, at most three on the node (one ready, one being
    // filled, one being sent).
    let far = remote(&cluster, follower_idx);
    let peak = assert_all_rows(far.query_stream(sql, named_params! { ":from" => 1 })).await;
    let node = cluster.clients[follower_idx].__cursor_stats().unwrap();
    println!(
        "remote stream of {ROWS} rows: at most {peak} rows held by the client, {} by the node",
        node.peak_buffered_rows
    );
    let chunk = hiqlite::client::stream::REMOTE_CHUNK_ROWS as usize;
    assert!(peak <= chunk, "the client held {peak} rows");
    assert!(
        node.peak_buffered_rows <= 3 * chunk,
        "the node held {} rows",
        node.peak_buffered_rows
    );
    assert_eq!(node.open, 0, "the finished stream closed its cursor");

    // Errors end a stream: bad SQL, bad parameters.
    for client in [leader, &far] {
        let items: Vec<Result<(i64,), Error>> = client
            .query_stream("SELECT nope FROM big", params!())
            .collect()
            .await;
        assert!(matches!(&items[..], [Err(Error::Sql(_))]), "{items:?}");
        let items: Vec<Result<(i64,), Error>> = client
            .query_stream("SELECT x FROM big WHERE x = :x", named_params! {})
            .collect()
            .await;
        assert!(
            matches!(
                &items[..],
                [Err(Error::Params(ParamsError::Missing { .. }))]
            ),
            "{items:?}"
        );
    }

    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_a_stream_frees_its_read_connection_and_cursor() {
    let _serial = SERIAL.lock().await;
    // One read connection per node: a stream that kept it would block every later read.
    let cluster = TestCluster::start_with(3, |b| b.read_pool_size(1)).await;
    let leader_idx = cluster.leader().await;
    let leader = &cluster.clients[leader_idx];
    fill_big(leader).await;
    let sql = "SELECT x, s FROM big ORDER BY x";
    let quickly = Duration::from_secs(5);

    // Embedded: read a few rows, drop the stream, read again on the one connection.
    let mut stream = leader.query_stream::<(i64, String)>(sql, params!());
    for expected in 1..=10 {
        assert_eq!(stream.try_next().await.unwrap().unwrap().0, expected);
    }
    drop(stream);
    let (n,): (i64,) = tokio::time::timeout(
        quickly,
        leader.query_map_one("SELECT count(*) FROM big", params!()),
    )
    .await
    .expect("the dropped stream gave its connection back")
    .unwrap();
    assert_eq!(n, ROWS);

    // A stream never polled holds nothing; one dropped in a long step is interrupted: row 2 of
    // this one needs a join of 10^10 rows, which would take hours.
    drop(leader.query_stream::<(i64, String)>(sql, params!()));
    let mut endless = leader.query_stream::<(i64, i64)>(
        "SELECT x, CASE WHEN x = 2 THEN (SELECT count(*) FROM big a, big b) ELSE 0 END
         FROM big ORDER BY x",
        params!(),
    );
    let first = tokio::time::timeout(Duration::from_millis(300), endless.next()).await;
    assert!(first.is_err(), "the first batch waits for row 2: {first:?}");
    drop(endless);
    tokio::time::timeout(
        quickly,
        leader.query_map_one::<(i64,)>("SELECT 1", params!()),
    )
    .await
    .expect("the interrupted stream gave its connection back")
    .unwrap();

    // Remote: the node closes the cursor when the stream is dropped, and its connection is free.
    let far = remote(&cluster, leader_idx);
    let mut stream = far.query_stream::<(i64, String)>(sql, params!());
    for expected in 1..=10 {
        assert_eq!(stream.try_next().await.unwrap().unwrap().0, expected);
    }
    assert_eq!(leader.__cursor_stats().unwrap().open, 1);
    drop(stream);
    poll_until("the cursor to close", || {
        leader.__cursor_stats().unwrap().open == 0
    })
    .await;
    tokio::time::timeout(
        quickly,
        far.query_map_one::<(i64,)>("SELECT count(*) FROM big", params!()),
    )
    .await
    .expect("the closed cursor gave its connection back")
    .unwrap();

    // A connection that ends loses its cursors; a connection may hold 8; a cursor belongs to
    // the connection that opened it.
    let (addr, secret) = (
        cluster.api_addr(leader_idx),
        hiqlite::Secret::new(SECRET_API),
    );
    let connect = || RpcClient::connect(&addr, &secret, Channel::Api, 1 << 20);
    let open = ApiRequest::OpenCursor {
        sql: sql.into(),
        params: vec![],
        consistent: false,
        max_rows: 10,
        max_bytes: 1 << 16,
    };
    let rpc = connect().await.unwrap();
    let t = Duration::from_secs(10);
    let mut cursors = Vec::new();
    let first: ApiResponse = rpc.call(&open, t).await.unwrap();
    match first {
        ApiResponse::Cursor(Ok(chunk)) => {
            assert_eq!(chunk.rows.len(), 10);
            assert!(!chunk.done);
            cursors.push(chunk.cursor);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(leader.__cursor_stats().unwrap().open, 1);
    let other = connect().await.unwrap();
    let stolen: ApiResponse = other
        .call(&ApiRequest::FetchCursor { cursor: cursors[0] }, t)
        .await
        .unwrap();
    assert!(
        matches!(&stolen, ApiResponse::Cursor(Err(e)) if e.to_string().contains("no open cursor")),
        "{stolen:?}"
    );
    drop(rpc);
    poll_until("the closed connection's cursor to close", || {
        leader.__cursor_stats().unwrap().open == 0
    })
    .await;
    tokio::time::timeout(
        quickly,
        leader.query_map_one::<(i64,)>("SELECT 1", params!()),
    )
    .await
    .expect("the connection's end gave the read connection back")
    .unwrap();

    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_reads_one_snapshot() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let leader = &cluster.clients[cluster.leader().await];
    fill_big(leader).await;
    let far = remote(&cluster, cluster.leader().await);
    for client in [leader, &far] {
        let mut stream =
            client.query_stream::<(i64, String)>("SELECT x, s FROM big ORDER BY x", params!());
        assert_eq!(stream.try_next().await.unwrap().unwrap().0, 1);
        // Writes while the stream is open: a row changed ahead of the stream and a row added.
        client
            .execute(
                "UPDATE big SET s = 'changed' WHERE x = :x",
                named_params! { ":x" => ROWS },
            )
            .await
            .unwrap();
        let added = client
            .execute("INSERT INTO big (s) VALUES ('added')", params!())
            .await
            .unwrap();
        let rest: Vec<(i64, String)> = stream.try_collect().await.unwrap();
        assert_eq!(
            rest.len() as i64,
            ROWS - 1,
            "the added row is not in the snapshot"
        );
        assert_eq!(rest.last().unwrap().1, format!("row-{ROWS:06}"));
        // Undo for the next client.
        client
            .execute(
                "UPDATE big SET s = :s WHERE x = :x",
                named_params! { ":x" => ROWS, ":s" => format!("row-{ROWS:06}") },
            )
            .await
            .unwrap();
        client
            .execute(
                "DELETE FROM big WHERE x = ?",
                params!(added.last_insert_rowid),
            )
            .await
            .unwrap();
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_holds_a_bounded_number_of_cursors() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start_with(3, |b| b.read_pool_size(12)).await;
    let leader_idx = cluster.leader().await;
    let leader = &cluster.clients[leader_idx];
    fill_big(leader).await;
    let rpc = RpcClient::connect(
        &cluster.api_addr(leader_idx),
        &hiqlite::Secret::new(SECRET_API),
        Channel::Api,
        1 << 20,
    )
    .await
    .unwrap();
    let open = ApiRequest::OpenCursor {
        sql: "SELECT x FROM big".into(),
        params: vec![],
        consistent: false,
        max_rows: 10,
        max_bytes: 1 << 16,
    };
    let t = Duration::from_secs(10);
    let max = hiqlite::engine::cursors::MAX_PER_CONNECTION;
    for _ in 0..max {
        let resp: ApiResponse = rpc.call(&open, t).await.unwrap();
        assert!(matches!(resp, ApiResponse::Cursor(Ok(_))), "{resp:?}");
    }
    let refused: ApiResponse = rpc.call(&open, t).await.unwrap();
    assert!(
        matches!(&refused, ApiResponse::Cursor(Err(e)) if e.to_string().contains("the most a connection may have")),
        "{refused:?}"
    );
    assert_eq!(leader.__cursor_stats().unwrap().open, max);
    // Another connection is not limited by this one's cursors.
    let far = remote(&cluster, leader_idx);
    let n = far
        .query_stream::<(i64,)>("SELECT x FROM big", params!())
        .count()
        .await;
    assert_eq!(n as i64, ROWS);
    drop(rpc);
    poll_until("the cursors to close", || {
        leader.__cursor_stats().unwrap().open == 0
    })
    .await;
    cluster.shutdown().await;
}

#[derive(hiqlite::HiqliteRow, Debug, PartialEq)]
struct User {
    id: i64,
    name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checked_queries_stream_with_fetch() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let leader_idx = cluster.leader().await;
    let leader = &cluster.clients[leader_idx];
    leader
        .batch(include_str!("../../migrations/0001_init.sql"))
        .await
        .unwrap();
    let rows = (1..=3_000)
        .map(|i| params!(format!("user-{i:04}")))
        .collect();
    let mut txn = Txn::new();
    txn.execute_many("INSERT INTO users (name) VALUES (?)", rows);
    leader.txn(txn).await.unwrap();

    let far = remote(&cluster, cluster.follower().await);
    for client in [leader, &far] {
        let users: Vec<User> = hiqlite::query_as!(
            User,
            "SELECT id, name FROM users WHERE id > :after ORDER BY id",
            after = 1_000
        )
        .fetch_consistent(client)
        .try_collect()
        .await
        .unwrap();
        assert_eq!(users.len(), 2_000);
        assert_eq!(
            users[0],
            User {
                id: 1_001,
                name: "user-1001".into()
            }
        );
        let first = hiqlite::query!("SELECT name FROM users ORDER BY id")
            .fetch(client)
            .next()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.name, "user-0001");
        // A scalar query streams its column's values.
        let ids: Vec<i64> =
            hiqlite::query_scalar!("SELECT id FROM users WHERE id <= ? ORDER BY id", 5)
                .fetch(client)
                .try_collect()
                .await
                .unwrap();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
    }
    cluster.shutdown().await;
}
