//! The one list of settings: each key's TOML name, its `hiqlite serve` flag, and how its `HQL_*`
//! environment variable (`HQL_` and the key in capitals) is read.
//!
//! The `HQL_*` reader, the "is not set" messages and the checks that the docs and the example
//! config mention every key follow this list. The TOML file's shape (`FileConfig` in
//! `sources.rs`) is a serde struct of its own, so that serde reports type errors with their
//! position; a test checks that it names exactly these keys.

use std::str::FromStr;
use std::time::Duration;

use super::members::parse_members;
use super::NodeConfigBuilder;

/// One setting.
pub(super) struct Key {
    /// The TOML key.
    pub name: &'static str,
    /// The `hiqlite serve` flag that sets it, for the few settings that have one.
    pub flag: Option<&'static str>,
    /// Reads an `HQL_*` value (set and not blank) into the builder through its setter.
    pub from_env: fn(&mut NodeConfigBuilder, &str) -> Result<(), EnvProblem>,
}

impl Key {
    /// The environment variable: `HQL_` and the key in capitals (`ENC_KEYS` and `ENC_KEY_ACTIVE`
    /// without the prefix, as cryptr names them).
    pub fn env_var(&self) -> String {
        env_var_of(self.name)
    }
}

type B = NodeConfigBuilder;

/// Every setting, in the order the `HQL_*` reader reports problems. Values are trimmed, except
/// the secrets: they are taken verbatim so that every source yields the same bytes.
pub(super) const KEYS: &[Key] = &[
    key("node_id", Some("--node-id"), |b, v| {
        set(b, uint(v), B::node_id)
    }),
    key("nodes", Some("--node"), |b, v| set(b, members(v), B::nodes)),
    key("data_dir", Some("--data-dir"), |b, v| {
        set(b, Ok(v.trim()), B::data_dir)
    }),
    key("secret_raft", Some("--secret-raft"), |b, v| {
        set(b, Ok(v), B::secret_raft)
    }),
    key("secret_api", Some("--secret-api"), |b, v| {
        set(b, Ok(v), B::secret_api)
    }),
    key("filename_db", None, |b, v| {
        set(b, Ok(v.trim()), B::filename_db)
    }),
    key("read_pool_size", None, |b, v| {
        set(b, uint(v), B::read_pool_size)
    }),
    key("log_sync", None, |b, v| set(b, boolean(v), B::log_sync)),
    key("heartbeat_interval_ms", None, |b, v| {
        set(b, millis(v), B::heartbeat_interval)
    }),
    key("election_timeout_min_ms", None, |b, v| {
        set(b, millis(v), B::election_timeout_min)
    }),
    key("election_timeout_max_ms", None, |b, v| {
        set(b, millis(v), B::election_timeout_max)
    }),
    key("max_frame_bytes", None, |b, v| {
        set(b, uint(v), B::max_frame_bytes)
    }),
    key("cache_max_bytes", None, |b, v| {
        set(b, uint(v), B::cache_max_bytes)
    }),
    key("request_timeout_ms", None, |b, v| {
        set(b, millis(v), B::request_timeout)
    }),
    key("snapshot_after_logs", None, |b, v| {
        set(b, uint(v), B::snapshot_after_logs)
    }),
    key("listen_raft_addr", None, |b, v| {
        set(b, Ok(v.trim()), B::listen_raft_addr)
    }),
    key("listen_api_addr", None, |b, v| {
        set(b, Ok(v.trim()), B::listen_api_addr)
    }),
    key("http_addr", None, |b, v| set(b, Ok(v.trim()), B::http_addr)),
    key("password_dashboard", None, |b, v| {
        set(b, Ok(v), B::password_dashboard)
    }),
    key("tls_raft_cert", None, |b, v| {
        set(b, Ok(v.trim()), B::tls_raft_cert)
    }),
    key("tls_raft_key", None, |b, v| {
        set(b, Ok(v.trim()), B::tls_raft_key)
    }),
    key("tls_api_cert", None, |b, v| {
        set(b, Ok(v.trim()), B::tls_api_cert)
    }),
    key("tls_api_key", None, |b, v| {
        set(b, Ok(v.trim()), B::tls_api_key)
    }),
    key("tls_ca", None, |b, v| set(b, Ok(v.trim()), B::tls_ca)),
    key("tls_auto_certs", None, |b, v| {
        set(b, boolean(v), B::tls_auto_certs)
    }),
    key("tls_client_auth", None, |b, v| {
        set(b, boolean(v), B::tls_client_auth)
    }),
    key("learner", None, |b, v| set(b, boolean(v), B::learner)),
    key("read_policy", None, |b, v| {
        set(b, v.parse().map_err(EnvProblem::Invalid), B::read_policy)
    }),
    key("backup_dir", None, |b, v| {
        set(b, Ok(v.trim()), B::backup_dir)
    }),
    key("backup_log_interval", None, |b, v| {
        set(b, seconds(v), B::backup_log_interval)
    }),
    key("enc_keys", None, |b, v| set(b, Ok([v]), B::enc_keys)),
    key("enc_key_active", None, |b, v| {
        set(b, Ok(v.trim()), B::enc_key_active)
    }),
    key("s3_url", None, |b, v| set(b, Ok(v.trim()), B::s3_url)),
    key("s3_bucket", None, |b, v| set(b, Ok(v.trim()), B::s3_bucket)),
    key("s3_region", None, |b, v| set(b, Ok(v.trim()), B::s3_region)),
    key("s3_path_style", None, |b, v| {
        set(b, boolean(v), B::s3_path_style)
    }),
    key("s3_key", None, |b, v| set(b, Ok(v.trim()), B::s3_key)),
    key("s3_secret", None, |b, v| set(b, Ok(v), B::s3_secret)),
    key("backup_cron", None, |b, v| {
        set(b, Ok(v.trim()), B::backup_cron)
    }),
    key("backup_keep_days", None, |b, v| {
        set(b, uint(v), B::backup_keep_days)
    }),
    key("backup_keep_days_local", None, |b, v| {
        set(b, uint(v), B::backup_keep_days_local)
    }),
];

