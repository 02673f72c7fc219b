//! `hiqlite sql` reading a script (issue 15, item 4): from stdin (not a terminal) and with
//! `--file`, a statement spanning lines, `.tables`, `.schema t`, `.mode json`; the first error
//! stops the script with exit code 1 and its message, after the statements before it ran.

use hiqlite_cluster_tests::cli::shell;
use hiqlite_cluster_tests::{ProcessCluster, SECRET_API};

const SCRIPT: &str = "\
CREATE TABLE t (
  id INTEGER PRIMARY KEY,
  name TEXT -- a comment; not the end
);
INSERT INTO t (name) VALUES ('a;b');
.tables
.schema t
.mode json
SELECT id, name FROM t;
";

const EXPECTED: &str = "\
t
CREATE TABLE t (
  id INTEGER PRIMARY KEY,
  name TEXT -- a comment; not the end
);
[{\"id\":1,\"name\":\"a;b\"}]
";

#[tokio::test(flavor = "multi_thread")]
async fn sql_runs_a_script_from_stdin_or_a_file() {
    let cluster = ProcessCluster::start(1).await;
    let dir = cluster.root().to_path_buf();
    std::fs::write(dir.join("script.sql"), SCRIPT).unwrap();
    let env = vec![
        ("HQL_API".to_string(), cluster.api_addr(0).to_string()),
        ("HQL_SECRET_API".to_string(), SECRET_API.to_string()),
    ];

    let out = shell("hiqlite sql < script.sql", &env, &dir)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdin script failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED);

    // The same script through --file, against the table that now exists: the CREATE fails, so
    // nothing after it runs and the exit code is 1.
    let out = shell("hiqlite sql --file script.sql", &env, &dir)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("table t already exists"),
        "stderr: {stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");

    // A fresh file whose second statement fails: the first one ran.
    std::fs::write(
        dir.join("bad.sql"),
        "INSERT INTO t (name) VALUES ('c');\nSELECT nope FROM t;\nINSERT INTO t (name) VALUES ('d');\n",
    )
    .unwrap();
    let out = shell("hiqlite sql --file bad.sql", &env, &dir)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such column: nope"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An unknown dot command stops a script too.
    let out = shell(
        "printf '.frobnicate\\nSELECT 1;\\n' | hiqlite sql",
        &env,
        &dir,
    )
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("unknown command .frobnicate"),
        "stderr: {stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");

    let out = shell(
        "hiqlite sql --json --consistent 'SELECT name FROM t ORDER BY id'",
        &env,
        &dir,
    )
    .output()
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        r#"[{"name":"a;b"},{"name":"c"}]"#
    );
}
