//! Restores with the `hiqlite restore` command, as an operator runs them, on a 3-node cluster of
//! real processes whose backups (snapshots and shipped log segments) live in one directory
//! outside the data directories: every volume wiped, then the cluster brought back to a time
//! between two known writes, to the latest state, and from a backup file; the log index rolls
//! over (the restored cluster keeps its own, smaller indexes), writes go on afterwards, and the
//! new history's backups never mix with the old one's.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hiqlite::{params, Client};
use hiqlite_cluster_tests::{poll_until, run_cli_with_env, ProcessCluster, SECRET_API};

const KEY: &str = "k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The ids in table `t` as node `client` sees them after a linearizable read.
async fn ids(client: &Client) -> Vec<i64> {
    let rows: Vec<(i64,)> = client
        .query_consistent_map("SELECT id FROM t ORDER BY id", params!())
        .await
        .unwrap();
    rows.into_iter().map(|(id,)| id).collect()
}

/// The largest log index that segments or snapshot backups written to `dir` since `since` hold.
fn shipped_up_to(dir: &Path, since: SystemTime) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            (e.metadata().ok()?.modified().ok()? >= since).then_some(())?;
            let name = e.file_name().into_string().ok()?;
            // hiqlite-log-<lineage>-<first>-<last>-<first ms>-<last ms>.hqlog, or a snapshot:
            // hiqlite-<lineage>-<index>-<ms>.hqbackup
            match name.strip_suffix(".hqlog") {
                Some(segment) => segment.split('-').nth(4)?.parse::<u64>().ok(),
                None => name
                    .strip_suffix(".hqbackup")?
                    .split('-')
                    .nth(2)?
                    .parse::<u64>()
                    .ok(),
            }
        })
        .max()
        .unwrap_or(0)
}

