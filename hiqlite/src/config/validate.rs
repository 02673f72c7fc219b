//! Checking a [`NodeConfig`] before a node starts: every problem is collected and reported in one
//! [`ConfigError::Invalid`], each naming its key and value (never a secret).

use std::path::Path;
use std::time::Duration;

use super::keys::given_by;
use super::members::check_addr;
use super::{ConfigError, NodeConfig, MAX_MAX_FRAME_BYTES, MIN_MAX_FRAME_BYTES, MIN_SECRET_LEN};
use crate::types::members::NodeId;

/// The longest `backup_log_interval`: a day.
const MAX_BACKUP_LOG_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

impl NodeConfig {
    /// Checks the whole configuration and reports every problem found in one error; messages
    /// name the offending key and value (never a secret). Also creates `data_dir` if needed and
    /// checks that it is writable by writing and removing a probe file. Logs a warning (and
    /// succeeds) when `request_timeout` is shorter than `election_timeout_max` or `log_sync` is
    /// off.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with every problem: members, ids and addresses, secret lengths,
    /// timing rules, limits, `filename_db`, and a `data_dir` that cannot be created or written
    /// (with the operating system's reason).
    pub fn validate(&self) -> Result<(), ConfigError> {
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
            Err(ConfigError::invalid(problems))
        }
    }

    /// Every check except the data directory (which touches the file system).
    pub(super) fn check_values(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, addr) in [
            ("listen_raft_addr", &self.listen_raft_addr),
            ("listen_api_addr", &self.listen_api_addr),
            ("http_addr", &self.http_addr),
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
            problems.push(format!(
                "nodes is empty: list every cluster member as \"ID RAFT_ADDR API_ADDR\" ({})",
                given_by("nodes")
            ));
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

        // backups: keys that fit together, and keys wherever backups are written
        problems.extend(self.enc_keys.problems());
        if let Some(dir) = &self.backup_dir {
            if self.enc_keys.keys.is_empty() {
                problems.push(format!(
                    "backup_dir {:?} is set but enc_keys is empty: backups are always encrypted \
                     (TOML `enc_keys` and `enc_key_active`, env ENC_KEYS and ENC_KEY_ACTIVE)",
                    dir.display().to_string()
                ));
            }
        }

        if self.backup_log_interval > MAX_BACKUP_LOG_INTERVAL {
            problems.push(format!(
                "backup_log_interval is {} s, more than a day ({} s): ship the log at least daily, \
                 or set 0 to turn log shipping off",
                self.backup_log_interval.as_secs(),
                MAX_BACKUP_LOG_INTERVAL.as_secs()
            ));
        }

        // S3 uploads: every required setting, and keys (they upload encrypted backups)
        problems.extend(self.s3.problems());
        problems.extend(self.tls.problems());
        if self.s3.is_set() && self.enc_keys.keys.is_empty() {
            problems.push(
                "s3_* is set but enc_keys is empty: backups are always encrypted (TOML `enc_keys` \
                 and `enc_key_active`, env ENC_KEYS and ENC_KEY_ACTIVE)"
                    .into(),
            );
        }

        // scheduled backups: a valid expression, and somewhere to write them
        if let Some(expr) = &self.backup_cron {
            if let Err(e) = super::CronSchedule::parse(expr) {
                problems.push(e);
            }
            if self.backup_dir.is_none() && !self.s3.is_set() {
                problems.push(format!(
                    "backup_cron {expr:?} is set but backups are not: set backup_dir ({}) or \
                     the s3_* settings, and enc_keys",
                    given_by("backup_dir")
                ));
            }
        }

        // secrets: say which and how short, never the value
        let password = self.password_dashboard.as_ref();
        for (key, secret) in [
            ("secret_raft", Some(&self.secret_raft)),
            ("secret_api", Some(&self.secret_api)),
            ("password_dashboard", password),
        ] {
            let Some(secret) = secret else { continue };
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
/// Directories it creates are for this user only (0700 on Unix): the data directory holds the
/// database unencrypted (docs/security.md).
fn check_data_dir(dir: &Path) -> Result<(), String> {
    if dir.as_os_str().is_empty() {
        return Ok(()); // reported by check_values
    }
    let shown = dir.display();
    let mut create = std::fs::DirBuilder::new();
    create.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut create, 0o700);
    create
        .create(dir)
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
