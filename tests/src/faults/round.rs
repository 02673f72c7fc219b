//! One round: start a cluster, run the workloads under the nemesis, heal, converge, check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hiqlite::Client;
use tokio::task::JoinHandle;

use super::history::{History, OpCounts, Outcome};
use super::nemesis::{caught_up, FaultKind, Nemesis};
use super::report::RoundReport;
use super::rng::Rng;
use super::workloads::bank::{self, Anomalies, BankEvent};
use super::workloads::register::{self, RegEvent, Target};
use super::workloads::{set, Worker};
use crate::ProcessCluster;

/// Parameters of a round.
#[derive(Debug, Clone)]
pub struct RoundConfig {
    pub seed: u64,
    /// How long the workloads run and faults are injected.
    pub duration: Duration,
    pub nodes: usize,
    /// Small, so that snapshots, log purges and snapshot installs happen during the round.
    pub snapshot_after_logs: u64,
    /// The kinds of fault injected (all by default).
    pub kinds: Vec<super::nemesis::FaultKind>,
}

impl RoundConfig {
    pub fn new(seed: u64, duration: Duration) -> RoundConfig {
        RoundConfig {
            seed,
            duration,
            nodes: 3,
            snapshot_after_logs: 100,
            kinds: super::nemesis::FaultKind::ALL.to_vec(),
        }
    }
}

/// Clients per workload.
const REGISTER_CLIENTS: usize = 3;
/// Clients of the register kept in the replicated cache.
const CACHE_REGISTER_CLIENTS: usize = 4;
const BANK_TRANSFER_CLIENTS: usize = 2;
const SET_CLIENTS: usize = 2;

/// Bound for the cluster to settle after the last fault healed (an election, a snapshot install
/// on a busy 2-core machine).
const SETTLE: Duration = Duration::from_secs(45);

/// Runs one round. Panics only on harness failures (a cluster that does not start); everything
/// the suite is looking for ends up in the report.
pub async fn run_round(config: &RoundConfig) -> RoundReport {
    let seed = config.seed;
    eprintln!(
        "=== fault round: seed {seed}, {:?} of faults; reproduce with HIQLITE_FAULT_SEED={seed} ===",
        config.duration
    );
    let wall = Instant::now();
    let snapshot_after = config.snapshot_after_logs.to_string();
    let env = [("HQL_SNAPSHOT_AFTER_LOGS", snapshot_after.as_str())];
    let (mut cluster, kinds, start_notes) = start_cluster(config, &env).await;
    let leader = cluster.leader().await;
    let schema = format!("{}\n{}\n{}", register::SCHEMA, bank::schema(), set::SCHEMA);
    cluster
        .client(leader)
        .batch(schema)
        .await
        .expect("create the workload tables");
    Target::Cache
        .init(&cluster.client(leader))
        .await
        .expect("set the cache register");

    let rng = Rng::new(seed);
    let addrs: Vec<String> = (0..cluster.len())
        .map(|i| cluster.api_addr(i).to_string())
        .collect();
    let start = Instant::now();
    let deadline = start + config.duration;
    let histories = Histories {
        register: History::new(start),
        cache_register: History::new(start),
        bank: History::new(start),
        set: History::new(start),
    };
    let bank_anomalies = Anomalies::default();
    let tasks = spawn_workloads(&rng, &addrs, &histories, &bank_anomalies, deadline);

    let mut nemesis = Nemesis::new(&mut cluster, rng.fork(0), start, kinds);
    nemesis.run(deadline).await;
    let nemesis_log = nemesis.log;
    for task in tasks {
        task.await.expect("a workload task panicked");
    }
    eprintln!("faults:\n{}", nemesis_log.timeline.join("\n"));

    let mut report = RoundReport {
        seed,
        fault_time: config.duration,
        faults: nemesis_log.injected.clone(),
        ..RoundReport::default()
    };
    report.ops = histories.counts();
    report.notes.extend(start_notes);
    report.anomalies.extend(
        nemesis_log
            .problems
            .iter()
            .map(|p| format!("liveness: {p}")),
    );
    report.anomalies.extend(
        bank_anomalies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..),
    );
    final_checks(&cluster, &histories, &mut report).await;
    report.anomalies.extend(node_panics(&cluster));

    for (target, history) in [
        (Target::Sql, histories.register.clone()),
        (Target::Cache, histories.cache_register.clone()),
    ] {
        let checked = tokio::task::spawn_blocking(move || register::check(target, &history))
            .await
            .expect("the linearizability checker panicked");
        if let Err(violation) = checked {
            report.anomalies.push(violation);
        }
    }
    if let Some(s) = cluster.try_status(leader).await {
        report.notes.push(format!(
            "final term {}, last applied {}, snapshot at {:?}, purged up to {:?}",
            s.term, s.last_applied, s.snapshot_index, s.purged_index
        ));
    }
    if !report.anomalies.is_empty() || std::env::var_os("HIQLITE_FAULT_KEEP").is_some() {
        report.artifacts = Some(write_artifacts(
            &cluster,
            &histories,
            &nemesis_log.timeline,
            &report,
        ));
    }
    report.wall_time = wall.elapsed();
    eprintln!("{report}");
    report
}

