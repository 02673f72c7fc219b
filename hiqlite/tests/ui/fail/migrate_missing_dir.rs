// `migrate!("dir")` is relative to the crate being built: here trybuild's own crate under
// target/tests/trybuild/hiqlite, where no such directory exists.
fn main() {
    let _ = hiqlite::migrate!("no/such/migrations");
}
