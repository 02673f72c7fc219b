//! Quick profile of the fault-injection suite (CI): a few short rounds, each starting a 3-node
//! cluster and running the register, bank and set workloads under every kind of fault: kill -9,
//! pause, follower volume wipe, leader or follower isolation, a cut link, a slow disk (network
//! faults need root and iproute2, slow disks a C compiler; without them the report says they
//! were skipped). About two minutes on 2 cores in debug.
//!
//! ```sh
//! cargo test -p hiqlite-cluster-tests --test faults_quick -- --nocapture
//! # replay one round's schedule:
//! HIQLITE_FAULT_SEED=1234 cargo test -p hiqlite-cluster-tests --test faults_quick -- --nocapture
//! ```
//!
//! `HIQLITE_FAULT_ROUND` sets the fault time per round (default `30s`).

use std::time::Duration;

use hiqlite_cluster_tests::faults::rng::{random_seed, seed_from_env, Rng};
use hiqlite_cluster_tests::faults::{parse_duration, run_round, RoundConfig, Summary};

const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quick_profile() {
    let round_time = std::env::var("HIQLITE_FAULT_ROUND")
        .ok()
        .map(|d| parse_duration(&d).expect("HIQLITE_FAULT_ROUND like 20s or 1m"))
        .unwrap_or(Duration::from_secs(30));
    // A given seed replays that one round; otherwise each round gets a fresh, printed seed.
    let seeds: Vec<u64> = match seed_from_env() {
        Some(seed) => vec![seed],
        None => {
            let mut rng = Rng::new(random_seed());
            (0..ROUNDS).map(|_| rng.next_u64()).collect()
        }
    };
    let mut summary = Summary::default();
    for seed in seeds {
        let config = RoundConfig::new(seed, round_time);
        summary.add(run_round(&config).await);
    }
    eprintln!("{summary}");
    assert_eq!(summary.anomalies(), 0, "anomalies found:\n{summary}");
}
