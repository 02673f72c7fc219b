//! Long profile of the fault-injection suite: rounds of faults until a duration is over, then
//! the aggregated report.
//!
//! ```sh
//! HIQLITE_FAULT_DURATION=30m cargo test --release -p hiqlite-cluster-tests --test faults_long -- --ignored --nocapture
//! ```
//!
//! `HIQLITE_FAULT_DURATION` (default `30m`) is the total time; each round injects faults for
//! `HIQLITE_FAULT_ROUND` (default `60s`), plus about 10 s to start a cluster and check it.
//! `HIQLITE_FAULT_SEED` fixes the first round's seed (the others follow from it).
//! Rounds go on after an anomaly (its histories are written at once); the test fails at the end.

use std::time::{Duration, Instant};

use hiqlite_cluster_tests::faults::rng::{random_seed, seed_from_env, Rng};
use hiqlite_cluster_tests::faults::{parse_duration, run_round, RoundConfig, Summary};

fn duration_env(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .map(|d| parse_duration(&d).unwrap_or_else(|| panic!("{name}={d:?}: use 90s, 3m, 1h")))
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: run with HIQLITE_FAULT_DURATION=30m ... -- --ignored (see the file's header)"]
async fn long_profile() {
    let total = duration_env("HIQLITE_FAULT_DURATION", Duration::from_secs(30 * 60));
    let round_time = duration_env("HIQLITE_FAULT_ROUND", Duration::from_secs(60));
    let first = seed_from_env().unwrap_or_else(random_seed);
    eprintln!("long fault run: {total:?} in rounds of {round_time:?}, first seed {first}");
    let mut seeds = Rng::new(first);
    let mut seed = first;
    let end = Instant::now() + total;
    let mut summary = Summary::default();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left < Duration::from_secs(5) {
            break;
        }
        let report = run_round(&RoundConfig::new(seed, round_time.min(left))).await;
        summary.add(report);
        eprintln!("{summary}");
        seed = seeds.next_u64();
    }
    assert_eq!(summary.anomalies(), 0, "anomalies found:\n{summary}");
}
