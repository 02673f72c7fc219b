//! Register: one row `reg(k = 0, v)`. Clients read it with consistent reads, overwrite it, and
//! compare-and-set it with a guarded transaction; the history must be linearizable.

use std::time::{Duration, Instant};

use hiqlite::client::Txn;
use hiqlite::{params, Error, SqlError};

use super::{pace, timed, Worker};
use crate::faults::history::{write_outcome, Entry, History, Outcome};
use crate::faults::linearizability::{self, Operation, RegOp, Status, Verdict};
use crate::faults::rng::Rng;

pub const SCHEMA: &str = "CREATE TABLE reg (k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
    INSERT INTO reg (k, v) VALUES (0, 0);";

/// The register's value before any client ran.
pub const INITIAL: i64 = 0;

/// Search budget of the checker; a few seconds at most on histories of a few thousand ops.
const MAX_STEPS: u64 = 50_000_000;

/// What a client did to the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegEvent {
    /// `None` when the read failed.
    Read(Option<i64>),
    Write(i64),
    Cas {
        expected: i64,
        new: i64,
        /// The guard did not hold: the CAS definitely failed on a value other than `expected`.
        guard_failed: bool,
    },
}

/// One register client until `deadline`. Written values are unique (`(worker + 1) * 10^9 + n`),
/// so a read pins down which write it saw.
pub async fn client(
    index: usize,
    mut worker: Worker,
    mut rng: Rng,
    history: History<RegEvent>,
    deadline: Instant,
) {
    let mut next_value = (index as i64 + 1) * 1_000_000_000;
    // The last value this client saw: the expected value of its next CAS.
    let mut last_seen = INITIAL;
    while Instant::now() < deadline {
        pace(&mut rng, 20).await;
        let invoke = history.now();
        let roll = rng.below(10);
        let (op, result): (RegEvent, Result<Option<i64>, Error>) = if roll < 4 {
            let read = timed(
                worker
                    .client()
                    .query_consistent_map::<(i64,)>("SELECT v FROM reg WHERE k = 0", params!()),
            )
            .await;
            match read {
                Ok(rows) if rows.len() == 1 => {
                    (RegEvent::Read(Some(rows[0].0)), Ok(Some(rows[0].0)))
                }
                Ok(rows) => (
                    RegEvent::Read(None),
                    Err(Error::Conversion(format!("{} rows", rows.len()))),
                ),
                Err(e) => (RegEvent::Read(None), Err(e)),
            }
        } else if roll < 7 {
            next_value += 1;
            let v = next_value;
            let res = timed(
                worker
                    .client()
                    .execute("UPDATE reg SET v = ? WHERE k = 0", params!(v)),
            )
            .await;
            (RegEvent::Write(v), res.map(|_| Some(v)))
        } else {
            next_value += 1;
            let (expected, new) = (last_seen, next_value);
            let mut txn = Txn::new();
            txn.guard("SELECT v = ? FROM reg WHERE k = 0", params!(expected));
            txn.execute("UPDATE reg SET v = ? WHERE k = 0", params!(new));
            let res = timed(worker.client().txn(txn)).await;
            let guard_failed = matches!(res, Err(Error::Sql(SqlError::GuardFailed { .. })));
            (
                RegEvent::Cas {
                    expected,
                    new,
                    guard_failed,
                },
                res.map(|_| Some(new)),
            )
        };
        let complete = history.now();
        let outcome = match (&op, &result) {
            (RegEvent::Read(_), Ok(_)) => Outcome::Ok,
            // A failed read has no effect, whatever the reason.
            (RegEvent::Read(_), Err(_)) => Outcome::Fail,
            _ => write_outcome(&result),
        };
        if let Ok(Some(v)) = result {
            last_seen = v;
        }
        history.push(Entry {
            process: worker.process,
            op,
            invoke,
            complete,
            outcome,
            error: result.err().map(|e| e.to_string()),
        });
        if outcome == Outcome::Unknown {
            worker.crash();
        }
    }
}

/// The history in the checker's terms; operations that certainly had no effect and carry no
/// information (failed reads, writes rejected with a SQL error) are left out.
pub fn to_operations(entries: &[Entry<RegEvent>]) -> Vec<Operation> {
    let nanos = |d: Duration| d.as_nanos() as u64;
    entries
        .iter()
        .filter_map(|e| {
            let (op, status) = match (e.op, e.outcome) {
                (RegEvent::Read(Some(v)), Outcome::Ok) => (RegOp::Read(v), Status::Ok),
                (RegEvent::Read(_), _) => return None,
                (RegEvent::Write(v), Outcome::Ok) => (RegOp::Write(v), Status::Ok),
                (RegEvent::Write(v), Outcome::Unknown) => (RegOp::Write(v), Status::Unknown),
                (RegEvent::Write(_), Outcome::Fail) => return None,
                (
                    RegEvent::Cas {
                        expected,
                        new,
                        guard_failed,
                    },
                    outcome,
                ) => {
                    let op = RegOp::Cas { expected, new };
                    match outcome {
                        Outcome::Ok => (op, Status::Ok),
                        Outcome::Unknown => (op, Status::Unknown),
                        Outcome::Fail if guard_failed => (op, Status::CasFailed),
                        Outcome::Fail => return None,
                    }
                }
            };
            Some(Operation {
                op,
                status,
                call: nanos(e.invoke),
                ret: nanos(e.complete),
            })
        })
        .collect()
}

/// Checks the history; an error describes the violation (or that the checker gave up).
pub fn check(history: &History<RegEvent>) -> Result<(), String> {
    let entries = history.entries();
    let ops = to_operations(&entries);
    match linearizability::check(&ops, INITIAL, MAX_STEPS) {
        Verdict::Linearizable => Ok(()),
        v @ Verdict::NotLinearizable { stuck_at, .. } => Err(format!(
            "register: {v}; operation #{stuck_at}: {:?}",
            ops[stuck_at]
        )),
        v @ Verdict::GaveUp { .. } => Err(format!("register: checker {v}")),
    }
}
