//! Cluster members as users write them: `"ID RAFT_ADDR API_ADDR"` (a `--node` flag, a TOML
//! `nodes` entry, a line of `HQL_NODES`), and the `host:port` check every address goes through.

use std::net::Ipv6Addr;

use super::ConfigError;
use crate::types::members::{Member, NodeId};

/// Parses one member, `"ID RAFT_ADDR API_ADDR"` separated by whitespace (the format of
/// `--node`, of each TOML `nodes` entry and of each `HQL_NODES` line). Addresses are `host:port`;
/// the host may be a name, an IPv4 address or a bracketed IPv6 address.
///
/// # Errors
/// [`ConfigError::Member`] naming `s` and what is wrong: not three fields, an id that is not an
/// unsigned integer, or an address that is not `host:port` with a port from 1 to 65535.
///
/// ```
/// let m = hiqlite::config::parse_member("1 127.0.0.1:8100 127.0.0.1:8200").unwrap();
/// assert_eq!((m.id, m.raft_addr.as_str(), m.api_addr.as_str()), (1, "127.0.0.1:8100", "127.0.0.1:8200"));
/// assert!(hiqlite::config::parse_member("1 127.0.0.1:8100").is_err());
/// ```
pub fn parse_member(s: &str) -> Result<Member, ConfigError> {
    let invalid = |reason: String| ConfigError::Member {
        spec: s.to_string(),
        reason,
    };
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [id, raft_addr, api_addr] = parts[..] else {
        return Err(invalid(
            "expected \"ID RAFT_ADDR API_ADDR\", e.g. \"1 127.0.0.1:8100 127.0.0.1:8200\""
                .to_string(),
        ));
    };
    let id: NodeId = id
        .parse()
        .map_err(|_| invalid(format!("node id {id:?} is not an unsigned integer")))?;
    for (kind, addr) in [("raft address", raft_addr), ("api address", api_addr)] {
        check_addr(addr).map_err(|e| invalid(format!("{kind} {addr:?}: {e}")))?;
    }
    Ok(Member {
        id,
        raft_addr: raft_addr.to_string(),
        api_addr: api_addr.to_string(),
    })
}

/// Parses a member list: one member per line (`HQL_NODES`); `;` also separates members, blank
/// entries are ignored, so an empty list gives no members.
///
/// # Errors
/// The [`ConfigError::Member`] of the first member that does not parse.
///
/// ```
/// let nodes = hiqlite::config::parse_members(
///     "1 127.0.0.1:8100 127.0.0.1:8200\n2 127.0.0.1:8101 127.0.0.1:8201\n",
/// ).unwrap();
/// assert_eq!(nodes.len(), 2);
/// ```
pub fn parse_members(s: &str) -> Result<Vec<Member>, ConfigError> {
    s.split(['\n', ';'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(parse_member)
        .collect()
}

/// `host:port`: a numeric, non-zero port; the host a DNS name, an IPv4 address or `[IPv6]`.
pub(super) fn check_addr(addr: &str) -> Result<(), String> {
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
