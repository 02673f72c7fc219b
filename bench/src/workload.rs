//! The workload, the same as the original hiqlite's `examples/bench` so figures compare: table
//! `_bench (id, ts, name)`, R rows `(id, unix time, "Name <id>")` prepared in memory before the
//! clock starts, split among C concurrent Tokio tasks; plus the runners that drive a Hiqlite
//! [`Client`] with it (single-row inserts, one `txn` per task, point SELECTs by random id).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hiqlite::{params, Client, FromRow, Params, Row, StatementOutput, Txn};
use serde::Deserialize;
use tokio::task::JoinSet;

use crate::stats::Latencies;
use crate::Result;

pub const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS _bench \
     (id INTEGER NOT NULL PRIMARY KEY, ts INTEGER NOT NULL, name TEXT NOT NULL)";
pub const INSERT: &str = "INSERT INTO _bench (id, ts, name) VALUES (?, ?, ?)";
pub const SELECT_BY_ID: &str = "SELECT id, ts, name FROM _bench WHERE id = ?";
/// Removes what a write run added, so every run starts from the same `existing` rows.
pub const DELETE_ABOVE: &str = "DELETE FROM _bench WHERE id > ?";

/// Rows per statement when pre-filling the table.
const FILL_CHUNK: u64 = 100_000;

/// One row of `_bench`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Entity {
    pub id: i64,
    pub ts: i64,
    pub name: String,
}

impl Entity {
    pub fn new(id: i64, ts: i64) -> Self {
        Entity {
            id,
            ts,
            name: format!("Name {id}"),
        }
    }

    pub fn params(&self) -> Params {
        params!(self.id, self.ts, self.name.as_str())
    }
}

/// By column name, as the original benchmark's `query_map` mapping does.
impl FromRow for Entity {
    fn from_row(row: &Row<'_>) -> std::result::Result<Self, hiqlite::Error> {
        Ok(Entity {
            id: row.get("id")?,
            ts: row.get("ts")?,
            name: row.get("name")?,
        })
    }
}

pub fn unix_ts() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `rows` rows with ids `first_id..`, split into `tasks` sets whose sizes differ by at most one.
pub fn prepare(first_id: i64, rows: usize, tasks: usize) -> Vec<Vec<Entity>> {
    let tasks = tasks.max(1);
    let ts = unix_ts();
    let mut next = first_id;
    (0..tasks)
        .map(|t| {
            let n = rows / tasks + usize::from(t < rows % tasks);
            (0..n)
                .map(|_| {
                    next += 1;
                    Entity::new(next - 1, ts)
                })
                .collect()
        })
        .collect()
}

/// One statement inserting rows `from..=to` (deterministic: `ts` is a literal), the fast path
/// for pre-filling the table.
pub fn fill_sql(from: u64, to: u64, ts: i64) -> String {
    format!(
        "WITH RECURSIVE seq(x) AS (SELECT {from} UNION ALL SELECT x + 1 FROM seq WHERE x < {to}) \
         INSERT INTO _bench (id, ts, name) SELECT x, {ts}, 'Name ' || x FROM seq"
    )
}

/// The statements that fill ids `1..=existing`, at most [`FILL_CHUNK`] rows each.
pub fn fill_statements(existing: u64) -> Vec<String> {
    let ts = unix_ts();
    (0..existing.div_ceil(FILL_CHUNK))
        .map(|i| {
            let from = i * FILL_CHUNK + 1;
            fill_sql(from, (from + FILL_CHUNK - 1).min(existing), ts)
        })
        .collect()
}

/// Deterministic ids in `1..=n` (xorshift64*), the same sequence in every run.
pub struct RandomIds {
    state: u64,
    n: u64,
}

impl RandomIds {
    pub fn new(n: u64) -> Self {
        RandomIds {
            state: 0x9E37_79B9_7F4A_7C15,
            n: n.max(1),
        }
    }

    pub fn next_id(&mut self) -> i64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let r = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (r % self.n + 1) as i64
    }
}

/// The outcome of a timed write run.
pub struct WriteRun {
    /// Rows actually written (fewer than prepared when the run hit its time limit).
    pub rows: usize,
    pub elapsed: Duration,
    /// One sample per call (`execute` or `txn`).
    pub latencies: Latencies,
}

/// Creates the table and fills ids `1..=existing` through Raft; returns the time the fill took.
pub async fn create_and_fill(client: &Client, existing: u64) -> Result<Duration> {
    client.execute(CREATE_TABLE, params!()).await?;
    let start = Instant::now();
    for sql in fill_statements(existing) {
        client.execute(sql, params!()).await?;
    }
    Ok(start.elapsed())
}

/// Deletes every row a write run added.
pub async fn clean_up(client: &Client, existing: u64) -> Result<()> {
    client
        .execute(DELETE_ABOVE, params!(existing as i64))
        .await?;
    Ok(())
}

/// Each task runs one `execute` per row of its set, one after the other, and stops early at
/// `deadline`.
pub async fn single_inserts(
    client: &Client,
    sets: Vec<Vec<Entity>>,
    deadline: Instant,
) -> Result<WriteRun> {
    let sets: Vec<Vec<Params>> = sets
        .iter()
        .map(|set| set.iter().map(Entity::params).collect())
        .collect();
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for set in sets {
        let client = client.clone();
        tasks.spawn(async move {
            let mut latencies = Latencies::with_capacity(set.len());
            for params in set {
                if Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                let res = client.execute(INSERT, params).await?;
                latencies.push(t.elapsed());
                if res.rows_affected != 1 {
                    return Err(format!("INSERT affected {} rows", res.rows_affected).into());
                }
            }
            Ok::<_, crate::BoxError>(latencies)
        });
    }
    let latencies = join_all(tasks).await?;
    Ok(WriteRun {
        rows: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    })
}

