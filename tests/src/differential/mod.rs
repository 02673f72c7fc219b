//! The differential test's engine: statements from [`crate::sqlgen`] run through a real cluster
//! ([`cluster`]) and through plain SQLite ([`reference`]); every result and, at the end, every
//! table on every node must be the same ([`outcome`]). A divergence is reported with the seed,
//! the statement number, the history that led to it (shrunk by replaying when allowed) and both
//! results.

pub mod cluster;
pub mod outcome;
pub mod reference;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use self::cluster::{ClusterSide, Observation};
use self::outcome::Outcome;
use self::reference::Reference;
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
fn diverges(
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
    let side = ClusterSide::new(cluster, config.rotate_every).await;
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

/// User objects (tables and views) of a database, from a `type, name` listing.
fn objects(listing: &Outcome) -> Result<Vec<(String, String)>, String> {
    match listing {
        Outcome::Rows { rows, .. } => Ok(rows
            .iter()
            .filter_map(|r| match (&r[0], &r[1]) {
                (hiqlite::Value::Text(t), hiqlite::Value::Text(n)) => Some((t.clone(), n.clone())),
                _ => None,
            })
            .collect()),
        other => Err(format!("cannot list the objects: {other}")),
    }
}

const LIST_OBJECTS: &str = "SELECT type, name FROM sqlite_schema \
     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
     AND name NOT LIKE '\\_hiqlite%' ESCAPE '\\' ORDER BY type DESC, name";

/// Drops every user table and view on the cluster and the reference (views first; a table
/// another table's foreign key still needs goes in a later round), and the ANALYZE statistics.
/// Afterwards both have the same (empty) schema, `sqlite_sequence` included.
pub async fn reset(side: &ClusterSide<'_>, reference: &Reference) -> Result<(), String> {
    let writer = side.roles(0).writer;
    for _round in 0..20 {
        let listed = objects(&side.read_on(writer, LIST_OBJECTS, true).await)?;
        if listed.is_empty() {
            break;
        }
        for (kind, name) in listed {
            let verb = if kind == "view" { "VIEW" } else { "TABLE" };
            side.execute(&format!("DROP {verb} IF EXISTS {}", ident(&name)))
                .await;
        }
    }
    for _round in 0..20 {
        let mut listed = objects(&reference.rows(LIST_OBJECTS))?;
        let temp = reference.rows(&LIST_OBJECTS.replace("sqlite_schema", "temp.sqlite_schema"));
        listed.extend(
            objects(&temp)?
                .into_iter()
                .map(|(k, n)| (k, format!("temp.{}", ident(&n)))),
        );
        if listed.is_empty() {
            break;
        }
        for (kind, name) in listed {
            let verb = if kind == "view" { "VIEW" } else { "TABLE" };
            let name = if name.starts_with("temp.") {
                name
            } else {
                ident(&name)
            };
            reference.execute(&format!("DROP {verb} IF EXISTS {name}"));
        }
    }
    side.execute("DROP TABLE IF EXISTS sqlite_stat1").await;
    reference.execute("DROP TABLE IF EXISTS sqlite_stat1");
    // sqlite_sequence cannot be dropped: make sure both sides have it, or neither.
    let has_sequence = "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'";
    let make_sequence = "CREATE TABLE reset_sequence (id INTEGER PRIMARY KEY AUTOINCREMENT)";
    let on_cluster = side.read_on(writer, has_sequence, true).await;
    let on_reference = reference.rows(has_sequence);
    if !on_cluster.identical(&on_reference) {
        let one = Outcome::Rows {
            columns: vec!["count(*)".into()],
            rows: vec![vec![hiqlite::Value::Integer(1)]],
        };
        if on_cluster.identical(&one) {
            reference.execute(make_sequence);
            reference.execute("DROP TABLE reset_sequence");
        } else {
            side.execute(make_sequence).await;
            side.execute("DROP TABLE reset_sequence").await;
        }
    }
    let listing = crate::sqlgen::query_schema_listing();
    let left = side.read_on(writer, listing, true).await;
    let right = reference.rows(listing);
    if !left.identical(&right) {
        return Err(format!(
            "schemas still differ after the reset:\ncluster: {left}\nreference: {right}"
        ));
    }
    Ok(())
}

/// Replays `steps` on a reset cluster and a fresh reference; true when the last step, and only
/// the last, diverges, and plain SQLite still answers it with `expected` (so the shorter history
/// shows the same divergence, not another one).
async fn reproduces(
    side: &ClusterSide<'_>,
    steps: &[Step],
    expected: &Outcome,
    features: &Features,
) -> bool {
    let reference = Reference::open();
    if reset(side, &reference).await.is_err() {
        return false;
    }
    for (k, step) in steps.iter().enumerate() {
        let answer = reference.run(&step.statement);
        let observed = side.run(&step.statement, step.number).await;
        if diverges(&step.statement, &answer, &observed, features) {
            return k + 1 == steps.len() && answer.identical(expected);
        }
    }
    false
}

/// A shorter history that still diverges at its last statement: first the statements that
/// share a name with the diverging one (transitively), then chunks removed while the
/// divergence stays (ddmin), within the config's replay and time budget. `None` when nothing
/// shorter reproduces.
async fn shrink(
    side: &ClusterSide<'_>,
    steps: Vec<Step>,
    expected: &Outcome,
    config: &Config,
) -> Option<Vec<Step>> {
    let deadline = Instant::now() + config.shrink_time;
    let mut replays = 0;
    let budget = |replays: &mut usize| {
        *replays += 1;
        *replays <= config.shrink_replays && Instant::now() < deadline
    };
    let mut current = steps;
    let original_len = current.len();
    let sliced = slice_by_names(&current);
    if sliced.len() < current.len()
        && budget(&mut replays)
        && reproduces(side, &sliced, expected, &config.features).await
    {
        current = sliced;
    }
    let mut chunks = 2;
    'outer: while current.len() > 1 {
        let body = current.len() - 1; // the diverging statement always stays
        let size = body.div_ceil(chunks).max(1);
        let mut removed_any = false;
        let mut start = 0;
        while start < current.len() - 1 {
            let end = (start + size).min(current.len() - 1);
            let candidate: Vec<Step> = current[..start]
                .iter()
                .chain(&current[end..])
                .cloned()
                .collect();
            if !budget(&mut replays) {
                break 'outer;
            }
            if reproduces(side, &candidate, expected, &config.features).await {
                current = candidate;
                removed_any = true;
            } else {
                start = end;
            }
        }
        if !removed_any {
            if size == 1 {
                break;
            }
            chunks = (chunks * 2).min(current.len().max(2));
        }
    }
    // Leave the cluster as the session left it: the full history replayed is not needed,
    // the caller stops the session after a divergence.
    (current.len() < original_len).then_some(current)
}

