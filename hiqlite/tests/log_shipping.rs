//! Log shipping and point-in-time assembly on an in-process 3-node cluster: the leader ships the
//! committed log every second into its backup directory; a restore to a time between two sets of
//! writes holds the first set and not the second, one to the latest state holds both, one to a
//! log index exactly the entries up to it.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::cluster_configs;
use hiqlite::backup::{prepare_point_in_time, LocalBackups, RestoreTarget};
use hiqlite::engine::backups::BackupStore;
use hiqlite::{params, Client};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The ids in table `t` of the SQLite file `db`.
fn ids(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Waits (with a deadline) until the segments in `store` reach log index `index`.
async fn wait_shipped(store: &dyn BackupStore, index: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shipped = store
            .list_segments()
            .await
            .unwrap()
            .iter()
            .map(|s| s.last_index)
            .max();
        if shipped >= Some(index) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "segments reach {shipped:?}, not {index}, after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn insert(client: &Client, ids: std::ops::RangeInclusive<i64>) {
    for id in ids {
        client
            .execute("INSERT INTO t (id) VALUES (?)", params!(id))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restores_to_a_time_between_writes_to_the_latest_and_to_an_index() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (1..=3)
        .map(|i| root.path().join(format!("backups{i}")))
        .collect();
    let configs: Vec<_> = cluster_configs(3, root.path(), |b| {
        b.enc_keys([format!("k1/{KEY}")])
            .enc_key_active("k1")
            .backup_log_interval(Duration::from_secs(1))
    })
    .into_iter()
    .zip(&dirs)
    .map(|(mut c, dir)| {
        c.backup_dir = Some(dir.clone());
        c
    })
    .collect();
    let mut clients: Vec<Client> = Vec::new();
    for c in &configs {
        clients.push(hiqlite::start_node(c.clone()).await.expect("node starts"));
    }
    for c in &clients {
        c.wait_until_healthy(Duration::from_secs(30)).await.unwrap();
    }
    let mut leader = None;
    for (i, c) in clients.iter().enumerate() {
        if c.is_leader().await.unwrap() {
            leader = Some(i);
        }
    }
    let leader = leader.expect("a leader once healthy");
    let client = &clients[leader];
    let keys = || configs[0].enc_keys.clone();

    // Once a table exists, the leader starts shipping with a snapshot backup of its own (the
    // store has none yet).
    client
        .batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    let store = LocalBackups::new(root.path().join("unused.db"), &dirs[leader], keys());
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.list().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no snapshot backup after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Rows A, then a moment t, then rows B, each write a log entry of its own.
    insert(client, 1..=10).await;
    let index_a = client.status().await.unwrap().last_applied;
    let t_between = now_ms();
    // Entries proposed from now on carry a later leader time (same clock, this machine).
    while now_ms() <= t_between {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    insert(client, 11..=20).await;
    let index_b = client.status().await.unwrap().last_applied;
    assert_eq!(index_b, index_a + 10);

    let started = Instant::now();
    wait_shipped(&store, index_b).await;
    let segments = store.list_segments().await.unwrap();
    let backups = store.list().await.unwrap();
    println!(
        "shipped up to {index_b} within {:?} of the last write: {} segment(s), snapshot backup(s) {:?}",
        started.elapsed(),
        segments.len(),
        backups.iter().map(|b| &b.name).collect::<Vec<_>>()
    );
    assert!(
        !backups.is_empty(),
        "the shipper made a snapshot backup to start from"
    );
    for (i, dir) in dirs.iter().enumerate() {
        if i != leader {
            let follower = LocalBackups::new(root.path().join("unused.db"), dir, keys());
            assert!(
                follower.list_segments().await.unwrap().is_empty(),
                "only the leader ships"
            );
        }
    }

    let work = root.path().join("work");
    let at_t = prepare_point_in_time(&store, &keys(), RestoreTarget::Time(t_between), &work)
        .await
        .unwrap();
    println!("Time({t_between}): {at_t:?}");
    assert_eq!(ids(&at_t.db), (1..=10).collect::<Vec<_>>());
    assert!(at_t.entry_time_ms <= t_between);

    let latest = prepare_point_in_time(&store, &keys(), RestoreTarget::Latest, &work)
        .await
        .unwrap();
    assert_eq!(ids(&latest.db), (1..=20).collect::<Vec<_>>());
    assert!(latest.log_index >= index_b);

    for (index, rows) in [(index_a, 10), (index_a + 1, 11), (index_b, 20)] {
        let r = prepare_point_in_time(&store, &keys(), RestoreTarget::LogIndex(index), &work)
            .await
            .unwrap();
        assert_eq!(r.log_index, index);
        assert_eq!(
            ids(&r.db),
            (1..=rows).collect::<Vec<_>>(),
            "LogIndex({index})"
        );
    }

    // Only the restored files remain in the work directory (segments are deleted after use).
    let left: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 5, "{left:?}");
    assert!(left.iter().all(|n| n.ends_with(".db")), "{left:?}");

    for c in &clients {
        c.shutdown().await.unwrap();
    }
}
