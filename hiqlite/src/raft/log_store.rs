//! The Raft log store: openraft's log entries and vote, kept in rocksdb.
//!
//! One rocksdb database, two column families sharing one WAL, so that writes become durable in the
//! order they were made: `logs` (key = log index as big-endian `u64`, so byte order is index
//! order; value = postcard-encoded [`Entry`]) and `meta` (vote, committed log id, last purged log
//! id; postcard-encoded).
//!
//! Group commit: one dedicated OS thread performs every write. [`RaftLogStorage::append`] queues
//! its entries for that thread and returns at once; the thread drains everything queued, writes it
//! as one `WriteBatch` with one fsync, then reports each request done. Concurrent writers share an
//! fsync and the async runtime never waits on the disk. openraft requires appended entries to be
//! readable as soon as `append` returns (replication reads them before they are flushed), so until
//! the thread has written them they are served from a small in-memory overlay.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions, DB,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use super::{Entry, LogId, TypeConfig, Vote};

const CF_LOGS: &str = "logs";
const CF_META: &str = "meta";

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// Purges leave the deleted range in the SST files until a compaction reaches it; compacting it
/// ourselves every few purges (openraft purges once per snapshot) gives the disk space back.
const COMPACT_EVERY_PURGES: u32 = 4;

/// openraft's log storage (and its log reader) on rocksdb, with group commit.
///
/// Cloning is cheap: every clone shares the same database and writer thread. The writer thread
/// stops on [`LogStore::close`] or when the last clone is dropped.
///
/// ```no_run
/// # fn demo() -> std::io::Result<()> {
/// let store = hiqlite::raft::log_store::LogStore::open(std::path::Path::new("data/logs"), true)?;
/// // hand `store` to `openraft::Raft::new(..)` as its `RaftLogStorage`
/// store.close();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

/// Counters of the writer thread, to see how well group commit works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStoreStats {
    /// Write requests completed (appends, votes, truncations, purges, committed ids).
    pub requests: u64,
    /// rocksdb writes (each one fsync when `sync` is on) those requests were merged into.
    pub batches: u64,
}

struct Shared {
    db: Arc<DB>,
    dir: PathBuf,
    /// Appended entries the writer thread has not written yet.
    overlay: Arc<Mutex<Overlay>>,
    /// The last committed log id handed to `save_committed`, written or not.
    committed: Mutex<Option<LogId>>,
    /// `None` once closed.
    writer: Mutex<Option<Writer>>,
    stats: Arc<Stats>,
    /// Highest purged index + 1 (0: nothing purged); read by the network layer, see
    /// [`LogStore::purged_watermark`].
    purged_below: Arc<AtomicU64>,
}

struct Writer {
    tx: mpsc::Sender<Request>,
    thread: JoinHandle<()>,
}

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    batches: AtomicU64,
}

#[derive(Default)]
struct Overlay {
    next_seq: u64,
    /// index -> (sequence number of the append request, entry)
    entries: BTreeMap<u64, (u64, Entry)>,
}

enum Request {
    Write(WriteRequest),
    Shutdown,
    /// Blocks the writer until the sender is dropped, so tests can queue requests behind it.
    #[cfg(test)]
    Hold(mpsc::Receiver<()>),
}

struct WriteRequest {
    ops: Vec<Op>,
    done: Done,
    /// Set for appends: the overlay entries this request wrote carry this sequence number.
    append_seq: Option<u64>,
    /// Set for purges: the last purged index.
    purged_upto: Option<u64>,
}

#[derive(Clone, Copy)]
enum Cf {
    Logs,
    Meta,
}

