//! Shrinking a divergence's history: replay shorter histories on the same cluster and keep the
//! shortest that still ends in the same divergence.

use std::time::Instant;

use super::cluster::ClusterSide;
use super::outcome::Outcome;
use super::reference::Reference;
use super::reset::reset;
use super::{diverges, Config, Step};
use crate::sqlgen::Features;

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
pub(super) async fn shrink(
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