async fn restore(cluster: &ProcessCluster, args: &[&str]) -> serde_json::Value {
    let api = cluster.api_addr(1).to_string();
    let mut all = vec![
        "restore",
        "--api",
        &api,
        "--secret-api",
        SECRET_API,
        "--json",
    ];
    all.extend_from_slice(args);
    let out = run_cli_with_env(&all, &[("ENC_KEYS", KEY)]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hiqlite {all:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("hiqlite {}: {stdout}", args.join(" "));
    serde_json::from_str(&stdout).expect("one JSON object")
}

/// Runs `hiqlite restore ARGS` against `api`, which must fail with exit code 1; returns stderr.
async fn restore_fails(api: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["restore", "--api", api, "--secret-api", SECRET_API];
    all.extend_from_slice(args);
    let out = run_cli_with_env(&all, env).await;
    assert_eq!(out.status.code(), Some(1), "{all:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits until the backups written since `since` hold every entry node 0 has applied now.
async fn wait_shipped(cluster: &ProcessCluster, dir: &Path, since: SystemTime) -> u64 {
    let applied = cluster.client(0).status().await.unwrap().last_applied;
    poll_until("log shipped", Duration::from_secs(30), || async {
        let up_to = shipped_up_to(dir, since);
        (up_to >= applied).then_some(up_to)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_cluster_is_restored_to_a_time_to_the_latest_state_and_from_a_file() {
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().to_str().unwrap().to_string();
    let env = [
        ("HQL_BACKUP_DIR", dir.as_str()),
        ("ENC_KEYS", KEY),
        ("ENC_KEY_ACTIVE", "k1"),
        ("HQL_BACKUP_LOG_INTERVAL", "1"),
    ];
    let mut cluster = ProcessCluster::start_with_env(3, &env).await;
    let client = cluster.client(1);
    let started = SystemTime::now();

    client
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", params!())
        .await
        .unwrap();
    // Once a table exists the leader's shipper makes the history's first snapshot backup; the
    // rows below then reach the store as shipped log segments.
    poll_until("first backup", Duration::from_secs(30), || async {
        (!client.backups().await.ok()?.is_empty()).then_some(())
    })
    .await;
    for id in 1..=20 {
        client
            .execute("INSERT INTO t VALUES (?, ?)", params!(id, format!("a{id}")))
            .await
            .unwrap();
    }
    // Every later write has a later entry time than `between`.
    let between = now_ms();
    poll_until("the clock moves on", Duration::from_secs(5), || async {
        (now_ms() > between + 2).then_some(())
    })
    .await;
    for id in 21..=30 {
        client
            .execute("INSERT INTO t VALUES (?, ?)", params!(id, format!("b{id}")))
            .await
            .unwrap();
    }
    let old_index = wait_shipped(&cluster, backups.path(), started).await;
    println!("the first history shipped up to log index {old_index}");

    // Every volume is lost; the nodes come back empty and form a new cluster by themselves.
    for i in 0..3 {
        cluster.stop(i).await;
        cluster.wipe_data_dir(i);
    }
    for i in 0..3 {
        cluster.restart(i);
    }
    cluster.wait_all_healthy(Duration::from_secs(60)).await;

    // One command: the latest state the backups hold, row by row on every node.
    let latest = restore(&cluster, &[]).await;
    assert_eq!(
        latest["restored_log_index"].as_u64(),
        Some(old_index),
        "{latest}"
    );
    let expected: Vec<(i64, String)> = (1..=30)
        .map(|id| (id, format!("{}{id}", if id <= 20 { "a" } else { "b" })))
        .collect();
    for i in 0..3 {
        let rows: Vec<(i64, String)> = cluster
            .client(i)
            .query_consistent_map("SELECT id, v FROM t ORDER BY id", params!())
            .await
            .unwrap();
        assert_eq!(rows, expected, "node {i}");
    }
    // The log index rolled over: the swap is an entry of the new cluster's short log.
    assert!(
        latest["log_index"].as_u64().unwrap() < old_index,
        "{latest}"
    );

    // To a time between the two groups of writes: the first group only.
    let at = restore(
        &cluster,
        &["--to-time", &format!("@{}", between as f64 / 1000.0)],
    )
    .await;
    assert!(at["entries_replayed"].as_u64().unwrap() > 0, "{at}");
    for i in 0..3 {
        assert_eq!(
            ids(&cluster.client(i)).await,
            (1..=20).collect::<Vec<_>>(),
            "node {i}"
        );
    }

    // Writes go on, through a follower, and survive a node's kill and restart.
    let restored = SystemTime::now();
    client
        .execute("INSERT INTO t VALUES (31, 'after')", params!())
        .await
        .unwrap();
    cluster.kill9(2).await;
    cluster.restart(2);
    cluster.wait_all_healthy(Duration::from_secs(60)).await;
    assert_eq!(
        ids(&cluster.client(2)).await,
        (1..=20).chain([31]).collect::<Vec<_>>()
    );

    // The restored history ships into the same directory under a lineage of its own: the
    // latest state now is the restored data plus the write after it, never the old log.
    wait_shipped(&cluster, backups.path(), restored).await;
    restore(&cluster, &[]).await;
    assert_eq!(
        ids(&cluster.client(0)).await,
        (1..=20).chain([31]).collect::<Vec<_>>()
    );

    // From a backup file on this machine: the first history's first snapshot, made once the
    // table existed; the cluster then holds exactly what the file holds.
    let mut snapshots: Vec<(std::time::SystemTime, std::path::PathBuf)> =
        std::fs::read_dir(backups.path())
            .unwrap()
            .filter_map(|e| {
                let e = e.ok()?;
                let path = e.path();
                (path.extension()? == "hqbackup").then_some(())?;
                Some((e.metadata().ok()?.modified().ok()?, path))
            })
            .collect();
    snapshots.sort();
    let first = &snapshots[0].1;
    restore(&cluster, &["--from", &format!("file:{}", first.display())]).await;
    let plain = backups.path().join("plain.sqlite");
    let keys = hiqlite::config::EncKeys {
        keys: vec![hiqlite::config::EncKey::parse(KEY).unwrap()],
        active: None,
    };
    hiqlite::backup::decrypt_file(first, &keys, &plain).unwrap();
    let in_file: Vec<i64> = rusqlite::Connection::open(&plain)
        .unwrap()
        .prepare("SELECT id FROM t ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        in_file.len() < 30,
        "the first snapshot predates the last writes"
    );
    for i in 0..3 {
        assert_eq!(ids(&cluster.client(i)).await, in_file, "node {i}");
    }

    // Bad input: each a clear error, exit code 1, and the cluster unchanged.
    let api = cluster.api_addr(0).to_string();
    let future = restore_fails(&api, &["--to-time", "2099-01-01T00:00:00Z"], &[]).await;
    assert!(
        future.contains("later than the newest shipped log entry"),
        "{future}"
    );
    let past = restore_fails(&api, &["--to-time", "2000-01-01 00:00:00"], &[]).await;
    assert!(past.contains("before the oldest snapshot backup"), "{past}");
    let other_key = "k1/BBECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let file = format!("file:{}", first.display());
    let wrong = restore_fails(&api, &["--from", &file], &[("ENC_KEYS", other_key)]).await;
    assert!(
        wrong.contains("is not the key this backup was encrypted with"),
        "{wrong}"
    );
    let missing = restore_fails(&api, &["--from", "s3:nothing.hqbackup"], &[]).await;
    assert!(
        missing.contains("no S3 bucket") || missing.contains("S3"),
        "{missing}"
    );
    for i in 0..3 {
        assert_eq!(ids(&cluster.client(i)).await, in_file, "node {i}");
    }
}
