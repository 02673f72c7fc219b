//! Backups uploaded to S3: a real S3 server (s3s with its file-system store, s3s-fs) runs in this
//! process on loopback; no part of the S3 API is mocked. One node uploads a backup larger than
//! the multipart threshold, lists it with its header fields, then meets a stopped server and
//! wrong credentials.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::cluster_configs;
use hiqlite::backup::{BackupError, BackupInfo, BackupLocation};
use hiqlite::{params, Client, Error};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const BUCKET: &str = "hq-backups";
const ACCESS_KEY: &str = "hiqlite-test";
const SECRET_KEY: &str = "hiqlite-test-secret-0123456789";

/// An S3 server on `addr`, storing buckets as directories of `root`, accepting one key pair.
/// Aborting the handle stops it and closes every connection it holds.
async fn start_s3(root: &Path, addr: &str, access_key: &str, secret_key: &str) -> S3Server {
    let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
    let service = builder.build();
    let listener = TcpListener::bind(addr).await.expect("S3 port");
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            connections.spawn(async move {
                let _ = ConnBuilder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    S3Server { addr, task }
}

struct S3Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl S3Server {
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// `n` bytes no compressor shrinks (xorshift), so the backup is as large as the data.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn by_location(list: &[BackupInfo], location: BackupLocation) -> Vec<BackupInfo> {
    list.iter()
        .filter(|b| b.location == location)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backups_are_uploaded_listed_and_failures_keep_the_local_file() {
    let root = tempfile::tempdir().unwrap();
    let s3_root = root.path().join("s3");
    std::fs::create_dir_all(s3_root.join(BUCKET)).unwrap();
    let server = start_s3(&s3_root, "127.0.0.1:0", ACCESS_KEY, SECRET_KEY).await;
    let s3_addr = server.addr;

    let backup_dir = root.path().join("backups");
    let config = cluster_configs(1, root.path(), |b| {
        b.enc_keys([format!("k1/{KEY}")])
            .enc_key_active("k1")
            // Only the backups this test asks for (no log shipping, which makes one of its own).
            .backup_log_interval(Duration::ZERO)
            .backup_dir(&backup_dir)
            .s3_url(format!("http://{s3_addr}"))
            .s3_bucket(BUCKET)
            .s3_key(ACCESS_KEY)
            .s3_secret(SECRET_KEY)
    })
    .remove(0);
    assert!(
        !format!("{config:?}").contains(SECRET_KEY),
        "secret printed"
    );
    let client = hiqlite::start_node(config.clone())
        .await
        .expect("node starts");
    client
        .wait_until_healthy(Duration::from_secs(30))
        .await
        .unwrap();

    // 10 MiB of data: more than one 8 MiB part, so the upload is a multipart upload.
    client
        .batch("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
        .await
        .unwrap();
    // 32 MiB of blobs: still over 10 MiB after the backup's compression (about 60% here), so
    // the upload is multipart (8 MiB parts).
    for id in 0..32 {
        client
            .execute(
                "INSERT INTO t (id, b) VALUES (?, ?)",
                params!(id, noise(1 << 20, id as u64 + 7)),
            )
            .await
            .unwrap();
    }

    let info = client.backup().await.expect("backup uploaded");
    println!(
        "uploaded {} ({} bytes, log index {})",
        info.name, info.size, info.log_index
    );
    assert_eq!(info.location, BackupLocation::S3);
    assert!(info.size > 10 << 20, "{info:?}");
    let local_file = backup_dir.join(&info.name);
    let object_file = s3_root.join(BUCKET).join(&info.name);
    let local_bytes = std::fs::read(&local_file).expect("the local file stays");
    let object_bytes = std::fs::read(&object_file).expect("the object is in the bucket");
    assert!(
        local_bytes == object_bytes,
        "the object differs from the local file ({} vs {} bytes)",
        object_bytes.len(),
        local_bytes.len()
    );

    // Listed twice: from backup_dir and from the bucket, with the header's fields.
    let list = client.backups().await.unwrap();
    let local = by_location(&list, BackupLocation::Local);
    let remote = by_location(&list, BackupLocation::S3);
    assert_eq!(local.len(), 1, "{list:?}");
    assert_eq!(remote, vec![info.clone()]);
    assert_eq!(
        local[0],
        BackupInfo {
            location: BackupLocation::Local,
            ..info.clone()
        }
    );
    assert_eq!(remote[0].key_id, "k1");
    assert!(remote[0].log_index > 0 && remote[0].created_ms > 0);

    // The same through the API port (what `hiqlite backup list` prints).
    let api = Client::remote(vec![config.nodes[0].api_addr.clone()], common::SECRET_API);
    assert_eq!(api.backups().await.unwrap(), list);

    // S3 down: a clear error after the retries, and the new local file is kept.
    server.stop().await;
    client
        .execute(
            "INSERT INTO t (id, b) VALUES (?, ?)",
            params!(100, vec![1u8]),
        )
        .await
        .unwrap();
    let e = client.backup().await.unwrap_err();
    println!("S3 down: {e}");
    let Error::Backup(BackupError::UploadFailed { name, attempts, .. }) = &e else {
        panic!("expected UploadFailed, got {e:?}");
    };
    assert!(*attempts > 1, "a refused connection is retried: {e}");
    assert!(backup_dir.join(name).exists(), "local file kept: {e}");
    assert!(!s3_root.join(BUCKET).join(name).exists());
    let e = client.backups().await.unwrap_err();
    println!("S3 down, listing: {e}");
    assert!(matches!(e, Error::Backup(BackupError::S3 { .. })), "{e:?}");

    // Wrong credentials: the server is back on the same address with another key pair.
    let server = start_s3(
        &s3_root,
        &s3_addr.to_string(),
        "someone-else",
        "another-secret-0123",
    )
    .await;
    client
        .execute(
            "INSERT INTO t (id, b) VALUES (?, ?)",
            params!(101, vec![2u8]),
        )
        .await
        .unwrap();
    let e = client.backup().await.unwrap_err();
    println!("wrong credentials: {e}");
    let Error::Backup(BackupError::UploadFailed {
        attempts, message, ..
    }) = &e
    else {
        panic!("expected UploadFailed, got {e:?}");
    };
    assert_eq!(*attempts, 1, "refused credentials are not retried: {e}");
    assert!(message.contains("HTTP 403"), "{e}");
    assert!(!e.to_string().contains(SECRET_KEY));
    let kept = std::fs::read_dir(&backup_dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".hqbackup")
        })
        .count();
    assert_eq!(kept, 3, "every backup stays in backup_dir");
    server.stop().await;
    client.shutdown().await.unwrap();
}

/// Waits (with a deadline) until the bucket's log segments reach log index `index`.
async fn wait_shipped_s3(store: &hiqlite::backup::s3::S3Backups, index: u64, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let shipped = store
            .list_remote_segments()
            .await
            .map(|l| l.iter().map(|s| s.last_index).max())
            .unwrap_or(None);
        if shipped >= Some(index) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the bucket's segments reach {shipped:?}, not {index}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_is_shipped_to_s3_through_an_outage_and_restored_from_the_bucket_alone() {
    use hiqlite::backup::s3::{Retry, S3Backups};
    use hiqlite::backup::{prepare_point_in_time, LocalBackups, RestoreTarget};
    use hiqlite::engine::backups::BackupStore;

    let root = tempfile::tempdir().unwrap();
    let s3_root = root.path().join("s3");
    std::fs::create_dir_all(s3_root.join(BUCKET)).unwrap();
    let server = start_s3(&s3_root, "127.0.0.1:0", ACCESS_KEY, SECRET_KEY).await;
    let s3_addr = server.addr;
    let config = cluster_configs(1, root.path(), |b| {
        b.enc_keys([format!("k1/{KEY}")])
            .enc_key_active("k1")
            .backup_log_interval(Duration::from_secs(1))
            .s3_url(format!("http://{s3_addr}"))
            .s3_bucket(BUCKET)
            .s3_key(ACCESS_KEY)
            .s3_secret(SECRET_KEY)
    })
    .remove(0);
    let client = hiqlite::start_node(config.clone()).await.unwrap();
    client
        .wait_until_healthy(Duration::from_secs(30))
        .await
        .unwrap();
    // What a restore on another machine sees: the bucket, and an empty local directory.
    let empty = root.path().join("elsewhere");
    let bucket = S3Backups::new(
        LocalBackups::new(
            root.path().join("unused.db"),
            &empty,
            config.enc_keys.clone(),
        ),
        &config.s3,
        Retry::default(),
    )
    .unwrap();
    // A history is backed up once it has a table.
    client
        .batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while bucket.list_remote().await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot backup in the bucket"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for id in 1..=5 {
        client
            .execute("INSERT INTO t (id) VALUES (?)", params!(id))
            .await
            .unwrap();
    }
    let t_between = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        if now > t_between {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for id in 6..=10 {
        client
            .execute("INSERT INTO t (id) VALUES (?)", params!(id))
            .await
            .unwrap();
    }
    let index_b = client.status().await.unwrap().last_applied;
    wait_shipped_s3(&bucket, index_b, Duration::from_secs(30)).await;

    // S3 down while writes go on: shipping fails, and resumes from the same index afterwards.
    server.stop().await;
    for id in 11..=15 {
        client
            .execute("INSERT INTO t (id) VALUES (?)", params!(id))
            .await
            .unwrap();
    }
    let index_c = client.status().await.unwrap().last_applied;
    let server = start_s3(&s3_root, &s3_addr.to_string(), ACCESS_KEY, SECRET_KEY).await;
    let back = std::time::Instant::now();
    wait_shipped_s3(&bucket, index_c, Duration::from_secs(60)).await;
    println!(
        "after the outage, shipped up to {index_c} within {:?} of S3 coming back",
        back.elapsed()
    );

    let work = root.path().join("work");
    let at_t = prepare_point_in_time(
        &bucket,
        &config.enc_keys,
        RestoreTarget::Time(t_between),
        &work,
    )
    .await
    .unwrap();
    assert_eq!(ids(&at_t.db), (1..=5).collect::<Vec<_>>());
    let latest = prepare_point_in_time(&bucket, &config.enc_keys, RestoreTarget::Latest, &work)
        .await
        .unwrap();
    println!("latest from the bucket: {latest:?}");
    assert_eq!(ids(&latest.db), (1..=15).collect::<Vec<_>>());
    // Everything came from the bucket: the store's local directory was never even created.
    assert!(!empty.exists());
    // `fetch` of a name the bucket does not hold.
    let e = bucket
        .fetch(
            "hiqlite-00000000000000000099-1.hqbackup",
            BackupLocation::S3,
            &work.join("missing"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::NotFound { .. }), "{e:?}");
    assert!(!work.join("missing").exists());

    client.shutdown().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_backups_upload_and_retention_deletes_old_objects() {
    let root = tempfile::tempdir().unwrap();
    let s3_root = root.path().join("s3");
    std::fs::create_dir_all(s3_root.join(BUCKET)).unwrap();
    let server = start_s3(&s3_root, "127.0.0.1:0", ACCESS_KEY, SECRET_KEY).await;
    let backup_dir = root.path().join("backups");
    let config = cluster_configs(1, root.path(), |b| {
        b.enc_keys([format!("k1/{KEY}")])
            .enc_key_active("k1")
            .backup_dir(&backup_dir)
            .s3_url(format!("http://{}", server.addr))
            .s3_bucket(BUCKET)
            .s3_key(ACCESS_KEY)
            .s3_secret(SECRET_KEY)
            .backup_cron("*/1 * * * * *")
            .backup_keep_days(0)
            .backup_keep_days_local(30)
    })
    .remove(0);
    let client = hiqlite::start_node(config).await.expect("node starts");
    client
        .wait_until_healthy(Duration::from_secs(30))
        .await
        .unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (local, remote) = loop {
        let list = client.backups().await.unwrap();
        let local = by_location(&list, BackupLocation::Local);
        let remote = by_location(&list, BackupLocation::S3);
        // Three scheduled backups, and retention has run after the last one.
        if local.len() >= 3 && remote.len() == 1 && remote[0].name == local.last().unwrap().name {
            break (local, remote);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no 3 local backups with 1 object left in the bucket: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "local: {} backups; bucket: {} (the newest)",
        local.len(),
        remote[0].name
    );
    // Deleted from the bucket, not only hidden from the listing.
    let objects: Vec<String> = std::fs::read_dir(s3_root.join(BUCKET))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".hqbackup"))
        .collect();
    assert!(
        objects.len() <= 2,
        "old objects left in the bucket: {objects:?}"
    );
    assert!(objects.contains(&remote[0].name), "{objects:?}");
    client.shutdown().await.unwrap();
    server.stop().await;
}

/// Restores into a cluster from the bucket alone: three nodes whose only backup store is S3
/// (staged in their data directories), every data directory wiped, then `Client::restore` to a
/// time between two groups of writes and to the latest state; a tampered backup file is refused
/// and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_cluster_is_restored_from_the_bucket() {
    use hiqlite::backup::{RestoreSource, RestoreTarget};

    let root = tempfile::tempdir().unwrap();
    let s3_root = root.path().join("s3");
    std::fs::create_dir_all(s3_root.join(BUCKET)).unwrap();
    let server = start_s3(&s3_root, "127.0.0.1:0", ACCESS_KEY, SECRET_KEY).await;
    let s3_addr = server.addr;
    let configs = cluster_configs(3, root.path(), |b| {
        b.enc_keys([format!("k1/{KEY}")])
            .enc_key_active("k1")
            .backup_log_interval(Duration::from_secs(1))
            .s3_url(format!("http://{s3_addr}"))
            .s3_bucket(BUCKET)
            .s3_key(ACCESS_KEY)
            .s3_secret(SECRET_KEY)
    });
    let start_all = || async {
        let mut clients: Vec<Client> = Vec::new();
        for c in &configs {
            clients.push(hiqlite::start_node(c.clone()).await.expect("node starts"));
        }
        for c in &clients {
            c.wait_until_healthy(Duration::from_secs(30)).await.unwrap();
        }
        clients
    };
    let clients = start_all().await;
    let ids = |c: &Client| {
        let c = c.clone();
        async move {
            let rows: Vec<(i64,)> = c
                .query_consistent_map("SELECT id FROM t ORDER BY id", params!())
                .await
                .unwrap();
            rows.into_iter().map(|(id,)| id).collect::<Vec<_>>()
        }
    };
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };

    clients[0]
        .batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while clients[0].backups().await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no first backup");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in 1..=10 {
        clients[1]
            .execute("INSERT INTO t (id) VALUES (?)", params!(id))
            .await
            .unwrap();
    }
    let between = now_ms();
    while now_ms() <= between {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for id in 11..=15 {
        clients[2]
            .execute("INSERT INTO t (id) VALUES (?)", params!(id))
            .await
            .unwrap();
    }
    let applied = clients[0].status().await.unwrap().last_applied;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        // The shipped log is in the bucket (listed through any node's store).
        let objects: Vec<String> = std::fs::read_dir(s3_root.join(BUCKET))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        let shipped = objects
            .iter()
            .filter_map(|n| {
                n.strip_suffix(".hqlog")?
                    .split('-')
                    .nth(4)?
                    .parse::<u64>()
                    .ok()
            })
            .max();
        if shipped >= Some(applied) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "log not shipped: {objects:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every node loses its data directory (and with it the local staging of backups).
    for c in &clients {
        c.shutdown().await.unwrap();
    }
    drop(clients);
    for c in &configs {
        std::fs::remove_dir_all(&c.data_dir).unwrap();
    }
    let clients = start_all().await;

    let latest = clients[2]
        .restore(RestoreSource::PointInTime(RestoreTarget::Latest))
        .await
        .unwrap();
    println!("restored the latest state from the bucket: {latest:?}");
    // At least everything applied before the shutdown (a leader hand-over at shutdown may add a
    // blank entry after it).
    assert!(latest.restored_log_index >= applied, "{latest:?}");
    for c in &clients {
        assert_eq!(ids(c).await, (1..=15).collect::<Vec<_>>());
    }
    // A time before the restore above: the first history's snapshot and segments.
    let at = clients[1]
        .restore(RestoreSource::PointInTime(RestoreTarget::Time(between)))
        .await
        .unwrap();
    println!("restored to a time from the bucket: {at:?}");
    let expected: Vec<i64> = (1..=10).collect();
    for c in &clients {
        assert_eq!(ids(c).await, expected);
    }

    // A tampered copy of a backup: refused before anything reaches the cluster.
    let name = clients[0]
        .backups()
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.location == BackupLocation::S3)
        .expect("a backup in the bucket")
        .name;
    let mut bytes = std::fs::read(s3_root.join(BUCKET).join(&name)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    let tampered = root.path().join(&name);
    std::fs::write(&tampered, bytes).unwrap();
    let keys = configs[0].enc_keys.clone();
    let e = clients[0].restore_file(&tampered, &keys).await.unwrap_err();
    assert!(
        matches!(e, Error::Backup(BackupError::Tampered { .. })),
        "{e:?}"
    );
    for c in &clients {
        assert_eq!(ids(c).await, expected, "unchanged by a refused restore");
    }
    for c in &clients {
        c.shutdown().await.unwrap();
    }
    server.stop().await;
}
