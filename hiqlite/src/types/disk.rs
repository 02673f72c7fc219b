//! Whether this node's disk takes writes: the parts that write to it (the Raft log store, the
//! SQLite writer, the snapshot builder) report a full disk here and report again once a write
//! went through; the engine reads it to refuse new writes with a clear error and to hand
//! leadership to a node that has space.
//!
//! Why the writers wait instead of failing: openraft treats every error of its storage (an
//! append, a vote, an apply, a snapshot build) as fatal and shuts its core down for good, so a
//! node that answered "disk full" with an error would need a restart even after space returned.
//! Instead each writer keeps what it was asked to write, reports the full disk here, and tries
//! again with back-off (see [`Backoff`]); nothing is acknowledged before it is durable, so the
//! node simply lags, like a slow follower, and catches up by itself once space is back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Which part of the node met the full disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskUser {
    /// The Raft log (rocksdb, `DATA_DIR/logs`).
    RaftLog,
    /// The SQLite database and its WAL (`DATA_DIR/db`).
    Database,
    /// A snapshot being built (`DATA_DIR/db/snapshots`).
    Snapshot,
}

impl std::fmt::Display for DiskUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiskUser::RaftLog => "the Raft log",
            DiskUser::Database => "the database",
            DiskUser::Snapshot => "a snapshot",
        })
    }
}

/// One part's report of a full disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFull {
    pub user: DiskUser,
    /// The file or directory the failed write went to.
    pub path: PathBuf,
    /// The error the write met (e.g. `No space left on device`).
    pub detail: String,
}

/// What every part reported last; empty while the disk takes writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskState {
    pub full: Vec<DiskFull>,
}

impl DiskState {
    /// The first report of a full disk, if any part has one.
    pub fn first(&self) -> Option<&DiskFull> {
        self.full.first()
    }
}

/// A shared handle on [`DiskState`]; clones see the same state.
///
/// ```
/// use hiqlite::types::disk::{DiskSpace, DiskUser};
/// let disk = DiskSpace::default();
/// disk.report_full(DiskUser::RaftLog, std::path::Path::new("/data/logs"), "No space left on device");
/// assert!(disk.state().first().is_some());
/// disk.report_ok(DiskUser::RaftLog);
/// assert!(disk.state().first().is_none());
/// ```
#[derive(Clone)]
pub struct DiskSpace {
    state: Arc<watch::Sender<DiskState>>,
}

impl Default for DiskSpace {
    fn default() -> Self {
        DiskSpace {
            state: Arc::new(watch::channel(DiskState::default()).0),
        }
    }
}

impl std::fmt::Debug for DiskSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DiskSpace")
            .field(&*self.state.borrow())
            .finish()
    }
}

impl DiskSpace {
    /// Records that `user`'s write to `path` failed for lack of space (`detail`: the error).
    /// Logs an error the first time; later reports of the same part only update the detail.
    pub fn report_full(&self, user: DiskUser, path: &Path, detail: impl Into<String>) {
        let detail = detail.into();
        let report = DiskFull {
            user,
            path: path.to_path_buf(),
            detail,
        };
        self.state.send_if_modified(
            |state| match state.full.iter_mut().find(|f| f.user == user) {
                Some(known) if *known == report => false,
                Some(known) => {
                    *known = report;
                    true
                }
                None => {
                    tracing::error!(
                        "no space left for {user} at {} ({}): writes through this node are \
                         refused and it lags behind the cluster until space is freed; it then \
                         catches up by itself (docs/operations.md, \"A full disk\")",
                        report.path.display(),
                        report.detail
                    );
                    state.full.push(report);
                    true
                }
            },
        );
    }

    /// Records that a write of `user` went through (again). Logs once when it had been full.
    pub fn report_ok(&self, user: DiskUser) {
        self.state.send_if_modified(|state| {
            let before = state.full.len();
            state.full.retain(|f| f.user != user);
            let changed = state.full.len() != before;
            if changed {
                tracing::warn!("{user} takes writes again: disk space is back");
            }
            changed
        });
    }

    /// The current state.
    pub fn state(&self) -> DiskState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every change.
    pub fn subscribe(&self) -> watch::Receiver<DiskState> {
        self.state.subscribe()
    }
}

