//! Bank: `ACCOUNTS` accounts holding `TOTAL` between them. Transfers are guarded transactions
//! (the payer must cover the amount, then two updates), so money is never created or destroyed
//! and no balance goes negative. Consistent reads during the run and every node's local read
//! afterwards must see exactly `TOTAL`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use hiqlite::client::Txn;
use hiqlite::{params, Client};

use super::{pace, timed, Worker};
use crate::faults::history::{Entry, History, Outcome};
use crate::faults::rng::Rng;

pub const ACCOUNTS: i64 = 5;
pub const INITIAL_BALANCE: i64 = 100;
pub const TOTAL: i64 = ACCOUNTS * INITIAL_BALANCE;

pub fn schema() -> String {
    let mut sql =
        String::from("CREATE TABLE bank (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);\n");
    for id in 0..ACCOUNTS {
        sql.push_str(&format!(
            "INSERT INTO bank (id, balance) VALUES ({id}, {INITIAL_BALANCE});\n"
        ));
    }
    sql
}

const READ_ALL: &str = "SELECT id, balance FROM bank ORDER BY id";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankEvent {
    Transfer {
        from: i64,
        to: i64,
        amount: i64,
    },
    /// The balances a consistent read returned (empty when it failed).
    Read(Vec<i64>),
}

/// Anomalies found while the workload runs, shared by its tasks.
pub type Anomalies = Arc<Mutex<Vec<String>>>;

/// What is wrong with one view of the accounts, if anything.
fn check_balances(rows: &[(i64, i64)]) -> Option<String> {
    let sum: i64 = rows.iter().map(|r| r.1).sum();
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    if ids != (0..ACCOUNTS).collect::<Vec<_>>() {
        return Some(format!("accounts {ids:?} instead of 0..{ACCOUNTS}"));
    }
    if sum != TOTAL {
        return Some(format!("total {sum} instead of {TOTAL} in {rows:?}"));
    }
    rows.iter()
        .find(|r| r.1 < 0)
        .map(|r| format!("account {} is negative: {rows:?}", r.0))
}

/// A client making random transfers until `deadline`; amounts sometimes exceed the balance so
/// that guards fail too.
pub async fn transfer_client(
    mut worker: Worker,
    mut rng: Rng,
    history: History<BankEvent>,
    deadline: Instant,
) {
    while Instant::now() < deadline {
        pace(&mut rng, 30).await;
        let from = rng.below(ACCOUNTS as u64) as i64;
        let to = (from + 1 + rng.below(ACCOUNTS as u64 - 1) as i64) % ACCOUNTS;
        let amount = rng.range(1, 60) as i64;
        let mut txn = Txn::new();
        txn.guard(
            "SELECT balance >= ? FROM bank WHERE id = ?",
            params!(amount, from),
        );
        txn.execute(
            "UPDATE bank SET balance = balance - ? WHERE id = ?",
            params!(amount, from),
        );
        txn.execute(
            "UPDATE bank SET balance = balance + ? WHERE id = ?",
            params!(amount, to),
        );
        let invoke = history.now();
        let result = timed(worker.client().txn(txn)).await;
        worker.record_write(
            &history,
            BankEvent::Transfer { from, to, amount },
            invoke,
            result,
        );
    }
}

/// A client reading all balances with consistent reads until `deadline`; every successful read
/// must hold exactly `TOTAL`.
pub async fn reader_client(
    mut worker: Worker,
    mut rng: Rng,
    history: History<BankEvent>,
    anomalies: Anomalies,
    deadline: Instant,
) {
    while Instant::now() < deadline {
        pace(&mut rng, 30).await;
        let invoke = history.now();
        let result = timed(
            worker
                .client()
                .query_consistent_map::<(i64, i64)>(READ_ALL, params!()),
        )
        .await;
        let complete = history.now();
        let (op, outcome, error) = match result {
            Ok(rows) => {
                if let Some(problem) = check_balances(&rows) {
                    anomalies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!(
                            "bank: consistent read by p{} at {:.3}s: {problem}",
                            worker.process,
                            invoke.as_secs_f64()
                        ));
                }
                (
                    BankEvent::Read(rows.iter().map(|r| r.1).collect()),
                    Outcome::Ok,
                    None,
                )
            }
            Err(e) => (
                BankEvent::Read(Vec::new()),
                Outcome::Fail,
                Some(e.to_string()),
            ),
        };
        let failed = outcome != Outcome::Ok;
        history.push(Entry {
            process: worker.process,
            op,
            invoke,
            complete,
            outcome,
            error,
        });
        if failed {
            worker.crash();
        }
    }
}

/// After the run: each node's local read (given by `clients`, one per node) holds `TOTAL`, and
/// all nodes hold the same balances. Returns the anomalies, or `Err` with the last difference
/// between nodes so the caller can wait for stragglers and ask again.
pub async fn final_check(clients: &[Client]) -> Result<Vec<String>, String> {
    let mut anomalies = Vec::new();
    let mut views = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        match client.query_map::<(i64, i64)>(READ_ALL, params!()).await {
            Ok(rows) => {
                if let Some(problem) = check_balances(&rows) {
                    anomalies.push(format!("bank: node {} local read: {problem}", i + 1));
                }
                views.push(rows);
            }
            Err(e) => return Err(format!("node {} local read failed: {e}", i + 1)),
        }
    }
    if let Some(i) = views.iter().position(|v| *v != views[0]) {
        return Err(format!(
            "node {} holds {:?}, node 1 holds {:?}",
            i + 1,
            views[i],
            views[0]
        ));
    }
    Ok(anomalies)
}