/// Where a setting can be given, for messages: ``TOML `nodes`, env HQL_NODES, flag --node``.
pub(super) fn given_by(name: &str) -> String {
    match KEYS.iter().find(|k| k.name == name) {
        Some(Key {
            flag: Some(flag), ..
        }) => format!("TOML `{name}`, env {}, flag {flag}", env_var_of(name)),
        _ => format!("TOML `{name}`, env {}", env_var_of(name)),
    }
}

fn env_var_of(name: &str) -> String {
    // The backup keys keep the names cryptr gives them, so one set of variables serves both.
    if matches!(name, "enc_keys" | "enc_key_active") {
        return name.to_ascii_uppercase();
    }
    format!("HQL_{}", name.to_ascii_uppercase())
}

/// Why an `HQL_*` value was refused.
pub(super) enum EnvProblem {
    /// Not of the right kind: `VAR="value" is not <kind>`.
    Not(&'static str),
    /// Of the right kind, but not a valid value: `VAR: <message>`.
    Invalid(String),
}

impl EnvProblem {
    /// The message for variable `var` set to `value` (values are never secrets here: secrets are
    /// taken as they are and cannot be refused).
    pub fn message(&self, var: &str, value: &str) -> String {
        match self {
            EnvProblem::Not(kind) => format!("{var}={value:?} is not {kind}"),
            EnvProblem::Invalid(message) => format!("{var}: {message}"),
        }
    }
}

const fn key(
    name: &'static str,
    flag: Option<&'static str>,
    from_env: fn(&mut B, &str) -> Result<(), EnvProblem>,
) -> Key {
    Key {
        name,
        flag,
        from_env,
    }
}

/// Applies `value` to the builder with one of its (by-value) setters.
fn set<T>(
    b: &mut B,
    value: Result<T, EnvProblem>,
    setter: fn(B, T) -> B,
) -> Result<(), EnvProblem> {
    let value = value?;
    *b = setter(std::mem::take(b), value);
    Ok(())
}

fn uint<T: FromStr>(v: &str) -> Result<T, EnvProblem> {
    v.trim()
        .parse()
        .map_err(|_| EnvProblem::Not("an unsigned integer"))
}

fn millis(v: &str) -> Result<Duration, EnvProblem> {
    match v.trim().parse() {
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => Err(EnvProblem::Not("a number of milliseconds")),
    }
}

fn seconds(v: &str) -> Result<Duration, EnvProblem> {
    match v.trim().parse() {
        Ok(s) => Ok(Duration::from_secs(s)),
        Err(_) => Err(EnvProblem::Not("a whole number of seconds")),
    }
}

fn boolean(v: &str) -> Result<bool, EnvProblem> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(EnvProblem::Not(
            "a boolean (true/false, 1/0, yes/no, on/off)",
        )),
    }
}

fn members(v: &str) -> Result<Vec<crate::types::members::Member>, EnvProblem> {
    parse_members(v).map_err(|e| EnvProblem::Invalid(e.detail()))
}
