//! The log store's own tests; openraft's conformance suite runs in `hiqlite/tests/storage_suite.rs`.

use openraft::entry::RaftEntry;
use openraft::impls::leader_id_adv::LeaderId;
use openraft::type_config::TypeConfigExt;

use super::compactor::COMPACT_EVERY_PURGES;
use super::*;

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(LeaderId { term, node_id: 1 }, index)
}

fn blank(term: u64, index: u64) -> Entry {
    Entry::new_blank(log_id(term, index))
}

fn command(term: u64, index: u64) -> Entry {
    use crate::types::value::Value;
    let params = vec![
        Value::Null,
        Value::Integer(-7),
        Value::Real(1.5),
        Value::Text("ü".into()),
        Value::Blob(vec![0, 255]),
    ];
    execute_entry(term, index, "INSERT INTO t VALUES (?, ?, ?, ?, ?)", params)
}

/// An entry whose command carries a blob of `bytes` bytes.
fn big(term: u64, index: u64, bytes: usize) -> Entry {
    use crate::types::value::Value;
    let params = vec![Value::Blob(vec![7; bytes])];
    execute_entry(term, index, "INSERT INTO t VALUES (?)", params)
}

/// A normal entry at `term`/`index` executing `sql` with `params`, from one test client.
fn execute_entry(
    term: u64,
    index: u64,
    sql: &str,
    params: Vec<crate::types::value::Value>,
) -> Entry {
    use crate::types::command::{Command, RequestId, WriteOp};
    let cmd = Command {
        request_id: RequestId {
            client: 9,
            seq: index,
            answered_below: 0,
        },
        leader_time_ms: 1_700_000_000_000,
        op: WriteOp::Execute {
            sql: sql.into(),
            params,
        },
    };
    Entry::new_normal(log_id(term, index), cmd)
}

/// Appends and waits until the entries are reported durable.
async fn append_flushed(store: &mut LogStore, entries: Vec<Entry>) -> io::Result<()> {
    let (tx, rx) = TypeConfig::oneshot();
    store.append(entries, IOFlushed::signal(tx)).await?;
    rx.await.map_err(|_| io::Error::other("callback dropped"))?
}

#[tokio::test]
async fn reopen_after_close_keeps_vote_logs_and_purged() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let vote = Vote::new_committed(3, 1);
    {
        let mut store = LogStore::open(dir.path(), true)?;
        store.save_vote(&vote).await?;
        append_flushed(&mut store, (0..9).map(|i| blank(1, i)).collect()).await?;
        append_flushed(&mut store, vec![command(1, 9)]).await?;
        store.purge(log_id(1, 3)).await?;
        store.save_committed(Some(log_id(1, 8))).await?;
        store.close();
    }

    let mut store = LogStore::open(dir.path(), true)?;
    assert_eq!(store.read_vote().await?, Some(vote));
    let state = store.get_log_state().await?;
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(1, 9)));
    let entries = store.try_get_log_entries(..).await?;
    let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, (4..10).collect::<Vec<_>>());
    // A real command survives the postcard round trip.
    assert_eq!(format!("{:?}", entries[5]), format!("{:?}", command(1, 9)));
    assert_eq!(store.read_committed().await?, Some(log_id(1, 8)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_all_complete() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = LogStore::open(dir.path(), true)?;
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let mut store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25u64 {
                append_flushed(&mut store, vec![blank(1, task * 25 + i)]).await?;
            }
            io::Result::Ok(())
        }));
    }
    for task in tasks {
        task.await.map_err(io::Error::other)??;
    }
    let mut reader = store.clone();
    assert_eq!(reader.try_get_log_entries(0..200).await?.len(), 200);
    let stats = store.stats();
    assert_eq!(stats.requests, 200);
    assert!(stats.batches <= stats.requests);
    Ok(())
}

