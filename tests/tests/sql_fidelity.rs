//! SQL fidelity on a 3-process cluster: kinds of statement that once behaved differently from
//! plain SQLite (issue 9), each run through `Client::sql` (what `hiqlite sql` sends) on
//! followers and the leader, and compared with what rusqlite computes for the same statements.

use std::time::Duration;

use hiqlite::client::SqlOutput;
use hiqlite::{Error, Rows, Value};
use hiqlite_cluster_tests::ProcessCluster;

/// Plain SQLite, fed the same statements, computes the expected results.
struct Reference(rusqlite::Connection);

impl Reference {
    fn new() -> Reference {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        Reference(conn)
    }

    fn run(&self, sql: &str) {
        self.0
            .execute_batch(sql)
            .unwrap_or_else(|e| panic!("reference: {sql}: {e}"));
    }

    /// The rows of `sql`, as Hiqlite returns them.
    fn rows(&self, sql: &str) -> Rows {
        let mut stmt = self.0.prepare(sql).unwrap();
        let mut out = Vec::new();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let width = row.as_ref().column_count();
            out.push(
                (0..width)
                    .map(|i| match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(v) => Value::Integer(v),
                        rusqlite::types::ValueRef::Real(v) => Value::Real(v),
                        rusqlite::types::ValueRef::Text(v) => {
                            Value::Text(String::from_utf8_lossy(v).into_owned())
                        }
                        rusqlite::types::ValueRef::Blob(v) => Value::Blob(v.to_vec()),
                    })
                    .collect(),
            );
        }
        drop(rows);
        let columns = stmt.column_names().iter().map(|c| c.to_string()).collect();
        Rows { columns, rows: out }
    }

    /// SQLite's error message for `sql`.
    fn error(&self, sql: &str) -> String {
        self.0.execute_batch(sql).unwrap_err().to_string()
    }
}

/// Runs `sql` through node `i` as `hiqlite sql` does.
async fn sql(cluster: &ProcessCluster, i: usize, sql: &str) -> Result<SqlOutput, Error> {
    cluster.client(i).sql(sql, false).await
}

async fn write(cluster: &ProcessCluster, i: usize, statement: &str, reference: &Reference) {
    sql(cluster, i, statement)
        .await
        .unwrap_or_else(|e| panic!("node {}: {statement}: {e}", i + 1));
    reference.run(statement);
}

/// Reads `query` on every node, consistent and then local (the local read runs after the
/// consistent one, so it sees every write), and checks each against the reference.
async fn assert_reads_everywhere(cluster: &ProcessCluster, query: &str, reference: &Reference) {
    let expected = reference.rows(query);
    for i in 0..cluster.len() {
        for consistent in [true, false] {
            match cluster.client(i).sql(query, consistent).await {
                Ok(SqlOutput::Rows(rows)) => assert_eq!(
                    rows,
                    expected,
                    "node {} ({}): {query}",
                    i + 1,
                    if consistent { "consistent" } else { "local" }
                ),
                other => panic!("node {}: {query}: {other:?}", i + 1),
            }
        }
    }
}

fn sql_message(e: Error) -> String {
    match e {
        Error::Sql(e) => e.to_string(),
        other => panic!("not an SQL error: {other:?}"),
    }
}