/// The statements whose object names (tables, views, indexes, triggers, columns with a
/// number of their own) the diverging statement uses, directly or through earlier statements
/// that mention them.
fn slice_by_names(steps: &[Step]) -> Vec<Step> {
    let Some((last, earlier)) = steps.split_last() else {
        return Vec::new();
    };
    let mut names = names_in(&last.statement.sql);
    let mut keep = vec![false; earlier.len()];
    for (k, step) in earlier.iter().enumerate().rev() {
        let mentioned = names_in(&step.statement.sql);
        // The probe table is always created first and nothing depends on it but probe SQL.
        if step.number == 0 || mentioned.iter().any(|n| names.contains(n)) {
            keep[k] = true;
            names.extend(mentioned);
        }
    }
    earlier
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(s, _)| s.clone())
        .chain(std::iter::once(last.clone()))
        .collect()
}

/// Identifier-like words of `sql` that name objects the generator created (`t12`, `v3`,
/// `"t 7"`, `audit`, ...), lower-cased. Generic column names (`c0`..`c9`) are left out: every
/// table has them.
fn names_in(sql: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for ch in sql.chars().chain(std::iter::once(' ')) {
        if ch == '"' {
            if quoted {
                names.push(word.to_lowercase());
                word.clear();
            }
            quoted = !quoted;
            continue;
        }
        if quoted || ch.is_alphanumeric() || ch == '_' {
            word.push(ch);
        } else if !word.is_empty() {
            names.push(word.to_lowercase());
            word.clear();
        }
    }
    names.retain(|n| {
        let digits = n.trim_start_matches(|c: char| !c.is_ascii_digit());
        let generic = n.len() <= 2 && n.starts_with(['c', 'g', 'x', 'v', 'r']);
        n == "audit"
            || n == crate::sqlgen::PROBE_TABLE
            || (!digits.is_empty()
                && !generic
                && n.chars().next().is_some_and(|c| !c.is_ascii_digit()))
    });
    names.sort();
    names.dedup();
    names
}

