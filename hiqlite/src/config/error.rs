//! [`ConfigError`]: why a configuration was refused.
//!
//! Every message starts with `invalid configuration: `, names the key (or the flag or `HQL_*`
//! variable it came from) and never shows a secret.

use std::path::PathBuf;

/// Why a configuration was refused. `Display` gives the message a user reads, starting with
/// `invalid configuration: `; [`detail`](Self::detail) gives the same message without that prefix.
///
/// Converts into `hiqlite::Error::Config` (with the same text), so `?` works in functions that
/// return `hiqlite::Error`.
///
/// ```
/// let e = hiqlite::NodeConfig::builder().build().unwrap_err();
/// assert!(matches!(e, hiqlite::config::ConfigError::Invalid { .. }));
/// assert!(e.to_string().starts_with("invalid configuration: "));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML file could not be read (missing, unreadable, not UTF-8).
    #[error("invalid configuration: cannot read config file \"{}\": {error}", path.display())]
    ReadFile {
        /// The path as given.
        path: PathBuf,
        /// The operating system's reason.
        error: std::io::Error,
    },

    /// TOML that does not parse, has a value of the wrong type or an unknown key, or a `nodes`
    /// entry that is not a member. Shows the position and the key, never the value (the line
    /// could hold a secret).
    #[error(
        "invalid configuration: {origin}{}: {message}",
        position(*line, *column, key.as_deref())
    )]
    Toml {
        /// `config file "PATH"` or `TOML config` (for text).
        origin: String,
        /// 1-based line of the offending value, when known.
        line: Option<usize>,
        /// 1-based column (in characters) of the offending value, when known.
        column: Option<usize>,
        /// The key of the offending line, unless `message` already names it.
        key: Option<String>,
        /// What is wrong (the TOML parser's message, or the member problem after `nodes: `).
        message: String,
    },

    /// An `HQL_*` variable is set to a value that is not valid UTF-8.
    #[error("invalid configuration: {var} is not valid UTF-8")]
    NotUtf8 {
        /// The variable's name.
        var: String,
    },

    /// A member is not `"ID RAFT_ADDR API_ADDR"` with a numeric id and two `host:port`
    /// addresses (from [`parse_member`](super::parse_member) or
    /// [`parse_members`](super::parse_members)).
    #[error("invalid configuration: invalid member {spec:?}: {reason}")]
    Member {
        /// The member as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Values that are missing, malformed or out of range: every problem found, in one error.
    /// One problem reads as itself; several as `N problems: a; b; ...`.
    #[error("invalid configuration: {}", join(problems))]
    Invalid {
        /// One message per problem, each naming its key, flag or variable (never a secret).
        problems: Vec<String>,
    },
}

const PREFIX: &str = "invalid configuration: ";

impl ConfigError {
    /// The message without the `invalid configuration: ` prefix (what goes after `--node "..."`
    /// or into `hiqlite::Error::Config`).
    pub fn detail(&self) -> String {
        let text = self.to_string();
        match text.strip_prefix(PREFIX) {
            Some(rest) => rest.to_string(),
            None => text,
        }
    }

    /// Every problem in `problems` as one error (`problems` must not be empty).
    pub(super) fn invalid(problems: Vec<String>) -> ConfigError {
        ConfigError::Invalid { problems }
    }
}

fn position(line: Option<usize>, column: Option<usize>, key: Option<&str>) -> String {
    let mut at = String::new();
    if let Some(line) = line {
        at.push_str(&format!(", line {line}"));
    }
    if let Some(column) = column {
        at.push_str(&format!(", column {column}"));
    }
    if let Some(key) = key {
        at.push_str(&format!(", key `{key}`"));
    }
    at
}

fn join(problems: &[String]) -> String {
    match problems {
        [one] => one.clone(),
        many => format!("{} problems: {}", many.len(), many.join("; ")),
    }
}
