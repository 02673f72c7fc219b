//! Set: clients insert unique values into `set_items(v)`, which has no UNIQUE constraint on
//! purpose: a write applied twice (a retried request not deduplicated) shows up as a duplicate
//! row. At the end every node must hold every acknowledged value exactly once, and nothing that
//! no client tried to insert.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use hiqlite::{params, Client};

use super::{pace, timed, Worker};
use crate::faults::history::{History, Outcome};
use crate::faults::rng::Rng;

pub const SCHEMA: &str = "CREATE TABLE set_items (v INTEGER NOT NULL);";

/// A client inserting `(index + 1) * 10^9 + n` for n = 1, 2, ... until `deadline`.
pub async fn client(
    index: usize,
    mut worker: Worker,
    mut rng: Rng,
    history: History<i64>,
    deadline: Instant,
) {
    let mut next = (index as i64 + 1) * 1_000_000_000;
    while Instant::now() < deadline {
        pace(&mut rng, 30).await;
        next += 1;
        let invoke = history.now();
        let result = timed(
            worker
                .client()
                .execute("INSERT INTO set_items (v) VALUES (?)", params!(next)),
        )
        .await;
        worker.record_write(&history, next, invoke, result);
    }
}

/// What the final reads found, beyond the anomalies.
#[derive(Debug, Default, Clone, Copy)]
pub struct SetSummary {
    /// Unknown-outcome inserts that did take effect.
    pub unknown_present: usize,
    pub unknown_absent: usize,
}

/// After the run, on each node's local read (`clients`, one per node). `Err` when nodes still
/// differ (the caller waits and asks again).
pub async fn final_check(
    clients: &[Client],
    history: &History<i64>,
) -> Result<(Vec<String>, SetSummary), String> {
    let entries = history.entries();
    let attempted: BTreeSet<i64> = entries.iter().map(|e| e.op).collect();
    let acked: BTreeSet<i64> = entries
        .iter()
        .filter(|e| e.outcome == Outcome::Ok)
        .map(|e| e.op)
        .collect();
    let failed: BTreeSet<i64> = entries
        .iter()
        .filter(|e| e.outcome == Outcome::Fail)
        .map(|e| e.op)
        .collect();
    let mut anomalies = Vec::new();
    let mut views: Vec<BTreeMap<i64, i64>> = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let node = i + 1;
        let rows: Vec<(i64, i64)> = client
            .query_map(
                "SELECT v, count(*) FROM set_items GROUP BY v ORDER BY v",
                params!(),
            )
            .await
            .map_err(|e| format!("node {node} local read failed: {e}"))?;
        let present: BTreeMap<i64, i64> = rows.into_iter().collect();
        let lost: Vec<i64> = acked
            .difference(&present.keys().copied().collect())
            .copied()
            .collect();
        if !lost.is_empty() {
            anomalies.push(format!(
                "set: node {node} lost {} acknowledged inserts, e.g. {:?}",
                lost.len(),
                &lost[..lost.len().min(10)]
            ));
        }
        let duplicated: Vec<(i64, i64)> = present
            .iter()
            .filter(|(_, &c)| c > 1)
            .map(|(&v, &c)| (v, c))
            .collect();
        if !duplicated.is_empty() {
            anomalies.push(format!(
                "set: node {node} holds {} values more than once (value, count), e.g. {:?}",
                duplicated.len(),
                &duplicated[..duplicated.len().min(10)]
            ));
        }
        let phantom: Vec<i64> = present
            .keys()
            .filter(|v| !attempted.contains(v))
            .copied()
            .collect();
        if !phantom.is_empty() {
            anomalies.push(format!(
                "set: node {node} holds {} values nobody inserted, e.g. {:?}",
                phantom.len(),
                &phantom[..phantom.len().min(10)]
            ));
        }
        let resurrected: Vec<i64> = present
            .keys()
            .filter(|v| failed.contains(v))
            .copied()
            .collect();
        if !resurrected.is_empty() {
            anomalies.push(format!(
                "set: node {node} holds {} values whose insert failed, e.g. {:?}",
                resurrected.len(),
                &resurrected[..resurrected.len().min(10)]
            ));
        }
        views.push(present);
    }
    if let Some(i) = views.iter().position(|v| *v != views[0]) {
        // Name the values, so a divergence that persists can be traced in the histories.
        let only = |a: &BTreeMap<i64, i64>, b: &BTreeMap<i64, i64>| -> Vec<i64> {
            a.keys()
                .filter(|v| !b.contains_key(v))
                .take(10)
                .copied()
                .collect()
        };
        return Err(format!(
            "node {} holds {} values, node 1 holds {}; only on node 1: {:?}, only on node {}: {:?}",
            i + 1,
            views[i].len(),
            views[0].len(),
            only(&views[0], &views[i]),
            i + 1,
            only(&views[i], &views[0]),
        ));
    }
    let unknown: BTreeSet<i64> = entries
        .iter()
        .filter(|e| e.outcome == Outcome::Unknown)
        .map(|e| e.op)
        .collect();
    let present = unknown.iter().filter(|v| views[0].contains_key(v)).count();
    Ok((
        anomalies,
        SetSummary {
            unknown_present: present,
            unknown_absent: unknown.len() - present,
        },
    ))
}