#[tokio::test]
async fn queued_appends_share_one_batch_and_are_readable_before_the_flush() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = LogStore::open(dir.path(), true)?;
    let (release, hold) = mpsc::channel();
    if let Some(w) = lock(&store.shared.writer).as_ref() {
        w.tx.send(Request::Hold(hold))
            .map_err(|_| io::Error::other("writer gone"))?;
    }

    let mut flushed = Vec::new();
    for i in 0..20 {
        let (tx, rx) = TypeConfig::oneshot();
        store
            .append(vec![blank(1, i)], IOFlushed::signal(tx))
            .await?;
        flushed.push(rx);
    }
    // The writer is held: the entries come from the overlay.
    assert_eq!(store.try_get_log_entries(0..20).await?.len(), 20);
    assert_eq!(
        store.get_log_state().await?.last_log_id,
        Some(log_id(1, 19))
    );

    drop(release);
    for rx in flushed {
        rx.await
            .map_err(|_| io::Error::other("callback dropped"))??;
    }
    assert_eq!(
        store.stats(),
        LogStoreStats {
            requests: 20,
            batches: 1
        }
    );
    assert!(lock(&store.shared.overlay).entries.is_empty());
    assert_eq!(store.try_get_log_entries(0..20).await?.len(), 20);
    Ok(())
}

#[tokio::test]
async fn truncate_and_purge_survive_reopen_without_sync() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let mut store = LogStore::open(dir.path(), false)?;
        append_flushed(&mut store, (0..10).map(|i| blank(1, i)).collect()).await?;
        store.truncate_after(Some(log_id(1, 6))).await?;
        append_flushed(&mut store, vec![blank(2, 7)]).await?;
        for upto in 0..COMPACT_EVERY_PURGES as u64 + 1 {
            store.purge(log_id(1, upto)).await?;
        }
    }
    let mut store = LogStore::open(dir.path(), false)?;
    let entries = store.try_get_log_entries(..).await?;
    let ids: Vec<LogId> = entries.iter().map(|e| e.log_id).collect();
    assert_eq!(ids, vec![log_id(1, 5), log_id(1, 6), log_id(2, 7)]);
    store.truncate_after(None).await?;
    let state = store.get_log_state().await?;
    assert_eq!(state.last_log_id, state.last_purged_log_id);
    Ok(())
}

#[tokio::test]
async fn corrupted_entry_is_an_error_naming_its_index() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = LogStore::open(dir.path(), true)?;
    append_flushed(&mut store, vec![blank(1, 0)]).await?;
    let db = &store.shared.db;
    db.put_cf(cf(db, CF_LOGS)?, log_key(1), b"\xff\xff\xff not an entry")
        .map_err(|e| io::Error::other(e.to_string()))?;

    let err = store
        .try_get_log_entries(0..2)
        .await
        .expect_err("garbage must not decode");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("log entry 1"), "{err}");
    Ok(())
}

#[tokio::test]
async fn writes_after_close_fail_and_report_the_callback() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = LogStore::open(dir.path(), true)?;
    store.close();
    store.close();

    let (tx, rx) = TypeConfig::oneshot();
    assert!(store
        .append(vec![blank(1, 0)], IOFlushed::signal(tx))
        .await
        .is_err());
    let reported = rx.await.map_err(|_| io::Error::other("callback dropped"))?;
    assert!(reported.is_err());
    assert!(store.save_vote(&Vote::new(1, 1)).await.is_err());
    // Reads still work on a closed store.
    assert!(store.try_get_log_entries(..).await?.is_empty());
    Ok(())
}

