//! Node configuration: a TOML file, `HQL_*` environment variables (which override the file), or a
//! builder; validated before a node starts.
//!
//! Precedence, highest first: explicit builder calls (the CLI's flags) > environment variables >
//! the TOML file > built-in defaults. Every key, its environment variable and its default are
//! listed in `docs/configuration.md`; `docs/hiqlite.example.toml` is a commented reference file.
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

use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::engine::error::Error;
use crate::types::members::{Member, NodeId};

/// Default for `filename_db`.
pub const DEFAULT_FILENAME_DB: &str = "hiqlite.db";
/// Default for `data_dir`.
pub const DEFAULT_DATA_DIR: &str = "./hiqlite-data";
/// Default for `read_pool_size`.
pub const DEFAULT_READ_POOL_SIZE: usize = 4;
/// Default for `log_sync`: acknowledge a log append only after fsync.
pub const DEFAULT_LOG_SYNC: bool = true;
/// Default for `heartbeat_interval`.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(150);
/// Default for `election_timeout_min`.
pub const DEFAULT_ELECTION_TIMEOUT_MIN: Duration = Duration::from_millis(750);
/// Default for `election_timeout_max`.
pub const DEFAULT_ELECTION_TIMEOUT_MAX: Duration = Duration::from_millis(1500);
/// Default for `max_frame_bytes`: 64 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;
/// Default for `request_timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for `snapshot_after_logs`.
pub const DEFAULT_SNAPSHOT_AFTER_LOGS: u64 = 100_000;

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

/// Every setting: (TOML key, environment variable, CLI flag of `hiqlite serve`).
/// The tests check that the docs mention each of them.
const KEYS: &[(&str, &str, Option<&str>)] = &[
    ("node_id", "HQL_NODE_ID", Some("--node-id")),
    ("nodes", "HQL_NODES", Some("--node")),
    ("data_dir", "HQL_DATA_DIR", Some("--data-dir")),
    ("secret_raft", "HQL_SECRET_RAFT", Some("--secret-raft")),
    ("secret_api", "HQL_SECRET_API", Some("--secret-api")),
    ("filename_db", "HQL_FILENAME_DB", None),
    ("read_pool_size", "HQL_READ_POOL_SIZE", None),
    ("log_sync", "HQL_LOG_SYNC", None),
    ("heartbeat_interval_ms", "HQL_HEARTBEAT_INTERVAL_MS", None),
    (
        "election_timeout_min_ms",
        "HQL_ELECTION_TIMEOUT_MIN_MS",
        None,
    ),
    (
        "election_timeout_max_ms",
        "HQL_ELECTION_TIMEOUT_MAX_MS",
        None,
    ),
    ("max_frame_bytes", "HQL_MAX_FRAME_BYTES", None),
    ("request_timeout_ms", "HQL_REQUEST_TIMEOUT_MS", None),
    ("snapshot_after_logs", "HQL_SNAPSHOT_AFTER_LOGS", None),
    ("read_policy", "HQL_READ_POLICY", None),
    ("listen_raft_addr", "HQL_LISTEN_RAFT_ADDR", None),
    ("listen_api_addr", "HQL_LISTEN_API_ADDR", None),
    ("learner", "HQL_LEARNER", None),
];

/// A shared secret (`secret_raft` or `secret_api`). Never printed: `Debug` shows `Secret(***)`.
///
/// ```
/// let s = hiqlite::config::Secret::new("correct-horse-battery-staple");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Length in characters (what the 16-character minimum counts).
    fn char_len(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// Deserializes from a string only; a value of another type is refused without echoing it, so a
/// mistyped secret never ends up in an error message or a log.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;

        const NOT_A_STRING: &str = "a secret must be a string (the value is not shown)";

        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret::new(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_char<E: de::Error>(self, _: char) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
        }

        deserializer.deserialize_string(SecretVisitor)
    }
}

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
    /// How often the leader sends heartbeats to followers.
    pub heartbeat_interval: Duration,
    /// A follower that hears no heartbeat for a random time between `election_timeout_min` and
    /// `election_timeout_max` starts an election.
    pub election_timeout_min: Duration,
    /// Upper bound of the randomized election timeout.
    pub election_timeout_max: Duration,
    /// Largest frame accepted on the Raft and API ports.
    pub max_frame_bytes: usize,
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
    /// When this node finds a running cluster it is not a member of, it asks to join as a
    /// learner (a read replica that never votes) instead of as a voter.
    pub learner: bool,
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
    /// ```no_run
    /// # fn main() -> Result<(), hiqlite::Error> {
    /// let config = hiqlite::NodeConfig::from_toml("/etc/hiqlite/hiqlite.toml")?;
    /// # Ok(()) }
    /// ```
    pub fn from_toml(path: impl AsRef<Path>) -> Result<NodeConfig, Error> {
        Self::builder().toml_file(path)?.env()?.build()
    }

    /// Parses TOML text (no environment variables) and validates the result.
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
    pub fn from_toml_str(toml: &str) -> Result<NodeConfig, Error> {
        Self::builder().toml_str(toml)?.build()
    }

    /// Reads only `HQL_*` environment variables (and defaults) and validates the result.
    ///
    /// ```no_run
    /// // HQL_NODE_ID=1 HQL_NODES="1 127.0.0.1:8100 127.0.0.1:8200" HQL_SECRET_RAFT=... HQL_SECRET_API=...
    /// # fn main() -> Result<(), hiqlite::Error> {
    /// let config = hiqlite::NodeConfig::from_env()?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<NodeConfig, Error> {
        Self::builder().env()?.build()
    }

    /// This node's own entry in `nodes` (its Raft and API addresses), if present.
    pub fn own_member(&self) -> Option<&Member> {
        self.nodes.iter().find(|m| m.id == self.node_id)
    }

    /// Checks the whole configuration and reports every problem found in one error; messages
    /// name the offending key and value (never a secret). Also creates `data_dir` if needed and
    /// checks that it is writable by writing and removing a probe file.
    pub fn validate(&self) -> Result<(), Error> {
        let mut problems = self.check_values();
        if let Err(e) = check_data_dir(&self.data_dir) {
            problems.push(e);
        }
        if problems.is_empty() {
            if self.request_timeout < self.election_timeout_max {
                tracing::warn!(
                    "request_timeout ({:?}) is shorter than election_timeout_max ({:?}): \
                     requests may fail during a leader election",
                    self.request_timeout,
                    self.election_timeout_max
                );
            }
            if !self.log_sync {
                tracing::warn!(
                    "log_sync = false: log appends are acknowledged before fsync; a power loss \
                     on a majority of nodes can lose acknowledged writes"
                );
            }
            Ok(())
        } else {
            Err(problems_error(problems))
        }
    }

    /// Every check except the data directory (which touches the file system).
    fn check_values(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, addr) in [
            ("listen_raft_addr", &self.listen_raft_addr),
            ("listen_api_addr", &self.listen_api_addr),
        ] {
            if let Some(Err(e)) = addr.as_deref().map(check_addr) {
                problems.push(format!(
                    "{key} {:?}: {e}",
                    addr.as_deref().unwrap_or_default()
                ));
            }
        }

        // nodes and node_id
        if self.nodes.is_empty() {
            problems.push(
                "nodes is empty: list every cluster member as \"ID RAFT_ADDR API_ADDR\" \
                 (TOML `nodes`, env HQL_NODES, flag --node)"
                    .to_string(),
            );
        } else {
            if self.own_member().is_none() {
                let mut ids: Vec<String> = Vec::new();
                for m in &self.nodes {
                    let id = m.id.to_string();
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                problems.push(format!(
                    "node_id {} is not in nodes ({})",
                    self.node_id,
                    ids.join(", ")
                ));
            }
            let mut seen_ids: Vec<NodeId> = Vec::new();
            let mut dup_ids: Vec<NodeId> = Vec::new();
            for m in &self.nodes {
                if !seen_ids.contains(&m.id) {
                    seen_ids.push(m.id);
                } else if !dup_ids.contains(&m.id) {
                    dup_ids.push(m.id);
                    problems.push(format!(
                        "duplicate node id {} in nodes: every member needs its own id",
                        m.id
                    ));
                }
            }
            // Addresses: well-formed, and each used only once (raft and api together).
            let mut seen_addrs: Vec<(String, String)> = Vec::new(); // (normalized, "node N raft_addr")
            for m in &self.nodes {
                for (kind, addr) in [("raft_addr", &m.raft_addr), ("api_addr", &m.api_addr)] {
                    let who = format!("node {} {kind}", m.id);
                    if let Err(e) = check_addr(addr) {
                        problems.push(format!("{who} {addr:?}: {e}"));
                        continue;
                    }
                    let norm = addr.to_ascii_lowercase();
                    if let Some((_, first)) = seen_addrs.iter().find(|(a, _)| *a == norm) {
                        problems.push(format!(
                            "address {addr:?} is used twice ({first} and {who}): every Raft and \
                             API address must be distinct"
                        ));
                    } else {
                        seen_addrs.push((norm, who));
                    }
                }
            }
        }

        // secrets: say which and how short, never the value
        for (key, secret) in [
            ("secret_raft", &self.secret_raft),
            ("secret_api", &self.secret_api),
        ] {
            let n = secret.char_len();
            if n < MIN_SECRET_LEN {
                problems.push(format!(
                    "{key} is too short ({n} characters; at least {MIN_SECRET_LEN} are required)"
                ));
            }
        }

        // timing
        if self.heartbeat_interval.is_zero() {
            problems.push("heartbeat_interval must be greater than 0".to_string());
        }
        let twice_heartbeat = self
            .heartbeat_interval
            .checked_mul(2)
            .unwrap_or(Duration::MAX);
        if self.election_timeout_min <= twice_heartbeat {
            problems.push(format!(
                "election_timeout_min ({:?}) must be more than twice heartbeat_interval ({:?}), \
                 or followers start elections while the leader is healthy",
                self.election_timeout_min, self.heartbeat_interval
            ));
        }
        if self.election_timeout_min >= self.election_timeout_max {
            problems.push(format!(
                "election_timeout_min ({:?}) must be less than election_timeout_max ({:?})",
                self.election_timeout_min, self.election_timeout_max
            ));
        }
        if self.request_timeout.is_zero() {
            problems.push("request_timeout must be greater than 0".to_string());
        }

        // storage and limits
        if self.read_pool_size == 0 {
            problems.push("read_pool_size must be at least 1".to_string());
        }
        if !(MIN_MAX_FRAME_BYTES..=MAX_MAX_FRAME_BYTES).contains(&self.max_frame_bytes) {
            problems.push(format!(
                "max_frame_bytes {} is out of range ({MIN_MAX_FRAME_BYTES} ..= {MAX_MAX_FRAME_BYTES})",
                self.max_frame_bytes
            ));
        }
        if let Err(e) = check_filename(&self.filename_db) {
            problems.push(format!("filename_db {:?}: {e}", self.filename_db));
        }
        if self.data_dir.as_os_str().is_empty() {
            problems.push("data_dir is empty".to_string());
        }

        problems
    }
}