enum Op {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    /// Deletes `[from, to)`.
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// How a write request reports that it is durable.
enum Done {
    Flushed(IOFlushed<TypeConfig>),
    Reply(oneshot::Sender<io::Result<()>>),
    Nothing,
}

impl Done {
    fn complete(self, result: io::Result<()>) {
        match self {
            Done::Flushed(callback) => callback.io_completed(result),
            Done::Reply(tx) => {
                // The caller may have given up waiting; nothing to tell then.
                let _ = tx.send(result);
            }
            Done::Nothing => {}
        }
    }
}

impl LogStore {
    /// Forgets every log entry, the purge marker and the committed id, keeping only the vote.
    ///
    /// Used at start-up when the state machine lost data that the local snapshot and log cannot
    /// rebuild (the log was purged past it): with an empty log, the leader sends a snapshot.
    pub async fn forget_logs(&self) -> io::Result<()> {
        let ops = vec![
            Op::DeleteRange(Cf::Logs, log_key(0).to_vec(), log_key(u64::MAX).to_vec()),
            Op::Delete(Cf::Logs, log_key(u64::MAX).to_vec()),
            Op::Delete(Cf::Meta, KEY_LAST_PURGED.to_vec()),
            Op::Delete(Cf::Meta, KEY_COMMITTED.to_vec()),
        ];
        self.write(ops, None).await?;
        *lock(&self.shared.committed) = None;
        self.shared.purged_below.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Offline recovery only (`hiqlite recover`, the node stopped): stores `vote` and appends
    /// `entry` in one durable write, so neither is ever on disk without the other.
    pub async fn force_vote_and_append(&self, vote: &Vote, entry: &Entry) -> io::Result<()> {
        let ops = vec![
            Op::Put(Cf::Meta, KEY_VOTE.to_vec(), encode("vote", vote)?),
            Op::Put(
                Cf::Logs,
                log_key(entry.log_id.index).to_vec(),
                encode_entry(entry)?,
            ),
        ];
        self.write(ops, None).await
    }

    /// Opens (or creates) the log store in `dir`.
    ///
    /// With `sync` every append, vote, truncation and purge is fsynced before it is reported done.
    /// Without it they are reported done once handed to the OS: that survives a crash of the
    /// process but not a power loss or kernel crash, which may lose acknowledged entries and votes
    /// (and so break Raft's guarantees). Use `sync = false` only where that is acceptable.
    pub fn open(dir: &Path, sync: bool) -> Result<LogStore, io::Error> {
        std::fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("create log store directory {}: {e}", dir.display()),
            )
        })?;

        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // rocksdb starts a new info LOG file on every open and keeps 1000 by default.
        opts.set_keep_log_file_num(10);
        let cfs =
            [CF_LOGS, CF_META].map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir, cfs).map_err(|e| {
            io::Error::other(format!("open rocksdb log store at {}: {e}", dir.display()))
        })?;
        let db = Arc::new(db);
        cf(&db, CF_LOGS)?;
        cf(&db, CF_META)?;

        let committed = read_meta(&db, KEY_COMMITTED)?;
        let purged_below =
            read_meta::<LogId>(&db, KEY_LAST_PURGED)?.map_or(0, |l| l.index.saturating_add(1));
        let overlay = Arc::new(Mutex::new(Overlay::default()));
        let stats = Arc::new(Stats::default());

        let (tx, rx) = mpsc::channel();
        let thread = {
            let (db, overlay, stats) = (db.clone(), overlay.clone(), stats.clone());
            std::thread::Builder::new()
                .name("hiqlite-log-writer".into())
                .spawn(move || run_writer(db, rx, sync, overlay, stats))
                .map_err(|e| io::Error::new(e.kind(), format!("start log writer thread: {e}")))?
        };

        Ok(LogStore {
            shared: Arc::new(Shared {
                db,
                dir: dir.to_path_buf(),
                overlay,
                committed: Mutex::new(committed),
                writer: Mutex::new(Some(Writer { tx, thread })),
                stats,
                purged_below: Arc::new(AtomicU64::new(purged_below)),
            }),
        })
    }

    /// Entries below this index are purged (0: none). Shared, so the replication connections
    /// can tell a stale replication session from a live one (see `raft::network`).
    pub fn purged_watermark(&self) -> Arc<AtomicU64> {
        self.shared.purged_below.clone()
    }

    /// Stops the writer thread after it has finished the requests already queued; later writes
    /// fail with an error. Blocks until the thread is gone (at most one fsync). Idempotent; also
    /// done when the last clone is dropped.
    pub fn close(&self) {
        self.shared.close();
    }

    /// How many write requests the writer thread completed and in how many batches.
    pub fn stats(&self) -> LogStoreStats {
        LogStoreStats {
            requests: self.shared.stats.requests.load(Ordering::Relaxed),
            batches: self.shared.stats.batches.load(Ordering::Relaxed),
        }
    }

    /// Queues a write for the writer thread.
    fn send(&self, request: WriteRequest) -> io::Result<()> {
        let writer = lock(&self.shared.writer);
        let sent = match writer.as_ref() {
            Some(w) => w.tx.send(Request::Write(request)).map_err(|e| e.0),
            None => Err(Request::Write(request)),
        };
        drop(writer);
        match sent {
            Ok(()) => Ok(()),
            Err(request) => {
                let err = self.shared.closed_error();
                if let Request::Write(w) = request {
                    w.done.complete(Err(copy_error(&err)));
                }
                Err(err)
            }
        }
    }

    /// Queues a write and waits (without blocking the runtime) until it is durable.
    async fn write(&self, ops: Vec<Op>, purged_upto: Option<u64>) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(WriteRequest {
            ops,
            done: Done::Reply(tx),
            append_seq: None,
            purged_upto,
        })?;
        rx.await.map_err(|_| self.shared.closed_error())?
    }

    fn read_range(&self, start: u64, end: Option<u64>) -> io::Result<Vec<Entry>> {
        if end.is_some_and(|end| end <= start) {
            return Ok(Vec::new());
        }
        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
        // Copy the overlay before reading rocksdb: the writer removes entries from the overlay
        // only after writing them, so each entry is in at least one of the two reads.
        let pending: Vec<(u64, Entry)> = lock(&self.shared.overlay)
            .entries
            .range((Bound::Included(start), upper))
            .map(|(index, (_, entry))| (*index, entry.clone()))
            .collect();

        let db = &self.shared.db;
        let mut read_opts = ReadOptions::default();
        if let Some(end) = end {
            read_opts.set_iterate_upper_bound(log_key(end));
        }
        let start_key = log_key(start);
        let iter = db.iterator_cf_opt(
            cf(db, CF_LOGS)?,
            read_opts,
            IteratorMode::From(&start_key, Direction::Forward),
        );
        let mut entries = BTreeMap::new();
        for item in iter {
            let (key, value) =
                item.map_err(|e| io::Error::other(format!("read log entries: {e}")))?;
            let index = decode_log_key(&key)?;
            entries.insert(index, decode_entry(index, &value)?);
        }
        // An overlay entry is newer than a stored one at the same index (truncate + re-append).
        entries.extend(pending);

        let mut expected: Option<u64> = None;
        for (index, entry) in &entries {
            if entry.log_id.index != *index {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("log entry at index {index} carries log id {}", entry.log_id),
                ));
            }
            if let Some(expected) = expected.filter(|expected| expected != index) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("hole in the raft log: entry {expected} is missing"),
                ));
            }
            expected = index.checked_add(1);
        }
        Ok(entries.into_values().collect())
    }

    fn last_stored_log_id(&self) -> io::Result<Option<LogId>> {
        let db = &self.shared.db;
        let mut iter = db.iterator_cf(cf(db, CF_LOGS)?, IteratorMode::End);
        match iter.next() {
            None => Ok(None),
            Some(item) => {
                let (key, value) =
                    item.map_err(|e| io::Error::other(format!("read last log entry: {e}")))?;
                let index = decode_log_key(&key)?;
                Ok(Some(decode_entry(index, &value)?.log_id))
            }
        }
    }
}

