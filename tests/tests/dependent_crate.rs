//! A crate outside the workspace that depends on Hiqlite as a new user's crate does
//! (`tests/dependent-crate`: its own `migrations/`, `query!`, `query_as!`, `migrate!()`, three
//! nodes in one process) builds and runs with no environment variables set: no
//! `ROCKSDB_LIB_DIR`, no `HIQLITE_MIGRATIONS_DIR`, nothing of this test run's own.
//!
//! The crate is copied to a temporary directory (outside the workspace), with its path dependency
//! made absolute and the workspace's `Cargo.lock` (so it builds the versions the rest of the suite
//! tested), and built into this run's target directory.
//!
//! Opt-in (`--ignored`), because it compiles RocksDB once more on a fresh machine (12 minutes on
//! 2 cores): cargo unifies the build tools' dependencies (bindgen's `proc-macro2`, `bitflags`, ...)
//! with the workspace's own targets (the macro crate's unit tests, trybuild) differently than in
//! a lone crate, so `librocksdb-sys` is a different compilation unit in the two builds. Run it
//! with `cargo test -p hiqlite-cluster-tests --test dependent_crate -- --ignored`; after a first
//! run (or `cargo test -p hiqlite-cluster-tests`, which builds the same unit) it takes seconds.

use std::path::{Path, PathBuf};
use std::process::Command;

use hiqlite_cluster_tests::cli::free_addrs;

/// The variables the build and the program keep: where the toolchain and its caches are, and the
/// shared target directory. Everything else (ROCKSDB_*, HIQLITE_*, HQL_*, RUSTFLAGS, ...) goes.
const KEPT: &[&str] = &[
    "PATH",
    "HOME",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "TMPDIR",
];

#[test]
#[ignore = "compiles RocksDB once more on a fresh machine; run with --ignored"]
fn a_fresh_crate_depending_on_hiqlite_builds_and_runs_a_cluster() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workspace = workspace.canonicalize().expect("the workspace directory");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let krate = dir.path().join("app");
    copy_template(&workspace.join("tests/dependent-crate"), &krate, &workspace);
    std::fs::copy(workspace.join("Cargo.lock"), krate.join("Cargo.lock")).expect("copy Cargo.lock");

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut run = Command::new(cargo);
    run.args(["run", "--quiet", "--"])
        .args(free_addrs(6))
        .current_dir(&krate)
        .env_clear()
        .env("CARGO_TARGET_DIR", target_dir());
    for key in KEPT {
        if let Some(value) = std::env::var_os(key) {
            run.env(key, value);
        }
    }
    let out = run.output().expect("cannot run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the dependent crate failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    for line in [
        "cluster: 3 nodes healthy",
        "migrations: 2 applied",
        "consistent read on node 3: 3 notes",
        "value types: uuid, timestamp, enum and json round-trip",
        "ok",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no line {line:?} in:\n{stdout}"
        );
    }
}

/// Copies the template crate, pointing its `hiqlite` path dependency at this workspace.
fn copy_template(from: &Path, to: &Path, workspace: &Path) {
    for sub in ["src", "migrations"] {
        std::fs::create_dir_all(to.join(sub)).expect("create the crate's directories");
        for file in std::fs::read_dir(from.join(sub)).expect("read the template") {
            let file = file.expect("a template file").path();
            let name = file.file_name().expect("a file name");
            std::fs::copy(&file, to.join(sub).join(name)).expect("copy a template file");
        }
    }
    let manifest = std::fs::read_to_string(from.join("Cargo.toml")).expect("the template manifest");
    let hiqlite = workspace.join("hiqlite");
    let manifest = manifest.replace(
        "path = \"../../hiqlite\"",
        &format!("path = {:?}", hiqlite.display().to_string()),
    );
    assert!(
        manifest.contains(&hiqlite.display().to_string()),
        "{manifest}"
    );
    std::fs::write(to.join("Cargo.toml"), manifest).expect("write the manifest");
}

/// This test run's target directory: the test executable is `<target>/<profile>/deps/<name>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.ancestors()
        .nth(3)
        .expect("a target directory above the test executable")
        .to_path_buf()
}
