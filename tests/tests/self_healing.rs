//! Self-healing, done for real to running `hiqlite serve` processes: SIGKILL, then delete or
//! damage files on disk, then restart. Snapshots are taken every 50 entries, so the Raft log is
//! purged and a node cannot simply replay everything from the start.

use std::path::Path;
use std::time::Duration;

use hiqlite::params;
use hiqlite_cluster_tests::ProcessCluster;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CONVERGE: Duration = Duration::from_secs(60);
const SNAPSHOT_EVERY_50: &[(&str, &str)] = &[("HQL_SNAPSHOT_AFTER_LOGS", "50")];

type Row = (i64, String);

/// Writes `n` rows through the leader, returning once all are acknowledged.
async fn write_rows(cluster: &ProcessCluster, from: usize, n: usize) {
    let leader = cluster.leader().await;
    let client = cluster.failover_client(leader);
    for i in from..from + n {
        client
            .execute("INSERT INTO t (v) VALUES (?)", params!(format!("row-{i}")))
            .await
            .expect("write");
    }
}

/// Waits until every node has applied what the leader has, then checks every node holds exactly
/// the rows `0..expected` in the same order.
async fn assert_identical(cluster: &ProcessCluster, expected: usize) {
    cluster.wait_converged(CONVERGE).await;
    let want: Vec<Row> = (0..expected)
        .map(|i| (i as i64 + 1, format!("row-{i}")))
        .collect();
    for i in 0..cluster.len() {
        let rows: Vec<Row> = cluster
            .client(i)
            .query_map("SELECT id, v FROM t ORDER BY id", params!())
            .await
            .expect("local read");
        assert_eq!(
            rows.len(),
            want.len(),
            "node {} holds {} rows",
            i + 1,
            rows.len()
        );
        assert_eq!(rows, want, "node {} differs", i + 1);
    }
}

async fn start() -> ProcessCluster {
    let cluster = ProcessCluster::start_with_env(3, SNAPSHOT_EVERY_50).await;
    let leader = cluster.leader().await;
    cluster
        .client(leader)
        .batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .await
        .unwrap();
    cluster
}

fn db_file(cluster: &ProcessCluster, i: usize) -> std::path::PathBuf {
    cluster.data_dir(i).join("db").join("hiqlite.db")
}

fn remove(path: &Path) {
    if path.is_dir() {
        std::fs::remove_dir_all(path).unwrap();
    } else if path.exists() {
        std::fs::remove_file(path).unwrap();
    }
}

fn remove_database_files(cluster: &ProcessCluster, i: usize) {
    let db = db_file(cluster, i);
    for suffix in ["", "-wal", "-shm"] {
        remove(Path::new(&format!("{}{suffix}", db.display())));
    }
}

/// A follower loses its SQLite file, its WAL, gets its file damaged, and finally loses its whole
/// `db/` directory including the snapshot; each time it rebuilds and ends identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_rebuilds_a_lost_or_damaged_database() {
    let _serial = SERIAL.lock().await;
    let mut cluster = start().await;
    let mut written = 0;
    write_rows(&cluster, written, 150).await;
    written += 150;
    let follower = (cluster.leader().await + 1) % 3;

    // 1. The database file and its WAL are gone (the snapshot and the log remain).
    cluster.kill9(follower).await;
    remove_database_files(&cluster, follower);
    write_rows(&cluster, written, 60).await;
    written += 60;
    cluster.restart(follower);
    assert_identical(&cluster, written).await;
    // As docs/operations.md says: a warning names the missing file.
    let log = cluster.log_text(follower);
    assert!(
        log.contains("WARN") && log.contains("hiqlite.db is missing"),
        "no warning about the missing database:\n{log}"
    );

    // 2. Only the WAL is gone: the last transactions vanish, `last_applied` goes back with them.
    cluster.kill9(follower).await;
    remove(Path::new(&format!(
        "{}-wal",
        db_file(&cluster, follower).display()
    )));
    cluster.restart(follower);
    write_rows(&cluster, written, 10).await;
    written += 10;
    assert_identical(&cluster, written).await;

    // 3. The file is damaged (its first page, with the WAL gone, so SQLite must read it): it is
    //    set aside and rebuilt.
    cluster.kill9(follower).await;
    let db = db_file(&cluster, follower);
    for suffix in ["-wal", "-shm"] {
        remove(Path::new(&format!("{}{suffix}", db.display())));
    }
    let mut bytes = std::fs::read(&db).unwrap();
    let damaged = bytes.len().min(4096);
    bytes[..damaged].fill(0xA5);
    std::fs::write(&db, bytes).unwrap();
    cluster.restart(follower);
    assert_identical(&cluster, written).await;
    let set_aside = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".damaged-"));
    assert!(set_aside, "the damaged file was kept for inspection");

    // 4. The whole db/ directory is gone, snapshot included: only the leader can help.
    cluster.kill9(follower).await;
    remove(&cluster.data_dir(follower).join("db"));
    write_rows(&cluster, written, 60).await;
    written += 60;
    cluster.restart(follower);
    assert_identical(&cluster, written).await;
    assert!(
        cluster.log_text(follower).contains("forgetting the log"),
        "the node asked the leader for a snapshot"
    );
}

/// A follower loses its Raft log directory; a leader and a follower lose their whole volume.
/// Each rejoins as itself and catches up; the cluster keeps its three voters.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_rejoin_after_losing_their_log_or_their_whole_volume() {
    let _serial = SERIAL.lock().await;
    let mut cluster = start().await;
    let mut written = 0;
    write_rows(&cluster, written, 120).await;
    written += 120;

    let follower = (cluster.leader().await + 1) % 3;
    cluster.kill9(follower).await;
    remove(&cluster.data_dir(follower).join("logs"));
    cluster.restart(follower);
    write_rows(&cluster, written, 20).await;
    written += 20;
    assert_identical(&cluster, written).await;

    let follower = (cluster.leader().await + 2) % 3;
    cluster.kill9(follower).await;
    remove(cluster.data_dir(follower));
    std::fs::create_dir_all(cluster.data_dir(follower)).unwrap();
    write_rows(&cluster, written, 70).await;
    written += 70;
    cluster.restart(follower);
    assert_identical(&cluster, written).await;

    let leader = cluster.leader().await;
    cluster.kill9(leader).await;
    remove(cluster.data_dir(leader));
    std::fs::create_dir_all(cluster.data_dir(leader)).unwrap();
    write_rows(&cluster, written, 70).await;
    written += 70;
    cluster.restart(leader);
    assert_identical(&cluster, written).await;
    let status = cluster.status(leader).await;
    assert_eq!(
        status.node_id,
        leader as u64 + 1,
        "the wiped node came back as itself"
    );
    assert_eq!(status.voters, vec![1, 2, 3]);
}
