// query! and migrate!() read ../migrations at build time. Cargo rebuilds when a file there
// changes, but not when one is added: this makes a new migration rebuild the crate too.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
