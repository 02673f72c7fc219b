//! The report printed at the end of each round, and the summary over many rounds.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::history::OpCounts;
use super::nemesis::FaultKind;

/// What one round did and found.
#[derive(Debug, Clone, Default)]
pub struct RoundReport {
    pub seed: u64,
    /// How long faults were injected.
    pub fault_time: Duration,
    /// Whole round: cluster start, faults, recovery and checks.
    pub wall_time: Duration,
    /// Operations per kind ("register read", "bank transfer", ...).
    pub ops: BTreeMap<&'static str, OpCounts>,
    pub faults: BTreeMap<FaultKind, u64>,
    /// Safety violations, and liveness failures (prefixed `liveness:`). Zero expected.
    pub anomalies: Vec<String>,
    /// Things worth knowing that are not anomalies.
    pub notes: Vec<String>,
    /// Where histories and node logs were written (only when something was found).
    pub artifacts: Option<PathBuf>,
}

fn write_ops(f: &mut fmt::Formatter<'_>, ops: &BTreeMap<&'static str, OpCounts>) -> fmt::Result {
    let mut total = OpCounts::default();
    for (kind, counts) in ops {
        writeln!(f, "  {kind:<16}{counts}")?;
        total.add(*counts);
    }
    writeln!(f, "  {:<16}{total}", "all")
}

fn write_faults(f: &mut fmt::Formatter<'_>, faults: &BTreeMap<FaultKind, u64>) -> fmt::Result {
    let total: u64 = faults.values().sum();
    writeln!(f, "faults injected: {total}")?;
    for kind in FaultKind::ALL {
        writeln!(
            f,
            "  {:<30}{:>5}",
            kind.to_string(),
            faults.get(&kind).copied().unwrap_or(0)
        )?;
    }
    Ok(())
}

impl fmt::Display for RoundReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "--- fault round report: seed {} (HIQLITE_FAULT_SEED={}) ---",
            self.seed, self.seed
        )?;
        writeln!(
            f,
            "duration: {:.1} s of faults, {:.1} s in all",
            self.fault_time.as_secs_f64(),
            self.wall_time.as_secs_f64()
        )?;
        writeln!(f, "operations:")?;
        write_ops(f, &self.ops)?;
        write_faults(f, &self.faults)?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        writeln!(f, "anomalies: {}", self.anomalies.len())?;
        for a in &self.anomalies {
            writeln!(f, "  ANOMALY {a}")?;
        }
        if let Some(dir) = &self.artifacts {
            writeln!(f, "histories and node logs: {}", dir.display())?;
        }
        Ok(())
    }
}

/// Totals over several rounds.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rounds: Vec<RoundReport>,
}

impl Summary {
    pub fn add(&mut self, round: RoundReport) {
        self.rounds.push(round);
    }

    pub fn anomalies(&self) -> usize {
        self.rounds.iter().map(|r| r.anomalies.len()).sum()
    }

    pub fn faults(&self) -> BTreeMap<FaultKind, u64> {
        let mut faults = BTreeMap::new();
        for r in &self.rounds {
            for (k, v) in &r.faults {
                *faults.entry(*k).or_default() += v;
            }
        }
        faults
    }

    pub fn ops(&self) -> BTreeMap<&'static str, OpCounts> {
        let mut ops: BTreeMap<&'static str, OpCounts> = BTreeMap::new();
        for r in &self.rounds {
            for (k, v) in &r.ops {
                ops.entry(k).or_default().add(*v);
            }
        }
        ops
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wall: Duration = self.rounds.iter().map(|r| r.wall_time).sum();
        let faulty: Duration = self.rounds.iter().map(|r| r.fault_time).sum();
        writeln!(f, "=== fault suite summary ===")?;
        writeln!(
            f,
            "rounds: {} ({:.1} s of faults, {:.1} s in all)",
            self.rounds.len(),
            faulty.as_secs_f64(),
            wall.as_secs_f64()
        )?;
        let seeds: Vec<String> = self.rounds.iter().map(|r| r.seed.to_string()).collect();
        writeln!(f, "seeds: {}", seeds.join(", "))?;
        writeln!(f, "operations:")?;
        write_ops(f, &self.ops())?;
        write_faults(f, &self.faults())?;
        writeln!(f, "anomalies: {}", self.anomalies())?;
        for r in self.rounds.iter().filter(|r| !r.anomalies.is_empty()) {
            writeln!(
                f,
                "  seed {}: {} anomalies, see {}",
                r.seed,
                r.anomalies.len(),
                r.artifacts
                    .as_ref()
                    .map_or("(not written)".into(), |p| p.display().to_string())
            )?;
        }
        Ok(())
    }
}
