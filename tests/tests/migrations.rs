//! Migrations on a real 3-node cluster of `hiqlite serve` processes: applied once cluster-wide
//! when clients on different nodes migrate at the same time, refused with an error naming the
//! file when an applied migration changed or went missing or a new one is older than the newest
//! applied, rolled back alone when its SQL fails, and a no-op when called again (also after a
//! node restarts).

use std::path::Path;
use std::time::Duration;

use hiqlite::migrate::{MigrateReport, MigrationError};
use hiqlite::{migrate, params, Client, Error, Migrations};
use hiqlite_cluster_tests::{run_cli, ProcessCluster, SECRET_API};

/// Generous bound for catch-up on a loaded 2-core machine.
const CONVERGE: Duration = Duration::from_secs(60);

/// Version 1: a one-file directory that `migrate!` embeds below, copied into the temporary
/// directory as the same version. (A fixture rather than the workspace's `migrations/`, which
/// grows as the examples need tables; its version numbers would collide with the ones here.)
const INIT: &str = include_str!("../fixtures/migrations/0001_init.sql");

/// Version 2 inserts a row: a migration applied twice would show two.
const MORE: &str = "CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);\n\
                    INSERT INTO tags (name) VALUES ('first');\n";
const EVEN_MORE: &str = "ALTER TABLE users ADD COLUMN nickname TEXT;\n";

fn write(dir: &Path, file: &str, sql: &str) {
    std::fs::write(dir.join(file), sql).expect("write a migration file");
}

fn versions(report: &MigrateReport) -> (Vec<u64>, Vec<u64>) {
    (
        report.applied.iter().map(|m| m.version).collect(),
        report.already_applied.iter().map(|m| m.version).collect(),
    )
}

/// Waits until every running node has applied everything, then returns each node's local view
/// of `sql` (a single integer), by node index.
async fn on_every_node(cluster: &ProcessCluster, sql: &str) -> Vec<i64> {
    cluster.wait_converged(CONVERGE).await;
    let mut seen = Vec::new();
    for i in cluster.started() {
        let (n,): (i64,) = cluster
            .client(i)
            .query_map_one(sql, params!())
            .await
            .unwrap_or_else(|e| panic!("node {}: {sql}: {e}", cluster.node_id(i)));
        seen.push(n);
    }
    seen
}

async fn recorded(client: &Client) -> Vec<(u64, String)> {
    client
        .applied_migrations()
        .await
        .expect("read _hiqlite_migrations")
        .into_iter()
        .map(|a| (a.version, a.file))
        .collect()
}

