//! Nothing here: the programs are the `[[example]]` targets next to this crate's Cargo.toml.