/// Starts the round's cluster: in network namespaces when the round has network faults and this
/// machine can create namespaces; otherwise on loopback without the network faults, saying so.
async fn start_cluster(
    config: &RoundConfig,
    env: &[(&str, &str)],
) -> (ProcessCluster, Vec<FaultKind>, Vec<String>) {
    let mut notes = Vec::new();
    let wants_network = config.kinds.iter().any(|k| k.is_network());
    let mut cluster = None;
    if wants_network {
        match ProcessCluster::start_in_namespaces(config.nodes, env).await {
            Ok(c) => cluster = Some(c),
            Err(e) => notes.push(format!(
                "network faults skipped: cannot create network namespaces ({e})"
            )),
        }
    }
    let cluster = match cluster {
        Some(c) => c,
        None => ProcessCluster::start_with_env(config.nodes, env).await,
    };
    if config.kinds.contains(&FaultKind::SlowDisk) && !cluster.has_slow_disk() {
        notes.push("slow-disk faults skipped: the shim could not be built (no C compiler)".into());
    }
    let kinds: Vec<FaultKind> = config
        .kinds
        .iter()
        .copied()
        .filter(|k| !k.is_network() || cluster.has_network())
        .filter(|k| *k != FaultKind::SlowDisk || cluster.has_slow_disk())
        .collect();
    for note in &notes {
        eprintln!("{note}");
    }
    (cluster, kinds, notes)
}

/// The histories of one round.
struct Histories {
    register: History<RegEvent>,
    /// The same register kept in the replicated cache.
    cache_register: History<RegEvent>,
    bank: History<BankEvent>,
    set: History<i64>,
}

impl Histories {
    fn counts(&self) -> BTreeMap<&'static str, OpCounts> {
        let mut ops: BTreeMap<&'static str, OpCounts> = BTreeMap::new();
        let mut count = |kind, outcome| {
            let c = ops.entry(kind).or_default();
            match outcome {
                Outcome::Ok => c.ok += 1,
                Outcome::Fail => c.fail += 1,
                Outcome::Unknown => c.unknown += 1,
            }
        };
        for e in self.register.entries() {
            let kind = match e.op {
                RegEvent::Read(_) => "register read",
                RegEvent::Write(_) => "register write",
                RegEvent::Cas { .. } => "register cas",
            };
            count(kind, e.outcome);
        }
        for e in self.cache_register.entries() {
            let kind = match e.op {
                RegEvent::Read(_) => "cache read",
                RegEvent::Write(_) => "cache write",
                RegEvent::Cas { .. } => "cache cas",
            };
            count(kind, e.outcome);
        }
        for e in self.bank.entries() {
            let kind = match e.op {
                BankEvent::Transfer { .. } => "bank transfer",
                BankEvent::Read(_) => "bank read",
            };
            count(kind, e.outcome);
        }
        for e in self.set.entries() {
            count("set insert", e.outcome);
        }
        ops
    }
}

