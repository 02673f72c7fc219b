//! The slow-disk fault: `tests/slowdisk/slowdisk.c`, built here with the system C compiler and
//! preloaded into every node, delays each fsync/fdatasync while the node's control file names a
//! delay. [`shim`] builds it once per test process; without a C compiler there is no slow-disk
//! fault and the nodes run without the shim.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Environment variable through which a node finds its control file.
pub const CONTROL_ENV: &str = "HIQLITE_SLOW_DISK_CONTROL";

/// Path of the built shim, or `None` (with the reason printed once) if it cannot be built.
pub fn shim() -> Option<&'static Path> {
    static SHIM: OnceLock<Option<PathBuf>> = OnceLock::new();
    SHIM.get_or_init(|| match build() {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!("slow-disk faults unavailable: {e}");
            None
        }
    })
    .as_deref()
}

fn build() -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("slowdisk/slowdisk.c");
    // Next to the test executable: one build per target directory and profile.
    let out_dir = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .map(Path::to_path_buf)
        .ok_or("the test executable has no directory")?;
    // Per process, then renamed: concurrent test binaries never load a half-written library.
    let out = out_dir.join("libhiqlite_slowdisk.so");
    let tmp = out_dir.join(format!("libhiqlite_slowdisk.{}.so", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&tmp)
        .arg(&source)
        .arg("-ldl")
        .status()
        .map_err(|e| format!("cannot run {cc}: {e}"))?;
    if !status.success() {
        return Err(format!("{cc} failed to build {}", source.display()));
    }
    std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Makes every fsync of the node whose control file is `control` wait `delay` (none: normal).
pub fn set_delay(control: &Path, delay: Option<std::time::Duration>) {
    match delay {
        Some(d) => {
            let tmp = control.with_extension("tmp");
            std::fs::write(&tmp, d.as_millis().to_string()).expect("write the slow-disk control");
            std::fs::rename(&tmp, control).expect("install the slow-disk control");
        }
        None => match std::fs::remove_file(control) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove the slow-disk control: {e}"),
        },
    }
}

/// How many syncs the shim has delayed for this control file so far.
pub fn delayed_syncs(control: &Path) -> u64 {
    let hits = PathBuf::from(format!("{}.hits", control.display()));
    std::fs::metadata(hits).map(|m| m.len()).unwrap_or(0)
}
