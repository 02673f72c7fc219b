//! The soak's mixed load, paced so that it does not depend on how fast the machine is: per node
//! one writer (inserts, updates, and deletes that keep its rows to [`KEEP`]), one reader of its
//! local database and one consistent (linearizable) reader. Every operation goes to one node
//! (a follower forwards writes to the leader); failures are counted, not fatal: a node being
//! removed or restarted refuses or misses requests for a while.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hiqlite::{params, Client};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// Rows each writer keeps: older ones are deleted, so the data set stays bounded.
pub const KEEP: i64 = 1000;

/// Bytes of text in each row.
const PAYLOAD: usize = 200;

/// How long one operation may take before it counts as an error.
const OP_TIMEOUT: Duration = Duration::from_secs(15);

pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS soak (
    w INTEGER NOT NULL, k INTEGER NOT NULL, v TEXT NOT NULL, PRIMARY KEY (w, k))";

/// The pace of each kind of worker, per node: one operation every so long.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub write: Duration,
    pub read: Duration,
    pub consistent_read: Duration,
}

/// Operations done so far, across all workers.
#[derive(Debug, Default)]
pub struct Counters {
    pub writes: AtomicU64,
    pub reads: AtomicU64,
    pub consistent_reads: AtomicU64,
    pub errors: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub writes: u64,
    pub reads: u64,
    pub consistent_reads: u64,
    pub errors: u64,
}

impl Counters {
    pub fn totals(&self) -> Totals {
        Totals {
            writes: self.writes.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
            consistent_reads: self.consistent_reads.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    fn count<T, E>(
        &self,
        counter: &AtomicU64,
        result: Result<Result<T, E>, tokio::time::error::Elapsed>,
    ) {
        match result {
            Ok(Ok(_)) => counter.fetch_add(1, Ordering::Relaxed),
            _ => self.errors.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// The running load; [`stop`](Self::stop) ends it.
pub struct Load {
    stop: watch::Sender<bool>,
    workers: JoinSet<()>,
    pub counters: Arc<Counters>,
}

impl Load {
    /// Starts the workers, one set per client in `clients` (client `i` bound to node `i`).
    pub fn start(clients: Vec<Client>, pace: Pace) -> Load {
        let (stop, stopped) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let mut workers = JoinSet::new();
        for (w, client) in clients.into_iter().enumerate() {
            let w = w as i64;
            workers.spawn(writer(
                client.clone(),
                w,
                pace.write,
                stopped.clone(),
                counters.clone(),
            ));
            workers.spawn(reader(
                client.clone(),
                w,
                pace.read,
                false,
                stopped.clone(),
                counters.clone(),
            ));
            workers.spawn(reader(
                client,
                w,
                pace.consistent_read,
                true,
                stopped.clone(),
                counters.clone(),
            ));
        }
        Load {
            stop,
            workers,
            counters,
        }
    }

    /// Stops the workers: each finishes (or gives up after [`OP_TIMEOUT`]) its operation.
    pub async fn stop(mut self) -> Totals {
        let _ = self.stop.send(true);
        while self.workers.join_next().await.is_some() {}
        self.counters.totals()
    }
}

/// Waits for the next tick of `tick`; `false` when the load is stopped first.
async fn next(tick: &mut tokio::time::Interval, stopped: &mut watch::Receiver<bool>) -> bool {
    if *stopped.borrow() {
        return false;
    }
    tokio::select! {
        _ = stopped.changed() => false,
        _ = tick.tick() => true,
    }
}

fn interval(every: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}

/// Writer `w`: in turn inserts row `k`, updates row `k - 10` and deletes rows `<= k - KEEP`.
async fn writer(
    client: Client,
    w: i64,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
    counters: Arc<Counters>,
) {
    let mut tick = interval(every);
    let mut k: i64 = 0;
    let mut step: u64 = 0;
    while next(&mut tick, &mut stopped).await {
        let payload = format!("{:0>width$}", step, width = PAYLOAD);
        let op = match step % 3 {
            0 => {
                k += 1;
                client.execute(
                    "INSERT OR REPLACE INTO soak (w, k, v) VALUES (?, ?, ?)",
                    params!(w, k, payload),
                )
            }
            1 => client.execute(
                "UPDATE soak SET v = ? WHERE w = ? AND k = ?",
                params!(payload, w, k - 10),
            ),
            _ => client.execute(
                "DELETE FROM soak WHERE w = ? AND k <= ?",
                params!(w, k - KEEP),
            ),
        };
        step += 1;
        counters.count(&counters.writes, tokio::time::timeout(OP_TIMEOUT, op).await);
    }
}

/// Reader of writer `w`'s rows on its node: local, or `consistent` (linearizable).
async fn reader(
    client: Client,
    w: i64,
    every: Duration,
    consistent: bool,
    mut stopped: watch::Receiver<bool>,
    counters: Arc<Counters>,
) {
    let mut tick = interval(every);
    let sql = "SELECT count(*), coalesce(max(k), 0) FROM soak WHERE w = ?";
    while next(&mut tick, &mut stopped).await {
        if consistent {
            let op = client.query_consistent_map::<(i64, i64)>(sql, params!(w));
            let r = tokio::time::timeout(OP_TIMEOUT, op).await;
            counters.count(&counters.consistent_reads, r);
        } else {
            let op = client.query_map::<(i64, i64)>(sql, params!(w));
            let r = tokio::time::timeout(OP_TIMEOUT, op).await;
            counters.count(&counters.reads, r);
        }
    }
}
