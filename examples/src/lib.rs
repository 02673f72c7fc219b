//! Code shared by the programs (the `[[example]]` targets next to this crate's Cargo.toml) and
//! their tests.

pub mod http_service;
