//! The two outside sources a [`NodeConfigBuilder`] layers: a TOML file (or text) and the `HQL_*`
//! environment variables. Each overrides the settings it gives and leaves the others alone.
//!
//! Both are read by hand rather than with a layering crate (figment, config): those parse the
//! file into a value tree that loses line and column, can echo a secret's line in a syntax error,
//! type environment values by their look (so `HQL_SECRET_API=12345678901234567890` stops being a
//! string, and `yes` is no boolean) and stop at the first problem.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::keys::KEYS;
use super::members::parse_member;
use super::{ConfigError, NodeConfigBuilder, Secret};
use crate::types::members::NodeId;

impl NodeConfigBuilder {
    /// Applies the values of the TOML file at `path` over the current ones.
    ///
    /// # Errors
    /// - [`ConfigError::ReadFile`] when the file cannot be read, with the path and the OS reason.
    /// - [`ConfigError::Toml`] for a syntax error, a value of the wrong type, an unknown key or a
    ///   `nodes` entry that is not a member: it names `config file "PATH"`, the line (and column)
    ///   and the key, never the value.
    /// - [`ConfigError::Invalid`] for a `read_policy` other than `read_index` or `lease`.
    ///
    /// The first such problem stops the file; problems of values that parse (a short secret, a
    /// node id not in `nodes`) are reported together by [`build`](Self::build).
    pub fn toml_file(self, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::ReadFile {
            path: path.to_path_buf(),
            error,
        })?;
        self.toml_source(&text, &format!("config file \"{}\"", path.display()))
    }

    /// Applies the values of TOML text over the current ones. Errors as for
    /// [`toml_file`](Self::toml_file), naming `TOML config` instead of a file.
    pub fn toml_str(self, toml: &str) -> Result<Self, ConfigError> {
        self.toml_source(toml, "TOML config")
    }

    fn toml_source(self, text: &str, origin: &str) -> Result<Self, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| toml_error(&e, text, origin))?;
        file.apply(self, text, origin)
    }

    /// Applies the `HQL_*` environment variables that are set (and not empty) over the current
    /// values.
    ///
    /// # Errors
    /// - [`ConfigError::NotUtf8`] for a variable that is not valid UTF-8.
    /// - [`ConfigError::Invalid`] with every variable that does not parse, as for
    ///   [`env_with`](Self::env_with).
    pub fn env(self) -> Result<Self, ConfigError> {
        for key in KEYS {
            let var = key.env_var();
            if std::env::var_os(&var).is_some_and(|v| v.to_str().is_none()) {
                return Err(ConfigError::NotUtf8 { var });
            }
        }
        self.env_with(|name| std::env::var(name).ok())
    }

    /// Like [`env`](Self::env), but reads variables through `lookup` instead of the process
    /// environment (for tests, or to layer another source with the same names). Unset and blank
    /// (whitespace-only) variables are skipped; values are trimmed, except the secrets.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every variable that does not parse, with its name and
    /// value (`HQL_READ_POOL_SIZE="four" is not an unsigned integer`, `HQL_NODES: invalid member
    /// ...`); secrets are taken as they are, so their values never appear.
    ///
    /// ```
    /// let b = hiqlite::NodeConfig::builder()
    ///     .env_with(|name| (name == "HQL_NODE_ID").then(|| "2".to_string()))
    ///     .unwrap();
    /// ```
    pub fn env_with(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        for key in KEYS {
            let var = key.env_var();
            let Some(value) = lookup(&var).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            if let Err(problem) = (key.from_env)(&mut self, &value) {
                problems.push(problem.message(&var, &value));
            }
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(ConfigError::invalid(problems))
        }
    }
}

/// The TOML file's shape. Every key is optional here; required values are checked by `build`.
/// The field order is the order of keys in the unknown-key message.
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
    cache_max_bytes: Option<u64>,
    request_timeout_ms: Option<u64>,
    snapshot_after_logs: Option<u64>,
    read_policy: Option<String>,
    listen_raft_addr: Option<String>,
    listen_api_addr: Option<String>,
    http_addr: Option<String>,
    password_dashboard: Option<Secret>,
    tls_raft_cert: Option<PathBuf>,
    tls_raft_key: Option<PathBuf>,
    tls_api_cert: Option<PathBuf>,
    tls_api_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    tls_auto_certs: Option<bool>,
    tls_client_auth: Option<bool>,
    learner: Option<bool>,
    backup_dir: Option<PathBuf>,
    backup_log_interval: Option<u64>,
    enc_keys: Option<KeyEntries>,
    enc_key_active: Option<String>,
    s3_url: Option<String>,
    s3_bucket: Option<String>,
    s3_region: Option<String>,
    s3_path_style: Option<bool>,
    s3_key: Option<String>,
    s3_secret: Option<Secret>,
    backup_cron: Option<String>,
    backup_keep_days: Option<u32>,
    backup_keep_days_local: Option<u32>,
}

/// `enc_keys` as one string (cryptr's newline-separated form) or a list of entries. Untagged, so
/// that a value of another type is refused without serde quoting it (it holds keys).
#[derive(Deserialize)]
#[serde(untagged)]
enum KeyEntries {
    One(String),
    Many(Vec<String>),
}