/// A full disk does not fail an append (openraft would stop for good): the append waits,
/// unacknowledged, the full disk is reported, and once space is back it completes by itself and
/// the entries are durable.
#[tokio::test]
async fn an_append_on_a_full_disk_waits_for_space_and_then_completes() -> io::Result<()> {
    use crate::types::disk::small_fs::SmallFs;
    use crate::types::disk::{DiskSpace, DiskUser};
    use std::time::{Duration, Instant};
    // rocksdb resumes once a write buffer fits on the disk again (see `WRITE_BUFFER_BYTES`).
    let Some(fs) = SmallFs::mount(64 * 1024) else {
        return Ok(());
    };
    let dir = fs.path().join("logs");
    let disk = DiskSpace::default();
    let mut store = LogStore::open_reporting(&dir, true, disk.clone())?;
    append_flushed(&mut store, vec![command(1, 1)]).await?;
    fs.fill();

    // The WAL's preallocated space takes some entries; append until the disk is reported full.
    let mut pending = Vec::new();
    let mut next = 2;
    let deadline = Instant::now() + Duration::from_secs(20);
    while disk.state().first().is_none() {
        assert!(Instant::now() < deadline, "no full disk was reported");
        assert!(next < 100, "no full disk was reported after {next} MiB");
        let (tx, rx) = TypeConfig::oneshot();
        store
            .append(vec![big(1, next, 1 << 20)], IOFlushed::signal(tx))
            .await?;
        pending.push(rx);
        next += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let full = disk.state().first().cloned().unwrap();
    assert_eq!(full.user, DiskUser::RaftLog);
    assert_eq!(full.path, dir);
    assert!(full.detail.contains("No space left"), "{}", full.detail);
    // The last append is neither acknowledged nor failed, and still readable (replication reads
    // the overlay).
    let last = pending.last_mut().unwrap();
    assert!(
        last.try_recv().is_err(),
        "the append was acknowledged on a full disk"
    );
    assert_eq!(
        store.try_get_log_entries(1..next).await?.len() as u64,
        next - 1
    );

    fs.free();
    let started = Instant::now();
    for rx in pending {
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the append completes once space is back")
            .map_err(|_| io::Error::other("callback dropped"))??;
    }
    eprintln!(
        "{} MiB appended before the disk was full; the appends completed {:?} after space \
         returned",
        next - 2,
        started.elapsed()
    );
    assert_eq!(disk.state().first(), None);
    // More writes go through, and everything is there after a reopen.
    append_flushed(&mut store, vec![command(1, next)]).await?;
    store.close();
    drop(store);
    let mut store = LogStore::open(&dir, true)?;
    let indexes: Vec<u64> = store
        .try_get_log_entries(0..1000)
        .await?
        .iter()
        .map(|e| e.log_id.index)
        .collect();
    assert_eq!(indexes, (1..=next).collect::<Vec<u64>>());
    Ok(())
}

/// Total length of RocksDB's write-ahead log files (`*.log`) in `dir`.
fn wal_bytes(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with(".log") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// `meta` is written with every commit but never fills its memtable: without the WAL cap its
/// data kept every WAL file alive and the directory grew with every entry appended, purged or
/// not (found by the soak test, docs/soak.md).
#[tokio::test]
async fn the_write_ahead_log_stays_below_its_cap_whatever_is_appended() -> io::Result<()> {
    const ENTRY: usize = 64 << 10;
    let dir = tempfile::tempdir()?;
    let mut store = LogStore::open(dir.path(), false)?;
    // 1.5 x the cap, committed and purged as a node does.
    let entries = (MAX_WAL_BYTES as usize * 3 / 2) / ENTRY;
    for i in 0..entries as u64 {
        append_flushed(&mut store, vec![big(1, i, ENTRY)]).await?;
        store.save_committed(Some(log_id(1, i))).await?;
        if i % 50 == 49 {
            store.purge(log_id(1, i - 10)).await?;
        }
    }
    // RocksDB deletes the old file once its background flush is done.
    let limit = MAX_WAL_BYTES + (8 << 20);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let wal = wal_bytes(dir.path())?;
        if wal <= limit {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL files hold {wal} bytes after appending {} bytes, above {limit}",
            entries * ENTRY
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The info LOG is rolled too (RocksDB writes the options it runs with into OPTIONS-*).
    let options = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("OPTIONS-"))
        .map(|e| std::fs::read_to_string(e.path()))
        .collect::<io::Result<String>>()?;
    assert!(options.contains("max_log_file_size=1048576"), "{options}");
    assert!(options.contains(&format!("max_total_wal_size={MAX_WAL_BYTES}")));
    store.close();
    Ok(())
}
