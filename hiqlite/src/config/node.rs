//! [`NodeConfig`]: everything a node needs to start, with its defaults and limits, and the
//! shortcuts that read it from a file or the environment. Checking it is in `validate.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ConfigError, EncKeys, NodeConfigBuilder, Secret};
use crate::types::members::{Member, NodeId};

/// Default for `filename_db`.
pub const DEFAULT_FILENAME_DB: &str = "hiqlite.db";
/// Default for `data_dir`.
pub const DEFAULT_DATA_DIR: &str = "./hiqlite-data";
/// Default for `read_pool_size`.
pub const DEFAULT_READ_POOL_SIZE: usize = 4;
/// Default for `log_sync`: acknowledge a log append only after fsync.
pub const DEFAULT_LOG_SYNC: bool = true;
/// Default for `heartbeat_interval`: 50 ms, so that a follower that sees no heartbeat for its
/// whole election window (at least 600 ms with the defaults below) has missed 12 in a row.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(50);
/// Default for `election_timeout_min`: 200 ms.
///
/// After a leader dies, a follower first waits out the leader lease (`election_timeout_max`
/// since the last heartbeat; it refuses to vote meanwhile), then a random election timeout
/// between `election_timeout_min` and `election_timeout_max`, then elects. With 200–400 ms that is
/// 600–800 ms, and the first write after `kill -9` of the leader is acknowledged 0.64–0.77 s later
/// (`hiqlite-bench --mode failover`, docs/benchmarks.md); the former 750–1500 ms took 2.3–2.5 s.
pub const DEFAULT_ELECTION_TIMEOUT_MIN: Duration = Duration::from_millis(200);
/// Default for `election_timeout_max`: 400 ms; also the leader lease (see
/// [`DEFAULT_ELECTION_TIMEOUT_MIN`]).
pub const DEFAULT_ELECTION_TIMEOUT_MAX: Duration = Duration::from_millis(400);
/// Default for `max_frame_bytes`: 64 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;
/// Default for `request_timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for `snapshot_after_logs`.
pub const DEFAULT_SNAPSHOT_AFTER_LOGS: u64 = 100_000;
/// Default for `backup_log_interval`: 10 s.
pub const DEFAULT_BACKUP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Default for `backup_keep_days`: snapshot backups in the S3 bucket are kept 30 days (as in the
/// original hiqlite).
pub const DEFAULT_BACKUP_KEEP_DAYS: u32 = 30;
/// Default for `backup_keep_days_local`: backups in `backup_dir` are kept 3 days (the original
/// hiqlite's documented default: the local copies are the quick ones, S3 the long-term store).
pub const DEFAULT_BACKUP_KEEP_DAYS_LOCAL: u32 = 3;

/// How the leader confirms it still leads before a consistent read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadPolicy {
    /// ReadIndex: a heartbeat round to a quorum for each read (one extra round trip). Safe
    /// whatever the clocks do. The default.
    #[default]
    ReadIndex,
    /// Leader lease: no round trip while the leader heard from a quorum within the election
    /// timeout. Faster, but correct only while clocks drift far less than the election timeout
    /// between nodes; falls back to ReadIndex when the lease has expired.
    Lease,
}

/// Parses `read_index` or `lease` (surrounding whitespace ignored, case significant), the values
/// of TOML `read_policy` and `HQL_READ_POLICY`; anything else is an error naming both.
impl std::str::FromStr for ReadPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "read_index" => Ok(ReadPolicy::ReadIndex),
            "lease" => Ok(ReadPolicy::Lease),
            other => Err(format!(
                "unknown read_policy {other:?} (expected \"read_index\" or \"lease\")"
            )),
        }
    }
}

/// Shortest accepted `secret_raft` / `secret_api`, in characters.
pub const MIN_SECRET_LEN: usize = 16;
/// Smallest accepted `max_frame_bytes` (64 KiB).
pub const MIN_MAX_FRAME_BYTES: usize = 64 * 1024;
/// Largest accepted `max_frame_bytes` (1 GiB).
pub const MAX_MAX_FRAME_BYTES: usize = 1024 * 1024 * 1024;

