//! Cron jobs (`Client::cron`) on an in-process 3-node cluster with a tick every second: the job
//! runs on the leader only, once per tick; when the leader stops while a tick's job runs, that
//! tick is not run again and the new leader carries on with the next ticks.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::TestCluster;
use hiqlite::{Client, CronJob};
use tokio::sync::watch;

const EVERY_SECOND: &str = "*/1 * * * * *";

/// Tick (ms) → the nodes that ran it, in the order they started it.
type Runs = BTreeMap<i64, Vec<u64>>;

/// Registers the job `name` on every node; each run records (tick, node) in `runs` as it starts.
/// When `trap` is set, the first run to see it clears it, reports its tick on `trapped` and
/// never finishes (it is dropped when its node stops).
fn register(
    clients: &[Client],
    runs: &watch::Sender<Runs>,
    trap: &Arc<AtomicBool>,
    trapped: &watch::Sender<Option<(i64, u64)>>,
) -> Vec<CronJob> {
    clients
        .iter()
        .enumerate()
        .map(|(i, client)| {
            let node = i as u64 + 1;
            let (runs, trap, trapped) = (runs.clone(), trap.clone(), trapped.clone());
            client
                .cron("count", EVERY_SECOND, move |tick| {
                    let (runs, trap, trapped) = (runs.clone(), trap.clone(), trapped.clone());
                    async move {
                        runs.send_modify(|r| r.entry(tick.tick_ms).or_default().push(node));
                        if trap.swap(false, Ordering::SeqCst) {
                            trapped.send_replace(Some((tick.tick_ms, node)));
                            std::future::pending::<()>().await;
                        }
                    }
                })
                .expect("cron job registers")
        })
        .collect()
}

async fn wait_for(rx: &mut watch::Receiver<Runs>, what: &str, until: impl FnMut(&Runs) -> bool) {
    let done = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(until))
        .await
        .map(|r| r.map(|_| ()));
    match done {
        Ok(r) => r.expect("sender alive"),
        Err(_) => panic!("timed out waiting for {what}: {:?}", *rx.borrow()),
    }
}

fn assert_each_tick_once(runs: &Runs) {
    for (tick, nodes) in runs {
        assert_eq!(nodes.len(), 1, "tick {tick} ran on {nodes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_runs_each_tick_once() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await as u64 + 1;
    let (runs, mut rx) = watch::channel(Runs::new());
    let (trapped, _) = watch::channel(None);
    let _jobs = register(
        &cluster.clients,
        &runs,
        &Arc::new(AtomicBool::new(false)),
        &trapped,
    );
    // A job that panics at every run keeps being run at the next ticks.
    let (panics, mut panics_rx) = watch::channel(0u32);
    let _panicky: Vec<CronJob> = cluster
        .clients
        .iter()
        .map(|c| {
            let panics = panics.clone();
            c.cron("panics", EVERY_SECOND, move |_| {
                let panics = panics.clone();
                async move {
                    panics.send_modify(|n| *n += 1);
                    panic!("a failing job");
                }
            })
            .expect("registers")
        })
        .collect();
    wait_for(&mut rx, "4 ticks", |r| r.len() >= 4).await;
    let seen = rx.borrow().clone();
    println!("runs (tick ms -> nodes): {seen:?}");
    assert_each_tick_once(&seen);
    assert!(
        seen.values().all(|nodes| nodes == &[leader]),
        "only the leader (node {leader}) runs the job: {seen:?}"
    );
    // Ticks are whole seconds, one apart (none skipped while the leader stayed).
    let ticks: Vec<i64> = seen.keys().copied().collect();
    assert!(ticks.iter().all(|t| t % 1000 == 0), "{ticks:?}");
    tokio::time::timeout(Duration::from_secs(30), panics_rx.wait_for(|&n| n >= 2))
        .await
        .expect("the panicking job runs again at a later tick")
        .expect("sender alive");
    println!("the panicking job ran {} times", *panics_rx.borrow());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_whose_leader_stops_mid_job_runs_exactly_once() {
    let cluster = TestCluster::start(3).await;
    let (runs, mut rx) = watch::channel(Runs::new());
    let (trapped, mut trapped_rx) = watch::channel(None);
    let trap = Arc::new(AtomicBool::new(false));
    let _jobs = register(&cluster.clients, &runs, &trap, &trapped);
    wait_for(&mut rx, "the first tick", |r| !r.is_empty()).await;
    // The next run blocks inside its job; stop its node (the leader) while it runs.
    trap.store(true, Ordering::SeqCst);
    let (tick, node) = tokio::time::timeout(
        Duration::from_secs(30),
        trapped_rx.wait_for(Option::is_some),
    )
    .await
    .expect("a run is trapped")
    .expect("sender alive")
    .expect("some");
    println!("node {node} stops while running tick {tick}");
    cluster.stop(node as usize - 1).await;
    // The new leader carries on: three more ticks after the trapped one.
    wait_for(&mut rx, "3 ticks after the fail-over", |r| {
        r.range(tick + 1..).count() >= 3
    })
    .await;
    let seen = rx.borrow().clone();
    println!("runs (tick ms -> nodes): {seen:?}");
    assert_each_tick_once(&seen);
    assert_eq!(
        seen[&tick],
        vec![node],
        "the trapped tick ran once, on the old leader"
    );
    let after: Vec<u64> = seen
        .range(tick + 1..)
        .flat_map(|(_, n)| n.clone())
        .collect();
    assert!(
        !after.contains(&node),
        "the stopped node ran nothing after it stopped: {after:?}"
    );
    for (i, c) in cluster.clients.iter().enumerate() {
        if i + 1 != node as usize {
            let _ = c.shutdown().await;
        }
    }
}