/// Runs `hiqlite migrate --api API ... DIR`; returns whether it succeeded, stdout and stderr.
async fn hiqlite_migrate(api: &str, dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let dir = dir.to_str().expect("UTF-8 temporary path");
    let mut args = vec!["migrate", "--api", api, "--secret-api", SECRET_API];
    args.extend_from_slice(extra);
    args.push(dir);
    let out = run_cli(&args).await;
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn refusal(result: Result<MigrateReport, Error>) -> MigrationError {
    match result {
        Err(Error::Migration(e)) => e,
        other => panic!("expected a migration error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_apply_once_cluster_wide_and_refuse_what_does_not_fit() {
    let mut cluster = ProcessCluster::start(3).await;
    let (a, b, c) = (cluster.client(0), cluster.client(1), cluster.client(2));

    // 1. Migrations embedded at build time, from two nodes at once.
    let embedded = migrate!("fixtures/migrations");
    assert_eq!(embedded.len(), 1);
    assert_eq!(
        embedded.iter().next().map(|m| m.path()),
        Some("migrations/0001_init.sql"),
        "the directory's name and the file name, not the path from the crate"
    );
    let (ra, rb) = tokio::join!(a.migrate(embedded.clone()), b.migrate(embedded.clone()));
    let (ra, rb) = (
        ra.expect("migrate on node 1"),
        rb.expect("migrate on node 2"),
    );
    assert_eq!(
        ra.applied.len() + rb.applied.len(),
        1,
        "applied once: {ra:?} {rb:?}"
    );
    assert_eq!(ra.applied.len() + ra.already_applied.len(), 1);
    assert_eq!(rb.applied.len() + rb.already_applied.len(), 1);
    let users =
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('users', 'events')";
    assert_eq!(on_every_node(&cluster, users).await, vec![2, 2, 2]);

    // 2. A directory read at runtime, with the same first file and two more, from two other
    //    nodes at once: 0001 is recognized as applied (same checksum), 0002 and 0003 apply once.
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = dir.path();
    write(dir, "0001_init.sql", INIT);
    write(dir, "0002_tags.sql", MORE);
    write(dir, "0003_nicknames.sql", EVEN_MORE);
    let from_dir = Migrations::from_dir(dir).expect("read the migrations");
    let (rb, rc) = tokio::join!(b.migrate(from_dir.clone()), c.migrate(from_dir.clone()));
    let (rb, rc) = (
        rb.expect("migrate on node 2"),
        rc.expect("migrate on node 3"),
    );
    let mut applied: Vec<u64> = versions(&rb).0.into_iter().chain(versions(&rc).0).collect();
    applied.sort();
    assert_eq!(applied, vec![2, 3], "each applied once: {rb:?} {rc:?}");
    for r in [&rb, &rc] {
        let (now, before) = versions(r);
        assert_eq!(now.len() + before.len(), 3, "{r:?}");
    }
    let expected_rows = vec![
        (1, "0001_init.sql".to_string()),
        (2, "0002_tags.sql".to_string()),
        (3, "0003_nicknames.sql".to_string()),
    ];
    for client in [&a, &b, &c] {
        assert_eq!(recorded(client).await, expected_rows);
    }
    assert_eq!(
        on_every_node(&cluster, "SELECT count(*) FROM _hiqlite_migrations").await,
        vec![3, 3, 3]
    );
    assert_eq!(
        on_every_node(&cluster, "SELECT count(*) FROM tags").await,
        vec![1, 1, 1],
        "the row a migration inserts exists once on every node"
    );
    assert_eq!(
        on_every_node(
            &cluster,
            "SELECT count(*) FROM sqlite_master WHERE name = 'users' AND sql LIKE '%nickname%'"
        )
        .await,
        vec![1, 1, 1]
    );

    // 3. Calling again is a no-op, also through a node that was killed and restarted.
    let again = a.migrate(from_dir.clone()).await.expect("migrate again");
    assert_eq!(versions(&again), (vec![], vec![1, 2, 3]));
    cluster.kill9(2).await;
    cluster.restart(2);
    c.wait_until_healthy(CONVERGE)
        .await
        .expect("node 3 back after a restart");
    let again = c
        .migrate(from_dir.clone())
        .await
        .expect("migrate after restart");
    assert_eq!(versions(&again), (vec![], vec![1, 2, 3]));

    // Line endings do not count: the same files with CRLF are the same migrations.
    write(dir, "0002_tags.sql", &MORE.replace('\n', "\r\n"));
    let crlf = Migrations::from_dir(dir).expect("read the migrations");
    let again = b.migrate(crlf).await.expect("CRLF copy is the same");
    assert_eq!(versions(&again), (vec![], vec![1, 2, 3]));

    // 4. A changed applied migration is refused, naming the file; nothing is applied.
    write(
        dir,
        "0002_tags.sql",
        &format!("{MORE}INSERT INTO tags (name) VALUES ('second');\n"),
    );
    write(dir, "0004_later.sql", "CREATE TABLE later (x);\n");
    let err = refusal(b.migrate(Migrations::from_dir(dir).expect("read")).await);
    let msg = err.to_string();
    assert!(
        matches!(err, MigrationError::Changed { version: 2, .. }),
        "{msg}"
    );
    assert!(
        msg.contains(&dir.join("0002_tags.sql").display().to_string()),
        "{msg}"
    );
    write(dir, "0002_tags.sql", MORE);
    std::fs::remove_file(dir.join("0004_later.sql")).expect("remove 0004");

    // 5. An applied migration whose file is gone is refused, naming the file.
    std::fs::remove_file(dir.join("0003_nicknames.sql")).expect("remove 0003");
    let err = refusal(a.migrate(Migrations::from_dir(dir).expect("read")).await);
    let msg = err.to_string();
    assert!(
        matches!(err, MigrationError::Missing { version: 3, .. }),
        "{msg}"
    );
    assert!(msg.contains("0003_nicknames.sql"), "{msg}");
    // The embedded migrations (only 0001) are refused the same way, unless told otherwise.
    let err = refusal(a.migrate(migrate!("fixtures/migrations")).await);
    assert!(
        matches!(err, MigrationError::Missing { version: 2, .. }),
        "{err}"
    );
    let older = a
        .migrate(migrate!("fixtures/migrations").ignore_missing(true))
        .await
        .expect("an older program accepts a newer database when asked");
    assert_eq!(versions(&older), (vec![], vec![1]));
    write(dir, "0003_nicknames.sql", EVEN_MORE);

    // 6. A new migration older than the newest applied one is refused, naming both files.
    write(dir, "0000_early.sql", "CREATE TABLE early (x);\n");
    let err = refusal(c.migrate(Migrations::from_dir(dir).expect("read")).await);
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            MigrationError::OutOfOrder {
                version: 0,
                newest: 3,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("0000_early.sql") && msg.contains("0003_nicknames.sql"),
        "{msg}"
    );
    std::fs::remove_file(dir.join("0000_early.sql")).expect("remove 0000");

    // 7. A failing migration rolls back alone and names its file; fixed, it applies.
    write(
        dir,
        "0004_broken.sql",
        "CREATE TABLE t4 (x);\nINSERT INTO nowhere VALUES (1);\n",
    );
    let err = refusal(b.migrate(Migrations::from_dir(dir).expect("read")).await);
    let msg = err.to_string();
    assert!(
        matches!(err, MigrationError::Failed { version: 4, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("0004_broken.sql") && msg.contains("no such table: nowhere"),
        "{msg}"
    );
    assert_eq!(
        on_every_node(
            &cluster,
            "SELECT count(*) FROM sqlite_master WHERE name = 't4'"
        )
        .await,
        vec![0, 0, 0],
        "the failed migration left nothing behind"
    );
    write(dir, "0004_broken.sql", "CREATE TABLE t4 (x);\n");
    let fixed = b
        .migrate(Migrations::from_dir(dir).expect("read"))
        .await
        .expect("the fixed migration applies");
    assert_eq!(versions(&fixed), (vec![4], vec![1, 2, 3]));
    assert_eq!(
        on_every_node(&cluster, "SELECT count(*) FROM _hiqlite_migrations").await,
        vec![4, 4, 4]
    );

    // 8. The same from the command line: `hiqlite migrate [--dry-run] DIR`.
    write(dir, "0005_cli.sql", "CREATE TABLE from_cli (x);\n");
    let (ok, stdout, stderr) = hiqlite_migrate(cluster.api_addr(1), dir, &["--dry-run"]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("pending  ") && stdout.contains("0005_cli.sql"),
        "{stdout}"
    );
    assert!(stdout.contains("4 applied, 1 pending"), "{stdout}");
    let (ok, stdout, stderr) = hiqlite_migrate(cluster.api_addr(1), dir, &[]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("1 applied now, 4 applied already"),
        "{stdout}"
    );
    std::fs::remove_file(dir.join("0003_nicknames.sql")).expect("remove 0003");
    let (ok, stdout, stderr) = hiqlite_migrate(cluster.api_addr(1), dir, &[]).await;
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("0003_nicknames.sql"), "{stderr}");
}
