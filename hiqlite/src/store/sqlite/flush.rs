//! Bounded write-back for large writes SQLite makes on its own (restoring a snapshot, then
//! checkpointing it): a helper thread fsyncs the files every [`FLUSH_EVERY`] while the work runs,
//! so the disk's queue holds at most that long's worth of writes. Without it the page cache
//! collects the whole database and one fsync at the end queues it all at once; every fsync of
//! the Raft log on that disk (this node's, or another node's sharing the disk) then waits
//! behind it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the helper fsyncs.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// The database file and its WAL.
pub fn db_and_wal(db: &Path) -> [PathBuf; 2] {
    [
        db.to_path_buf(),
        PathBuf::from(format!("{}-wal", db.display())),
    ]
}

/// Runs `work` while a helper thread fsyncs (`fdatasync`) each of `files` every [`FLUSH_EVERY`];
/// returns what `work` returns. A file that is missing or cannot be synced is skipped: the
/// helper only spreads write-back out, durability stays with whoever wrote the file.
pub fn while_flushing<T>(files: &[PathBuf], work: impl FnOnce() -> T) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let helper = scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                std::thread::park_timeout(FLUSH_EVERY);
                for f in files {
                    if let Ok(file) = std::fs::OpenOptions::new().write(true).open(f) {
                        let _ = file.sync_data();
                    }
                }
            }
        });
        let out = work();
        done.store(true, Ordering::Release);
        // Without this the caller waits out the helper's current pause.
        helper.thread().unpark();
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_what_the_work_returns_and_skips_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("a");
        std::fs::write(&present, b"x").unwrap();
        let files = [present.clone(), dir.path().join("missing")];
        let out = while_flushing(&files, || {
            std::fs::write(&present, vec![7u8; 1 << 20]).unwrap();
            std::thread::sleep(FLUSH_EVERY * 3);
            42
        });
        assert_eq!(out, 42);
        assert_eq!(std::fs::read(&present).unwrap().len(), 1 << 20);
    }
}