/// Items 1-4 and 9: result columns after schema changes, statements on objects another node just
/// created, every ALTER TABLE form, TEMP objects and pragmas, math functions.
#[tokio::test(flavor = "multi_thread")]
async fn statements_behave_as_in_sqlite_right_after_schema_changes() {
    let cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let reference = Reference::new();

    // 1. A cached statement's column list never outlives the schema it was prepared for.
    write(&cluster, follower, "CREATE TABLE t (a)", &reference).await;
    write(&cluster, follower, "INSERT INTO t VALUES (1)", &reference).await;
    assert_reads_everywhere(&cluster, "SELECT * FROM t", &reference).await;
    write(
        &cluster,
        follower,
        "ALTER TABLE t ADD COLUMN b DEFAULT 7",
        &reference,
    )
    .await;
    assert_reads_everywhere(&cluster, "SELECT * FROM t", &reference).await;
    let returning = "UPDATE t SET a = a + 1 RETURNING *";
    for i in [follower, other, leader] {
        let expected = reference.rows(returning);
        match sql(&cluster, i, returning).await.unwrap() {
            SqlOutput::Rows(rows) => assert_eq!(rows, expected, "node {}", i + 1),
            other => panic!("{other:?}"),
        }
    }
    // Values under the wrong names: the same names, other columns.
    write(&cluster, other, "DROP TABLE t", &reference).await;
    write(&cluster, other, "CREATE TABLE t (b, a)", &reference).await;
    write(
        &cluster,
        other,
        "INSERT INTO t VALUES ('bee', 'ay')",
        &reference,
    )
    .await;
    assert_reads_everywhere(&cluster, "SELECT * FROM t", &reference).await;
    let expected = reference.rows(returning.replace("a + 1", "a || '!'").as_str());
    match sql(&cluster, follower, &returning.replace("a + 1", "a || '!'"))
        .await
        .unwrap()
    {
        SqlOutput::Rows(rows) => assert_eq!(rows, expected),
        other => panic!("{other:?}"),
    }

    // 2. Read-or-write is decided against the node's current schema, and a node behind the
    // leader catches up before deciding.
    write(&cluster, follower, "CREATE TABLE t1 (x)", &reference).await;
    write(
        &cluster,
        follower,
        "CREATE INDEX t1i1 ON t1 (x)",
        &reference,
    )
    .await;
    write(&cluster, follower, "REINDEX t1i1", &reference).await;
    for i in 0..3 {
        let index = format!("t1i_{i}");
        write(
            &cluster,
            i,
            &format!("CREATE INDEX {index} ON t1 (x)"),
            &reference,
        )
        .await;
        // Straight away through another node, which may not have applied it yet.
        write(
            &cluster,
            (i + 1) % 3,
            &format!("REINDEX {index}"),
            &reference,
        )
        .await;
    }
    let err = sql(&cluster, other, "REINDEX no_such_thing")
        .await
        .unwrap_err();
    assert_eq!(
        sql_message(err),
        format!("SQL error: {}", reference.error("REINDEX no_such_thing"))
    );

    // 3. Every ALTER TABLE form, identical on every node, also inside a migration.
    for statement in [
        "CREATE TABLE r (id INTEGER PRIMARY KEY, b TEXT, c TEXT, d TEXT)",
        "CREATE INDEX r_b ON r (b)",
        "CREATE VIEW rv AS SELECT id, b FROM r",
        "CREATE TABLE audit (id, b)",
        "CREATE TRIGGER r_audit AFTER INSERT ON r BEGIN INSERT INTO audit VALUES (new.id, new.b); END",
        "INSERT INTO r (b, c, d) VALUES ('one', 'c', 'd')",
        "ALTER TABLE r RENAME COLUMN b TO bb",
        "ALTER TABLE r RENAME TO r2",
        "ALTER TABLE r2 DROP COLUMN d",
        "ALTER TABLE r2 ADD COLUMN e INTEGER DEFAULT 5",
        "INSERT INTO r2 (bb, c) VALUES ('two', 'c')",
    ] {
        write(&cluster, follower, statement, &reference).await;
    }
    let migrations = tempfile::tempdir().unwrap();
    let migration = "CREATE TABLE s (id INTEGER PRIMARY KEY, x TEXT NOT NULL, y TEXT) STRICT;
         INSERT INTO s (x, y) VALUES ('x', 'y');
         ALTER TABLE s RENAME COLUMN x TO xx;
         ALTER TABLE s DROP COLUMN y;
         ALTER TABLE s ADD COLUMN z INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE s RENAME TO s2;";
    std::fs::write(migrations.path().join("0001_alter.sql"), migration).unwrap();
    let report = cluster
        .client(other)
        .migrate(hiqlite::Migrations::from_dir(migrations.path()).unwrap())
        .await
        .unwrap_or_else(|e| panic!("migration with ALTER TABLE: {e}"));
    assert_eq!(report.applied.len(), 1, "{report:?}");
    reference.run(migration);
    for query in [
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE '\\_hiqlite%' ESCAPE '\\' ORDER BY name",
        "SELECT * FROM rv ORDER BY id",
        "SELECT * FROM audit ORDER BY id",
        "SELECT * FROM s2",
    ] {
        assert_reads_everywhere(&cluster, query, &reference).await;
    }

    // 4. TEMP objects are refused, saying why.
    for statement in ["CREATE TEMP VIEW v AS SELECT 1", "CREATE TEMP TABLE tt (x)"] {
        let err = sql(&cluster, follower, statement).await.unwrap_err();
        let message = sql_message(err);
        assert!(
            message.contains("TEMP tables, views, triggers and indexes are not supported"),
            "{statement}: {message}"
        );
    }

    // 9. Pragmas that only read work in reads; the others are refused by name.
    write(
        &cluster,
        follower,
        "CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE)",
        &reference,
    )
    .await;
    for query in [
        "PRAGMA table_info(u)",
        "SELECT name FROM pragma_table_info('u') ORDER BY cid",
        "PRAGMA index_list(u)",
        "PRAGMA foreign_key_list(u)",
        "SELECT name, type, ncol FROM pragma_table_list WHERE schema = 'main' AND name = 'u'",
    ] {
        assert_reads_everywhere(&cluster, query, &reference).await;
    }
    let err = sql(&cluster, follower, "PRAGMA journal_mode = DELETE")
        .await
        .unwrap_err();
    assert!(
        sql_message(err).contains("PRAGMA journal_mode = ... is not allowed"),
        "a refused pragma is named"
    );

    // Math functions: present, and the same value in writes on every node and in reads.
    write(&cluster, follower, "CREATE TABLE m (x REAL)", &reference).await;
    sql(
        &cluster,
        follower,
        "INSERT INTO m VALUES (sqrt(2)), (exp(1)), (ln(10)), (pow(2, 0.5)), (sin(1)), (log(2, 1024))",
    )
    .await
    .unwrap();
    let stored = match cluster
        .client(leader)
        .sql("SELECT x FROM m ORDER BY rowid", true)
        .await
        .unwrap()
    {
        SqlOutput::Rows(rows) => rows,
        other => panic!("{other:?}"),
    };
    for i in 0..3 {
        let rows = cluster
            .client(i)
            .query_consistent_rows("SELECT x FROM m ORDER BY rowid", vec![])
            .await
            .unwrap();
        assert_eq!(rows, stored, "node {}", i + 1);
        let computed = cluster
            .client(i)
            .query_rows("SELECT sqrt(2) UNION ALL SELECT exp(1)", vec![])
            .await
            .unwrap();
        assert_eq!(
            computed.rows[..],
            stored.rows[..2],
            "node {}: reads compute what writes store",
            i + 1
        );
    }
    assert_eq!(stored.rows[0], vec![Value::Real(std::f64::consts::SQRT_2)]);

    // TEXT that is not UTF-8 comes back with U+FFFD, as documented (Value::Text is a String).
    let rows = cluster
        .client(follower)
        .query_rows(
            "SELECT CAST(x'41ff42' AS TEXT), CAST(CAST(x'41ff42' AS TEXT) AS BLOB)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        rows.rows[0],
        vec![
            Value::Text("A\u{fffd}B".into()),
            Value::Blob(vec![0x41, 0xff, 0x42])
        ]
    );
}