impl Shared {
    fn close(&self) {
        let Some(writer) = lock(&self.writer).take() else {
            return;
        };
        // If the thread is already gone there is nothing left to stop.
        let _ = writer.tx.send(Request::Shutdown);
        drop(writer.tx);
        if writer.thread.join().is_err() {
            tracing::error!(dir = %self.dir.display(), "log store writer thread panicked");
        }
    }

    fn closed_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            format!("log store {} is closed", self.dir.display()),
        )
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.close();
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(start) => *start,
            Bound::Excluded(start) => match start.checked_add(1) {
                Some(start) => start,
                None => return Ok(Vec::new()),
            },
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(end) => end.checked_add(1),
            Bound::Excluded(end) => Some(*end),
            Bound::Unbounded => None,
        };
        self.read_range(start, end)
    }

    /// Replication reads through here. When a purge removed the start of the range after openraft
    /// chose to send logs (a race with snapshotting), entries from later on would not follow
    /// `start - 1`, and sending them would leave a hole in the follower's log; return none
    /// instead (openraft sends an empty append and tries again). Known gap: openraft 0.10.0-alpha.37
    /// does not re-plan such a stale replication session by itself, so after a follower's log
    /// reverts the session can stay stuck here (see tests/tests/faults_regressions.rs).
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        let entries = self.read_range(start, Some(end))?;
        match entries.first() {
            Some(first) if first.log_id.index != start => Ok(Vec::new()),
            _ => Ok(entries),
        }
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        read_meta(&self.shared.db, KEY_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogId> = read_meta(&self.shared.db, KEY_LAST_PURGED)?;
        // Overlay first, for the same reason as in `read_range`.
        let pending = lock(&self.shared.overlay)
            .entries
            .values()
            .next_back()
            .map(|(_, e)| e.log_id);
        let stored = self.last_stored_log_id()?;
        let last_log_id = [pending, stored]
            .into_iter()
            .flatten()
            .max_by_key(|log_id| log_id.index)
            .or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let value = encode("vote", vote)?;
        self.write(vec![Op::Put(Cf::Meta, KEY_VOTE.to_vec(), value)], None)
            .await
    }

    /// Queued behind the appends but not awaited: `committed` is a hint that saves re-applying
    /// logs at startup, and waiting for an fsync here would stall openraft's core on every commit.
    /// It shares the WAL with the entries, so it never becomes durable before the entries it names.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let op = match &committed {
            Some(log_id) => Op::Put(
                Cf::Meta,
                KEY_COMMITTED.to_vec(),
                encode("committed log id", log_id)?,
            ),
            None => Op::Delete(Cf::Meta, KEY_COMMITTED.to_vec()),
        };
        *lock(&self.shared.committed) = committed;
        self.send(WriteRequest {
            ops: vec![op],
            done: Done::Nothing,
            append_seq: None,
            purged_upto: None,
        })
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(*lock(&self.shared.committed))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut ops = Vec::new();
        let mut encoded = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            let value = encode_entry(&entry)?;
            ops.push(Op::Put(Cf::Logs, log_key(index).to_vec(), value));
            encoded.push(entry);
        }

        // Sequence number, overlay insert and send under one lock, so the writer sees appends in
        // sequence order and can drop exactly the overlay entries it has written.
        let mut overlay = lock(&self.shared.overlay);
        let seq = overlay.next_seq;
        overlay.next_seq += 1;
        for entry in encoded {
            overlay.entries.insert(entry.log_id.index, (seq, entry));
        }
        let sent = self.send(WriteRequest {
            ops,
            done: Done::Flushed(callback),
            append_seq: Some(seq),
            purged_upto: None,
        });
        if sent.is_err() {
            overlay.entries.retain(|_, (s, _)| *s != seq);
        }
        sent
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let first_deleted = match last_log_id {
            None => 0,
            Some(log_id) => match log_id.index.checked_add(1) {
                Some(index) => index,
                None => return Ok(()),
            },
        };
        let ops = vec![
            Op::DeleteRange(
                Cf::Logs,
                log_key(first_deleted).to_vec(),
                log_key(u64::MAX).to_vec(),
            ),
            // `DeleteRange` excludes its end.
            Op::Delete(Cf::Logs, log_key(u64::MAX).to_vec()),
        ];
        self.write(ops, None).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut ops = vec![Op::Put(
            Cf::Meta,
            KEY_LAST_PURGED.to_vec(),
            encode("last purged log id", &log_id)?,
        )];
        match log_id.index.checked_add(1) {
            Some(end) => ops.push(Op::DeleteRange(
                Cf::Logs,
                log_key(0).to_vec(),
                log_key(end).to_vec(),
            )),
            None => {
                ops.push(Op::DeleteRange(
                    Cf::Logs,
                    log_key(0).to_vec(),
                    log_key(u64::MAX).to_vec(),
                ));
                ops.push(Op::Delete(Cf::Logs, log_key(u64::MAX).to_vec()));
            }
        }
        self.write(ops, Some(log_id.index)).await?;
        self.shared
            .purged_below
            .fetch_max(log_id.index.saturating_add(1), Ordering::Relaxed);
        Ok(())
    }
}

