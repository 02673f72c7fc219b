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
//!
//! A full disk is not an error here: the thread keeps the write and tries it again until space
//! returns, reporting the full disk to the node's [`DiskSpace`] meanwhile (openraft would stop for
//! good on an error; see `types::disk`).

mod codec;
mod compactor;
mod writer;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions, DB};
use tokio::sync::oneshot;

use crate::types::disk::DiskSpace;
use crate::types::raft::{Entry, LogId, TypeConfig, Vote};

use self::codec::{
    cf, copy_error, decode_entry, decode_log_key, encode, encode_entry, lock, log_key, read_meta,
    CF_LOGS, CF_META, KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE,
};
use self::writer::{
    run_writer, Cf, DiskReport, Done, Op, Overlay, Request, Stats, WriteRequest, Writer,
};

/// Size of each column family's memtable. It also sets how much rocksdb needs on a full disk:
/// after a failed write it stops taking writes and resumes by itself only once this much is
/// free again (its `SstFileManager` reserves one write buffer for the flush that recovery
/// makes), and it preallocates about 1.1 times this for each WAL file. rocksdb's 64 MiB default
/// would keep a node waiting until 64 MiB were free; the log holds little between purges.
pub const WRITE_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// The most RocksDB's write-ahead log files may hold before RocksDB flushes the column families
/// with data in the oldest file and deletes it. Without it the default is 4 x the memtables'
/// size (3 column families x 2 memtables x [`WRITE_BUFFER_BYTES`] x 4 = 384 MiB here): `meta` is written with every commit but far too little to fill its
/// own memtable, so its data pins every WAL file, and the log directory grew with every entry
/// ever appended, purges or not, until that default was reached.
const MAX_WAL_BYTES: u64 = 32 << 20;

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
        Self::open_reporting(dir, sync, DiskSpace::default())
    }

    /// [`open`](Self::open), reporting a full disk to `disk`: while a write finds no space, it
    /// waits and tries again (with back-off up to 1 s) instead of failing, and `disk` says so.
    pub fn open_reporting(dir: &Path, sync: bool, disk: DiskSpace) -> Result<LogStore, io::Error> {
        std::fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("create log store directory {}: {e}", dir.display()),
            )
        })?;

        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // rocksdb starts a new info LOG file on every open and keeps 1000 by default; and never
        // rolls it while open (a flush and a compaction a minute under steady writes: about
        // 0.7 MB an hour in the soak test). Rolled at 1 MiB, 10 kept: at most about 11 MiB.
        opts.set_keep_log_file_num(10);
        opts.set_max_log_file_size(1 << 20);
        opts.set_max_total_wal_size(MAX_WAL_BYTES);
        // `default` too: rocksdb always opens it (unused here), with 64 MiB unless told.
        let cfs = [rocksdb::DEFAULT_COLUMN_FAMILY_NAME, CF_LOGS, CF_META].map(|name| {
            let mut cf_opts = Options::default();
            cf_opts.set_write_buffer_size(WRITE_BUFFER_BYTES);
            ColumnFamilyDescriptor::new(name, cf_opts)
        });
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
            let report = DiskReport {
                disk,
                dir: dir.to_path_buf(),
            };
            std::thread::Builder::new()
                .name("hiqlite-log-writer".into())
                .spawn(move || run_writer(db, rx, sync, overlay, stats, report))
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

    /// From now on, records into `histogram` how long each synced write took, in seconds: the
    /// rocksdb write of a group of requests and its fsync. Only the first call takes effect;
    /// nothing is recorded when the store was opened without `sync`.
    pub fn record_fsync_latency(&self, histogram: metrics::Histogram) {
        let _ = self.shared.stats.fsync_seconds.set(histogram);
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
        // A write waiting for disk space gives up now (its requests fail).
        self.stats.closing.store(true, Ordering::Release);
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

/// Decodes a stored key and value as the store reads them back: a `logs` key and entry, and the
/// value as each `meta` value (vote, committed and last purged log ids). For the fuzz harness
/// (`crate::fuzzing::log_entry`); the first error is returned.
#[cfg(any(test, fuzzing))]
pub(crate) fn decode_stored(key: &[u8], value: &[u8]) -> io::Result<()> {
    let vote = codec::decode::<Vote>("vote", value);
    let committed = codec::decode::<LogId>("committed", value);
    let entry = decode_log_key(key).and_then(|index| decode_entry(index, value));
    vote.and(committed).and(entry).map(|_| ())
}

#[cfg(test)]
mod tests;