fn spawn_workloads(
    rng: &Rng,
    addrs: &[String],
    histories: &Histories,
    bank_anomalies: &Anomalies,
    deadline: Instant,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for i in 0..REGISTER_CLIENTS {
        tasks.push(tokio::spawn(register::client(
            Target::Sql,
            i,
            Worker::new(i, REGISTER_CLIENTS, addrs),
            rng.fork(100 + i as u64),
            histories.register.clone(),
            deadline,
        )));
    }
    // The cache's workers start on one client, so their concurrent writes share entries
    // (`CacheOp::Many`) and the checker sees batched writes too.
    let shared = super::workloads::shared_client(addrs);
    for i in 0..CACHE_REGISTER_CLIENTS {
        tasks.push(tokio::spawn(register::client(
            Target::Cache,
            i,
            Worker::sharing(i, CACHE_REGISTER_CLIENTS, addrs, &shared),
            rng.fork(400 + i as u64),
            histories.cache_register.clone(),
            deadline,
        )));
    }
    let bank_clients = BANK_TRANSFER_CLIENTS + 1;
    for i in 0..BANK_TRANSFER_CLIENTS {
        tasks.push(tokio::spawn(bank::transfer_client(
            Worker::new(i, bank_clients, addrs),
            rng.fork(200 + i as u64),
            histories.bank.clone(),
            deadline,
        )));
    }
    tasks.push(tokio::spawn(bank::reader_client(
        Worker::new(BANK_TRANSFER_CLIENTS, bank_clients, addrs),
        rng.fork(299),
        histories.bank.clone(),
        bank_anomalies.clone(),
        deadline,
    )));
    for i in 0..SET_CLIENTS {
        tasks.push(tokio::spawn(set::client(
            i,
            Worker::new(i, SET_CLIENTS, addrs),
            rng.fork(300 + i as u64),
            histories.set.clone(),
            deadline,
        )));
    }
    tasks
}

/// After the run: wait until every node has caught up and the nodes agree, then check the bank
/// and the set on every node's local copy. Writes abandoned by a client (unknown outcome) may
/// still be committing, so a difference between nodes is only an anomaly if it persists.
async fn final_checks(cluster: &ProcessCluster, histories: &Histories, report: &mut RoundReport) {
    let clients: Vec<Client> = (0..cluster.len()).map(|i| cluster.client(i)).collect();
    let deadline = Instant::now() + SETTLE;
    loop {
        let settled = caught_up(cluster, SETTLE).await;
        let bank = bank::final_check(&clients).await;
        let set = set::final_check(&clients, &histories.set).await;
        match (settled, bank, set) {
            (Ok(()), Ok(bank), Ok((set, summary))) => {
                report.anomalies.extend(bank);
                report.anomalies.extend(set);
                report.notes.push(format!(
                    "set: {} unknown-outcome inserts took effect, {} did not",
                    summary.unknown_present, summary.unknown_absent
                ));
                return;
            }
            (settled, bank, set) if Instant::now() >= deadline => {
                let why = [settled.err(), bank.err(), set.err()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
                report
                    .anomalies
                    .push(format!("liveness: the nodes did not converge: {why}"));
                return;
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A panic in a node is a bug even when the cluster survives it (openraft runs replication in
/// tasks, so a panic there leaves one follower without replication and the process running).
fn node_panics(cluster: &ProcessCluster) -> Vec<String> {
    let mut found = Vec::new();
    for i in 0..cluster.len() {
        let log = cluster.log_text(i);
        let lines: Vec<&str> = log.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if line.contains("panicked at") {
                let message = lines.get(n + 1).copied().unwrap_or("");
                found.push(format!(
                    "node {} panicked: {} {}",
                    cluster.node_id(i),
                    line.trim(),
                    message.trim()
                ));
            }
        }
    }
    found
}

/// Where the histories of a round with anomalies (or of every round, with `HIQLITE_FAULT_KEEP`) go: `HIQLITE_FAULT_OUT` or
/// `target/fault-runs/`, one directory per seed.
fn artifacts_dir(seed: u64) -> PathBuf {
    let base = std::env::var_os("HIQLITE_FAULT_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("fault-runs")
        });
    base.join(format!("seed-{seed}"))
}

fn write_artifacts(
    cluster: &ProcessCluster,
    histories: &Histories,
    timeline: &[String],
    report: &RoundReport,
) -> PathBuf {
    let dir = artifacts_dir(report.seed);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        histories.register.write_to(&dir.join("register.history"))?;
        histories
            .cache_register
            .write_to(&dir.join("cache-register.history"))?;
        histories.bank.write_to(&dir.join("bank.history"))?;
        histories.set.write_to(&dir.join("set.history"))?;
        std::fs::write(dir.join("faults.timeline"), timeline.join("\n") + "\n")?;
        std::fs::write(
            dir.join("anomalies.txt"),
            report.anomalies.join("\n") + "\n",
        )?;
        for i in 0..cluster.len() {
            let name = format!("node{}.log", cluster.node_id(i));
            std::fs::write(dir.join(name), cluster.log_text(i))?;
        }
        Ok(())
    };
    if let Err(e) = write() {
        eprintln!("could not write the histories to {}: {e}", dir.display());
    }
    dir
}
