//! The workloads: client tasks that run against the cluster while the nemesis injects faults,
//! record a [`History`](super::history::History), and check it afterwards.

pub mod bank;
pub mod register;
pub mod set;

use std::future::Future;
use std::time::Duration;

use hiqlite::{Client, Error};

use super::history::{write_outcome, Entry, History, Outcome};
use super::rng::Rng;
use crate::SECRET_API;

/// How long a client waits for one operation before calling its outcome unknown. Shorter than
/// the library's own 10 s request timeout so that a client stuck on a paused node moves on (as
/// a new process on another node) instead of idling through the rest of the round.
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// One logical client. After an operation with an unknown outcome it "crashes" and continues as
/// a fresh process with a new connection that prefers the next node, the way Jepsen retires a
/// process whose operation is still in flight.
pub struct Worker {
    pub process: usize,
    /// Added to `process` on every crash, so process ids of different workers never collide.
    stride: usize,
    node: usize,
    addrs: Vec<String>,
    client: Client,
}

impl Worker {
    /// Worker `index` of `count`, first talking to node `index % addrs.len()`.
    pub fn new(index: usize, count: usize, addrs: &[String]) -> Worker {
        let node = index % addrs.len();
        Worker {
            process: index,
            stride: count,
            node,
            addrs: addrs.to_vec(),
            client: failover_client(addrs, node),
        }
    }

    /// Worker `index` of `count` that starts on `shared` (a client from [`shared_client`] other
    /// workers use too, so that their concurrent cache writes share log entries); after its
    /// first crash it has a client of its own.
    pub fn sharing(index: usize, count: usize, addrs: &[String], shared: &Client) -> Worker {
        Worker {
            process: index,
            stride: count,
            node: 0,
            addrs: addrs.to_vec(),
            client: shared.clone(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Records a write's outcome in `history`; after an unknown outcome, becomes a new process.
    pub fn record_write<O: std::fmt::Debug + Clone, T>(
        &mut self,
        history: &History<O>,
        op: O,
        invoke: Duration,
        result: Result<T, Error>,
    ) {
        let outcome = write_outcome(&result);
        history.push(Entry {
            process: self.process,
            op,
            invoke,
            complete: history.now(),
            outcome,
            error: result.err().map(|e| e.to_string()),
        });
        if outcome == Outcome::Unknown {
            self.crash();
        }
    }

    /// Becomes a new process on a new connection to the next node.
    pub fn crash(&mut self) {
        self.process += self.stride;
        self.node = (self.node + 1) % self.addrs.len();
        self.client = failover_client(&self.addrs, self.node);
    }
}

/// A client for [`Worker::sharing`]: preferring node 0, falling over to the others in order.
pub fn shared_client(addrs: &[String]) -> Client {
    failover_client(addrs, 0)
}

/// A remote client preferring node `first`, falling over to the others in order.
fn failover_client(addrs: &[String], first: usize) -> Client {
    let n = addrs.len();
    Client::remote(
        (0..n).map(|k| addrs[(first + k) % n].clone()).collect(),
        SECRET_API,
    )
}

/// Runs `op` with [`OP_TIMEOUT`]; running out of time is a [`Error::Timeout`] (unknown outcome).
pub async fn timed<T>(op: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::time::timeout(OP_TIMEOUT, op)
        .await
        .unwrap_or_else(|_| Err(Error::Timeout(format!("no answer within {OP_TIMEOUT:?}"))))
}

/// A short seeded pause between a client's operations: keeps a 2-core machine responsive enough
/// that elections are decided by faults, not by CPU starvation.
pub async fn pace(rng: &mut Rng, max_ms: u64) {
    tokio::time::sleep(rng.millis(0, max_ms)).await;
}
