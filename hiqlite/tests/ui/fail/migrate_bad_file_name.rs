// trybuild builds the case from target/tests/trybuild/hiqlite; the fixture is
// hiqlite/tests/ui/migrations_bad_name (this assumes the default target directory).
fn main() {
    let _ = hiqlite::migrate!("../../../../hiqlite/tests/ui/migrations_bad_name");
}
