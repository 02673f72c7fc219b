//! The differential test's engine: statements from [`crate::sqlgen`] run through a real cluster
//! ([`cluster`]) and through plain SQLite ([`reference`]); every result and, at the end, every
//! table on every node must be the same ([`outcome`]). A divergence is reported with the seed,
//! the statement number, the history that led to it (shrunk by replaying when allowed) and both
//! results.

pub mod cluster;
pub mod outcome;
pub mod reference;
mod report;
pub mod reset;
mod shrink;

use std::time::{Duration, Instant};

use self::cluster::{ClusterSide, Observation};
use self::outcome::Outcome;
use self::reference::Reference;
use self::reset::reset;
use self::shrink::shrink;
use crate::sqlgen::{ident, Compare, Feature, Features, Generator, Schema, Statement};
use crate::ProcessCluster;

/// What one session runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed of the generator; one seed, one sequence of statements.
    pub seed: u64,
    /// Statements to generate (the session stops early at the first divergence).
    pub statements: usize,
    /// Kinds of SQL the generator may produce.
    pub features: Features,
    /// Statements between two changes of the writing follower.
    pub rotate_every: usize,
    /// How many replays may be spent shrinking a divergence's history (0: none).
    pub shrink_replays: usize,
    /// How long shrinking may take.
    pub shrink_time: Duration,
}

/// One statement of a session and its number (which also decides the nodes it runs on).
#[derive(Debug, Clone)]
pub struct Step {
    pub number: usize,
    pub statement: Statement,
}

/// Hiqlite and plain SQLite disagreed.
#[derive(Debug, Clone)]
pub struct Divergence {
    pub seed: u64,
    /// Number of the statement (or the final check, numbered after the last statement).
    pub number: usize,
    pub statement: Statement,
    pub expected: Outcome,
    pub observed: Vec<Observation>,
    /// Every statement before it, in order.
    pub history: Vec<Step>,
    /// A shorter history that still ends in a divergence at the same statement, if found.
    pub shrunk: Option<Vec<Step>>,
    /// Found by the comparison of the final tables, after the last statement.
    pub at_final_check: bool,
}

/// The outcome of one session.
#[derive(Debug)]
pub struct SessionReport {
    pub seed: u64,
    /// Statements run on both sides (the diverging one included).
    pub statements: usize,
    /// Of those: reads (each run three times on the cluster), and statements that failed on
    /// both sides with the same error.
    pub reads: usize,
    pub failed_alike: usize,
    pub divergence: Option<Divergence>,
    pub elapsed: Duration,
}

/// Whether Hiqlite's results for `stmt` match plain SQLite's (and, for values plain SQLite
/// cannot predict, each other).
pub(crate) fn diverges(
    stmt: &Statement,
    expected: &Outcome,
    observed: &[Observation],
    features: &Features,
) -> bool {
    let exact_names = features.has(Feature::ColumnNamesAfterSchemaChange);
    let mismatch = observed
        .iter()
        .any(|o| !o.outcome.matches(expected, stmt, exact_names));
    let disagree = stmt.compare == Compare::AcrossNodes
        && observed
            .windows(2)
            .any(|w| !w[0].outcome.identical(&w[1].outcome));
    mismatch || disagree
}

/// Runs one session: resets the cluster's and the reference's schema, generates and runs
/// `config.statements` statements, then compares every table on every node.
pub async fn run_session(cluster: &ProcessCluster, config: &Config) -> SessionReport {
    let started = Instant::now();
    let side = ClusterSide::new(
        cluster,
        config.rotate_every,
        config.features.has(Feature::SqlConsistentReadSeesNewSchema),
    )
    .await;
    let reference = Reference::open();
    if let Err(e) = reset(&side, &reference).await {
        panic!("cannot reset the cluster before seed {}: {e}", config.seed);
    }
    let mut generator = Generator::new(config.seed, config.features.clone());
    let mut history: Vec<Step> = Vec::new();
    let (mut reads, mut failed_alike) = (0, 0);
    for number in 0..config.statements {
        let schema = Schema::read(reference.conn()).expect("read the reference schema");
        let statement = generator.next(&schema);
        let expected = reference.run(&statement);
        let observed = side.run(&statement, number).await;
        if diverges(&statement, &expected, &observed, &config.features) {
            let mut divergence = Divergence {
                seed: config.seed,
                number,
                statement: statement.clone(),
                expected,
                observed,
                history: history.clone(),
                shrunk: None,
                at_final_check: false,
            };
            // Shrinking replays on the cluster: pointless once it fails to answer SQL at all.
            if config.shrink_replays > 0 && !divergence.cluster_failed() {
                let mut steps = history;
                steps.push(Step { number, statement });
                divergence.shrunk = shrink(&side, steps, &divergence.expected, config).await;
            }
            return SessionReport {
                seed: config.seed,
                statements: number + 1,
                reads,
                failed_alike,
                divergence: Some(divergence),
                elapsed: started.elapsed(),
            };
        }
        reads += usize::from(statement.kind == crate::sqlgen::Kind::Query);
        failed_alike += usize::from(matches!(expected, Outcome::Error { .. }));
        history.push(Step { number, statement });
    }
    let divergence = final_check(&side, &reference, &config.features).await.map(
        |(statement, expected, observed)| Divergence {
            seed: config.seed,
            number: config.statements,
            statement,
            expected,
            observed,
            history,
            shrunk: None,
            at_final_check: true,
        },
    );
    SessionReport {
        seed: config.seed,
        statements: config.statements,
        reads,
        failed_alike,
        divergence,
        elapsed: started.elapsed(),
    }
}

/// Every user table (rowid included), the schema and the AUTOINCREMENT counters, read on every
/// node (linearizably, then locally), against the reference. Returns the first difference.
async fn final_check(
    side: &ClusterSide<'_>,
    reference: &Reference,
    features: &Features,
) -> Option<(Statement, Outcome, Vec<Observation>)> {
    let schema = Schema::read(reference.conn()).expect("read the reference schema");
    let mut checks: Vec<Statement> = Vec::new();
    checks.push(Statement::query(crate::sqlgen::query_schema_listing()));
    if schema.has_sequence {
        checks.push(Statement::query(
            "SELECT name, seq FROM sqlite_sequence ORDER BY 1, 2",
        ));
    }
    for table in &schema.tables {
        let columns: Vec<String> = table.columns.iter().map(|c| ident(&c.name)).collect();
        let sql = if table.has_rowid() {
            format!(
                "SELECT rowid AS \"rowid\", {} FROM {} ORDER BY rowid",
                columns.join(", "),
                ident(&table.name)
            )
        } else {
            format!(
                "SELECT {} FROM {} {}",
                columns.join(", "),
                ident(&table.name),
                crate::sqlgen::expr::order_all(columns.len())
            )
        };
        checks.push(Statement::query(sql));
    }
    let mut probe = Statement::query(format!(
        "SELECT id, r, b, ts, d FROM {} ORDER BY id",
        crate::sqlgen::PROBE_TABLE
    ));
    probe.compare = Compare::AcrossNodes;
    checks.push(probe);
    for check in checks {
        let expected = reference.rows(&check.sql);
        let mut observed = Vec::new();
        for i in side.nodes() {
            for consistent in [true, false] {
                observed.push(Observation {
                    label: format!(
                        "final {} read on node {}",
                        if consistent { "consistent" } else { "local" },
                        side.node_id(i)
                    ),
                    outcome: side.read_on(i, &check.sql, consistent).await,
                });
            }
        }
        if diverges(&check, &expected, &observed, features) {
            return Some((check, expected, observed));
        }
    }
    None
}
