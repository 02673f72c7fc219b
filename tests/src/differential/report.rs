//! How a divergence is printed: the full report and a one-line summary.

use std::fmt::Write as _;

use super::outcome::Outcome;
use super::Divergence;

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
