//! The Hiqlite side: one statement through a real cluster, writes through a follower, each read
//! three times: locally on the writing node (which must see its own writes), linearizably on a
//! second node, then locally on that second node (caught up by the linearizable read).

use std::time::Duration;

use hiqlite::{params, Client};

use super::outcome::Outcome;
use crate::sqlgen::{Kind, Route, Statement};
use crate::ProcessCluster;

/// How long one client call may take before it counts as a failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One Hiqlite result and where it came from.
#[derive(Debug, Clone)]
pub struct Observation {
    /// E.g. `write via node 2`, `consistent read on node 1`.
    pub label: String,
    pub outcome: Outcome,
}

/// Which node does what for one statement.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    /// Takes every write (a follower when the run started) and the first local read.
    pub writer: usize,
    /// Takes the consistent read, then a local read.
    pub reader: usize,
}

/// The cluster and the plan that assigns roles by statement number, so a replayed statement
/// runs on the same nodes as it first did.
pub struct ClusterSide<'c> {
    cluster: &'c ProcessCluster,
    /// The followers when the run started, then the leader.
    order: Vec<usize>,
    /// Statements between two changes of the writing node.
    rotate_every: usize,
    /// The node that took the previous statement's writes: a new writer catches up first.
    last_writer: std::sync::Mutex<Option<usize>>,
    /// Whether a consistent read through `Client::sql` runs as it is; otherwise the node
    /// catches up (a linearizable read) first, because `Client::sql` checks the SQL against the
    /// node's schema before it linearizes (a known divergence).
    sql_linearizes: bool,
}

impl<'c> ClusterSide<'c> {
    /// Looks up the leader; writes go through the followers in turn. `sql_linearizes`: see
    /// [`Feature::SqlConsistentReadSeesNewSchema`](crate::sqlgen::Feature).
    pub async fn new(
        cluster: &'c ProcessCluster,
        rotate_every: usize,
        sql_linearizes: bool,
    ) -> ClusterSide<'c> {
        let leader = cluster.leader().await;
        let mut order: Vec<usize> = (0..cluster.len()).filter(|&i| i != leader).collect();
        order.push(leader);
        ClusterSide {
            cluster,
            order,
            rotate_every: rotate_every.max(1),
            last_writer: std::sync::Mutex::new(None),
            sql_linearizes,
        }
    }

    /// The roles for statement `number`: the writer is one of the followers (they alternate
    /// every `rotate_every` statements); the reader alternates between the two other nodes.
    pub fn roles(&self, number: usize) -> Roles {
        let followers = (self.order.len() - 1).max(1);
        let writer_pos = (number / self.rotate_every) % followers;
        let others: Vec<usize> = (0..self.order.len()).filter(|&p| p != writer_pos).collect();
        let reader_pos = others[number % others.len().max(1)];
        Roles {
            writer: self.order[writer_pos],
            reader: self.order[reader_pos],
        }
    }

    fn node(&self, i: usize) -> u64 {
        self.cluster.node_id(i)
    }

    /// A client bound to node `i` (reads run there).
    pub fn client(&self, i: usize) -> Client {
        self.cluster.client(i)
    }

    /// Runs statement `number` and returns every result Hiqlite gave.
    pub async fn run(&self, stmt: &Statement, number: usize) -> Vec<Observation> {
        let roles = self.roles(number);
        let (w, r) = (roles.writer, roles.reader);
        let previous = self
            .last_writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(w);
        if previous.is_some_and(|p| p != w) {
            // A node's local reads see the writes made through it; the writes made through the
            // previous writer it sees once it has caught up, which a linearizable read ensures.
            let _ = finish(self.client(w).query_consistent_rows("SELECT 1", params!())).await;
        }
        match stmt.kind {
            Kind::Query => vec![
                Observation {
                    label: format!("local read on node {} (the writer)", self.node(w)),
                    outcome: read(&self.client(w), stmt, false).await,
                },
                Observation {
                    label: format!("consistent read on node {}", self.node(r)),
                    outcome: {
                        if stmt.route == Route::Sql && !self.sql_linearizes {
                            let _ =
                                finish(self.client(r).query_consistent_rows("SELECT 1", params!()))
                                    .await;
                        }
                        read(&self.client(r), stmt, true).await
                    },
                },
                Observation {
                    label: format!("local read on node {} after it", self.node(r)),
                    outcome: read(&self.client(r), stmt, false).await,
                },
            ],
            _ => vec![Observation {
                label: format!("write via node {}", self.node(w)),
                outcome: write(&self.client(w), stmt).await,
            }],
        }
    }

    /// A read on node `i` outside the generated statements (final comparison, resets).
    pub async fn read_on(&self, i: usize, sql: &str, consistent: bool) -> Outcome {
        let client = self.client(i);
        let call = async {
            if consistent {
                client.query_consistent_rows(sql, params!()).await
            } else {
                client.query_rows(sql, params!()).await
            }
        };
        finish(call).await.map(Outcome::from).unwrap_or_else(|e| e)
    }

    /// A write through the first writer outside the generated statements (resets).
    pub async fn execute(&self, sql: &str) -> Outcome {
        let client = self.client(self.roles(0).writer);
        finish(client.execute(sql, params!()))
            .await
            .map(|r| Outcome::Executed {
                rows_affected: r.rows_affected,
                last_insert_rowid: r.last_insert_rowid,
            })
            .unwrap_or_else(|e| e)
    }

    /// Every node, for the final comparison.
    pub fn nodes(&self) -> Vec<usize> {
        (0..self.cluster.len()).collect()
    }

    pub fn node_id(&self, i: usize) -> u64 {
        self.node(i)
    }
}

async fn read(client: &Client, stmt: &Statement, consistent: bool) -> Outcome {
    let sql = stmt.sql.clone();
    match stmt.route {
        Route::Sql => finish(client.sql(sql, consistent))
            .await
            .map(Outcome::from)
            .unwrap_or_else(|e| e),
        Route::Api if consistent => finish(client.query_consistent_rows(sql, params!()))
            .await
            .map(Outcome::from)
            .unwrap_or_else(|e| e),
        Route::Api => finish(client.query_rows(sql, params!()))
            .await
            .map(Outcome::from)
            .unwrap_or_else(|e| e),
    }
}

async fn write(client: &Client, stmt: &Statement) -> Outcome {
    let sql = stmt.sql.clone();
    let result = match (stmt.route, stmt.kind) {
        (Route::Sql, _) => finish(client.sql(sql, false)).await.map(Outcome::from),
        (Route::Api, Kind::WriteReturning) => finish(client.execute_returning_rows(sql, params!()))
            .await
            .map(Outcome::from),
        (Route::Api, Kind::Batch) => finish(client.batch(sql))
            .await
            .map(|statements| Outcome::Batch { statements }),
        (Route::Api, _) => {
            finish(client.execute(sql, params!()))
                .await
                .map(|r| Outcome::Executed {
                    rows_affected: r.rows_affected,
                    last_insert_rowid: r.last_insert_rowid,
                })
        }
    };
    result.unwrap_or_else(|e| e)
}

/// Awaits a client call with [`CALL_TIMEOUT`]; an error becomes its [`Outcome`].
async fn finish<T>(
    call: impl std::future::Future<Output = Result<T, hiqlite::Error>>,
) -> Result<T, Outcome> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Outcome::from(e)),
        Err(_) => Err(Outcome::Failure(format!(
            "no answer within {CALL_TIMEOUT:?}"
        ))),
    }
}