fn problems_error(problems: Vec<String>) -> Error {
    if problems.len() == 1 {
        Error::Config(problems.into_iter().next().unwrap_or_default())
    } else {
        Error::Config(format!(
            "{} problems: {}",
            problems.len(),
            problems.join("; ")
        ))
    }
}

/// Builds a [`NodeConfig`] from defaults, a TOML file, `HQL_*` environment variables and explicit
/// setters; later layers override earlier ones, so apply them in the order file, env, flags.
///
/// ```no_run
/// # fn main() -> Result<(), hiqlite::Error> {
/// // The layering for `hiqlite serve --config hiqlite.toml --node-id 2`:
/// let config = hiqlite::NodeConfig::builder()
///     .toml_file("hiqlite.toml")? // file over defaults
///     .env()?                     // HQL_* over the file
///     .node_id(2)                 // CLI flags over everything
///     .build()?;                  // validates
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NodeConfigBuilder {
    node_id: Option<NodeId>,
    nodes: Vec<Member>,
    data_dir: PathBuf,
    secret_raft: Option<Secret>,
    secret_api: Option<Secret>,
    filename_db: String,
    read_pool_size: usize,
    log_sync: bool,
    heartbeat_interval: Duration,
    election_timeout_min: Duration,
    election_timeout_max: Duration,
    max_frame_bytes: usize,
    request_timeout: Duration,
    snapshot_after_logs: u64,
    read_policy: ReadPolicy,
    listen_raft_addr: Option<String>,
    listen_api_addr: Option<String>,
    learner: bool,
    /// Problems found while layering sources (e.g. a bad `--node`), reported by `build` with
    /// every other problem.
    problems: Vec<String>,
}