/// The writer thread: drains all queued requests, writes them as one batch, completes them.
fn run_writer(
    db: Arc<DB>,
    rx: mpsc::Receiver<Request>,
    sync: bool,
    overlay: Arc<Mutex<Overlay>>,
    stats: Arc<Stats>,
) {
    let mut synced = WriteOptions::default();
    synced.set_sync(sync);
    // A group of only `save_committed` requests waits for nobody: the next synced write (or the
    // OS) makes it durable, so it does not cost an fsync of its own.
    let unsynced = WriteOptions::default();
    let mut compactor = Compactor::new(db.clone());
    // After a failed write nothing more is written: a later entry on disk after a lost one would be
    // a hole in the log.
    let mut failed: Option<io::Error> = None;
    let mut purges_since_compaction = 0;
    let mut shutdown = false;

    while !shutdown {
        let Ok(first) = rx.recv() else { break };
        let mut group = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next {
            match request {
                Request::Write(w) => group.push(w),
                Request::Shutdown => {
                    shutdown = true;
                    break;
                }
                #[cfg(test)]
                Request::Hold(release) => {
                    let _ = release.recv();
                }
            }
            next = rx.try_recv().ok();
        }
        if group.is_empty() {
            continue;
        }

        let result = match &failed {
            Some(e) => Err(copy_error(e)),
            None => {
                let needs_sync = group.iter().any(|w| !matches!(w.done, Done::Nothing));
                write_group(&db, &group, if needs_sync { &synced } else { &unsynced })
            }
        };
        if let Err(e) = &result {
            if failed.is_none() {
                tracing::error!(error = %e, "log store write failed; refusing further writes");
                failed = Some(copy_error(e));
            }
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .requests
            .fetch_add(group.len() as u64, Ordering::Relaxed);

        // Written entries are readable from rocksdb now (failed ones never will be).
        if let Some(seq) = group.iter().filter_map(|w| w.append_seq).max() {
            lock(&overlay).entries.retain(|_, (s, _)| *s > seq);
        }
        let purges: Vec<u64> = group.iter().filter_map(|w| w.purged_upto).collect();
        for w in group {
            w.done
                .complete(result.as_ref().map(|_| ()).map_err(copy_error));
        }

        if result.is_ok() {
            if let Some(upto) = purges.iter().max() {
                purges_since_compaction += purges.len() as u32;
                if purges_since_compaction >= COMPACT_EVERY_PURGES {
                    purges_since_compaction = 0;
                    compactor.compact_upto(*upto);
                }
            }
        }
    }

    // Requests queued after the shutdown request.
    for request in rx.try_iter() {
        if let Request::Write(w) = request {
            w.done.complete(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "log store is closed",
            )));
        }
    }
    compactor.stop();
}