impl FileConfig {
    /// Sets every value the file gives through the builder's setters. `text` and `origin` locate
    /// a `nodes` entry that is not a member.
    fn apply(
        self,
        mut b: NodeConfigBuilder,
        text: &str,
        origin: &str,
    ) -> Result<NodeConfigBuilder, ConfigError> {
        if let Some(v) = self.node_id {
            b = b.node_id(v);
        }
        if let Some(entries) = self.nodes {
            let mut nodes = Vec::with_capacity(entries.len());
            for entry in entries {
                let m = parse_member(entry.get_ref()).map_err(|e| ConfigError::Toml {
                    origin: origin.to_string(),
                    line: Some(line_col(text, entry.span().start).0),
                    column: None,
                    key: None,
                    message: format!("nodes: {}", e.detail()),
                })?;
                nodes.push(m);
            }
            b = b.nodes(nodes);
        }
        if let Some(v) = self.data_dir {
            b = b.data_dir(v);
        }
        if let Some(v) = self.secret_raft {
            b = b.secret_raft(v);
        }
        if let Some(v) = self.secret_api {
            b = b.secret_api(v);
        }
        if let Some(v) = self.filename_db {
            b = b.filename_db(v);
        }
        if let Some(v) = self.read_pool_size {
            b = b.read_pool_size(v);
        }
        if let Some(v) = self.log_sync {
            b = b.log_sync(v);
        }
        if let Some(v) = self.heartbeat_interval_ms {
            b = b.heartbeat_interval(Duration::from_millis(v));
        }
        if let Some(v) = self.election_timeout_min_ms {
            b = b.election_timeout_min(Duration::from_millis(v));
        }
        if let Some(v) = self.election_timeout_max_ms {
            b = b.election_timeout_max(Duration::from_millis(v));
        }
        if let Some(v) = self.max_frame_bytes {
            b = b.max_frame_bytes(v);
        }
        if let Some(v) = self.cache_max_bytes {
            b = b.cache_max_bytes(v);
        }
        if let Some(v) = self.request_timeout_ms {
            b = b.request_timeout(Duration::from_millis(v));
        }
        if let Some(v) = self.snapshot_after_logs {
            b = b.snapshot_after_logs(v);
        }
        if let Some(v) = self.read_policy {
            let policy = v.parse().map_err(|e| ConfigError::invalid(vec![e]))?;
            b = b.read_policy(policy);
        }
        if let Some(v) = self.listen_raft_addr {
            b = b.listen_raft_addr(v);
        }
        if let Some(v) = self.listen_api_addr {
            b = b.listen_api_addr(v);
        }
        if let Some(v) = self.http_addr {
            b = b.http_addr(v);
        }
        if let Some(v) = self.password_dashboard {
            b = b.password_dashboard(v);
        }
        if let Some(v) = self.tls_raft_cert {
            b = b.tls_raft_cert(v);
        }
        if let Some(v) = self.tls_raft_key {
            b = b.tls_raft_key(v);
        }
        if let Some(v) = self.tls_api_cert {
            b = b.tls_api_cert(v);
        }
        if let Some(v) = self.tls_api_key {
            b = b.tls_api_key(v);
        }
        if let Some(v) = self.tls_ca {
            b = b.tls_ca(v);
        }
        if let Some(v) = self.tls_auto_certs {
            b = b.tls_auto_certs(v);
        }
        if let Some(v) = self.tls_client_auth {
            b = b.tls_client_auth(v);
        }
        if let Some(v) = self.learner {
            b = b.learner(v);
        }
        if let Some(v) = self.backup_dir {
            b = b.backup_dir(v);
        }
        if let Some(v) = self.backup_log_interval {
            b = b.backup_log_interval(Duration::from_secs(v));
        }
        if let Some(v) = self.enc_keys {
            b = b.enc_keys(match v {
                KeyEntries::One(s) => vec![s],
                KeyEntries::Many(v) => v,
            });
        }
        if let Some(v) = self.enc_key_active {
            b = b.enc_key_active(v);
        }
        if let Some(v) = self.s3_url {
            b = b.s3_url(v);
        }
        if let Some(v) = self.s3_bucket {
            b = b.s3_bucket(v);
        }
        if let Some(v) = self.s3_region {
            b = b.s3_region(v);
        }
        if let Some(v) = self.s3_path_style {
            b = b.s3_path_style(v);
        }
        if let Some(v) = self.s3_key {
            b = b.s3_key(v);
        }
        if let Some(v) = self.s3_secret {
            b = b.s3_secret(v);
        }
        if let Some(v) = self.backup_cron {
            b = b.backup_cron(v);
        }
        if let Some(v) = self.backup_keep_days {
            b = b.backup_keep_days(v);
        }
        if let Some(v) = self.backup_keep_days_local {
            b = b.backup_keep_days_local(v);
        }
        Ok(b)
    }
}

/// A TOML parse error as a [`ConfigError::Toml`]: only the message and the position, since
/// toml's `Display` quotes the source line, which could contain a secret.
fn toml_error(e: &toml::de::Error, text: &str, origin: &str) -> ConfigError {
    let message = e.message().trim_end().to_string();
    let (line, column, key) = match e.span() {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            // Name the key unless the message already does (unknown field).
            let key = key_before(text, span.start)
                .filter(|key| !message.contains(&format!("`{key}`")))
                .map(str::to_string);
            (Some(line), Some(column), key)
        }
        None => (None, None, None),
    };
    ConfigError::Toml {
        origin: origin.to_string(),
        line,
        column,
        key,
        message,
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
