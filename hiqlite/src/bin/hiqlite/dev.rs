//! The development set-up: what plain `hiqlite serve` runs, and what the other commands use when
//! no API secret is given, so the two work together without any configuration.

/// The only member of the development cluster.
pub const DEV_NODE: &str = "1 127.0.0.1:8100 127.0.0.1:8200";
/// Public development secrets: never for real data.
pub const DEV_SECRET_RAFT: &str = "dev-only-raft-secret-change-me";
pub const DEV_SECRET_API: &str = "dev-only-api-secret-change-me";
