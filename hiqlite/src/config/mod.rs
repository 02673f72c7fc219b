//! Node configuration: a TOML file, `HQL_*` environment variables (which override the file), or a
//! builder; validated before a node starts.
//!
//! Precedence, highest first: explicit builder calls (the CLI's flags) > environment variables >
//! the TOML file > built-in defaults. Every key, its environment variable and its default are
//! listed in `docs/configuration.md`; `docs/hiqlite.example.toml` is a commented reference file.
//!
//! The parts, each one job:
//! - `node.rs`: [`NodeConfig`], its defaults and limits; `validate.rs`: checking it before a start
//! - `builder.rs`: [`NodeConfigBuilder`], layering sources and setters over the defaults
//! - `sources.rs`: the TOML file and the `HQL_*` environment variables
//! - `keys.rs`: the one list of keys (TOML key, environment variable, flag)
//! - `members.rs`: members written as `"ID RAFT_ADDR API_ADDR"` ([`parse_member`])
//! - `s3.rs`: [`S3Config`], the bucket backups are uploaded to
//! - `tls.rs`: [`TlsConfig`], certificate files or generated ones, mutual TLS
//! - `cron.rs`: [`CronSchedule`], the `backup_cron` expression and its ticks
//! - `secret.rs`: [`Secret`], never printed; `error.rs`: [`ConfigError`]
//!
//! This room imports nothing of the crate but `crate::types`.
//!
//! ```no_run
//! use hiqlite::NodeConfig;
//!
//! # fn main() -> Result<(), hiqlite::Error> {
//! // From a file, with HQL_* environment variables overriding it:
//! let config = NodeConfig::from_toml("hiqlite.toml")?;
//!
//! // Or entirely in code:
//! let config = NodeConfig::builder()
//!     .node_id(1)
//!     .node(1, "127.0.0.1:8100", "127.0.0.1:8200")
//!     .node(2, "127.0.0.1:8101", "127.0.0.1:8201")
//!     .node(3, "127.0.0.1:8102", "127.0.0.1:8202")
//!     .data_dir("./data/node-1")
//!     .secret_raft("raft-secret-at-least-16-chars")
//!     .secret_api("api-secret-at-least-16-chars")
//!     .build()?;
//! # Ok(()) }
//! ```

mod builder;
mod cron;
mod enc_keys;
mod error;
mod keys;
mod members;
mod node;
mod s3;
mod secret;
mod sources;
mod tls;
mod validate;

#[cfg(test)]
mod tests;

pub use builder::NodeConfigBuilder;
pub use cron::CronSchedule;
pub use enc_keys::{check_key_id, EncKey, EncKeys, ENC_KEY_LEN};
pub use error::ConfigError;
pub use members::{parse_member, parse_members};
pub use node::{
    NodeConfig, ReadPolicy, DEFAULT_BACKUP_KEEP_DAYS, DEFAULT_BACKUP_KEEP_DAYS_LOCAL,
    DEFAULT_DATA_DIR, DEFAULT_ELECTION_TIMEOUT_MAX, DEFAULT_ELECTION_TIMEOUT_MIN,
    DEFAULT_FILENAME_DB, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_LOG_SYNC, DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_READ_POOL_SIZE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SNAPSHOT_AFTER_LOGS,
    MAX_MAX_FRAME_BYTES, MIN_MAX_FRAME_BYTES, MIN_SECRET_LEN,
};
pub use s3::{S3Config, DEFAULT_S3_REGION};
pub use secret::Secret;
pub use tls::TlsConfig;
