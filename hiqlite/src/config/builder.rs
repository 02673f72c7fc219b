//! [`NodeConfigBuilder`]: defaults, then sources and setters layered over them, then one check of
//! everything in [`build`](NodeConfigBuilder::build). The TOML and `HQL_*` sources are in
//! `sources.rs`.

use std::path::PathBuf;
use std::time::Duration;

use super::keys::given_by;
use super::members::parse_member;
use super::{ConfigError, NodeConfig, ReadPolicy, Secret};
use crate::types::members::{Member, NodeId};

/// Builds a [`NodeConfig`] from defaults, a TOML file, `HQL_*` environment variables and explicit
/// setters; later layers override earlier ones, so apply them in the order file, env, flags.
/// Setters take any value; [`build`](Self::build) checks them all at once.
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
    /// Every setting so far: the defaults, with what sources and setters gave over them.
    pub(super) config: NodeConfig,
    /// The required settings nothing has given yet (they have no default), in report order.
    pub(super) missing: Vec<&'static str>,
    /// Problems found while layering sources (e.g. a bad `--node`), reported by `build` with
    /// every other problem.
    pub(super) problems: Vec<String>,
}

/// The settings without a default.
const REQUIRED: [&str; 3] = ["node_id", "secret_raft", "secret_api"];

impl Default for NodeConfigBuilder {
    fn default() -> Self {
        NodeConfigBuilder {
            config: NodeConfig::with_defaults(),
            missing: REQUIRED.to_vec(),
            problems: Vec::new(),
        }
    }
}

