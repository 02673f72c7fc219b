//! The replicated state: the SQLite state machine. Never imports `client`, `net` or `raft`.

// The replicated command is vocabulary (`types/`); this path stays for users.
pub use crate::types::command;
pub mod events;
pub mod sqlite;
