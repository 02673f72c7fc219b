//! A flood of unauthenticated connections against the leader's Raft and API ports (issue 18,
//! bounded resources): the cluster keeps acknowledging writes with no election, a follower killed
//! during the flood reconnects and catches up through it, and the leader's open file descriptors
//! and memory stay bounded (see `hiqlite/src/net/admission.rs`: at most 128 connections per
//! listener wait in the handshake; newer ones evict the oldest).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hiqlite_cluster_tests::{insert_round, ProcessCluster};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const CONVERGE: Duration = Duration::from_secs(60);
/// How long writes go on under the flood: several election windows.
const FLOOD_PHASE: Duration = Duration::from_secs(8);
/// Connections each flooder keeps open at once: without the bound the leader would hold them all
/// (800, above the bound below); small enough for a default descriptor limit of 1024.
const HELD_PER_FLOODER: usize = 400;
/// The handshake bound of each listener (`MAX_PENDING_HANDSHAKES`).
const PENDING_BOUND: usize = 128;

/// Opens connections to `addr` as fast as it can, forever: every other one sends bytes that are
/// no handshake (the server drops it), the rest stay silent. Returns how many it opened.
async fn flood(addr: String, opened: std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let mut held = VecDeque::new();
    for n in 0u64.. {
        if let Ok(mut stream) = TcpStream::connect(&addr).await {
            opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n % 2 == 0 {
                let _ = stream.write_all(&[0x5a; 97]).await;
            }
            held.push_back(stream);
        }
        if held.len() > HELD_PER_FLOODER {
            held.pop_front();
        }
        tokio::task::yield_now().await;
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_flood_neither_stops_writes_nor_holds_the_leaders_resources() {
    let mut cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let victim = (leader + 2) % 3;
    let client = cluster.failover_client(follower);
    client
        .batch("CREATE TABLE w (n INTEGER PRIMARY KEY)")
        .await
        .expect("create the table");
    let pid = cluster.pid(leader).expect("the leader runs");
    let fds_before = open_fds(pid);
    let rss_before = rss_kib(pid);
    let term_before = cluster.status(leader).await.term;

    let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flooders = [cluster.raft_addr(leader), cluster.api_addr(leader)]
        .map(|addr| tokio::spawn(flood(addr.to_string(), opened.clone())));

    let mut expected = 0;
    let mut max_fds = fds_before;
    let mut max_rss = rss_before;
    let started = Instant::now();
    let mut killed = false;
    while started.elapsed() < FLOOD_PHASE {
        if !killed && started.elapsed() > FLOOD_PHASE / 4 {
            // A node that must reconnect to the leader through the flood.
            cluster.kill9(victim).await;
            cluster.restart(victim);
            killed = true;
        }
        expected = insert_round(&client, expected, "during the flood").await;
        max_fds = max_fds.max(open_fds(pid));
        max_rss = max_rss.max(rss_kib(pid));
    }
    // The restarted node catches up while the flood goes on.
    cluster.wait_converged(CONVERGE).await;
    for f in flooders {
        f.abort();
    }

    let status = cluster.status(leader).await;
    assert_eq!(
        (status.term, status.leader_id),
        (term_before, Some(cluster.node_id(leader))),
        "an election during the flood"
    );
    let opened = opened.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        opened > 2 * (HELD_PER_FLOODER + PENDING_BOUND),
        "the flood opened only {opened} connections: it did not bite"
    );
    // Two listeners each hold at most twice PENDING_BOUND unauthenticated sockets (waiting, or
    // evicted and not yet closed); the rest is the node's own (peers, clients, files), with
    // slack for the restarted follower's new connections.
    let fd_bound = fds_before + 2 * 2 * PENDING_BOUND + 32;
    assert!(
        max_fds <= fd_bound,
        "the leader held {max_fds} descriptors during the flood ({fds_before} before, bound \
         {fd_bound})"
    );
    eprintln!(
        "flood: {opened} connections opened in {:?}; {expected} writes acknowledged; leader \
         descriptors {fds_before} -> max {max_fds}; RSS {rss_before} KiB -> max {max_rss} KiB",
        started.elapsed()
    );
    assert!(
        max_rss < rss_before + 128 * 1024,
        "the leader's memory grew by {} KiB during the flood",
        max_rss - rss_before
    );
    cluster.assert_rows_in_w(expected).await;
}