impl Default for NodeConfigBuilder {
    fn default() -> Self {
        NodeConfigBuilder {
            node_id: None,
            nodes: Vec::new(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            secret_raft: None,
            secret_api: None,
            filename_db: DEFAULT_FILENAME_DB.to_string(),
            read_pool_size: DEFAULT_READ_POOL_SIZE,
            log_sync: DEFAULT_LOG_SYNC,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            election_timeout_min: DEFAULT_ELECTION_TIMEOUT_MIN,
            election_timeout_max: DEFAULT_ELECTION_TIMEOUT_MAX,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            snapshot_after_logs: DEFAULT_SNAPSHOT_AFTER_LOGS,
            read_policy: ReadPolicy::default(),
            listen_raft_addr: None,
            listen_api_addr: None,
            learner: false,
            problems: Vec::new(),
        }
    }
}

impl From<NodeConfig> for NodeConfigBuilder {
    fn from(c: NodeConfig) -> Self {
        NodeConfigBuilder {
            node_id: Some(c.node_id),
            nodes: c.nodes,
            data_dir: c.data_dir,
            secret_raft: Some(c.secret_raft),
            secret_api: Some(c.secret_api),
            filename_db: c.filename_db,
            read_pool_size: c.read_pool_size,
            log_sync: c.log_sync,
            heartbeat_interval: c.heartbeat_interval,
            election_timeout_min: c.election_timeout_min,
            election_timeout_max: c.election_timeout_max,
            max_frame_bytes: c.max_frame_bytes,
            request_timeout: c.request_timeout,
            snapshot_after_logs: c.snapshot_after_logs,
            read_policy: c.read_policy,
            listen_raft_addr: c.listen_raft_addr,
            listen_api_addr: c.listen_api_addr,
            learner: c.learner,
            problems: Vec::new(),
        }
    }
}

impl NodeConfigBuilder {
    /// This node's id (TOML `node_id`, env `HQL_NODE_ID`, flag `--node-id`). Required.
    pub fn node_id(mut self, id: NodeId) -> Self {
        self.node_id = Some(id);
        self
    }
    /// Appends one cluster member to the current list (which may already hold members from a
    /// file or `HQL_NODES`; use [`nodes`](Self::nodes) to replace the list, e.g. for `--node`
    /// flags, which override the other sources as a whole).
    pub fn node(
        mut self,
        id: NodeId,
        raft_addr: impl Into<String>,
        api_addr: impl Into<String>,
    ) -> Self {
        self.nodes.push(Member {
            id,
            raft_addr: raft_addr.into(),
            api_addr: api_addr.into(),
        });
        self
    }
    /// Replaces the member list with `specs`, each parsed as `"ID RAFT_ADDR API_ADDR"` (what
    /// `hiqlite serve --node` does). A spec that does not parse is a problem naming `source`
    /// (e.g. `--node`), reported by [`build`](Self::build) together with every other problem.
    ///
    /// ```
    /// let e = hiqlite::NodeConfig::builder()
    ///     .parse_nodes("--node", &["1 127.0.0.1:8100".to_string()])
    ///     .build()
    ///     .unwrap_err();
    /// assert!(e.to_string().contains("--node \"1 127.0.0.1:8100\""), "{e}");
    /// ```
    pub fn parse_nodes(mut self, source: &str, specs: &[String]) -> Self {
        let mut nodes = Vec::new();
        for spec in specs {
            match parse_member(spec) {
                Ok(m) => nodes.push(m),
                Err(e) => self.problems.push(format!("{source} {spec:?}: {}", msg(e))),
            }
        }
        self.nodes = nodes;
        self
    }