impl Divergence {
    /// Whether the cluster answered with something other than an SQL result or error (it may
    /// no longer work: start a new one before the next session).
    pub fn cluster_failed(&self) -> bool {
        self.observed
            .iter()
            .any(|o| matches!(o.outcome, Outcome::Failure(_)))
    }

    /// The report printed for a divergence: seed, statement number, both results, the
    /// history (shrunk when possible) and how to run it again.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "=== SQL divergence: seed {}, statement #{} ===",
            self.seed, self.number
        );
        let _ = writeln!(out, "statement: {}", self.statement);
        let _ = writeln!(out, "plain SQLite: {}", self.expected);
        let _ = writeln!(out, "Hiqlite:");
        for o in &self.observed {
            let mark = if o.outcome.matches(&self.expected, &self.statement, true) {
                "same"
            } else {
                "DIFFERS"
            };
            let _ = writeln!(out, "  {} [{mark}]: {}", o.label, o.outcome);
            if mark == "DIFFERS" && o.outcome.same_rows_in_another_order(&self.expected) {
                let _ = writeln!(
                    out,
                    "    (the same rows in another order: rows that ORDER BY ranks equal but that \
                     differ, such as 1 and 1.0 or 'a' and 'A' under NOCASE, came out in another \
                     order, e.g. from another query plan)"
                );
            }
        }
        match &self.shrunk {
            Some(steps) => {
                let _ = writeln!(
                    out,
                    "history shrunk by replaying: {} of {} statements still diverge (replayed on \
                     the same cluster, whose prepared-statement caches remember earlier SQL):",
                    steps.len(),
                    self.history.len() + 1
                );
                for step in steps {
                    let _ = writeln!(out, "  #{} {}", step.number, step.statement);
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "history ({} statements before it):",
                    self.history.len()
                );
                for step in &self.history {
                    let _ = writeln!(out, "  #{} {}", step.number, step.statement);
                }
            }
        }
        let _ = writeln!(
            out,
            "run again: HIQLITE_DIFF_SEED={} HIQLITE_DIFF_STATEMENTS={} cargo test -p \
             hiqlite-cluster-tests --test sql_differential long -- --ignored --nocapture \
             (same HIQLITE_DIFF_KNOWN / HIQLITE_DIFF_ENABLE; a fresh cluster lacks the statements \
             earlier sessions left in its caches)",
            self.seed,
            if self.at_final_check {
                self.number
            } else {
                self.number + 1
            }
        );
        out
    }

    /// A one-line summary: the statement and the first differing result.
    pub fn summary(&self) -> String {
        let first = self
            .observed
            .iter()
            .find(|o| !o.outcome.matches(&self.expected, &self.statement, true))
            .or(self.observed.first());
        let got = first
            .map(|o| format!("{}: {}", o.label, o.outcome))
            .unwrap_or_default();
        format!(
            "seed {} #{}: {} | SQLite: {} | Hiqlite {}",
            self.seed,
            self.number,
            self.statement,
            one_line(&self.expected.to_string()),
            one_line(&got)
        )
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