/// A builder holding every value of `config`, e.g. to change one setting and build again.
impl From<NodeConfig> for NodeConfigBuilder {
    fn from(config: NodeConfig) -> Self {
        NodeConfigBuilder {
            config,
            missing: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl NodeConfigBuilder {
    /// This node's id (TOML `node_id`, env `HQL_NODE_ID`, flag `--node-id`). Required.
    pub fn node_id(mut self, id: NodeId) -> Self {
        self.config.node_id = id;
        self.given("node_id");
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
        self.config.nodes.push(Member {
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
                Err(e) => self
                    .problems
                    .push(format!("{source} {spec:?}: {}", e.detail())),
            }
        }
        self.config.nodes = nodes;
        self
    }

    /// Replaces the member list (TOML `nodes`, env `HQL_NODES`, flag `--node`). Required.
    pub fn nodes(mut self, nodes: Vec<Member>) -> Self {
        self.config.nodes = nodes;
        self
    }
    /// Directory for the Raft log and the database (TOML `data_dir`, env `HQL_DATA_DIR`, flag
    /// `--data-dir`; default `./hiqlite-data`). `build` creates it and checks it is writable.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = dir.into();
        self
    }
    /// Secret for node-to-node Raft traffic, at least 16 characters (TOML `secret_raft`, env
    /// `HQL_SECRET_RAFT`, flag `--secret-raft`). Required.
    pub fn secret_raft(mut self, secret: impl Into<Secret>) -> Self {
        self.config.secret_raft = secret.into();
        self.given("secret_raft");
        self
    }
    /// Secret for the API port, at least 16 characters (TOML `secret_api`, env
    /// `HQL_SECRET_API`, flag `--secret-api`). Required.
    pub fn secret_api(mut self, secret: impl Into<Secret>) -> Self {
        self.config.secret_api = secret.into();
        self.given("secret_api");
        self
    }
    /// SQLite file name inside `data_dir/db`, without directories (TOML `filename_db`; default
    /// `hiqlite.db`).
    pub fn filename_db(mut self, name: impl Into<String>) -> Self {
        self.config.filename_db = name.into();
        self
    }
    /// Read-only connections for local reads, at least 1 (TOML `read_pool_size`; default 4).
    pub fn read_pool_size(mut self, n: usize) -> Self {
        self.config.read_pool_size = n;
        self
    }
    /// Acknowledge log appends only after fsync (TOML `log_sync`; default `true`).
    pub fn log_sync(mut self, sync: bool) -> Self {
        self.config.log_sync = sync;
        self
    }
    /// Leader heartbeat interval, more than 0 (TOML `heartbeat_interval_ms`, in milliseconds;
    /// default 50 ms).
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.config.heartbeat_interval = d;
        self
    }
    /// Lower bound of the election timeout, more than twice the heartbeat interval (TOML
    /// `election_timeout_min_ms`, in milliseconds; default 200 ms).
    pub fn election_timeout_min(mut self, d: Duration) -> Self {
        self.config.election_timeout_min = d;
        self
    }
    /// Upper bound of the election timeout, more than the lower bound (TOML
    /// `election_timeout_max_ms`, in milliseconds; default 400 ms).
    pub fn election_timeout_max(mut self, d: Duration) -> Self {
        self.config.election_timeout_max = d;
        self
    }
    /// Largest accepted network frame in bytes, from 64 KiB to 1 GiB (TOML `max_frame_bytes`;
    /// default 64 MiB).
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.config.max_frame_bytes = n;
        self
    }
    /// Bound on the replicated cache's keys plus values, in bytes (TOML `cache_max_bytes`, env
    /// `HQL_CACHE_MAX_BYTES`; default 0: no bound). See docs/cache.md, "Size".
    pub fn cache_max_bytes(mut self, n: u64) -> Self {
        self.config.cache_max_bytes = n;
        self
    }
    /// How long a request retries across leader changes, more than 0 (TOML
    /// `request_timeout_ms`, in milliseconds; default 10 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.config.request_timeout = d;
        self
    }
    /// Log entries between snapshots (TOML `snapshot_after_logs`; default 100 000; 0 = never
    /// snapshot).
    pub fn snapshot_after_logs(mut self, n: u64) -> Self {
        self.config.snapshot_after_logs = n;
        self
    }
    /// How consistent reads confirm leadership (TOML `read_policy`; default
    /// [`ReadPolicy::ReadIndex`]).
    pub fn read_policy(mut self, policy: ReadPolicy) -> Self {
        self.config.read_policy = policy;
        self
    }
    /// Bind the Raft listener at `addr` (`host:port`) instead of at this node's `raft_addr`
    /// (TOML `listen_raft_addr`).
    pub fn listen_raft_addr(mut self, addr: impl Into<String>) -> Self {
        self.config.listen_raft_addr = Some(addr.into());
        self
    }
    /// Bind the API listener at `addr` (`host:port`) instead of at this node's `api_addr`
    /// (TOML `listen_api_addr`).
    pub fn listen_api_addr(mut self, addr: impl Into<String>) -> Self {
        self.config.listen_api_addr = Some(addr.into());
        self
    }
    /// Serve `/health`, `/ready`, `/metrics` and `/dashboard` at `addr` (`host:port`; TOML
    /// `http_addr`, env `HQL_HTTP_ADDR`), over HTTPS when the API port has a certificate.
    /// Unset: no HTTP listener (docs/operations.md).
    pub fn http_addr(mut self, addr: impl Into<String>) -> Self {
        self.config.http_addr = Some(addr.into());
        self
    }
    /// The password that logs in to the dashboard (TOML `password_dashboard`, env
    /// `HQL_PASSWORD_DASHBOARD`), at least 16 characters. Unset: `secret_api` logs in.
    pub fn password_dashboard(mut self, password: impl Into<Secret>) -> Self {
        self.config.password_dashboard = Some(password.into());
        self
    }
    /// Serve the Raft port over TLS with the certificate chain in the PEM file `path` (TOML
    /// `tls_raft_cert`, env `HQL_TLS_RAFT_CERT`); needs `tls_raft_key` and `tls_ca`. Reloaded
    /// when the file changes.
    pub fn tls_raft_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.tls.raft_cert = Some(path.into());
        self
    }
    /// The Raft certificate's private key, PEM (TOML `tls_raft_key`, env `HQL_TLS_RAFT_KEY`).
    pub fn tls_raft_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.tls.raft_key = Some(path.into());
        self
    }
    /// Serve the API port and the HTTP listener over TLS with the certificate chain in the PEM
    /// file `path` (TOML `tls_api_cert`, env `HQL_TLS_API_CERT`); needs `tls_api_key` and
    /// `tls_ca`. Reloaded when the file changes.
    pub fn tls_api_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.tls.api_cert = Some(path.into());
        self
    }
    /// The API certificate's private key, PEM (TOML `tls_api_key`, env `HQL_TLS_API_KEY`).
    pub fn tls_api_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.tls.api_key = Some(path.into());
        self
    }
    /// The CA certificate(s), PEM, that peers' certificates must chain to (TOML `tls_ca`, env
    /// `HQL_TLS_CA`).
    pub fn tls_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.tls.ca = Some(path.into());
        self
    }
    /// Generate self-signed certificates at start, for development only (TOML
    /// `tls_auto_certs`, env `HQL_TLS_AUTO_CERTS`): encrypted, but peers accept any certificate,
    /// so only the shared secrets authenticate.
    pub fn tls_auto_certs(mut self, on: bool) -> Self {
        self.config.tls.auto_certs = on;
        self
    }
    /// Mutual TLS on the Raft port (TOML `tls_client_auth`, env `HQL_TLS_CLIENT_AUTH`).
    pub fn tls_client_auth(mut self, on: bool) -> Self {
        self.config.tls.client_auth = on;
        self
    }
    /// Join a running cluster as a learner (TOML `learner`, env `HQL_LEARNER`): a read replica
    /// that receives every write but never votes. Only affects a node that is not a member yet.
    pub fn learner(mut self, learner: bool) -> Self {
        self.config.learner = learner;
        self
    }

    /// Where this node writes its encrypted backups (TOML `backup_dir`, env `HQL_BACKUP_DIR`).
    pub fn backup_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.backup_dir = Some(dir.into());
        self
    }

    /// How often the leader ships the committed log to the backup store (TOML
    /// `backup_log_interval`, env `HQL_BACKUP_LOG_INTERVAL`, whole seconds; default 10 s;
    /// `Duration::ZERO`: off). See docs/backups.md.
    pub fn backup_log_interval(mut self, interval: Duration) -> Self {
        self.config.backup_log_interval = interval;
        self
    }

    /// The backup encryption keys, each `ID/BASE64` (32 bytes) as cryptr writes them; an entry
    /// may hold several separated by newlines or spaces (TOML `enc_keys`, env `ENC_KEYS`). A key
    /// that does not parse is reported by [`build`](Self::build), by id, never by value.
    pub fn enc_keys<S: AsRef<str>>(mut self, entries: impl IntoIterator<Item = S>) -> Self {
        let entries: Vec<S> = entries.into_iter().collect();
        match super::enc_keys::parse_list(entries.iter().map(|e| e.as_ref())) {
            Ok(keys) => self.config.enc_keys.keys = keys,
            Err(problems) => self.problems.extend(problems),
        }
        self
    }

    /// The id of the key new backups are encrypted with (TOML `enc_key_active`, env
    /// `ENC_KEY_ACTIVE`); it must be one of [`enc_keys`](Self::enc_keys).
    pub fn enc_key_active(mut self, id: impl Into<String>) -> Self {
        self.config.enc_keys.active = Some(id.into().trim().to_string());
        self
    }

    /// The S3 endpoint backups are uploaded to, `http://` or `https://` (TOML `s3_url`, env
    /// `HQL_S3_URL`). Uploads need `s3_url`, `s3_bucket`, `s3_key` and `s3_secret`.
    pub fn s3_url(mut self, url: impl Into<String>) -> Self {
        self.config.s3.url = Some(url.into());
        self
    }
    /// The S3 bucket (TOML `s3_bucket`, env `HQL_S3_BUCKET`); it must exist.
    pub fn s3_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.config.s3.bucket = Some(bucket.into());
        self
    }
    /// The S3 region (TOML `s3_region`, env `HQL_S3_REGION`); default `us-east-1`.
    pub fn s3_region(mut self, region: impl Into<String>) -> Self {
        self.config.s3.region = Some(region.into());
        self
    }
    /// Path-style S3 requests (TOML `s3_path_style`, env `HQL_S3_PATH_STYLE`); default `true`.
    pub fn s3_path_style(mut self, path_style: bool) -> Self {
        self.config.s3.path_style = path_style;
        self
    }
    /// The S3 access key id (TOML `s3_key`, env `HQL_S3_KEY`).
    pub fn s3_key(mut self, key: impl Into<String>) -> Self {
        self.config.s3.key = Some(key.into());
        self
    }
    /// The S3 secret access key (TOML `s3_secret`, env `HQL_S3_SECRET`); never printed.
    pub fn s3_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.config.s3.secret = Some(secret.into());
        self
    }

    /// When the leader makes scheduled backups: a cron expression evaluated in UTC, 5 fields
    /// (`min hour dom month dow`), 6 (with leading seconds) or 7 (seconds ... year), e.g.
    /// `0 30 2 * * *` (TOML `backup_cron`, env `HQL_BACKUP_CRON`). Checked by
    /// [`build`](Self::build); needs `backup_dir` or S3.
    pub fn backup_cron(mut self, expr: impl Into<String>) -> Self {
        self.config.backup_cron = Some(expr.into());
        self
    }
    /// Days snapshot backups are kept in the S3 bucket (TOML `backup_keep_days`, env
    /// `HQL_BACKUP_KEEP_DAYS`); default 30.
    pub fn backup_keep_days(mut self, days: u32) -> Self {
        self.config.backup_keep_days = days;
        self
    }
    /// Days backups are kept in `backup_dir` (TOML `backup_keep_days_local`, env
    /// `HQL_BACKUP_KEEP_DAYS_LOCAL`); default 3.
    pub fn backup_keep_days_local(mut self, days: u32) -> Self {
        self.config.backup_keep_days_local = days;
        self
    }

    /// Checks that the required values are present, then [validates](NodeConfig::validate).
    /// Every problem is reported in one error: missing values, problems recorded while layering
    /// (see [`parse_nodes`](Self::parse_nodes)) and every check of the values that are set.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with every problem, each naming its key (and where it can be
    /// given, for a missing one) and never a secret's value.
    pub fn build(self) -> Result<NodeConfig, ConfigError> {
        let mut problems: Vec<String> = self
            .missing
            .iter()
            .map(|key| format!("{key} is not set ({})", given_by(key)))
            .collect();
        problems.extend(self.problems);
        if !problems.is_empty() {
            // The other checks too, except the ones that only repeat that a value is missing.
            let follows_from_missing = |p: &String| {
                self.missing
                    .iter()
                    .any(|key| p.starts_with(&format!("{key} ")))
            };
            problems.extend(
                self.config
                    .check_values()
                    .into_iter()
                    .filter(|p| !follows_from_missing(p)),
            );
            return Err(ConfigError::invalid(problems));
        }
        self.config.validate()?;
        Ok(self.config)
    }

    /// Marks a required setting as given.
    fn given(&mut self, key: &str) {
        self.missing.retain(|k| *k != key);
    }
}