fn write_group(db: &DB, group: &[WriteRequest], write_opts: &WriteOptions) -> io::Result<()> {
    let logs = cf(db, CF_LOGS)?;
    let meta = cf(db, CF_META)?;
    let mut batch = WriteBatch::default();
    for op in group.iter().flat_map(|w| &w.ops) {
        let handle = |c: &Cf| match c {
            Cf::Logs => logs,
            Cf::Meta => meta,
        };
        match op {
            Op::Put(c, key, value) => batch.put_cf(handle(c), key, value),
            Op::Delete(c, key) => batch.delete_cf(handle(c), key),
            Op::DeleteRange(c, from, to) => batch.delete_range_cf(handle(c), from, to),
        }
    }
    db.write_opt(batch, write_opts).map_err(|e| {
        io::Error::other(format!(
            "write {} log store requests to rocksdb: {e}",
            group.len()
        ))
    })
}

/// Compacts purged log ranges on its own thread, so appends never wait behind a compaction.
struct Compactor {
    tx: Option<mpsc::Sender<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl Compactor {
    fn new(db: Arc<DB>) -> Compactor {
        let (tx, rx) = mpsc::channel::<u64>();
        let spawned = std::thread::Builder::new()
            .name("hiqlite-log-compactor".into())
            .spawn(move || {
                while let Ok(mut upto) = rx.recv() {
                    // Only the newest request matters: it covers the older ones.
                    upto = rx.try_iter().fold(upto, u64::max);
                    if let Ok(logs) = cf(&db, CF_LOGS) {
                        let end = upto.checked_add(1).map(log_key);
                        db.compact_range_cf(logs, None::<&[u8]>, end.as_ref());
                    }
                }
            });
        match spawned {
            Ok(thread) => Compactor {
                tx: Some(tx),
                thread: Some(thread),
            },
            Err(e) => {
                // Compaction is housekeeping: rocksdb's own compactions still reclaim the space.
                tracing::warn!(error = %e, "cannot start log compaction thread");
                Compactor {
                    tx: None,
                    thread: None,
                }
            }
        }
    }

    fn compact_upto(&mut self, index: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(index);
        }
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("log compaction thread panicked");
            }
        }
    }
}