/// Items 5 and 6: VACUUM runs through Raft on every node, and functions that read connection
/// history store the same value on a node that restarted.
#[tokio::test(flavor = "multi_thread")]
async fn vacuum_and_connection_history_are_the_same_on_every_node() {
    let mut cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let reference = Reference::new();
    for statement in [
        "CREATE TABLE big (id INTEGER PRIMARY KEY, pad TEXT)",
        "CREATE TABLE plain (v TEXT)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
         INSERT INTO big (pad) SELECT hex(zeroblob(1000)) FROM n",
        "INSERT INTO plain VALUES ('a'), ('b'), ('c'), ('d')",
        "DELETE FROM plain WHERE v IN ('a', 'c')",
        "DELETE FROM big WHERE id % 8 <> 0",
    ] {
        write(&cluster, follower, statement, &reference).await;
    }
    let free_pages = |rows: Rows| match rows.rows[0][0] {
        Value::Integer(n) => n,
        ref other => panic!("{other:?}"),
    };
    for i in 0..3 {
        let rows = cluster
            .client(i)
            .query_consistent_rows("PRAGMA freelist_count", vec![])
            .await
            .unwrap();
        assert!(
            free_pages(rows) > 100,
            "node {}: deleted rows left free pages",
            i + 1
        );
    }
    write(&cluster, follower, "VACUUM", &reference).await;
    for i in 0..3 {
        let rows = cluster
            .client(i)
            .query_consistent_rows("PRAGMA freelist_count", vec![])
            .await
            .unwrap();
        assert_eq!(free_pages(rows), 0, "node {}: VACUUM ran", i + 1);
    }
    // Rowids renumbered as SQLite renumbers them, the same on every node.
    assert_reads_everywhere(
        &cluster,
        "SELECT rowid, v FROM plain ORDER BY rowid",
        &reference,
    )
    .await;
    assert_reads_everywhere(&cluster, "SELECT count(*), sum(id) FROM big", &reference).await;
    let err = sql(
        &cluster,
        follower,
        "VACUUM INTO '/tmp/hiqlite-vacuum-into.db'",
    )
    .await
    .unwrap_err();
    assert!(sql_message(err).contains("VACUUM INTO is not allowed in writes"));

    // A restarted node's writer connection has no history; the values must not depend on that.
    write(
        &cluster,
        follower,
        "CREATE TABLE log (what, changes, total)",
        &reference,
    )
    .await;
    let restarted = (leader + 2) % 3;
    cluster.kill9(restarted).await;
    cluster.restart(restarted);
    cluster.wait_all_healthy(Duration::from_secs(30)).await;
    let statement = "INSERT INTO log VALUES ('fresh', changes(), total_changes())";
    write(&cluster, restarted, statement, &reference).await;
    write(
        &cluster,
        follower,
        "UPDATE big SET pad = 'x' WHERE id < 100; INSERT INTO log VALUES ('batch', changes(), total_changes())",
        &reference,
    )
    .await;
    // Every entry counts as if it ran on a fresh connection: rusqlite's fresh connection here
    // has counted every earlier statement, so the reference is the first entry's value only.
    let rows = cluster
        .client(restarted)
        .query_consistent_rows(
            "SELECT what, changes, total FROM log ORDER BY rowid",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        rows.rows,
        vec![
            vec![
                Value::Text("fresh".into()),
                Value::Integer(0),
                Value::Integer(0)
            ],
            vec![
                Value::Text("batch".into()),
                Value::Integer(12),
                Value::Integer(12)
            ],
        ]
    );
    for i in 0..3 {
        let local = cluster
            .client(i)
            .query_consistent_rows(
                "SELECT what, changes, total FROM log ORDER BY rowid",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(local, rows, "node {}", i + 1);
    }
}
