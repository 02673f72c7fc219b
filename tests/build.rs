//! `query!` (tests/typed_api.rs) checks SQL against the workspace's `migrations/`, and
//! `migrate!` (tests/migrations.rs) embeds `fixtures/migrations/`: cargo rebuilds when one of
//! their files changes, and this tells it to rebuild when a file is added too.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=fixtures/migrations");
}