/// Everything a node needs to start. Build it with [`NodeConfig::from_toml`],
/// [`NodeConfig::from_env`] or [`NodeConfig::builder`].
///
/// `Debug` output never contains the secrets.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id; must be one of `nodes`.
    pub node_id: NodeId,
    /// Every member of the cluster, the same list on every node.
    pub nodes: Vec<Member>,
    /// Where the Raft log (`logs/`) and the SQLite database (`db/`) live.
    pub data_dir: PathBuf,
    /// Authenticates node-to-node Raft traffic (at least 16 characters).
    pub secret_raft: Secret,
    /// Authenticates clients and forwarded writes on the API port (at least 16 characters).
    pub secret_api: Secret,
    /// File name of the SQLite database inside `data_dir/db`.
    pub filename_db: String,
    /// Read-only SQLite connections for local reads.
    pub read_pool_size: usize,
    /// `true` (default): a log append is acknowledged only after fsync. `false` acknowledges
    /// before the data is on disk: faster, but a power loss on a majority can lose acknowledged
    /// writes.
    pub log_sync: bool,
    /// How often the leader sends heartbeats to followers. Default
    /// [`DEFAULT_HEARTBEAT_INTERVAL`] (50 ms).
    pub heartbeat_interval: Duration,
    /// A follower that hears no heartbeat for `election_timeout_max` (the leader lease) plus a
    /// random time between `election_timeout_min` and `election_timeout_max` starts an election.
    /// Default [`DEFAULT_ELECTION_TIMEOUT_MIN`] (200 ms).
    pub election_timeout_min: Duration,
    /// Upper bound of the randomized election timeout, and the leader lease. Default
    /// [`DEFAULT_ELECTION_TIMEOUT_MAX`] (400 ms).
    pub election_timeout_max: Duration,
    /// Largest frame accepted on the Raft and API ports.
    pub max_frame_bytes: usize,
    /// Bound on the replicated cache's keys plus values, in bytes; 0: no bound. Applied by the
    /// leader's setting, carried in each cache write (see docs/cache.md, "Size").
    pub cache_max_bytes: u64,
    /// How long a write or consistent read keeps retrying across leader changes before failing.
    pub request_timeout: Duration,
    /// Build a snapshot after this many log entries since the last one; logs before it are then
    /// purged. 0 never builds snapshots (logs grow without bound).
    pub snapshot_after_logs: u64,
    /// How consistent reads confirm leadership ([`ReadPolicy`]).
    pub read_policy: ReadPolicy,
    /// Where the Raft listener binds, when not at this node's `raft_addr` from `nodes` (e.g.
    /// `0.0.0.0:8100` behind NAT, or a proxy in front of the node). Peers still dial `raft_addr`.
    pub listen_raft_addr: Option<String>,
    /// Where the API listener binds, when not at this node's `api_addr`.
    pub listen_api_addr: Option<String>,
    /// Where the HTTP listener for `/health`, `/ready`, `/metrics` and `/dashboard` binds
    /// (`host:port`; TOML `http_addr`, env `HQL_HTTP_ADDR`); HTTPS when `tls_api_cert` is set.
    /// `None`: no HTTP listener. See docs/operations.md.
    pub http_addr: Option<String>,
    /// The password that logs in to the dashboard on the HTTP listener (TOML
    /// `password_dashboard`, env `HQL_PASSWORD_DASHBOARD`; at least 16 characters). `None`:
    /// `secret_api` logs in. See docs/operations.md.
    pub password_dashboard: Option<Secret>,
    /// When this node finds a running cluster it is not a member of, it asks to join as a
    /// learner (a read replica that never votes) instead of as a voter.
    pub learner: bool,
    /// Where `hiqlite backup now` / [`Client::backup`](crate::Client::backup) write this node's
    /// encrypted backups (TOML `backup_dir`, env `HQL_BACKUP_DIR`). `None`: no local backups.
    pub backup_dir: Option<PathBuf>,
    /// How often the leader ships the committed log to the backup store, in segments, for
    /// point-in-time recovery (TOML `backup_log_interval`, env `HQL_BACKUP_LOG_INTERVAL`, whole
    /// seconds; default 10 s). Zero: no log shipping. Only with a backup store (`backup_dir` or
    /// S3). At most this much acknowledged data is missing from the store (the RPO).
    pub backup_log_interval: Duration,
    /// The keys backups are encrypted with, and the id of the active one (TOML `enc_keys` and
    /// `enc_key_active`, env `ENC_KEYS` and `ENC_KEY_ACTIVE`, as cryptr reads them).
    pub enc_keys: EncKeys,
    /// The S3 bucket each backup is uploaded to after it is written locally (TOML `s3_*`, env
    /// `HQL_S3_*`); unset by default. Needs the `s3` feature.
    pub s3: super::S3Config,
    /// TLS on the Raft and API ports and the HTTP listener (TOML `tls_*`, env `HQL_TLS_*`); off
    /// by default. See docs/operations.md, "TLS".
    pub tls: super::TlsConfig,
    /// When the leader makes scheduled backups: a cron expression, UTC, with 5, 6 or 7 fields
    /// (TOML `backup_cron`, env `HQL_BACKUP_CRON`; see [`CronSchedule`](super::CronSchedule)).
    /// `None` (the default): no scheduled backups. Needs `backup_dir` or S3.
    pub backup_cron: Option<String>,
    /// After each scheduled backup, snapshot backups in the S3 bucket older than this many days
    /// are deleted, except the newest of them (TOML `backup_keep_days`, env
    /// `HQL_BACKUP_KEEP_DAYS`). Default [`DEFAULT_BACKUP_KEEP_DAYS`].
    pub backup_keep_days: u32,
    /// The same for the backups in `backup_dir` (TOML `backup_keep_days_local`, env
    /// `HQL_BACKUP_KEEP_DAYS_LOCAL`). Default [`DEFAULT_BACKUP_KEEP_DAYS_LOCAL`].
    pub backup_keep_days_local: u32,
}

