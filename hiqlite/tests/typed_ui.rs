//! Compile-time behaviour of the typed API: every supported shape compiles (`tests/ui/pass`),
//! every mistake fails with the message checked in next to it (`tests/ui/fail/*.stderr`).
//! The cases are checked against their own schema, `tests/ui/migrations`. The `migrate_*` cases
//! name their directory relative to trybuild's crate (`target/tests/trybuild/hiqlite`), so they
//! assume the default target directory; `tests/ui/migrations_bad_name` is their fixture.
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
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
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
