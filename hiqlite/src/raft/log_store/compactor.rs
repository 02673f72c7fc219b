//! Compacting purged log ranges in the background, so purges give disk space back.

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use rocksdb::DB;

use super::codec::{cf, log_key, CF_LOGS};

/// Compacts purged log ranges on its own thread, so appends never wait behind a compaction.
pub(super) struct Compactor {
    pub(super) tx: Option<mpsc::Sender<u64>>,
    pub(super) thread: Option<JoinHandle<()>>,
}

impl Compactor {
    pub(super) fn new(db: Arc<DB>) -> Compactor {
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

    pub(super) fn compact_upto(&mut self, index: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(index);
        }
    }

    pub(super) fn stop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("log compaction thread panicked");
            }
        }
    }
}

/// Purges leave the deleted range in the SST files until a compaction reaches it; compacting it
/// ourselves every few purges (openraft purges once per snapshot) gives the disk space back.
pub(super) const COMPACT_EVERY_PURGES: u32 = 4;