fn cf<'a>(db: &'a DB, name: &str) -> io::Result<&'a ColumnFamily> {
    db.cf_handle(name)
        .ok_or_else(|| io::Error::other(format!("log store: column family {name:?} is missing")))
}

fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn decode_log_key(key: &[u8]) -> io::Result<u64> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log store: invalid log key {key:02x?}"),
        )
    })?;
    Ok(u64::from_be_bytes(bytes))
}

fn encode_entry(entry: &Entry) -> io::Result<Vec<u8>> {
    encode(&format!("log entry {}", entry.log_id.index), entry)
}

fn decode_entry(index: u64, bytes: &[u8]) -> io::Result<Entry> {
    decode(&format!("log entry {index}"), bytes)
}

fn encode<T: Serialize>(what: &str, value: &T) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log store: cannot encode {what}: {e}"),
        )
    })
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log store: cannot decode {what}: {e}"),
        )
    })
}

fn read_meta<T: DeserializeOwned>(db: &DB, key: &'static [u8]) -> io::Result<Option<T>> {
    let what = String::from_utf8_lossy(key);
    let value = db
        .get_cf(cf(db, CF_META)?, key)
        .map_err(|e| io::Error::other(format!("log store: read {what}: {e}")))?;
    value.map(|bytes| decode(&what, &bytes)).transpose()
}

fn copy_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

/// Locks a mutex, also after another thread panicked while holding it: the data it guards stays
/// consistent across each critical section, and panicking here would only spread the failure.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use openraft::entry::RaftEntry;
    use openraft::impls::leader_id_adv::LeaderId;
    use openraft::type_config::TypeConfigExt;

    use super::*;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(LeaderId { term, node_id: 1 }, index)
    }

    fn blank(term: u64, index: u64) -> Entry {
        Entry::new_blank(log_id(term, index))
    }

    fn command(term: u64, index: u64) -> Entry {
        use crate::types::command::{Command, RequestId, WriteOp};
        use crate::types::value::Value;
        let op = WriteOp::Execute {
            sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?)".into(),
            params: vec![
                Value::Null,
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("ü".into()),
                Value::Blob(vec![0, 255]),
            ],
        };
        let request_id = RequestId {
            client: 9,
            seq: index,
            answered_below: 0,
        };
        let cmd = Command {
            request_id,
            leader_time_ms: 1_700_000_000_000,
            op,
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
}