impl NodeConfig {
    /// A builder with every default set; `node_id`, `nodes`, `secret_raft` and `secret_api` must
    /// be given.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), hiqlite::Error> {
    /// let config = hiqlite::NodeConfig::builder()
    ///     .node_id(1)
    ///     .node(1, "127.0.0.1:8100", "127.0.0.1:8200")
    ///     .secret_raft("raft-secret-at-least-16-chars")
    ///     .secret_api("api-secret-at-least-16-chars")
    ///     .read_pool_size(8)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> NodeConfigBuilder {
        NodeConfigBuilder::default()
    }

    /// Reads a TOML file, then lets `HQL_*` environment variables override its values, and
    /// validates the result.
    ///
    /// # Errors
    /// As [`NodeConfigBuilder::toml_file`], [`NodeConfigBuilder::env`] and
    /// [`NodeConfigBuilder::build`]: the first source that cannot be read, or every problem.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), hiqlite::Error> {
    /// let config = hiqlite::NodeConfig::from_toml("/etc/hiqlite/hiqlite.toml")?;
    /// # Ok(()) }
    /// ```
    pub fn from_toml(path: impl AsRef<Path>) -> Result<NodeConfig, ConfigError> {
        Self::builder().toml_file(path)?.env()?.build()
    }

    /// Parses TOML text (no environment variables) and validates the result.
    ///
    /// # Errors
    /// As [`NodeConfigBuilder::toml_str`] and [`NodeConfigBuilder::build`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), hiqlite::Error> {
    /// let config = hiqlite::NodeConfig::from_toml_str(r#"
    ///     node_id = 1
    ///     nodes = ["1 127.0.0.1:8100 127.0.0.1:8200"]
    ///     secret_raft = "raft-secret-at-least-16-chars"
    ///     secret_api = "api-secret-at-least-16-chars"
    /// "#)?;
    /// # Ok(()) }
    /// ```
    pub fn from_toml_str(toml: &str) -> Result<NodeConfig, ConfigError> {
        Self::builder().toml_str(toml)?.build()
    }

    /// Reads only `HQL_*` environment variables (and defaults) and validates the result.
    ///
    /// # Errors
    /// As [`NodeConfigBuilder::env`] and [`NodeConfigBuilder::build`].
    ///
    /// ```no_run
    /// // HQL_NODE_ID=1 HQL_NODES="1 127.0.0.1:8100 127.0.0.1:8200" HQL_SECRET_RAFT=... HQL_SECRET_API=...
    /// # fn main() -> Result<(), hiqlite::Error> {
    /// let config = hiqlite::NodeConfig::from_env()?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<NodeConfig, ConfigError> {
        Self::builder().env()?.build()
    }

    /// This node's own entry in `nodes` (its Raft and API addresses), if present.
    pub fn own_member(&self) -> Option<&Member> {
        self.nodes.iter().find(|m| m.id == self.node_id)
    }

    /// Every setting at its default; `node_id` 0, no `nodes`, empty secrets (a builder's start).
    pub(super) fn with_defaults() -> NodeConfig {
        NodeConfig {
            node_id: 0,
            nodes: Vec::new(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            secret_raft: Secret::new(""),
            secret_api: Secret::new(""),
            filename_db: DEFAULT_FILENAME_DB.to_string(),
            read_pool_size: DEFAULT_READ_POOL_SIZE,
            log_sync: DEFAULT_LOG_SYNC,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            election_timeout_min: DEFAULT_ELECTION_TIMEOUT_MIN,
            election_timeout_max: DEFAULT_ELECTION_TIMEOUT_MAX,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            cache_max_bytes: 0,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            snapshot_after_logs: DEFAULT_SNAPSHOT_AFTER_LOGS,
            read_policy: ReadPolicy::default(),
            listen_raft_addr: None,
            listen_api_addr: None,
            http_addr: None,
            password_dashboard: None,
            learner: false,
            backup_dir: None,
            backup_log_interval: DEFAULT_BACKUP_LOG_INTERVAL,
            enc_keys: EncKeys::default(),
            s3: super::S3Config::default(),
            tls: super::TlsConfig::default(),
            backup_cron: None,
            backup_keep_days: DEFAULT_BACKUP_KEEP_DAYS,
            backup_keep_days_local: DEFAULT_BACKUP_KEEP_DAYS_LOCAL,
        }
    }
}
