//! Compile-time behaviour of the typed API: every supported shape compiles (`tests/ui/pass`),
//! every mistake fails with the message checked in next to it (`tests/ui/fail/*.stderr`).
//! The cases are checked against their own schema, `tests/ui/migrations`. The `migrate_*` cases
//! name their directory relative to trybuild's crate (`target/tests/trybuild/hiqlite`), so they
//! assume the default target directory; `tests/ui/migrations_bad_name` is their fixture.
//!
//! `query_file!` paths are relative to the crate being compiled, for the cases trybuild's own
//! crate under the target directory: the harness copies `tests/ui/queries` there first (see
//! [`place_query_fixtures`]), so a case names a fixture `tests/ui/queries/x.sql`, as this crate
//! would. The cases that must fail on a path use absolute paths, so their messages do not
//! depend on where the target directory is.
//!
//! Regenerate the expected messages after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p hiqlite --test typed_ui`.

use std::path::{Path, PathBuf};

#[test]
fn typed_api_compile_checks() {
    // trybuild builds the cases with cargo in a child process, which inherits these variables.
    std::env::set_var(
        "HIQLITE_MIGRATIONS_DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/migrations"),
    );
    reuse_compiled_rocksdb();
    place_query_fixtures();
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}

/// Copies `tests/ui/queries/*` to `<target>/tests/trybuild/<this crate>/tests/ui/queries/`, the
/// same path from the crate trybuild generates for the cases (trybuild's layout since 1.0).
/// The target directory is the nearest ancestor of this test binary holding Cargo's
/// `CACHEDIR.TAG`.
fn place_query_fixtures() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let Some(target) = exe
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
    else {
        panic!(
            "no target directory (with CACHEDIR.TAG) above {}",
            exe.display()
        );
    };
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/queries");
    let to = target
        .join("tests/trybuild")
        .join(env!("CARGO_PKG_NAME"))
        .join("tests/ui/queries");
    std::fs::create_dir_all(&to).expect("create the fixtures' directory under trybuild's crate");
    for entry in std::fs::read_dir(&from).expect("tests/ui/queries") {
        let path = entry.expect("a fixture").path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, to.join(name)).expect("copy a query fixture");
        }
    }
}

/// trybuild builds the cases in a target directory of its own, where librocksdb-sys would compile
/// RocksDB's C++ a second time (about 14 minutes on 2 cores). This points that build at the
/// `librocksdb.a` the workspace's own build already made (the newest one in this target
/// directory), the documented `ROCKSDB_LIB_DIR` + `ROCKSDB_STATIC` way. A `ROCKSDB_LIB_DIR` set by
/// the caller is left alone.
fn reuse_compiled_rocksdb() {
    if std::env::var_os("ROCKSDB_LIB_DIR").is_some() {
        return;
    }
    // This test runs as <target>/<profile>/deps/typed_ui-<hash>.
    let exe = std::env::current_exe().expect("the test binary's path");
    let Some(build_dir) = exe.parent().and_then(Path::parent).map(|p| p.join("build")) else {
        return;
    };
    if let Some(lib_dir) = newest_rocksdb_lib_dir(&build_dir) {
        // Snappy, which the rocksdb crate's `snappy` feature compiles next to it, likewise.
        if lib_dir.join("libsnappy.a").is_file() {
            std::env::set_var("SNAPPY_LIB_DIR", &lib_dir);
            std::env::set_var("SNAPPY_STATIC", "1");
        }
        std::env::set_var("ROCKSDB_LIB_DIR", lib_dir);
        std::env::set_var("ROCKSDB_STATIC", "1");
    }
}

/// The `out` directory of the most recently built `librocksdb-sys-*` that holds `librocksdb.a`.
fn newest_rocksdb_lib_dir(build_dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(build_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("librocksdb-sys-")
        })
        .map(|e| e.path().join("out"))
        .filter_map(|out| {
            let modified = std::fs::metadata(out.join("librocksdb.a"))
                .ok()?
                .modified()
                .ok()?;
            Some((modified, out))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, out)| out)
}
