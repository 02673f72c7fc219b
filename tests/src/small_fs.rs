//! A small filesystem for full-disk tests: a tmpfs of a given size mounted on a temporary
//! directory (mounting needs root), with a ballast file that takes its free space and gives it
//! back. Unmounted when dropped, also when the test fails, so a failed test leaves no mounts.
//! Nothing but the test's own temporary directories goes on it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this process runs as root (mounting needs it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A tmpfs mounted on a temporary directory.
pub struct SmallFs {
    /// `None` once unmounted by [`Drop`].
    dir: Option<tempfile::TempDir>,
}

impl SmallFs {
    /// Mounts a tmpfs of `size_mib` MiB. `Err` says why not (not root, no `mount`): the test
    /// decides whether to skip.
    pub fn mount(size_mib: u64) -> Result<SmallFs, String> {
        if !is_root() {
            return Err("needs root (to mount a small filesystem)".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("hiqlite-small-fs-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !status.success() {
            return Err(format!("mount -t tmpfs failed: {status}"));
        }
        Ok(SmallFs { dir: Some(dir) })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("mounted").path()
    }

    fn ballast(&self) -> PathBuf {
        self.path().join("ballast")
    }

    /// Bytes free on the filesystem.
    pub fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df output")
    }

    /// Grows the ballast file until only about `leave` bytes are free (none: until `ENOSPC`).
    pub fn fill_leaving(&self, leave: u64) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.ballast())
            .expect("ballast file");
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut to_write = self.free_bytes().saturating_sub(leave);
        while to_write > 0 {
            let n = to_write.min(chunk.len() as u64) as usize;
            if file.write_all(&chunk[..n]).is_err() {
                break;
            }
            to_write -= n as u64;
        }
        let _ = file.sync_all();
    }

    /// Removes the ballast: its space is free again.
    pub fn free_ballast(&self) {
        std::fs::remove_file(self.ballast()).expect("remove the ballast file");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        // Lazy: a process that still has a file open there (a node being killed) cannot keep the
        // mount busy.
        let _ = Command::new("umount").arg("-l").arg(dir.path()).status();
        // The temporary directory itself is removed by `TempDir`'s drop.
        drop(dir);
    }
}
