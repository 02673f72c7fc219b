//! `hiqlite status --cluster`: every `--api` address asked for its node's status, one row per
//! node, and the members that no address answered for as unreachable.
//!
//! The status a node reports names its members by id only, not by address, so the addresses
//! come from `--api` (give every node's address to see every node).

use std::time::Duration;

use comfy_table::{presets::UTF8_FULL, Table};
use hiqlite::client::NodeStatus;
use hiqlite::{Client, Error};

use crate::conn::ConnArgs;

/// How long one node may take to answer before it counts as unreachable.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// One row of the cluster table (and one object of `--json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    /// `None`: an address that did not answer (so its node is not known).
    pub node_id: Option<u64>,
    /// `None`: a member that none of the `--api` addresses answered for.
    pub api_addr: Option<String>,
    /// `leader`, `follower`, `learner`, `candidate` (as the node reports it, lower-case) or
    /// `unreachable`.
    pub role: String,
    pub term: Option<u64>,
    pub last_applied: Option<u64>,
    /// How many entries the node's applied index is behind the leader's; `None` for unreachable
    /// nodes and when no leader answered.
    pub lag: Option<u64>,
    /// Why the node is unreachable.
    pub error: Option<String>,
}

/// Asks every address concurrently, prints the table (or the JSON array). Fails (exit code 1)
/// only when no address answered.
pub async fn run(conn: &ConnArgs, json: bool) -> Result<(), Error> {
    let secret = conn.secret();
    let options = conn.options()?;
    let asks = conn.addrs().iter().map(|addr| {
        let secret = secret.clone();
        let options = options.clone();
        async move {
            let client = Client::remote_with(vec![addr.clone()], secret, options);
            let status = match tokio::time::timeout(ASK_TIMEOUT, client.status()).await {
                Ok(Ok(status)) => Ok(status),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", ASK_TIMEOUT.as_secs())),
            };
            (addr.clone(), status)
        }
    });
    let answers = futures::future::join_all(asks).await;
    if answers.iter().all(|(_, a)| a.is_err()) {
        let reasons: Vec<String> = answers
            .iter()
            .map(|(addr, a)| format!("{addr}: {}", a.as_ref().err().map_or("", |e| e)))
            .collect();
        return Err(Error::Network(format!(
            "no node answered ({})",
            reasons.join("; ")
        )));
    }
    let rows = rows(&answers);
    if json {
        println!(
            "{}",
            serde_json::to_string(&rows).map_err(|e| Error::Conversion(e.to_string()))?
        );
    } else {
        println!("{}", table(&rows));
    }
    Ok(())
}

/// The rows for the answers of each address, in this order: the nodes that answered and the
/// members no address answered for, by node id; then the addresses that did not answer.
pub fn rows(answers: &[(String, Result<NodeStatus, String>)]) -> Vec<Row> {
    let answered: Vec<(&String, &NodeStatus)> = answers
        .iter()
        .filter_map(|(addr, a)| a.as_ref().ok().map(|s| (addr, s)))
        .collect();
    // The leader with the highest term that answered; without one, the node with the highest
    // term tells the membership.
    let leader = answered
        .iter()
        .filter(|(_, s)| s.role == "Leader")
        .max_by_key(|(_, s)| s.term)
        .map(|(_, s)| *s);
    let reference = leader.or_else(|| answered.iter().map(|(_, s)| *s).max_by_key(|s| s.term));
    let mut rows: Vec<Row> = Vec::new();
    for (addr, s) in &answered {
        if rows.iter().any(|r| r.node_id == Some(s.node_id)) {
            continue; // the same node behind two addresses
        }
        rows.push(Row {
            node_id: Some(s.node_id),
            api_addr: Some((*addr).clone()),
            role: s.role.to_lowercase(),
            term: Some(s.term),
            last_applied: Some(s.last_applied),
            lag: leader.map(|l| l.last_applied.saturating_sub(s.last_applied)),
            error: None,
        });
    }
    if let Some(reference) = reference {
        for id in reference.voters.iter().chain(&reference.learners) {
            if !rows.iter().any(|r| r.node_id == Some(*id)) {
                rows.push(unreachable(
                    Some(*id),
                    None,
                    "none of the --api addresses answered as this member".into(),
                ));
            }
        }
    }
    rows.sort_by_key(|r| r.node_id);
    for (addr, a) in answers {
        if let Err(e) = a {
            rows.push(unreachable(None, Some(addr.clone()), e.clone()));
        }
    }
    rows
}

fn unreachable(node_id: Option<u64>, api_addr: Option<String>, error: String) -> Row {
    Row {
        node_id,
        api_addr,
        role: "unreachable".into(),
        term: None,
        last_applied: None,
        lag: None,
        error: Some(error),
    }
}

/// The rows as a table; `-` where a value is unknown.
pub fn table(rows: &[Row]) -> String {
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut table = Table::new();
    table.load_preset(UTF8_FULL).set_header(vec![
        "node_id",
        "api_addr",
        "role",
        "term",
        "last_applied",
        "lag",
        "error",
    ]);
    for r in rows {
        table.add_row(vec![
            opt(r.node_id),
            r.api_addr.clone().unwrap_or_else(|| "-".into()),
            r.role.clone(),
            opt(r.term),
            opt(r.last_applied),
            opt(r.lag),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: u64, role: &str, term: u64, applied: u64) -> NodeStatus {
        NodeStatus {
            node_id: id,
            role: role.into(),
            leader_id: Some(1),
            term,
            last_applied: applied,
            last_log_index: Some(applied),
            voters: vec![1, 2, 3],
            learners: vec![4],
            snapshot_index: None,
            purged_index: None,
            members_fingerprint: 0,
            membership_index: None,
            membership_committed: true,
            removed: false,
            clock_offset_ms: None,
            cluster_format: 4,
            supported_formats: (1, 4),
        }
    }

    #[test]
    fn rows_show_lag_behind_the_leader_and_every_member_that_did_not_answer() {
        let answers = vec![
            ("b:2".to_string(), Ok(status(2, "Follower", 5, 90))),
            ("a:1".to_string(), Ok(status(1, "Leader", 5, 100))),
            ("c:3".to_string(), Err("connection refused".to_string())),
        ];
        let rows = rows(&answers);
        type Summary<'a> = (Option<u64>, Option<&'a str>, &'a str, Option<u64>);
        let summary: Vec<Summary> = rows
            .iter()
            .map(|r| (r.node_id, r.api_addr.as_deref(), r.role.as_str(), r.lag))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some(1), Some("a:1"), "leader", Some(0)),
                (Some(2), Some("b:2"), "follower", Some(10)),
                (Some(3), None, "unreachable", None),
                (Some(4), None, "unreachable", None),
                (None, Some("c:3"), "unreachable", None),
            ]
        );
        assert_eq!(rows[4].error.as_deref(), Some("connection refused"));
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"node_id": 1, "api_addr": "a:1", "role": "leader", "term": 5,
                "last_applied": 100, "lag": 0, "error": null})
        );
    }

    #[test]
    fn without_a_leader_there_is_no_lag() {
        let answers = vec![("b:2".to_string(), Ok(status(2, "Candidate", 6, 90)))];
        let rows = rows(&answers);
        let node2 = rows.iter().find(|r| r.node_id == Some(2)).unwrap();
        assert_eq!(node2.role, "candidate");
        assert_eq!(node2.lag, None);
        assert_eq!(rows.len(), 4); // members 1, 3 and 4 did not answer
    }
}
