//! Register: one value that clients read with consistent reads, overwrite, and compare-and-set;
//! the history must be linearizable. It lives either in the row `reg(k = 0, v)` (reads are
//! consistent SELECTs, CAS a guarded transaction) or in the replicated cache under the key
//! [`CACHE_KEY`] (`get_consistent`, `put`, `compare_and_swap`): see [`Target`].

use std::time::{Duration, Instant};

use hiqlite::client::Txn;
use hiqlite::{params, Client, Error, SqlError};

use super::{pace, timed, Worker};
use crate::faults::history::{write_outcome, Entry, History, Outcome};
use crate::faults::linearizability::{self, Operation, RegOp, Status, Verdict};
use crate::faults::rng::Rng;

pub const SCHEMA: &str = "CREATE TABLE reg (k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
    INSERT INTO reg (k, v) VALUES (0, 0);";

/// The register's value before any client ran.
pub const INITIAL: i64 = 0;

/// The cache and key of the cache register; [`Target::init`] puts [`INITIAL`] there.
pub const CACHE_NAME: &str = "faults";
pub const CACHE_KEY: &str = "register";

/// Where the register lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The row `reg(k = 0, v)` of [`SCHEMA`].
    Sql,
    /// The cache key [`CACHE_KEY`], an 8-byte big-endian `i64`.
    Cache,
}

impl Target {
    /// The register's name in reports ("register", "cache register").
    pub fn label(self) -> &'static str {
        match self {
            Target::Sql => "register",
            Target::Cache => "cache register",
        }
    }

    /// Sets the register to [`INITIAL`] before the clients start (the SQL one is set by
    /// [`SCHEMA`]).
    pub async fn init(self, client: &Client) -> Result<(), Error> {
        match self {
            Target::Sql => Ok(()),
            Target::Cache => {
                let cache = client.cache(CACHE_NAME);
                cache.put(CACHE_KEY, INITIAL.to_be_bytes(), None).await?;
                Ok(())
            }
        }
    }

    /// A linearizable read of the value.
    async fn read(self, client: &Client) -> Result<i64, Error> {
        match self {
            Target::Sql => {
                let rows = client
                    .query_consistent_map::<(i64,)>("SELECT v FROM reg WHERE k = 0", params!())
                    .await?;
                match rows.as_slice() {
                    [(v,)] => Ok(*v),
                    _ => Err(Error::Conversion(format!("{} rows", rows.len()))),
                }
            }
            Target::Cache => {
                let value = client.cache(CACHE_NAME).get_consistent(CACHE_KEY).await?;
                decode(value)
            }
        }
    }

    async fn write(self, client: &Client, v: i64) -> Result<(), Error> {
        match self {
            Target::Sql => client
                .execute("UPDATE reg SET v = ? WHERE k = 0", params!(v))
                .await
                .map(|_| ()),
            Target::Cache => client
                .cache(CACHE_NAME)
                .put(CACHE_KEY, v.to_be_bytes(), None)
                .await
                .map(|_| ()),
        }
    }

    /// Sets the value to `new` if it is `expected`: `Ok(true)` when it did, `Ok(false)` when the
    /// value was certainly something else (nothing changed).
    async fn cas(self, client: &Client, expected: i64, new: i64) -> Result<bool, Error> {
        match self {
            Target::Sql => {
                let mut txn = Txn::new();
                txn.guard("SELECT v = ? FROM reg WHERE k = 0", params!(expected));
                txn.execute("UPDATE reg SET v = ? WHERE k = 0", params!(new));
                match client.txn(txn).await {
                    Ok(_) => Ok(true),
                    Err(Error::Sql(SqlError::GuardFailed { .. })) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Target::Cache => {
                let (expected, new) = (expected.to_be_bytes(), new.to_be_bytes());
                let swapped = client
                    .cache(CACHE_NAME)
                    .compare_and_swap(CACHE_KEY, Some(&expected[..]), Some(&new[..]), None)
                    .await?;
                Ok(swapped.is_ok())
            }
        }
    }
}

/// The cache register's value from its bytes.
fn decode(value: Option<Vec<u8>>) -> Result<i64, Error> {
    match value.as_deref().map(<[u8; 8]>::try_from) {
        Some(Ok(bytes)) => Ok(i64::from_be_bytes(bytes)),
        Some(Err(_)) => Err(Error::Conversion(
            "the cache register is not 8 bytes".into(),
        )),
        None => Err(Error::Conversion("the cache register is missing".into())),
    }
}

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

/// One register client on `target` until `deadline`. Written values are unique
/// (`(worker + 1) * 10^9 + n`), so a read pins down which write it saw.
pub async fn client(
    target: Target,
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
        let (op, outcome, result) = if roll < 4 {
            let read = timed(target.read(worker.client())).await;
            let op = RegEvent::Read(read.as_ref().ok().copied());
            // A failed read has no effect, whatever the reason.
            let outcome = if read.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Fail
            };
            (op, outcome, read.map(Some))
        } else if roll < 7 {
            next_value += 1;
            let v = next_value;
            let res = timed(target.write(worker.client(), v)).await;
            (
                RegEvent::Write(v),
                write_outcome(&res),
                res.map(|_| Some(v)),
            )
        } else {
            next_value += 1;
            let (expected, new) = (last_seen, next_value);
            let res = timed(target.cas(worker.client(), expected, new)).await;
            let guard_failed = matches!(res, Ok(false));
            let outcome = match &res {
                Ok(true) => Outcome::Ok,
                Ok(false) => Outcome::Fail,
                Err(_) => write_outcome(&res),
            };
            let op = RegEvent::Cas {
                expected,
                new,
                guard_failed,
            };
            // A failed CAS saw nothing it can report as a value.
            (op, outcome, res.map(|swapped| swapped.then_some(new)))
        };
        let complete = history.now();
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

/// Checks the history of the register on `target`; an error describes the violation (or that
/// the checker gave up).
pub fn check(target: Target, history: &History<RegEvent>) -> Result<(), String> {
    let entries = history.entries();
    let ops = to_operations(&entries);
    let label = target.label();
    match linearizability::check(&ops, INITIAL, MAX_STEPS) {
        Verdict::Linearizable => Ok(()),
        v @ Verdict::NotLinearizable { stuck_at, .. } => Err(format!(
            "{label}: {v}; operation #{stuck_at}: {:?}",
            ops[stuck_at]
        )),
        v @ Verdict::GaveUp { .. } => Err(format!("{label}: checker {v}")),
    }
}
