//! `migrate!()` (tests/tests/migrations.rs) embeds the workspace's `migrations/`: cargo rebuilds
//! when an embedded file changes, and this tells it to rebuild when a file is added too.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
