//! Compile-time behaviour of the typed API: every supported shape compiles (`tests/ui/pass`),
//! every mistake fails with the message checked in next to it (`tests/ui/fail/*.stderr`).
//! The cases are checked against their own schema, `tests/ui/migrations`. The `migrate_*` cases
//! name their directory relative to trybuild's crate (`target/tests/trybuild/hiqlite`), so they
//! assume the default target directory; `tests/ui/migrations_bad_name` is their fixture.
//!
//! Regenerate the expected messages after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p hiqlite --test typed_ui`.

#[test]
fn typed_api_compile_checks() {
    // trybuild builds the cases with cargo in a child process, which inherits this variable.
    std::env::set_var(
        "HIQLITE_MIGRATIONS_DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/migrations"),
    );
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
