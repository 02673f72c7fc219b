//! The `hiqlite` binary: where it is (built on demand), and running it as a user would.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::process::Command;

/// Path of the `hiqlite` binary the tests run, built once per test process when needed.
///
/// It lives in the same target directory as the test executable (`target/<profile>/deps/..` →
/// `target/<profile>/hiqlite`). `cargo test --workspace` builds it before any test runs (the
/// `hiqlite` package has integration tests, so cargo builds its binaries), with the workspace's
/// features. Only if it is missing or older than a source file it is built from is it built
/// here, with `cargo build -p hiqlite --bin hiqlite` into that same target directory: that
/// resolves features without the workspace's dev-dependencies, which gives RocksDB's build a
/// different fingerprint and costs a second RocksDB compile, so CI must never get here.
/// `HIQLITE_BIN` overrides all of this.
pub fn hiqlite_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("HIQLITE_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("path of the test executable");
        let mut profile_dir = exe
            .parent()
            .expect("test executable has a parent")
            .to_path_buf();
        if profile_dir.ends_with("deps") {
            profile_dir.pop();
        }
        let bin = profile_dir.join(format!("hiqlite{}", std::env::consts::EXE_SUFFIX));
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        let stale = built.is_none_or(|built| newest_source() > Some(built));
        if stale {
            build_hiqlite(&profile_dir);
        }
        assert!(
            bin.is_file(),
            "the hiqlite binary is missing at {}",
            bin.display()
        );
        bin
    })
}

/// The newest modification time among the files the `hiqlite` binary is built from: the sources
/// of `hiqlite` and its macro crates, their manifests and the lock file.
fn newest_source() -> Option<std::time::SystemTime> {
    fn newest_in(path: &Path) -> Option<std::time::SystemTime> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_dir() {
            return meta.modified().ok();
        }
        std::fs::read_dir(path)
            .ok()?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| newest_in(&entry.path()))
            .max()
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["hiqlite", "hiqlite-macros", "hiqlite-macros-core"]
        .iter()
        .flat_map(|krate| {
            let dir = workspace.join(krate);
            [dir.join("src"), dir.join("Cargo.toml")]
        })
        .chain([workspace.join("Cargo.lock"), workspace.join("Cargo.toml")])
        .filter_map(|path| newest_in(&path))
        .max()
}

/// `cargo build -p hiqlite --bin hiqlite` with the profile and target directory of `profile_dir`,
/// so the binary lands exactly where [`hiqlite_bin`] looks.
fn build_hiqlite(profile_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    // The test executable's own target directory wins over CARGO_TARGET_DIR: that is where the
    // binary must end up (they are the same unless `--target-dir` or `--target` was used).
    let target_dir = profile_dir
        .parent()
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .expect("a target directory");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    eprintln!(
        "building the hiqlite binary (profile {profile}) into {}",
        target_dir.display()
    );
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "-p",
            "hiqlite",
            "--bin",
            "hiqlite",
            "--profile",
            profile,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(workspace)
        .status()
        .expect("cannot run cargo to build the hiqlite binary");
    assert!(status.success(), "cargo build of the hiqlite binary failed");
}

/// Runs `hiqlite <args>` to completion (e.g. `sql`, `status`) with a clean environment: no
/// `HQL_*` variable of the caller leaks into it.
pub async fn run_cli(args: &[&str]) -> Output {
    run_cli_with_env(args, &[]).await
}

/// [`run_cli`] with extra environment variables.
pub async fn run_cli_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(hiqlite_bin());
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    remove_hql_env(&mut cmd);
    cmd.envs(env.iter().copied());
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("hiqlite {args:?} did not finish within 60 s"))
        .expect("cannot run the hiqlite binary")
}

/// Removes every `HQL_*` variable of the test process from `cmd`'s environment.
pub(crate) fn remove_hql_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HQL_") {
            cmd.env_remove(key);
        }
    }
}

/// `count` distinct free loopback addresses (`127.0.0.1:PORT`). Every listener is held until all
/// are picked, so no port is handed out twice; the caller binds them right after.
pub fn free_addrs(count: usize) -> Vec<String> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address").to_string())
        .collect()
}

/// Runs one shell command line with `bash -c`, as an operator would type it: the `hiqlite`
/// binary first on `PATH`, no `HQL_*` variable of the caller, `env` set, in `dir`.
pub fn shell(line: &str, env: &[(String, String)], dir: &Path) -> Command {
    let bin_dir = hiqlite_bin().parent().expect("the binary's directory");
    let path = match std::env::var_os("PATH") {
        Some(p) => {
            let mut paths = vec![bin_dir.to_path_buf()];
            paths.extend(std::env::split_paths(&p));
            std::env::join_paths(paths).expect("a PATH")
        }
        None => bin_dir.as_os_str().to_owned(),
    };
    let mut cmd = Command::new("bash");
    cmd.arg("-euo").arg("pipefail").arg("-c").arg(line);
    remove_hql_env(&mut cmd);
    cmd.env("PATH", path)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}
