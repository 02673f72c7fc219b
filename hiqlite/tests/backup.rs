//! Encrypted local backups on an in-process 3-node cluster: made through a follower while writes
//! go on, listed (embedded and remote client), verified, decrypted and read row by row.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{cluster_configs, SECRET_API};
use hiqlite::backup::{decrypt_file, verify_file, BackupError, BackupLocation};
use hiqlite::config::{EncKey, EncKeys};
use hiqlite::{params, Client, Error, Txn};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const FIRST_ROWS: i64 = 200;

fn value_of(id: i64) -> String {
    format!("value-{id:06}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_through_a_follower_while_writes_go_on() {
    let root = tempfile::tempdir().unwrap();
    let configs: Vec<_> = cluster_configs(3, root.path(), |b| {
        // Only the backups this test asks for (no log shipping, which makes one of its own).
        b.enc_keys([format!("k1/{KEY}")])
            .enc_key_active("k1")
            .backup_log_interval(Duration::ZERO)
    })
    .into_iter()
    .enumerate()
    .map(|(i, mut c)| {
        c.backup_dir = Some(root.path().join(format!("backups{}", i + 1)));
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
    let follower = (leader + 1) % 3;

    clients[leader]
        .batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .await
        .unwrap();
    let mut txn = Txn::new();
    txn.execute_many(
        "INSERT INTO t (id, v) VALUES (?, ?)",
        (1..=FIRST_ROWS)
            .map(|id| params!(id, value_of(id)))
            .collect(),
    );
    clients[leader].txn(txn).await.unwrap();

    // Writes keep going, one row at a time, through the leader.
    let acked = Arc::new(AtomicI64::new(FIRST_ROWS));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, acked, stop) = (clients[leader].clone(), acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut id = FIRST_ROWS;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                client
                    .execute(
                        "INSERT INTO t (id, v) VALUES (?, ?)",
                        params!(id, value_of(id)),
                    )
                    .await
                    .unwrap();
                acked.store(id, Ordering::Relaxed);
            }
        })
    };
    // Some writes are under way before the backup starts (awaited, with a deadline).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::Relaxed) < FIRST_ROWS + 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acked_before = acked.load(Ordering::Relaxed);
    let info = clients[follower]
        .backup()
        .await
        .expect("backup through a follower");
    let acked_during = acked.load(Ordering::Relaxed);
    // Let a few more writes land after the backup, then stop.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::Relaxed) < acked_during + 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer stopped after the backup"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let acked_after = acked.load(Ordering::Relaxed);
    println!(
        "backup {} at log index {}: {} bytes; rows acked before {acked_before}, when it \
         returned {acked_during}, at the end {acked_after}",
        info.name, info.log_index, info.size
    );
    assert_eq!(info.location, BackupLocation::Local);
    assert_eq!(info.key_id, "k1");
    assert!(info.size > 0 && info.log_index > 0);

    // Listed by the follower (embedded) and by a remote client talking to it; not by the leader.
    assert_eq!(
        clients[follower].backups().await.unwrap(),
        vec![info.clone()]
    );
    let remote = Client::remote(
        vec![configs[follower].nodes[follower].api_addr.clone()],
        SECRET_API,
    );
    assert_eq!(remote.backups().await.unwrap(), vec![info.clone()]);
    assert!(clients[leader].backups().await.unwrap().is_empty());

    // Verified with the follower's keys, and refused clearly with another key under that id.
    let path = configs[follower]
        .backup_dir
        .as_ref()
        .unwrap()
        .join(&info.name);
    let header = verify_file(&path, &configs[follower].enc_keys).unwrap();
    assert_eq!(header.log_index, info.log_index);
    let other = EncKeys {
        keys: vec![EncKey::new("k1", [9; 32]).unwrap()],
        active: Some("k1".into()),
    };
    assert!(matches!(
        verify_file(&path, &other),
        Err(BackupError::WrongKey { .. })
    ));

    // Decrypted: rows 1..=n, each with its value, n at least every row acknowledged before the
    // backup was asked for, at most every row acknowledged by the end.
    let out = root.path().join("restored.db");
    decrypt_file(&path, &configs[follower].enc_keys, &out).unwrap();
    let conn = rusqlite::Connection::open(&out).unwrap();
    let mut stmt = conn.prepare("SELECT id, v FROM t ORDER BY id").unwrap();
    let rows: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (i, (id, v)) in rows.iter().enumerate() {
        assert_eq!(*id, i as i64 + 1, "no gap in the backup's rows");
        assert_eq!(*v, value_of(*id), "row {id} as written");
    }
    let n = rows.len() as i64;
    println!("the backup holds rows 1..={n}");
    assert!(
        n >= acked_before,
        "{n} rows, {acked_before} acknowledged before the backup"
    );
    assert!(
        n <= acked_after,
        "{n} rows, only {acked_after} were written"
    );

    // The remote client makes backups too (on the node it talks to).
    let second = remote.backup().await.unwrap();
    assert!(second.log_index >= info.log_index);
    assert_eq!(remote.backups().await.unwrap().last(), Some(&second));

    for c in &clients {
        let _ = c.shutdown().await;
    }
}

#[tokio::test]
async fn a_node_without_backup_dir_says_so() {
    let root = tempfile::tempdir().unwrap();
    let configs = cluster_configs(1, root.path(), |b| b);
    let client = hiqlite::start_node(configs[0].clone()).await.unwrap();
    client
        .wait_until_healthy(Duration::from_secs(30))
        .await
        .unwrap();
    let e = client.backup().await.unwrap_err();
    assert!(
        matches!(e, Error::Backup(BackupError::NotConfigured(_))),
        "{e:?}"
    );
    let remote = Client::remote(vec![configs[0].nodes[0].api_addr.clone()], SECRET_API);
    let e = remote.backups().await.unwrap_err();
    assert!(
        matches!(e, Error::Backup(BackupError::NotConfigured(_))),
        "{e:?}"
    );
    client.shutdown().await.unwrap();
}