/// Whether `e` says the filesystem has no space left: `ENOSPC`, `EDQUOT`, kind `StorageFull`, or
/// a message of rocksdb or SQLite that says so (they pass the error on as text).
pub fn is_no_space(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded
    {
        return true;
    }
    if matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error()
            || code == rustix::io::Errno::DQUOT.raw_os_error()
    ) {
        return true;
    }
    message_says_no_space(&e.to_string())
}

/// Whether an error message says the disk is full (rocksdb's `NoSpace` status and the OS's
/// `ENOSPC`/`EDQUOT` texts).
pub fn message_says_no_space(message: &str) -> bool {
    message.contains("No space left on device")
        || message.contains("Disk quota exceeded")
        || message.contains("database or disk is full")
}

/// The pauses between retries of a write that met a full disk: 50 ms, doubling up to 1 s.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::from_millis(50),
        }
    }
}

impl Backoff {
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(1);

    /// The next pause to wait before retrying.
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        pause
    }
}

/// A small tmpfs for tests of a full disk (mounting needs root).
#[cfg(test)]
pub(crate) mod small_fs {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A tmpfs of a few MiB on a temporary directory; unmounted when dropped.
    pub(crate) struct SmallFs {
        dir: tempfile::TempDir,
    }

    impl SmallFs {
        /// Mounts a tmpfs of `size_kib` KiB, or prints why not ("skipped: ...") and returns
        /// `None`: not root, or no `mount`.
        pub(crate) fn mount(size_kib: u64) -> Option<SmallFs> {
            let uid = Command::new("id").arg("-u").output().ok()?;
            if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
                eprintln!("skipped: needs root (to mount a small tmpfs)");
                return None;
            }
            let dir = tempfile::tempdir().ok()?;
            let mounted = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            if !mounted {
                eprintln!("skipped: cannot mount a tmpfs on {}", dir.path().display());
                return None;
            }
            Some(SmallFs { dir })
        }

        pub(crate) fn path(&self) -> &Path {
            self.dir.path()
        }

        fn ballast(&self) -> PathBuf {
            self.path().join("ballast")
        }

        /// Fills what is left of the filesystem with a ballast file, until `ENOSPC`.
        pub(crate) fn fill(&self) {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.ballast())
                .unwrap();
            for chunk in [64 * 1024, 4096, 512] {
                let bytes = vec![0xa5u8; chunk];
                while file.write_all(&bytes).is_ok() {}
            }
            let _ = file.sync_all();
        }

        /// Removes the ballast: the space is back.
        pub(crate) fn free(&self) {
            std::fs::remove_file(self.ballast()).unwrap();
        }
    }

    impl Drop for SmallFs {
        fn drop(&mut self) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_space_is_recognised_by_kind_errno_and_message() {
        assert!(is_no_space(&std::io::Error::from_raw_os_error(
            rustix::io::Errno::NOSPC.raw_os_error()
        )));
        assert!(is_no_space(&std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            "x"
        )));
        assert!(is_no_space(&std::io::Error::other(
            "write 3 log store requests to rocksdb: IO error: No space left on device: While \
             appending to file: /d/000004.log: No space left on device"
        )));
        assert!(is_no_space(&std::io::Error::other(
            "SQLite: database or disk is full"
        )));
        assert!(!is_no_space(&std::io::Error::other(
            "SQLite: disk I/O error"
        )));
        assert!(!is_no_space(&std::io::Error::from_raw_os_error(
            rustix::io::Errno::IO.raw_os_error()
        )));
    }

    #[test]
    fn reports_are_kept_per_user_until_that_user_writes_again() {
        let disk = DiskSpace::default();
        let mut rx = disk.subscribe();
        disk.report_full(DiskUser::RaftLog, Path::new("/d/logs"), "full");
        disk.report_full(DiskUser::Database, Path::new("/d/db"), "full");
        assert_eq!(disk.state().full.len(), 2);
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        // The same report again is no news.
        disk.report_full(DiskUser::RaftLog, Path::new("/d/logs"), "full");
        assert!(!rx.has_changed().unwrap());
        disk.report_ok(DiskUser::RaftLog);
        assert_eq!(disk.state().first().unwrap().user, DiskUser::Database);
        disk.report_ok(DiskUser::Database);
        assert_eq!(disk.state(), DiskState::default());
    }

    #[test]
    fn backoff_doubles_up_to_one_second() {
        let mut b = Backoff::default();
        let pauses: Vec<u64> = (0..7).map(|_| b.next_pause().as_millis() as u64).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1000, 1000]);
    }
}
