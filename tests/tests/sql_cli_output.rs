//! `hiqlite sql` output against a real 3-process cluster (issue 9, item 7): `--json` keeps every
//! column in order (duplicates numbered as SQLite numbers them), REALs stay REALs, infinities
//! print as SQLite's JSON prints them, integers stay exact; `--json-rows` tags every value with
//! its storage class; the table tells NULL from the text 'NULL'. The expected text comes from
//! plain SQLite (rusqlite) wherever SQLite has an opinion.

use hiqlite_cluster_tests::{run_cli, ProcessCluster, SECRET_API};
use rusqlite::Connection;

/// Runs `hiqlite sql` against `api` with `flags` and returns stdout (asserting success).
async fn sql(api: &str, flags: &[&str], query: &str) -> String {
    let mut args = vec!["sql", "--api", api, "--secret-api", SECRET_API];
    args.extend_from_slice(flags);
    args.push(query);
    let out = run_cli(&args).await;
    assert!(
        out.status.success(),
        "hiqlite {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .trim_end()
        .to_string()
}

/// One text value computed by plain SQLite.
fn sqlite_text(conn: &Connection, query: &str) -> String {
    conn.query_row(query, [], |r| r.get(0)).expect(query)
}

/// SQLite's names for the columns of `CREATE TABLE ... AS SELECT` with these names.
fn sqlite_unique_names(conn: &Connection, names: &[&str]) -> Vec<String> {
    let select: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i} AS \"{n}\""))
        .collect();
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS names; CREATE TABLE names AS SELECT {}",
        select.join(", ")
    ))
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('names') ORDER BY cid")
        .unwrap();
    let names = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_output_keeps_what_sqlite_returned() {
    let cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let (leader_api, follower_api, other_api) = (
        cluster.api_addr(leader).to_string(),
        cluster.api_addr(follower).to_string(),
        cluster.api_addr(other).to_string(),
    );
    let reference = Connection::open_in_memory().unwrap();

    // Duplicate names: every column, in order, numbered as SQLite numbers them; on every node,
    // local and consistent.
    let keys = sqlite_unique_names(&reference, &["a", "a", "A"]);
    assert_eq!(keys, ["a", "a:1", "A:2"]);
    let expected = format!(r#"[{{"{}":1,"{}":2,"{}":3}}]"#, keys[0], keys[1], keys[2]);
    for api in [&leader_api, &follower_api, &other_api] {
        for flags in [&["--json"][..], &["--json", "--consistent"][..]] {
            assert_eq!(
                sql(api, flags, "SELECT 1 AS a, 2 AS a, 3 AS A").await,
                expected,
                "{api} {flags:?}"
            );
        }
    }

    // Keys in column order, not sorted.
    assert_eq!(
        sql(&follower_api, &["--json"], "SELECT 3 AS z, 1 AS a, 2 AS m").await,
        r#"[{"z":3,"a":1,"m":2}]"#
    );

    // Infinity as SQLite's JSON writes it, never null.
    let inf = sqlite_text(&reference, "SELECT json_quote(9e999)");
    let ninf = sqlite_text(&reference, "SELECT json_quote(-9e999)");
    assert_eq!((inf.as_str(), ninf.as_str()), ("9.0e+999", "-9.0e+999"));
    assert_eq!(
        sql(&leader_api, &["--json"], "SELECT 9e999 AS i, -9e999 AS n").await,
        format!(r#"[{{"i":{inf},"n":{ninf}}}]"#)
    );

    // REAL stays REAL, INTEGER stays exact, through a table written via a follower.
    sql(
        &follower_api,
        &[],
        "CREATE TABLE r (x REAL, y INTEGER, t TEXT, b BLOB)",
    )
    .await;
    let inserted = sql(
        &follower_api,
        &["--json"],
        "INSERT INTO r VALUES (1, 1, 'NULL', x'01ff'), (0.1 + 0.2, 9223372036854775807, NULL, NULL)",
    )
    .await;
    assert_eq!(inserted, "[]", "a write without RETURNING prints no rows");
    let json = sql(
        &other_api,
        &["--json", "--consistent"],
        "SELECT x, y, t, b FROM r ORDER BY rowid",
    )
    .await;
    assert_eq!(
        json,
        concat!(
            r#"[{"x":1.0,"y":1,"t":"NULL","b":[1,255]},"#,
            r#"{"x":0.30000000000000004,"y":9223372036854775807,"t":null,"b":null}]"#
        )
    );
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(parsed[1]["y"].as_i64(), Some(i64::MAX), "exact integer");
    assert_eq!(
        parsed[1]["x"].as_f64(),
        Some(0.1 + 0.2),
        "every digit of the REAL"
    );

    // --json-rows: columns with duplicates, every value with SQLite's storage class.
    let rows = sql(
        &other_api,
        &["--json-rows", "--consistent"],
        "SELECT x, y, x, t, b, typeof(x) FROM r ORDER BY rowid",
    )
    .await;
    assert_eq!(
        rows,
        concat!(
            r#"{"columns":["x","y","x","t","b","typeof(x)"],"rows":["#,
            r#"[{"type":"real","value":1.0},{"type":"integer","value":1},{"type":"real","value":1.0},"#,
            r#"{"type":"text","value":"NULL"},{"type":"blob","value":"01ff"},{"type":"text","value":"real"}],"#,
            r#"[{"type":"real","value":0.30000000000000004},{"type":"integer","value":9223372036854775807},"#,
            r#"{"type":"real","value":0.30000000000000004},{"type":"null","value":null},"#,
            r#"{"type":"null","value":null},{"type":"text","value":"real"}]]}"#
        )
    );
    let typed: serde_json::Value = serde_json::from_str(&rows).expect("valid JSON");
    // Every type tag is what typeof() says in plain SQLite for the same values.
    for (value, sqlite_type) in [
        (
            &typed["rows"][0][0],
            sqlite_text(&reference, "SELECT typeof(CAST(1 AS REAL))"),
        ),
        (
            &typed["rows"][0][1],
            sqlite_text(&reference, "SELECT typeof(1)"),
        ),
        (
            &typed["rows"][0][3],
            sqlite_text(&reference, "SELECT typeof('NULL')"),
        ),
        (
            &typed["rows"][0][4],
            sqlite_text(&reference, "SELECT typeof(x'01ff')"),
        ),
        (
            &typed["rows"][1][3],
            sqlite_text(&reference, "SELECT typeof(NULL)"),
        ),
    ] {
        assert_eq!(value["type"], serde_json::Value::from(sqlite_type));
    }
    assert_eq!(
        sql(&leader_api, &["--json-rows"], "SELECT 9e999 AS i").await,
        format!(r#"{{"columns":["i"],"rows":[[{{"type":"real","value":{inf}}}]]}}"#)
    );

    // Writes in --json-rows: their counts; RETURNING: the rows, duplicates numbered in --json.
    assert_eq!(
        sql(
            &follower_api,
            &["--json-rows"],
            "INSERT INTO r (x, y) VALUES (2.5, 3)"
        )
        .await,
        r#"{"columns":[],"rows":[],"rows_affected":1,"last_insert_rowid":3}"#
    );
    assert_eq!(
        sql(
            &follower_api,
            &["--json"],
            "INSERT INTO r (x, y) VALUES (4, 5) RETURNING x, y, x"
        )
        .await,
        r#"[{"x":4.0,"y":5,"x:1":4.0}]"#
    );
    assert_eq!(
        sql(
            &follower_api,
            &["--json-rows"],
            "DELETE FROM r WHERE y = 5; DELETE FROM r WHERE y = 3"
        )
        .await,
        r#"{"columns":[],"rows":[],"statements":2}"#
    );

    // The table: REAL as REAL, NULL apart from the text 'NULL', blobs as SQLite's literal.
    let table = sql(
        &leader_api,
        &["--consistent"],
        "SELECT x, y, t, b FROM r ORDER BY rowid",
    )
    .await;
    let cells: Vec<Vec<String>> = table
        .lines()
        .filter(|l| l.starts_with('│'))
        .map(|l| {
            l.trim_matches('│')
                .split('┆')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let blob = sqlite_text(&reference, "SELECT quote(x'01ff')");
    assert_eq!(
        cells,
        [
            vec!["x", "y", "t", "b"],
            vec!["1.0", "1", "'NULL'", blob.as_str()],
            vec!["0.30000000000000004", "9223372036854775807", "NULL", "NULL"],
        ],
        "{table}"
    );
    assert!(table.ends_with("(2 rows)"), "{table}");
}
