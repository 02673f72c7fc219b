//! Scheduled backups (`backup_cron`) on in-process clusters, with a tick every second: only the
//! leader backs up, once per tick (not once per node), retention deletes only what it should,
//! and after the leader stops the new leader carries on without running a tick twice.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cluster_configs;
use hiqlite::backup::{BackupInfo, LocalDir};
use hiqlite::{params, Client, NodeConfig, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const EVERY_SECOND: &str = "*/1 * * * * *";

/// Configs of `n` nodes backing up every second, each into its own `backupsN` directory.
fn configs(n: usize, root: &Path, keep_days_local: u32) -> Vec<NodeConfig> {
    cluster_configs(n, root, |b| {
        // Every node gets its own directory below; the schedule needs one to validate.
        b.backup_dir(backup_dir(root, 0))
            .enc_keys([format!("k1/{KEY}")])
            .enc_key_active("k1")
            .backup_cron(EVERY_SECOND)
            .backup_keep_days_local(keep_days_local)
    })
    .into_iter()
    .enumerate()
    .map(|(i, mut c)| {
        c.backup_dir = Some(backup_dir(root, i));
        c
    })
    .collect()
}

fn backup_dir(root: &Path, i: usize) -> PathBuf {
    root.join(format!("backups{}", i + 1))
}

/// The backups in node `i`'s directory (read from the files: works for a stopped node too).
fn listed(root: &Path, i: usize) -> Vec<BackupInfo> {
    LocalDir::new(backup_dir(root, i)).list().expect("list")
}

async fn start(configs: &[NodeConfig]) -> Vec<Client> {
    let mut clients = Vec::new();
    for c in configs {
        clients.push(hiqlite::start_node(c.clone()).await.expect("node starts"));
    }
    for c in &clients {
        c.wait_until_healthy(Duration::from_secs(30)).await.unwrap();
    }
    clients
}

async fn leader_of(clients: &[Client], among: &[usize]) -> Option<usize> {
    for &i in among {
        if clients[i].is_leader().await.unwrap_or(false) {
            return Some(i);
        }
    }
    None
}

/// The last claimed tick of the backup job, read on `client` (0: none yet).
async fn last_tick(client: &Client) -> i64 {
    let rows = client
        .query_rows(
            "SELECT tick_ms FROM _hiqlite_ticks WHERE job = 'backup'",
            params!(),
        )
        .await;
    match rows {
        Ok(rows) => match rows.rows.first().and_then(|r| r.first()) {
            Some(Value::Integer(t)) => *t,
            _ => 0,
        },
        // The table is made by the first claim.
        Err(_) => 0,
    }
}

/// Polls `check` every 50 ms until it returns `Some`, failing after `timeout` with `what`.
async fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every backup of every node: distinct names and distinct log indices (two backups of one
/// tick would copy the same claim entry, so they would share the log index).
fn assert_one_backup_per_claim(all: &[BackupInfo]) {
    let names: BTreeSet<&str> = all.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names.len(), all.len(), "a name twice: {all:#?}");
    let indices: BTreeSet<u64> = all.iter().map(|b| b.log_index).collect();
    assert_eq!(indices.len(), all.len(), "a log index twice: {all:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_backs_up_once_per_tick_and_followers_do_not() {
    let root = tempfile::tempdir().unwrap();
    let configs = configs(3, root.path(), 30);
    let clients = start(&configs).await;
    let leader = leader_of(&clients, &[0, 1, 2]).await.expect("a leader");
    let first_tick = wait_for_tick(&clients[leader], 0).await;

    let made = wait_for("4 scheduled backups", Duration::from_secs(60), || {
        let list = listed(root.path(), leader);
        (list.len() >= 4).then_some(list)
    })
    .await;
    let tick_now = last_tick(&clients[leader]).await;
    assert_eq!(
        leader_of(&clients, &[0, 1, 2]).await,
        Some(leader),
        "the leader changed during the test: its assertions do not hold"
    );
    let mut all = Vec::new();
    for i in 0..3 {
        let list = listed(root.path(), i);
        if i != leader {
            assert!(list.is_empty(), "follower {i} made backups: {list:#?}");
        }
        all.extend(list);
    }
    assert_one_backup_per_claim(&all);
    // No more backups than ticks claimed since the first one seen (+1: that one).
    let ticks = (tick_now - first_tick) / 1000 + 1;
    println!(
        "{} backups on the leader (node {}), {ticks} ticks claimed from {first_tick} to {tick_now}; \
         followers: none",
        all.len(),
        leader + 1
    );
    assert!(
        (all.len() as i64) <= ticks + 1,
        "{} backups for {ticks} ticks",
        all.len()
    );
    // A 30-day window deletes nothing: every backup seen earlier is still there.
    let later = listed(root.path(), leader);
    for b in &made {
        assert!(
            later.iter().any(|l| l.name == b.name),
            "{} was deleted",
            b.name
        );
    }
    for c in &clients {
        c.shutdown().await.unwrap();
    }
}

/// Waits until the backup job's last claimed tick is later than `after`; returns it.
async fn wait_for_tick(client: &Client, after: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = last_tick(client).await;
        if t > after {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "no tick claimed after {after} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_with_a_zero_day_window_keeps_only_the_newest_backup() {
    let root = tempfile::tempdir().unwrap();
    let configs = configs(1, root.path(), 0);
    let dir = backup_dir(root.path(), 0);
    std::fs::create_dir_all(&dir).unwrap();
    // Not a backup: retention never touches it.
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let clients = start(&configs).await;
    let client = &clients[0];

    // Three ticks later, each having made a backup and deleted the ones before it.
    let first = wait_for_tick(client, 0).await;
    let mut tick = first;
    while tick < first + 3000 {
        tick = wait_for_tick(client, tick).await;
    }
    let newest_seen = wait_for(
        "retention to leave one backup",
        Duration::from_secs(30),
        || {
            let list = listed(root.path(), 0);
            (list.len() == 1).then(|| list[0].clone())
        },
    )
    .await;
    println!("after tick {tick}: only {} is left", newest_seen.name);
    assert!(newest_seen.created_ms >= first, "{newest_seen:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    // No temporary files are left behind either. The next tick's backup may be writing its own
    // right now (a tick a second, each backup a few milliseconds): between two backups the
    // directory holds backup files only, and leaked temporary files would never go away.
    let files = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "notes.txt")
            .collect()
    };
    wait_for(
        "a moment between two backups with backup files only",
        Duration::from_secs(30),
        || {
            files()
                .iter()
                .all(|n| n.ends_with(".hqbackup"))
                .then_some(())
        },
    )
    .await;
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_leader_carries_on_without_running_a_tick_twice() {
    let root = tempfile::tempdir().unwrap();
    let configs = configs(3, root.path(), 30);
    let clients = start(&configs).await;
    let old = leader_of(&clients, &[0, 1, 2]).await.expect("a leader");
    wait_for(
        "2 backups on the first leader",
        Duration::from_secs(60),
        || (listed(root.path(), old).len() >= 2).then_some(()),
    )
    .await;
    clients[old].shutdown().await.unwrap();
    let rest: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        if let Some(i) = leader_of(&clients, &rest).await {
            break i;
        }
        assert!(Instant::now() < deadline, "no new leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let old_last = listed(root.path(), old)
        .iter()
        .map(|b| b.log_index)
        .max()
        .unwrap();
    wait_for(
        "2 backups on the new leader",
        Duration::from_secs(60),
        || (listed(root.path(), new).len() >= 2).then_some(()),
    )
    .await;
    let mut all = Vec::new();
    for i in 0..3 {
        all.extend(listed(root.path(), i));
    }
    println!(
        "old leader node {}: {} backups; new leader node {}: {} backups",
        old + 1,
        listed(root.path(), old).len(),
        new + 1,
        listed(root.path(), new).len()
    );
    assert_one_backup_per_claim(&all);
    // The new leader's backups all come after the old leader's last one.
    for b in listed(root.path(), new) {
        assert!(b.log_index > old_last, "{b:?} not after {old_last}");
    }
    for i in rest {
        clients[i].shutdown().await.unwrap();
    }
}