    /// Replaces the member list (TOML `nodes`, env `HQL_NODES`, flag `--node`). Required.
    pub fn nodes(mut self, nodes: Vec<Member>) -> Self {
        self.nodes = nodes;
        self
    }
    /// Directory for the Raft log and the database (default `./hiqlite-data`).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = dir.into();
        self
    }
    /// Secret for node-to-node Raft traffic, at least 16 characters. Required.
    pub fn secret_raft(mut self, secret: impl Into<Secret>) -> Self {
        self.secret_raft = Some(secret.into());
        self
    }
    /// Secret for the API port, at least 16 characters. Required.
    pub fn secret_api(mut self, secret: impl Into<Secret>) -> Self {
        self.secret_api = Some(secret.into());
        self
    }
    /// SQLite file name inside `data_dir/db` (default `hiqlite.db`).
    pub fn filename_db(mut self, name: impl Into<String>) -> Self {
        self.filename_db = name.into();
        self
    }
    /// Read-only connections for local reads (default 4).
    pub fn read_pool_size(mut self, n: usize) -> Self {
        self.read_pool_size = n;
        self
    }
    /// Acknowledge log appends only after fsync (default `true`).
    pub fn log_sync(mut self, sync: bool) -> Self {
        self.log_sync = sync;
        self
    }
    /// Leader heartbeat interval (default 150 ms).
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }
    /// Lower bound of the election timeout (default 750 ms).
    pub fn election_timeout_min(mut self, d: Duration) -> Self {
        self.election_timeout_min = d;
        self
    }
    /// Upper bound of the election timeout (default 1500 ms).
    pub fn election_timeout_max(mut self, d: Duration) -> Self {
        self.election_timeout_max = d;
        self
    }
    /// Largest accepted network frame (default 64 MiB).
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.max_frame_bytes = n;
        self
    }
    /// How long a request retries across leader changes (default 10 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    /// Log entries between snapshots (default 100 000; 0 = never snapshot).
    pub fn snapshot_after_logs(mut self, n: u64) -> Self {
        self.snapshot_after_logs = n;
        self
    }
    /// How consistent reads confirm leadership (default [`ReadPolicy::ReadIndex`]).
    pub fn read_policy(mut self, policy: ReadPolicy) -> Self {
        self.read_policy = policy;
        self
    }
    /// Bind the Raft listener here instead of at this node's `raft_addr`.
    pub fn listen_raft_addr(mut self, addr: impl Into<String>) -> Self {
        self.listen_raft_addr = Some(addr.into());
        self
    }
    /// Bind the API listener here instead of at this node's `api_addr`.
    pub fn listen_api_addr(mut self, addr: impl Into<String>) -> Self {
        self.listen_api_addr = Some(addr.into());
        self
    }
    /// Join a running cluster as a learner (TOML `learner`, env `HQL_LEARNER`): a read replica
    /// that receives every write but never votes. Only affects a node that is not a member yet.
    pub fn learner(mut self, learner: bool) -> Self {
        self.learner = learner;
        self
    }

    /// Applies the values of a TOML file over the current ones. Errors name the file, the line
    /// and the key (unknown keys are refused).
    pub fn toml_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read config file \"{}\": {e}",
                path.display()
            ))
        })?;
        self.toml_source(&text, &format!("config file \"{}\"", path.display()))
    }

    /// Applies the values of TOML text over the current ones.
    pub fn toml_str(self, toml: &str) -> Result<Self, Error> {
        self.toml_source(toml, "TOML config")
    }

    fn toml_source(mut self, text: &str, origin: &str) -> Result<Self, Error> {
        let file: FileConfig = toml::from_str(text).map_err(|e| {
            // Only the message and position: toml's Display quotes the source line, which could
            // contain a secret.
            let message = e.message().trim_end();
            let at = e
                .span()
                .map(|s| {
                    let (line, col) = line_col(text, s.start);
                    // Name the key unless the message already does (unknown field).
                    match key_before(text, s.start) {
                        Some(key) if !message.contains(&format!("`{key}`")) => {
                            format!(", line {line}, column {col}, key `{key}`")
                        }
                        _ => format!(", line {line}, column {col}"),
                    }
                })
                .unwrap_or_default();
            Error::Config(format!("{origin}{at}: {message}"))
        })?;

        if let Some(v) = file.node_id {
            self.node_id = Some(v);
        }
        if let Some(entries) = file.nodes {
            let mut nodes = Vec::with_capacity(entries.len());
            for entry in entries {
                let (line, _) = line_col(text, entry.span().start);
                let m = parse_member(entry.get_ref()).map_err(|e| {
                    Error::Config(format!("{origin}, line {line}: nodes: {}", msg(e)))
                })?;
                nodes.push(m);
            }
            self.nodes = nodes;
        }
        if let Some(v) = file.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = file.secret_raft {
            self.secret_raft = Some(v);
        }
        if let Some(v) = file.secret_api {
            self.secret_api = Some(v);
        }
        if let Some(v) = file.filename_db {
            self.filename_db = v;
        }
        if let Some(v) = file.read_pool_size {
            self.read_pool_size = v;
        }
        if let Some(v) = file.log_sync {
            self.log_sync = v;
        }
        if let Some(v) = file.heartbeat_interval_ms {
            self.heartbeat_interval = Duration::from_millis(v);
        }
        if let Some(v) = file.election_timeout_min_ms {
            self.election_timeout_min = Duration::from_millis(v);
        }
        if let Some(v) = file.election_timeout_max_ms {
            self.election_timeout_max = Duration::from_millis(v);
        }
        if let Some(v) = file.max_frame_bytes {
            self.max_frame_bytes = v;
        }
        if let Some(v) = file.request_timeout_ms {
            self.request_timeout = Duration::from_millis(v);
        }
        if let Some(v) = file.snapshot_after_logs {
            self.snapshot_after_logs = v;
        }
        if let Some(v) = file.read_policy {
            self.read_policy = v.parse().map_err(Error::Config)?;
        }
        if let Some(v) = file.listen_raft_addr {
            self.listen_raft_addr = Some(v);
        }
        if let Some(v) = file.listen_api_addr {
            self.listen_api_addr = Some(v);
        }
        if let Some(v) = file.learner {
            self.learner = v;
        }
        Ok(self)
    }

    /// Applies the `HQL_*` environment variables that are set (and not empty) over the current
    /// values.
    pub fn env(self) -> Result<Self, Error> {
        for (_, var, _) in KEYS {
            if let Some(v) = std::env::var_os(var) {
                if v.to_str().is_none() {
                    return Err(Error::Config(format!("{var} is not valid UTF-8")));
                }
            }
        }
        self.env_with(|name| std::env::var(name).ok())
    }

    /// Like [`env`](Self::env), but reads variables through `lookup` instead of the process
    /// environment (for tests, or to layer another source with the same names).
    ///
    /// ```
    /// let b = hiqlite::NodeConfig::builder()
    ///     .env_with(|name| (name == "HQL_NODE_ID").then(|| "2".to_string()))
    ///     .unwrap();
    /// ```
    pub fn env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let mut problems = Vec::new();
        // Unset and empty (whitespace-only) variables are ignored.
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        fn num<T: std::str::FromStr>(
            name: &str,
            value: Option<String>,
            what: &str,
            problems: &mut Vec<String>,
        ) -> Option<T> {
            let value = value?;
            match value.trim().parse() {
                Ok(v) => Some(v),
                Err(_) => {
                    problems.push(format!("{name}={value:?} is not {what}"));
                    None
                }
            }
        }
        const UINT: &str = "an unsigned integer";
        const MS: &str = "a number of milliseconds";

        if let Some(v) = num("HQL_NODE_ID", get("HQL_NODE_ID"), UINT, &mut problems) {
            self.node_id = Some(v);
        }
        if let Some(v) = get("HQL_NODES") {
            match parse_members(&v) {
                Ok(nodes) => self.nodes = nodes,
                Err(e) => problems.push(format!("HQL_NODES: {}", msg(e))),
            }
        }
        if let Some(v) = get("HQL_DATA_DIR") {
            self.data_dir = PathBuf::from(v.trim());
        }
        // Secrets are taken verbatim (no trimming) so every source yields the same bytes.
        if let Some(v) = get("HQL_SECRET_RAFT") {
            self.secret_raft = Some(Secret(v));
        }
        if let Some(v) = get("HQL_SECRET_API") {
            self.secret_api = Some(Secret(v));
        }
        if let Some(v) = get("HQL_FILENAME_DB") {
            self.filename_db = v.trim().to_string();
        }
        if let Some(v) = num(
            "HQL_READ_POOL_SIZE",
            get("HQL_READ_POOL_SIZE"),
            UINT,
            &mut problems,
        ) {
            self.read_pool_size = v;
        }
        if let Some(v) = get("HQL_LOG_SYNC") {
            match parse_bool(&v) {
                Some(b) => self.log_sync = b,
                None => problems.push(format!(
                    "HQL_LOG_SYNC={v:?} is not a boolean (true/false, 1/0, yes/no, on/off)"
                )),
            }
        }
        let ms = |name: &str, problems: &mut Vec<String>| {
            num::<u64>(name, get(name), MS, problems).map(Duration::from_millis)
        };
        if let Some(d) = ms("HQL_HEARTBEAT_INTERVAL_MS", &mut problems) {
            self.heartbeat_interval = d;
        }
        if let Some(d) = ms("HQL_ELECTION_TIMEOUT_MIN_MS", &mut problems) {
            self.election_timeout_min = d;
        }
        if let Some(d) = ms("HQL_ELECTION_TIMEOUT_MAX_MS", &mut problems) {
            self.election_timeout_max = d;
        }
        if let Some(v) = num(
            "HQL_MAX_FRAME_BYTES",
            get("HQL_MAX_FRAME_BYTES"),
            UINT,
            &mut problems,
        ) {
            self.max_frame_bytes = v;
        }
        if let Some(d) = ms("HQL_REQUEST_TIMEOUT_MS", &mut problems) {
            self.request_timeout = d;
        }
        if let Some(v) = num(
            "HQL_SNAPSHOT_AFTER_LOGS",
            get("HQL_SNAPSHOT_AFTER_LOGS"),
            UINT,
            &mut problems,
        ) {
            self.snapshot_after_logs = v;
        }
        if let Some(v) = get("HQL_LISTEN_RAFT_ADDR") {
            self.listen_raft_addr = Some(v.trim().to_string());
        }
        if let Some(v) = get("HQL_LISTEN_API_ADDR") {
            self.listen_api_addr = Some(v.trim().to_string());
        }
        if let Some(v) = get("HQL_LEARNER") {
            match parse_bool(&v) {
                Some(b) => self.learner = b,
                None => problems.push(format!(
                    "HQL_LEARNER={v:?} is not a boolean (true/false, 1/0, yes/no, on/off)"
                )),
            }
        }
        if let Some(v) = get("HQL_READ_POLICY") {
            match v.parse() {
                Ok(policy) => self.read_policy = policy,
                Err(e) => problems.push(format!("HQL_READ_POLICY: {e}")),
            }
        }

        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems_error(problems))
        }
    }

    /// Checks that the required values are present, then [validates](NodeConfig::validate).
    /// Every problem is reported in one error: missing values, problems recorded while layering
    /// (see [`parse_nodes`](Self::parse_nodes)) and every check of the values that are set.
    pub fn build(self) -> Result<NodeConfig, Error> {
        let mut missing = Vec::new();
        if self.node_id.is_none() {
            missing.push("node_id is not set (TOML `node_id`, env HQL_NODE_ID, flag --node-id)");
        }
        if self.secret_raft.is_none() {
            missing.push(
                "secret_raft is not set (TOML `secret_raft`, env HQL_SECRET_RAFT, flag --secret-raft)",
            );
        }
        if self.secret_api.is_none() {
            missing.push(
                "secret_api is not set (TOML `secret_api`, env HQL_SECRET_API, flag --secret-api)",
            );
        }
        let unset = (
            self.node_id.is_none(),
            self.secret_raft.is_none(),
            self.secret_api.is_none(),
        );
        let mut problems: Vec<String> = missing.into_iter().map(String::from).collect();
        problems.extend(self.problems);
        let config = NodeConfig {
            node_id: self.node_id.unwrap_or_default(),
            nodes: self.nodes,
            data_dir: self.data_dir,
            secret_raft: self.secret_raft.unwrap_or_else(|| Secret::new("")),
            secret_api: self.secret_api.unwrap_or_else(|| Secret::new("")),
            filename_db: self.filename_db,
            read_pool_size: self.read_pool_size,
            log_sync: self.log_sync,
            heartbeat_interval: self.heartbeat_interval,
            election_timeout_min: self.election_timeout_min,
            election_timeout_max: self.election_timeout_max,
            max_frame_bytes: self.max_frame_bytes,
            request_timeout: self.request_timeout,
            snapshot_after_logs: self.snapshot_after_logs,
            read_policy: self.read_policy,
            listen_raft_addr: self.listen_raft_addr,
            listen_api_addr: self.listen_api_addr,
            learner: self.learner,
        };
        if !problems.is_empty() {
            // The other checks too, except the ones that only repeat that a value is missing.
            let follows_from_unset = |p: &String| {
                (unset.0 && p.starts_with("node_id "))
                    || (unset.1 && p.starts_with("secret_raft "))
                    || (unset.2 && p.starts_with("secret_api "))
            };
            problems.extend(
                config
                    .check_values()
                    .into_iter()
                    .filter(|p| !follows_from_unset(p)),
            );
            return Err(problems_error(problems));
        }
        config.validate()?;
        Ok(config)
    }
}

