//! The replicated state: commands and the SQLite state machine. Never imports `client` or `net`.

pub mod command;
pub mod sqlite;
