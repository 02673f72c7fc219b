//! The bounds a soak run must stay within, and the check of a run's samples against them.
//!
//! Two rules per node and metric, both over the samples after the warm-up (the first
//! [`WARM_UP`] of the run):
//! - a ceiling: no sample above `max`;
//! - no growth: the largest value in the last quarter of the run is at most the largest value
//!   in the second quarter times `1 + growth_frac`, plus `growth_abs` (a leak shows as a last
//!   quarter above the second; noise and a restart's warm-up fit in the allowance).

use super::sample::{Metric, Sample};

/// The share of the run before the bounds apply (start-up, first snapshots, caches filling).
pub const WARM_UP: f64 = 0.1;

/// One metric's bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub metric: Metric,
    /// No sample after the warm-up may be above it (the metric's unit).
    pub max: f64,
    /// Allowed growth of the last quarter's largest value over the second quarter's, as a
    /// fraction of the latter ...
    pub growth_frac: f64,
    /// ... plus this much (the metric's unit).
    pub growth_abs: f64,
}

/// The largest value of `metric` among node `node`'s samples with `from <= t < to`.
fn max_in(samples: &[Sample], node: usize, metric: Metric, from: f64, to: f64) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.node == node && s.t >= from && s.t < to)
        .filter_map(|s| s.get(metric))
        .reduce(f64::max)
}

/// Checks `samples` of `nodes` nodes over a run of `duration_s` seconds against `bounds`;
/// returns one line per violation (empty: within every bound). A node without a value of a
/// metric in the second or the last quarter is a violation too: the run could not show the
/// bound holds.
pub fn check(samples: &[Sample], nodes: usize, duration_s: f64, bounds: &[Bound]) -> Vec<String> {
    let mut violations = Vec::new();
    let end = f64::INFINITY;
    for node in 0..nodes {
        for b in bounds {
            let m = b.metric;
            let name = m.column();
            let id = node + 1;
            if let Some(peak) = max_in(samples, node, m, WARM_UP * duration_s, end) {
                if peak > b.max {
                    violations.push(format!(
                        "node {id}: {name} reached {peak:.1} after the warm-up, above the bound {}",
                        b.max
                    ));
                }
            }
            let second = max_in(samples, node, m, 0.25 * duration_s, 0.5 * duration_s);
            let last = max_in(samples, node, m, 0.75 * duration_s, end);
            match (second, last) {
                (Some(second), Some(last)) => {
                    let allowed = second * (1.0 + b.growth_frac) + b.growth_abs;
                    if last > allowed {
                        violations.push(format!(
                            "node {id}: {name} grew: last quarter's max {last:.1} > second \
                             quarter's max {second:.1} x {:.2} + {} = {allowed:.1}",
                            1.0 + b.growth_frac,
                            b.growth_abs
                        ));
                    }
                }
                _ => violations.push(format!(
                    "node {id}: {name} has no value in the second or the last quarter \
                     (second: {second:?}, last: {last:?})"
                )),
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl Fn(f64) -> f64) -> Vec<Sample> {
        (0..100)
            .map(|i| {
                let t = i as f64;
                let mut s = Sample {
                    t,
                    node: 0,
                    ..Sample::default()
                };
                s.values[Metric::Fds as usize] = Some(f(t));
                s
            })
            .collect()
    }

    const FDS: Bound = Bound {
        metric: Metric::Fds,
        max: 100.0,
        growth_frac: 0.25,
        growth_abs: 10.0,
    };

    #[test]
    fn a_flat_run_passes() {
        assert!(check(&run(|_| 50.0), 1, 100.0, &[FDS]).is_empty());
    }

    #[test]
    fn a_leak_is_growth() {
        let v = check(&run(|t| 10.0 + 0.8 * t), 1, 100.0, &[FDS]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("fds grew"), "{v:?}");
    }

    #[test]
    fn a_peak_above_the_ceiling_fails_but_not_during_the_warm_up() {
        assert!(check(
            &run(|t| if t < 5.0 { 500.0 } else { 50.0 }),
            1,
            100.0,
            &[FDS]
        )
        .is_empty());
        let v = check(
            &run(|t| if t == 30.0 { 101.0 } else { 50.0 }),
            1,
            100.0,
            &[FDS],
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("above the bound 100"), "{v:?}");
    }

    #[test]
    fn missing_values_fail() {
        let mut samples = run(|_| 50.0);
        samples.retain(|s| s.t < 70.0);
        let v = check(&samples, 1, 100.0, &[FDS]);
        assert!(v[0].contains("no value"), "{v:?}");
    }
}