/// The TOML file's shape. Every key is optional here; required values are checked by `build`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_id: Option<NodeId>,
    nodes: Option<Vec<toml::Spanned<String>>>,
    data_dir: Option<PathBuf>,
    secret_raft: Option<Secret>,
    secret_api: Option<Secret>,
    filename_db: Option<String>,
    read_pool_size: Option<usize>,
    log_sync: Option<bool>,
    heartbeat_interval_ms: Option<u64>,
    election_timeout_min_ms: Option<u64>,
    election_timeout_max_ms: Option<u64>,
    max_frame_bytes: Option<usize>,
    request_timeout_ms: Option<u64>,
    snapshot_after_logs: Option<u64>,
    read_policy: Option<String>,
    listen_raft_addr: Option<String>,
    listen_api_addr: Option<String>,
    learner: Option<bool>,
}

/// Parses one member, `"ID RAFT_ADDR API_ADDR"` separated by whitespace (the format of
/// `--node`, of each TOML `nodes` entry and of each `HQL_NODES` line). Addresses are `host:port`;
/// the host may be a name, an IPv4 address or a bracketed IPv6 address.
///
/// ```
/// let m = hiqlite::config::parse_member("1 127.0.0.1:8100 127.0.0.1:8200").unwrap();
/// assert_eq!((m.id, m.raft_addr.as_str(), m.api_addr.as_str()), (1, "127.0.0.1:8100", "127.0.0.1:8200"));
/// assert!(hiqlite::config::parse_member("1 127.0.0.1:8100").is_err());
/// ```
pub fn parse_member(s: &str) -> Result<Member, Error> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [id, raft_addr, api_addr] = parts[..] else {
        return Err(Error::Config(format!(
            "invalid member {s:?}: expected \"ID RAFT_ADDR API_ADDR\", \
             e.g. \"1 127.0.0.1:8100 127.0.0.1:8200\""
        )));
    };
    let id: NodeId = id.parse().map_err(|_| {
        Error::Config(format!(
            "invalid member {s:?}: node id {id:?} is not an unsigned integer"
        ))
    })?;
    for (kind, addr) in [("raft address", raft_addr), ("api address", api_addr)] {
        check_addr(addr)
            .map_err(|e| Error::Config(format!("invalid member {s:?}: {kind} {addr:?}: {e}")))?;
    }
    Ok(Member {
        id,
        raft_addr: raft_addr.to_string(),
        api_addr: api_addr.to_string(),
    })
}

/// Parses a member list: one member per line (`HQL_NODES`); `;` also separates members, blank
/// entries are ignored.
///
/// ```
/// let nodes = hiqlite::config::parse_members(
///     "1 127.0.0.1:8100 127.0.0.1:8200\n2 127.0.0.1:8101 127.0.0.1:8201\n",
/// ).unwrap();
/// assert_eq!(nodes.len(), 2);
/// ```
pub fn parse_members(s: &str) -> Result<Vec<Member>, Error> {
    s.split(['\n', ';'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(parse_member)
        .collect()
}

/// `host:port`: a numeric, non-zero port; the host a DNS name, an IPv4 address or `[IPv6]`.
fn check_addr(addr: &str) -> Result<(), String> {
    const FORM: &str = "expected host:port, e.g. 127.0.0.1:8100 or node1.example.com:8100";
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!("missing port; {FORM}"));
    };
    match port.parse::<u16>() {
        Ok(0) => return Err("port 0 is not allowed".to_string()),
        Ok(_) => {}
        Err(_) => {
            return Err(format!(
                "port {port:?} is not a number from 1 to 65535; {FORM}"
            ))
        }
    }
    if host.is_empty() {
        return Err(format!("missing host; {FORM}"));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ok = inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok());
        return if ok {
            Ok(())
        } else {
            Err(format!("invalid IPv6 host {host:?}"))
        };
    }
    if host.contains(':') {
        return Err("an IPv6 host must be in brackets, e.g. [::1]:8100".to_string());
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(format!("invalid character {c:?} in host {host:?}"));
    }
    if host.starts_with('.') || host.contains("..") {
        return Err(format!("invalid host name {host:?}"));
    }
    Ok(())
}

/// A plain file name: not empty, no directory parts.
fn check_filename(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        Err("must not be empty")
    } else if name == "." || name == ".." || name.contains(['/', '\\']) {
        Err("must be a file name without directories (it lives in data_dir/db)")
    } else if name.contains('\0') {
        Err("must not contain NUL")
    } else {
        Ok(())
    }
}

