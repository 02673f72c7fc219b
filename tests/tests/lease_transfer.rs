//! Lease reads stay linearizable while leadership moves (issue 17, goal 2).
//!
//! Three embedded nodes with `read_policy = "lease"`. Writers set a register to ever larger
//! values through every node; readers on every node read it with consistent reads, which on the
//! leader are served from its lease without a quorum round. Meanwhile the leader hands leadership
//! to another voter again and again ([`Client::transfer_leadership`]): a new leader takes writes
//! at once, without waiting for the old leader's lease to run out, so an old leader that kept
//! serving from its lease would return a value the new leader already overwrote. The whole
//! history goes through the Wing–Gong–Lowe checker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hiqlite::config::ReadPolicy;
use hiqlite::{params, Client, NodeConfig};
use hiqlite_cluster_tests::faults::linearizability::{check, Operation, RegOp, Status, Verdict};
use hiqlite_cluster_tests::{poll_until, SECRET_API, SECRET_RAFT};

const NODES: usize = 3;
const TRANSFERS: usize = 6;
/// Writes acknowledged between two transfers, so every leader's term has writes a stale read
/// could miss (reads run all the while).
const WRITES_BETWEEN_TRANSFERS: u64 = 15;

/// Records operations on one clock.
struct Recorder {
    start: Instant,
    ops: Mutex<Vec<Operation>>,
    writes_done: AtomicU64,
}

impl Recorder {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn record(&self, op: RegOp, status: Status, call: u64) {
        let ret = self.now();
        let mut ops = self.ops.lock().unwrap();
        ops.push(Operation {
            op,
            status,
            call,
            ret,
        });
        if matches!(op, RegOp::Write(_)) {
            self.writes_done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn start_cluster(root: &std::path::Path) -> Vec<Client> {
    let ports: Vec<u16> = (0..2 * NODES)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let mut builder = NodeConfig::builder();
    for i in 0..NODES {
        builder = builder.node(
            i as u64 + 1,
            format!("127.0.0.1:{}", ports[2 * i]),
            format!("127.0.0.1:{}", ports[2 * i + 1]),
        );
    }
    let mut clients = Vec::new();
    for i in 0..NODES {
        let config = builder
            .clone()
            .node_id(i as u64 + 1)
            .data_dir(root.join(format!("node{}", i + 1)))
            .secret_raft(SECRET_RAFT)
            .secret_api(SECRET_API)
            .read_policy(ReadPolicy::Lease)
            .build()
            .expect("valid config");
        clients.push(hiqlite::start_node(config).await.expect("node starts"));
    }
    for c in &clients {
        c.wait_until_healthy(Duration::from_secs(30))
            .await
            .expect("cluster becomes healthy");
    }
    clients
}

async fn leader_index(clients: &[Client]) -> usize {
    poll_until("a leader", Duration::from_secs(30), || async {
        for (i, c) in clients.iter().enumerate() {
            if c.is_leader().await.unwrap_or(false) {
                return Some(i);
            }
        }
        None
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_reads_stay_linearizable_across_leadership_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let clients = start_cluster(dir.path()).await;
    clients[0]
        .batch("CREATE TABLE reg (id INTEGER PRIMARY KEY, v INTEGER NOT NULL); INSERT INTO reg VALUES (1, 0);")
        .await
        .unwrap();

    let recorder = Arc::new(Recorder {
        start: Instant::now(),
        ops: Mutex::new(Vec::new()),
        writes_done: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let next_value = Arc::new(AtomicU64::new(1));
    let mut workers = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        // One writer and two readers per node.
        let (writer, log, halt, values) = (
            client.clone(),
            recorder.clone(),
            stop.clone(),
            next_value.clone(),
        );
        workers.push(tokio::spawn(async move {
            while !halt.load(Ordering::Relaxed) {
                let v = values.fetch_add(1, Ordering::Relaxed) as i64;
                let call = log.now();
                let result = writer
                    .execute("UPDATE reg SET v = ? WHERE id = 1", params!(v))
                    .await;
                // An error may still have been applied: the checker lets it happen or not.
                let status = if result.is_ok() {
                    Status::Ok
                } else {
                    Status::Unknown
                };
                log.record(RegOp::Write(v), status, call);
            }
            i
        }));
        for _ in 0..2 {
            let (client, recorder, stop) = (client.clone(), recorder.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let call = recorder.now();
                    let read = client
                        .query_consistent_one::<(i64,)>("SELECT v FROM reg WHERE id = 1", params!())
                        .await;
                    // A failed read observed nothing and constrains nothing.
                    if let Ok((v,)) = read {
                        recorder.record(RegOp::Read(v), Status::Ok, call);
                    }
                }
                i
            }));
        }
    }

    let mut leaders = Vec::new();
    for _ in 0..TRANSFERS {
        let target = recorder.writes_done.load(Ordering::Relaxed) + WRITES_BETWEEN_TRANSFERS;
        poll_until("writes between transfers", Duration::from_secs(60), || {
            let done = recorder.writes_done.load(Ordering::Relaxed);
            async move { (done >= target).then_some(()) }
        })
        .await;
        let from = leader_index(&clients).await;
        let to = (from + 1) % NODES;
        clients[from]
            .transfer_leadership(to as u64 + 1)
            .await
            .unwrap_or_else(|e| panic!("transfer from node {} to {}: {e}", from + 1, to + 1));
        leaders.push(to + 1);
    }
    let target = recorder.writes_done.load(Ordering::Relaxed) + WRITES_BETWEEN_TRANSFERS;
    poll_until(
        "writes after the last transfer",
        Duration::from_secs(60),
        || {
            let done = recorder.writes_done.load(Ordering::Relaxed);
            async move { (done >= target).then_some(()) }
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let ops = recorder.ops.lock().unwrap().clone();
    let reads = ops
        .iter()
        .filter(|o| matches!(o.op, RegOp::Read(_)))
        .count();
    let writes = ops.len() - reads;
    println!(
        "{} transfers (leaders in turn: {leaders:?}), {reads} lease reads, {writes} writes",
        TRANSFERS
    );
    assert!(reads >= 300, "too few reads to say anything: {reads}");
    let verdict = check(&ops, 0, 200_000_000);
    assert_eq!(
        verdict,
        Verdict::Linearizable,
        "history of {} operations",
        ops.len()
    );

    for c in &clients {
        let _ = c.shutdown().await;
    }
}

/// A transfer to a node that is not a voter, or from a node that does not lead, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_is_refused_off_the_leader_or_to_a_non_voter() {
    let dir = tempfile::tempdir().unwrap();
    let clients = start_cluster(dir.path()).await;
    let leader = leader_index(&clients).await;
    let follower = (leader + 1) % NODES;

    let err = clients[leader].transfer_leadership(9).await.unwrap_err();
    assert!(err.to_string().contains("node 9 is not a voter"), "{err}");
    let err = clients[follower]
        .transfer_leadership(leader as u64 + 1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not lead"), "{err}");
    // Leading already: nothing to do.
    clients[leader]
        .transfer_leadership(leader as u64 + 1)
        .await
        .unwrap();
    assert_eq!(leader_index(&clients).await, leader);

    for c in &clients {
        let _ = c.shutdown().await;
    }
}