/// `tasks` tasks each run one single-row `execute` after the other, ids taken from `next_id`,
/// until `deadline` or until `stop` is set, whichever comes first (a call in flight finishes).
/// For runs whose end is an event (a backup finishing) rather than a row count.
pub async fn inserts_until(
    client: &Client,
    next_id: Arc<AtomicI64>,
    tasks: usize,
    deadline: Instant,
    stop: Arc<AtomicBool>,
) -> Result<WriteRun> {
    let start = Instant::now();
    let ts = unix_ts();
    let mut set = JoinSet::new();
    for _ in 0..tasks.max(1) {
        let (client, next_id, stop) = (client.clone(), next_id.clone(), stop.clone());
        set.spawn(async move {
            let mut latencies = Latencies::default();
            while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
                let e = Entity::new(next_id.fetch_add(1, Ordering::Relaxed), ts);
                let t = Instant::now();
                let res = client.execute(INSERT, e.params()).await?;
                latencies.push(t.elapsed());
                if res.rows_affected != 1 {
                    return Err(format!("INSERT affected {} rows", res.rows_affected).into());
                }
            }
            Ok::<_, crate::BoxError>(latencies)
        });
    }
    let latencies = join_all(set).await?;
    Ok(WriteRun {
        rows: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    })
}

/// How a task's rows are put into its transaction.
#[derive(Debug, Clone, Copy)]
pub enum TxnShape {
    /// One `execute` statement per row.
    StatementPerRow,
    /// One `execute_many` statement with a parameter row per row.
    ExecuteMany,
}

/// Each task inserts its whole set in one `txn` (one Raft entry).
pub async fn txn_inserts(
    client: &Client,
    sets: Vec<Vec<Entity>>,
    shape: TxnShape,
) -> Result<WriteRun> {
    let txns: Vec<(Txn, usize)> = sets
        .iter()
        .filter(|set| !set.is_empty())
        .map(|set| {
            let mut txn = Txn::new();
            match shape {
                TxnShape::StatementPerRow => {
                    for e in set {
                        txn.execute(INSERT, e.params());
                    }
                }
                TxnShape::ExecuteMany => {
                    txn.execute_many(INSERT, set.iter().map(|e| e.params()).collect());
                }
            }
            (txn, set.len())
        })
        .collect();
    let rows = txns.iter().map(|(_, n)| n).sum();
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for (txn, n) in txns {
        let client = client.clone();
        tasks.spawn(async move {
            let t = Instant::now();
            let outputs = client.txn(txn).await?;
            let mut latencies = Latencies::with_capacity(1);
            latencies.push(t.elapsed());
            let inserted: u64 = outputs
                .iter()
                .map(|o| match o {
                    StatementOutput::Executed { rows_affected, .. } => *rows_affected,
                    StatementOutput::Rows(_) => 0,
                })
                .sum();
            let inserted = inserted as usize;
            if inserted != n {
                return Err(format!("txn inserted {inserted} of {n} rows").into());
            }
            Ok::<_, crate::BoxError>(latencies)
        });
    }
    let latencies = join_all(tasks).await?;
    Ok(WriteRun {
        rows,
        elapsed: start.elapsed(),
        latencies,
    })
}

/// `samples` point reads of random ids in `1..=existing`, one at a time, after a short warm-up
/// (statement caches, connections); checks each returned row.
pub async fn point_reads<F, Fut>(samples: usize, existing: u64, mut read: F) -> Result<Latencies>
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = std::result::Result<Entity, hiqlite::Error>>,
{
    let mut ids = RandomIds::new(existing);
    for _ in 0..samples.clamp(1, 100) {
        read(ids.next_id()).await?;
    }
    let mut latencies = Latencies::with_capacity(samples);
    for _ in 0..samples {
        let id = ids.next_id();
        let t = Instant::now();
        let row = read(id).await?;
        latencies.push(t.elapsed());
        if row.id != id {
            return Err(format!("asked for id {id}, got {}", row.id).into());
        }
    }
    Ok(latencies)
}

/// Waits for every task; the first failure aborts the others (dropping the set aborts them).
async fn join_all(mut tasks: JoinSet<Result<Latencies>>) -> Result<Latencies> {
    let mut all = Latencies::default();
    while let Some(joined) = tasks.join_next().await {
        all.append(joined??);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_splits_all_rows() {
        let sets = prepare(101, 10, 4);
        let sizes: Vec<usize> = sets.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![3, 3, 2, 2]);
        let ids: Vec<i64> = sets.concat().iter().map(|e| e.id).collect();
        assert_eq!(ids, (101..111).collect::<Vec<_>>());
        assert_eq!(sets[0][0].name, "Name 101");
    }

    #[test]
    fn fill_chunks_cover_the_range() {
        assert!(fill_statements(0).is_empty());
        let s = fill_statements(250_000);
        assert_eq!(s.len(), 3);
        assert!(s[2].contains("SELECT 200001 ") && s[2].contains("x < 250000"));
    }

    #[test]
    fn random_ids_stay_in_range() {
        let mut ids = RandomIds::new(10);
        for _ in 0..1000 {
            assert!((1..=10).contains(&ids.next_id()));
        }
    }

    #[test]
    fn fill_sql_runs_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(CREATE_TABLE).unwrap();
        conn.execute_batch(&fill_sql(1, 5, 42)).unwrap();
        let (n, name): (i64, String) = conn
            .query_row("SELECT count(*), max(name) FROM _bench", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, name.as_str()), (5, "Name 5"));
    }
}