/// Creates `dir` if needed, then writes and removes a probe file to prove it is writable.
fn check_data_dir(dir: &Path) -> Result<(), String> {
    if dir.as_os_str().is_empty() {
        return Ok(()); // reported by check_values
    }
    let shown = dir.display();
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("data_dir \"{shown}\" cannot be created: {e}"))?;
    if !dir.is_dir() {
        return Err(format!("data_dir \"{shown}\" is not a directory"));
    }
    let probe = dir.join(format!(".hiqlite-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe")
        .map_err(|e| format!("data_dir \"{shown}\" is not writable: {e}"))?;
    std::fs::remove_file(&probe).map_err(|e| {
        format!(
            "data_dir \"{shown}\": cannot remove probe file \"{}\": {e}",
            probe.display()
        )
    })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// 1-based line and column of byte offset `pos` in `text`.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = &text[..pos.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The key of the `key = value` line at or before byte offset `pos` (for multi-line arrays, the
/// line that opened the array). Only the key, never the value.
fn key_before(text: &str, pos: usize) -> Option<&str> {
    let end = text[pos.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| pos + i);
    text[..end].lines().rev().find_map(|line| {
        let (key, _) = line.split_once('=')?;
        let key = key.trim();
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        plain.then_some(key)
    })
}

/// The message of a config error without the "invalid configuration: " prefix.
fn msg(e: Error) -> String {
    match e {
        Error::Config(m) => m,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const RAFT: &str = "raft-secret-0123456789";
    const API: &str = "api-secret-0123456789";

    fn three_nodes() -> NodeConfigBuilder {
        NodeConfig::builder()
            .node_id(1)
            .node(1, "127.0.0.1:8100", "127.0.0.1:8200")
            .node(2, "127.0.0.1:8101", "127.0.0.1:8201")
            .node(3, "127.0.0.1:8102", "127.0.0.1:8202")
            .secret_raft(RAFT)
            .secret_api(API)
    }

    /// A valid config in a fresh temp dir (the dir guard must outlive the test).
    fn valid() -> (tempfile::TempDir, NodeConfigBuilder) {
        let dir = tempfile::tempdir().unwrap();
        let b = three_nodes().data_dir(dir.path().join("data"));
        (dir, b)
    }

    fn err_of(r: Result<NodeConfig, Error>) -> String {
        match r {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn toml_for(dir: &Path) -> String {
        format!(
            r#"
node_id = 2
nodes = [
    "1 127.0.0.1:8100 127.0.0.1:8200",
    "2 127.0.0.1:8101 127.0.0.1:8201",
    "3 127.0.0.1:8102 127.0.0.1:8202",
]
data_dir = "{}"
secret_raft = "{RAFT}"
secret_api = "{API}"
read_pool_size = 7
log_sync = false
heartbeat_interval_ms = 100
election_timeout_min_ms = 500
election_timeout_max_ms = 1000
max_frame_bytes = 1048576
request_timeout_ms = 3000
filename_db = "app.db"
"#,
            dir.display()
        )
    }

    #[test]
    fn builder_defaults() {
        let (dir, b) = valid();
        let c = b.build().unwrap();
        assert_eq!(c.filename_db, "hiqlite.db");
        assert_eq!(c.read_pool_size, 4);
        assert!(c.log_sync);
        assert_eq!(c.heartbeat_interval, Duration::from_millis(150));
        assert_eq!(c.election_timeout_min, Duration::from_millis(750));
        assert_eq!(c.election_timeout_max, Duration::from_millis(1500));
        assert_eq!(c.max_frame_bytes, 64 * 1024 * 1024);
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.nodes.len(), 3);
        assert_eq!(c.own_member().unwrap().raft_addr, "127.0.0.1:8100");
        assert!(dir.path().join("data").is_dir(), "data_dir is created");
        // the probe file is gone
        assert_eq!(
            std::fs::read_dir(dir.path().join("data")).unwrap().count(),
            0
        );
        assert_eq!(
            NodeConfigBuilder::default().data_dir,
            PathBuf::from("./hiqlite-data")
        );
    }

    #[test]
    fn builder_setters() {
        let (_dir, b) = valid();
        let c = b
            .filename_db("x.db")
            .read_pool_size(2)
            .log_sync(false)
            .heartbeat_interval(Duration::from_millis(50))
            .election_timeout_min(Duration::from_millis(200))
            .election_timeout_max(Duration::from_millis(400))
            .max_frame_bytes(1 << 20)
            .request_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        assert_eq!(c.filename_db, "x.db");
        assert_eq!(c.read_pool_size, 2);
        assert!(!c.log_sync);
        assert_eq!(c.heartbeat_interval, Duration::from_millis(50));
        assert_eq!(c.election_timeout_min, Duration::from_millis(200));
        assert_eq!(c.election_timeout_max, Duration::from_millis(400));
        assert_eq!(c.max_frame_bytes, 1 << 20);
        assert_eq!(c.request_timeout, Duration::from_secs(1));
        // round trip through the builder
        let again = NodeConfigBuilder::from(c.clone())
            .node_id(2)
            .build()
            .unwrap();
        assert_eq!(again.node_id, 2);
        assert_eq!(again.nodes, c.nodes);
        // nodes() replaces
        let (_dir, b) = valid();
        let c = b
            .nodes(vec![parse_member("1 a:1 a:2").unwrap()])
            .build()
            .unwrap();
        assert_eq!(c.nodes.len(), 1);
    }

    #[test]
    fn missing_required_values() {
        let e = err_of(NodeConfig::builder().build());
        assert!(e.contains("node_id is not set"), "{e}");
        assert!(e.contains("HQL_NODE_ID"), "{e}");
        assert!(e.contains("secret_raft is not set"), "{e}");
        assert!(e.contains("secret_api is not set"), "{e}");
        assert!(e.contains("nodes is empty"), "{e}");
    }

    #[test]
    fn missing_values_are_reported_with_every_other_problem() {
        // Only HQL_SECRET_API set: the missing values and the empty `nodes`, in one error.
        let e = err_of(
            NodeConfig::builder()
                .env_with(env(&[("HQL_SECRET_API", "api-secret-0123456789")]))
                .unwrap()
                .build(),
        );
        assert!(e.contains(": 3 problems:"), "{e}");
        for expected in [
            "node_id is not set",
            "secret_raft is not set",
            "nodes is empty",
            "HQL_NODES",
        ] {
            assert!(e.contains(expected), "{expected}: {e}");
        }
        assert!(!e.contains("too short"), "{e}");
        // A bad `--node` is named as the flag, next to the other problems.
        let e = err_of(
            NodeConfig::builder()
                .parse_nodes(
                    "--node",
                    &[
                        "1 127.0.0.1:8100 127.0.0.1:8200".into(),
                        "2 nonsense".into(),
                    ],
                )
                .secret_raft("short")
                .build(),
        );
        assert!(e.contains("--node \"2 nonsense\""), "{e}");
        assert!(!e.contains("HQL_NODES:"), "{e}");
        assert!(e.contains("node_id is not set"), "{e}");
        assert!(e.contains("secret_raft is too short"), "{e}");
    }

    #[test]
    fn toml_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let c = NodeConfig::from_toml_str(&toml_for(dir.path())).unwrap();
        assert_eq!(c.node_id, 2);
        assert_eq!(
            c.nodes[2],
            Member {
                id: 3,
                raft_addr: "127.0.0.1:8102".into(),
                api_addr: "127.0.0.1:8202".into()
            }
        );
        assert_eq!(c.data_dir, dir.path());
        assert_eq!(c.secret_raft, Secret::new(RAFT));
        assert_eq!(c.secret_api, Secret::new(API));
        assert_eq!(c.read_pool_size, 7);
        assert!(!c.log_sync);
        assert_eq!(c.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(c.election_timeout_min, Duration::from_millis(500));
        assert_eq!(c.election_timeout_max, Duration::from_millis(1000));
        assert_eq!(c.max_frame_bytes, 1 << 20);
        assert_eq!(c.request_timeout, Duration::from_millis(3000));
        assert_eq!(c.filename_db, "app.db");
    }

    #[test]
    fn toml_minimal_uses_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "node_id = 1\nnodes = [\"1 localhost:8100 localhost:8200\"]\ndata_dir = {:?}\n\
             secret_raft = \"{RAFT}\"\nsecret_api = \"{API}\"\n",
            dir.path().display().to_string()
        );
        let c = NodeConfig::from_toml_str(&text).unwrap();
        assert_eq!(c.read_pool_size, DEFAULT_READ_POOL_SIZE);
        assert_eq!(c.request_timeout, DEFAULT_REQUEST_TIMEOUT);
    }

    #[test]
    fn toml_file_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hiqlite.toml");
        std::fs::write(&path, toml_for(dir.path())).unwrap();
        let b = NodeConfig::builder().toml_file(&path).unwrap();
        assert_eq!(b.node_id, Some(2));

        let e = msg(NodeConfig::builder()
            .toml_file(dir.path().join("nope.toml"))
            .unwrap_err());
        assert!(
            e.contains("cannot read config file") && e.contains("nope.toml"),
            "{e}"
        );

        // unknown key: named, with its line
        let e = err_of(NodeConfig::from_toml_str("node_id = 1\nnode_idd = 2\n"));
        assert!(e.contains("unknown field `node_idd`"), "{e}");
        assert!(e.contains("line 2"), "{e}");

        // wrong type
        let e = err_of(NodeConfig::from_toml_str("read_pool_size = \"four\"\n"));
        assert!(
            e.contains("line 1, column 18, key `read_pool_size`: invalid type"),
            "{e}"
        );
        let e = err_of(NodeConfig::from_toml_str(
            "node_id = 1\nnodes = [\n  \"1 a:1 a:2\",\n  2,\n]\n",
        ));
        assert!(e.contains("line 4, column 3, key `nodes`"), "{e}");

        // bad member: line of the entry
        let e = err_of(NodeConfig::from_toml_str(
            "nodes = [\n  \"1 127.0.0.1:8100 127.0.0.1:8200\",\n  \"2 127.0.0.1:8101\",\n]\n",
        ));
        assert!(
            e.contains("line 3") && e.contains("\"2 127.0.0.1:8101\""),
            "{e}"
        );

        // syntax error
        let e = err_of(NodeConfig::from_toml_str("node_id = \n"));
        assert!(e.contains("TOML config, line 1"), "{e}");
    }

    #[test]
    fn toml_errors_never_show_secrets() {
        // a non-string secret
        let e = err_of(NodeConfig::from_toml_str(
            "secret_raft = 98765432109876543\n",
        ));
        assert!(!e.contains("98765432109876543"), "{e}");
        assert!(e.contains("secret"), "{e}");
        // a syntax error on the secret's line
        let e = err_of(NodeConfig::from_toml_str(
            "secret_api = \"topsecretvalue-xyz\nnode_id = 1\n",
        ));
        assert!(!e.contains("topsecretvalue"), "{e}");
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let env_dir = dir.path().join("from-env");
        let env_dir_s = env_dir.display().to_string();
        let lookup = env(&[
            ("HQL_NODE_ID", "3"),
            ("HQL_DATA_DIR", &env_dir_s),
            ("HQL_SECRET_RAFT", "env-raft-secret-0123456"),
            ("HQL_READ_POOL_SIZE", " 9 "),
            ("HQL_LOG_SYNC", "yes"),
            ("HQL_ELECTION_TIMEOUT_MAX_MS", "2000"),
            ("HQL_FILENAME_DB", ""), // empty: ignored, the file's value stays
            (
                "HQL_NODES",
                "1 127.0.0.1:9100 127.0.0.1:9200\n\n  3 127.0.0.1:9102 127.0.0.1:9202  \n",
            ),
        ]);
        let c = NodeConfig::builder()
            .toml_str(&toml_for(dir.path()))
            .unwrap()
            .env_with(lookup)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.node_id, 3);
        assert_eq!(c.data_dir, env_dir);
        assert_eq!(c.secret_raft, Secret::new("env-raft-secret-0123456"));
        assert_eq!(c.secret_api, Secret::new(API), "not in env: file value");
        assert_eq!(c.read_pool_size, 9);
        assert!(c.log_sync);
        assert_eq!(c.election_timeout_max, Duration::from_millis(2000));
        assert_eq!(
            c.election_timeout_min,
            Duration::from_millis(500),
            "file value"
        );
        assert_eq!(c.filename_db, "app.db");
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.nodes[1].id, 3);
        assert_eq!(c.nodes[1].api_addr, "127.0.0.1:9202");

        // and an explicit setter (a CLI flag) overrides the env
        let c = NodeConfig::builder()
            .toml_str(&toml_for(dir.path()))
            .unwrap()
            .env_with(env(&[("HQL_NODE_ID", "3")]))
            .unwrap()
            .node_id(1)
            .build()
            .unwrap();
        assert_eq!(c.node_id, 1);
    }

    #[test]
    fn env_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let c = NodeConfig::builder()
            .env_with(env(&[
                ("HQL_NODE_ID", "1"),
                ("HQL_NODES", "1 n1:8100 n1:8200;2 n2:8100 n2:8200"),
                ("HQL_DATA_DIR", &d),
                ("HQL_SECRET_RAFT", RAFT),
                ("HQL_SECRET_API", API),
                ("HQL_HEARTBEAT_INTERVAL_MS", "100"),
                ("HQL_ELECTION_TIMEOUT_MIN_MS", "300"),
                ("HQL_MAX_FRAME_BYTES", "65536"),
                ("HQL_REQUEST_TIMEOUT_MS", "2500"),
                ("HQL_LOG_SYNC", "OFF"),
            ]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.nodes[1].raft_addr, "n2:8100");
        assert_eq!(c.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(c.election_timeout_min, Duration::from_millis(300));
        assert_eq!(c.max_frame_bytes, 65536);
        assert_eq!(c.request_timeout, Duration::from_millis(2500));
        assert!(!c.log_sync);
    }

    #[test]
    fn env_errors() {
        let e = msg(NodeConfig::builder()
            .env_with(env(&[
                ("HQL_NODE_ID", "one"),
                ("HQL_READ_POOL_SIZE", "-1"),
                ("HQL_LOG_SYNC", "maybe"),
                ("HQL_REQUEST_TIMEOUT_MS", "10s"),
                (
                    "HQL_NODES",
                    "1 127.0.0.1:8100 127.0.0.1:8200\n2 127.0.0.1:8101",
                ),
            ]))
            .unwrap_err());
        assert!(e.starts_with("5 problems"), "{e}");
        assert!(
            e.contains("HQL_NODE_ID=\"one\" is not an unsigned integer"),
            "{e}"
        );
        assert!(e.contains("HQL_READ_POOL_SIZE=\"-1\""), "{e}");
        assert!(e.contains("HQL_LOG_SYNC=\"maybe\" is not a boolean"), "{e}");
        assert!(
            e.contains("HQL_REQUEST_TIMEOUT_MS=\"10s\" is not a number of milliseconds"),
            "{e}"
        );
        assert!(
            e.contains("HQL_NODES: invalid member \"2 127.0.0.1:8101\""),
            "{e}"
        );
    }

    #[test]
    fn member_parsing() {
        let m = parse_member("  7\t10.0.0.7:8100   node7.example.com:8200 ").unwrap();
        assert_eq!(m.id, 7);
        assert_eq!(m.raft_addr, "10.0.0.7:8100");
        assert_eq!(m.api_addr, "node7.example.com:8200");
        let m = parse_member("1 [::1]:8100 [fe80::1]:8200").unwrap();
        assert_eq!(m.raft_addr, "[::1]:8100");
        assert!(parse_member("1 my_host-1:1 h:65535").is_ok());

        for (bad, expect) in [
            ("", "expected \"ID RAFT_ADDR API_ADDR\""),
            ("1 127.0.0.1:8100", "expected \"ID RAFT_ADDR API_ADDR\""),
            ("1 a:1 b:2 c:3", "expected \"ID RAFT_ADDR API_ADDR\""),
            (
                "x 127.0.0.1:8100 127.0.0.1:8200",
                "node id \"x\" is not an unsigned integer",
            ),
            ("-1 127.0.0.1:8100 127.0.0.1:8200", "node id \"-1\""),
            (
                "1 127.0.0.1 127.0.0.1:8200",
                "raft address \"127.0.0.1\": missing port",
            ),
            (
                "1 127.0.0.1:http 127.0.0.1:8200",
                "port \"http\" is not a number",
            ),
            ("1 127.0.0.1:70000 127.0.0.1:8200", "port \"70000\""),
            ("1 127.0.0.1:0 127.0.0.1:8200", "port 0"),
            ("1 :8100 127.0.0.1:8200", "missing host"),
            ("1 ::1:8100 127.0.0.1:8200", "must be in brackets"),
            ("1 [zz]:8100 127.0.0.1:8200", "invalid IPv6 host"),
            (
                "1 127.0.0.1:8100 ho/st:8200",
                "api address \"ho/st:8200\": invalid character '/'",
            ),
            ("1 a..b:1 c:2", "invalid host name"),
        ] {
            let e = msg(parse_member(bad).unwrap_err());
            assert!(e.contains(expect), "{bad:?}: {e}");
        }

        let ms = parse_members("1 a:1 a:2\r\n; \n2 b:1 b:2").unwrap();
        assert_eq!(ms.iter().map(|m| m.id).collect::<Vec<_>>(), vec![1, 2]);
        assert!(parse_members("").unwrap().is_empty());
    }

    fn check(b: NodeConfigBuilder, expect: &str) {
        let e = err_of(b.build());
        assert!(e.contains(expect), "expected {expect:?} in: {e}");
        assert!(!e.contains(RAFT) && !e.contains(API), "secret leaked: {e}");
    }

    #[test]
    fn validation_errors() {
        let (_d, b) = valid();
        check(b.node_id(4), "node_id 4 is not in nodes (1, 2, 3)");
        let (_d, b) = valid();
        check(b.nodes(vec![]), "nodes is empty");
        let (_d, b) = valid();
        check(
            b.node(2, "127.0.0.1:9000", "127.0.0.1:9001"),
            "duplicate node id 2 in nodes",
        );
        let (_d, b) = valid();
        check(
            b.node(4, "127.0.0.1:8101", "127.0.0.1:9001"),
            "address \"127.0.0.1:8101\" is used twice (node 2 raft_addr and node 4 raft_addr)",
        );
        let (_d, b) = valid();
        check(
            b.node(4, "127.0.0.1:9000", "127.0.0.1:8200"),
            "address \"127.0.0.1:8200\" is used twice (node 1 api_addr and node 4 api_addr)",
        );
        let (_d, b) = valid();
        check(
            b.node(4, "127.0.0.1:9000", "127.0.0.1:9000"),
            "used twice (node 4 raft_addr and node 4 api_addr)",
        );
        let (_d, b) = valid();
        check(
            b.node(4, "127.0.0.1:9000", "127.0.0.1"),
            "node 4 api_addr \"127.0.0.1\": missing port",
        );
        let (_d, b) = valid();
        check(
            b.node(4, "localhost:x", "h:1"),
            "node 4 raft_addr \"localhost:x\": port \"x\"",
        );

        let (_d, b) = valid();
        check(
            b.secret_raft("short-secret"),
            "secret_raft is too short (12 characters; at least 16 are required)",
        );
        let (_d, b) = valid();
        let e = err_of(b.secret_api("tiny-api-secret").build());
        assert!(e.contains("secret_api is too short"), "{e}");
        assert!(!e.contains("tiny-api-secret"), "{e}");
        // 16 multi-byte characters are enough
        let (_d, b) = valid();
        assert!(b.secret_api("ääääääääääääääää").build().is_ok());

        let (_d, b) = valid();
        check(
            b.election_timeout_min(Duration::from_millis(300)),
            "election_timeout_min (300ms) must be more than twice heartbeat_interval (150ms)",
        );
        let (_d, b) = valid();
        check(
            b.election_timeout_min(Duration::from_millis(1500)),
            "election_timeout_min (1.5s) must be less than election_timeout_max (1.5s)",
        );
        let (_d, b) = valid();
        check(
            b.election_timeout_max(Duration::from_millis(700)),
            "must be less than election_timeout_max (700ms)",
        );
        let (_d, b) = valid();
        check(
            b.heartbeat_interval(Duration::ZERO),
            "heartbeat_interval must be greater than 0",
        );
        let (_d, b) = valid();
        check(
            b.request_timeout(Duration::ZERO),
            "request_timeout must be greater than 0",
        );
        let (_d, b) = valid();
        check(b.read_pool_size(0), "read_pool_size must be at least 1");
        let (_d, b) = valid();
        check(
            b.max_frame_bytes(100),
            "max_frame_bytes 100 is out of range",
        );
        let (_d, b) = valid();
        check(
            b.filename_db("db/x.db"),
            "filename_db \"db/x.db\": must be a file name",
        );
        let (_d, b) = valid();
        check(b.filename_db(""), "filename_db \"\": must not be empty");
    }

    #[test]
    fn validation_reports_all_problems() {
        let (_d, b) = valid();
        let e = err_of(b.node_id(9).read_pool_size(0).secret_raft("x").build());
        assert!(e.starts_with("invalid configuration: 3 problems: "), "{e}");
        assert!(
            e.contains("node_id 9") && e.contains("read_pool_size") && e.contains("secret_raft")
        );
    }

    #[test]
    fn data_dir_not_creatable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let target = file.join("sub");
        let e = err_of(three_nodes().data_dir(&target).build());
        assert!(
            e.contains(&format!(
                "data_dir \"{}\" cannot be created",
                target.display()
            )),
            "{e}"
        );
        assert!(e.contains("os error"), "OS error included: {e}");
        // a file where the directory should be
        let e = err_of(three_nodes().data_dir(&file).build());
        assert!(
            e.contains(&format!("data_dir \"{}\"", file.display())),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn data_dir_not_writable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        // root ignores permissions: only assert when the probe really fails
        if std::fs::write(ro.join("t"), "t").is_ok() {
            return;
        }
        let e = err_of(three_nodes().data_dir(&ro).build());
        assert!(
            e.contains("is not writable") && e.contains("os error"),
            "{e}"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let (_d, b) = valid();
        assert!(!format!("{b:?}").contains(RAFT));
        let c = b.build().unwrap();
        let dbg = format!("{c:?}");
        let pretty = format!("{c:#?}");
        for s in [&dbg, &pretty] {
            assert!(!s.contains(RAFT) && !s.contains(API), "{s}");
            assert!(s.contains("Secret(***)"));
        }
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../docs/hiqlite.example.toml");
        let dir = tempfile::tempdir().unwrap();
        let b = NodeConfig::builder().toml_str(text).unwrap();
        assert_eq!(b.nodes.len(), 3);
        let c = b.data_dir(dir.path()).build().unwrap();
        assert_eq!(c.node_id, 1);
    }

    #[test]
    fn docs_mention_every_key() {
        let reference = include_str!("../../docs/configuration.md");
        let example = include_str!("../../docs/hiqlite.example.toml");
        for (key, var, flag) in KEYS {
            assert!(reference.contains(key), "configuration.md lacks {key}");
            assert!(reference.contains(var), "configuration.md lacks {var}");
            if let Some(flag) = flag {
                assert!(reference.contains(flag), "configuration.md lacks {flag}");
            }
            assert!(example.contains(key), "hiqlite.example.toml lacks {key}");
        }
    }
}
