//! The writer thread: every rocksdb write of the log store, grouped so that concurrent
//! requests share one `WriteBatch` and one fsync (group commit).

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use openraft::storage::IOFlushed;
use rocksdb::{WriteBatch, WriteOptions, DB};
use tokio::sync::oneshot;

use super::codec::{cf, copy_error, lock, CF_LOGS, CF_META};
use super::compactor::{Compactor, COMPACT_EVERY_PURGES};
use crate::types::disk::{is_no_space, Backoff, DiskSpace, DiskUser};
use crate::types::raft::{Entry, TypeConfig};

pub(super) struct Writer {
    pub(super) tx: mpsc::Sender<Request>,
    pub(super) thread: JoinHandle<()>,
}

#[derive(Default)]
pub(super) struct Stats {
    pub(super) requests: AtomicU64,
    pub(super) batches: AtomicU64,
    /// Seconds each synced batch took (the rocksdb write and its fsync), once someone listens
    /// (see [`LogStore::record_fsync_latency`](super::LogStore::record_fsync_latency)).
    pub(super) fsync_seconds: std::sync::OnceLock<metrics::Histogram>,
    /// Set when the store closes: a write waiting for disk space gives up then.
    pub(super) closing: AtomicBool,
}

#[derive(Default)]
pub(super) struct Overlay {
    pub(super) next_seq: u64,
    /// index -> (sequence number of the append request, entry)
    pub(super) entries: BTreeMap<u64, (u64, Entry)>,
}

pub(super) enum Request {
    Write(WriteRequest),
    Shutdown,
    /// Blocks the writer until the sender is dropped, so tests can queue requests behind it.
    #[cfg(test)]
    Hold(mpsc::Receiver<()>),
}

pub(super) struct WriteRequest {
    pub(super) ops: Vec<Op>,
    pub(super) done: Done,
    /// Set for appends: the overlay entries this request wrote carry this sequence number.
    pub(super) append_seq: Option<u64>,
    /// Set for purges: the last purged index.
    pub(super) purged_upto: Option<u64>,
}

#[derive(Clone, Copy)]
pub(super) enum Cf {
    Logs,
    Meta,
}

pub(super) enum Op {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    /// Deletes `[from, to)`.
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// How a write request reports that it is durable.
pub(super) enum Done {
    Flushed(IOFlushed<TypeConfig>),
    Reply(oneshot::Sender<io::Result<()>>),
    Nothing,
}

impl Done {
    pub(super) fn complete(self, result: io::Result<()>) {
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

/// Where the writer thread reports a full disk: the shared [`DiskSpace`] and the store's directory.
pub(super) struct DiskReport {
    pub(super) disk: DiskSpace,
    pub(super) dir: std::path::PathBuf,
}

/// The writer thread: drains all queued requests, writes them as one batch, completes them.
pub(super) fn run_writer(
    db: Arc<DB>,
    rx: mpsc::Receiver<Request>,
    sync: bool,
    overlay: Arc<Mutex<Overlay>>,
    stats: Arc<Stats>,
    report: DiskReport,
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
                let started = std::time::Instant::now();
                let opts = if needs_sync { &synced } else { &unsynced };
                let written = write_until_space(&db, &group, opts, &stats, &report);
                if let Some(histogram) = stats.fsync_seconds.get().filter(|_| needs_sync && sync) {
                    histogram.record(started.elapsed().as_secs_f64());
                }
                written
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

/// [`write_group`], tried again with back-off for as long as the disk is full (reported to
/// `report.disk` meanwhile) and the store is not closing. Any other error is returned at once.
///
/// openraft shuts its core down for good on any storage error, so a full disk must not surface
/// as one: the requests of this group stay unacknowledged (their entries readable from the
/// overlay, openraft's callbacks pending) until the write succeeds. A follower then lags like a
/// slow one; a leader hands leadership over (`engine::disk_watch`). rocksdb itself stops taking
/// writes after a failed WAL write and resumes by itself once its free-space poll (every 5 s)
/// finds room, so until then retries fail with the same `NoSpace` error.
fn write_until_space(
    db: &DB,
    group: &[WriteRequest],
    write_opts: &WriteOptions,
    stats: &Stats,
    report: &DiskReport,
) -> io::Result<()> {
    let mut backoff = Backoff::default();
    let mut was_full = false;
    loop {
        match write_group(db, group, write_opts) {
            Err(e) if is_no_space(&e) && !stats.closing.load(Ordering::Acquire) => {
                was_full = true;
                report
                    .disk
                    .report_full(DiskUser::RaftLog, &report.dir, e.to_string());
                std::thread::sleep(backoff.next_pause());
            }
            result => {
                if result.is_ok() && was_full {
                    report.disk.report_ok(DiskUser::RaftLog);
                }
                return result;
            }
        }
    }
}

pub(super) fn write_group(
    db: &DB,
    group: &[WriteRequest],
    write_opts: &WriteOptions,
) -> io::Result<()> {
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
        let message = format!("write {} log store requests to rocksdb: {e}", group.len());
        // rocksdb passes the OS error on as text only.
        let kind = if crate::types::disk::message_says_no_space(&message) {
            io::ErrorKind::StorageFull
        } else {
            io::ErrorKind::Other
        };
        io::Error::new(kind, message)
    })
}
