//! Clusters of real `hiqlite serve` processes on loopback: SIGKILL of leaders, followers and whole
//! clusters, restarts, and hostile input on the network ports. Durability claims are only
//! believable when a process really dies, so these tests never shut a node down politely.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hiqlite::net::{Channel, HANDSHAKE_TIMEOUT, PROTOCOL_VERSION};
use hiqlite::{params, Client, Error};
use hiqlite_cluster_tests::{poll_until, run_cli, ProcessCluster, SECRET_API, SECRET_RAFT};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Clusters are CPU-hungry; on a 2-core machine running them one at a time keeps election timing
/// realistic.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// No uniqueness constraint on `id` on purpose: a write applied twice must show up as a
/// duplicate row instead of being hidden by a constraint error.
const SCHEMA: &str = "CREATE TABLE t (id TEXT NOT NULL, writer INTEGER NOT NULL);";

const INSERT: &str = "INSERT INTO t (id, writer) VALUES (?, ?)";

/// Rows in the order every replica applied them: (rowid, id, writer).
type TRow = (i64, String, i64);

const ALL_ROWS: &str = "SELECT rowid, id, writer FROM t ORDER BY rowid";

/// Many election timeouts (a new leader 600..800 ms after a crash by default): enough for a new leader, with room for a
/// split vote.
const FAILOVER: Duration = Duration::from_secs(10);

/// Generous bound for catch-up and cluster formation on a loaded 2-core machine.
const CONVERGE: Duration = Duration::from_secs(60);

async fn insert(client: &Client, id: &str, writer: i64) -> Result<(), Error> {
    let res = client.execute(INSERT, params!(id, writer)).await?;
    assert_eq!(res.rows_affected, 1, "insert of {id}");
    Ok(())
}

/// Inserts that must succeed: panics with the error otherwise.
async fn insert_ok(client: &Client, id: &str, writer: i64) {
    if let Err(e) = insert(client, id, writer).await {
        panic!("insert of {id} failed: {e}");
    }
}

/// Waits until all started nodes agree and have applied everything, then checks that every
/// node holds exactly the same rows (local reads and consistent reads alike) without duplicate
/// ids, and returns those rows.
async fn converged_rows(cluster: &ProcessCluster) -> Vec<TRow> {
    cluster.wait_converged(CONVERGE).await;
    let mut reference: Option<(usize, Vec<TRow>)> = None;
    for i in cluster.started() {
        let client = cluster.client(i);
        let local: Vec<TRow> = client.query_map(ALL_ROWS, params!()).await.unwrap();
        let consistent: Vec<TRow> = client
            .query_consistent_map(ALL_ROWS, params!())
            .await
            .unwrap();
        let id = cluster.node_id(i);
        assert_eq!(
            local, consistent,
            "node {id}: local read after catch-up differs from a consistent read"
        );
        let (total, distinct): (i64, i64) = client
            .query_map_one("SELECT count(*), count(DISTINCT id) FROM t", params!())
            .await
            .unwrap();
        assert_eq!(total, distinct, "node {id}: duplicate ids in the table");
        assert_eq!(total as usize, local.len());
        match &reference {
            None => reference = Some((i, local)),
            Some((r, rows)) => assert!(
                *rows == local,
                "node {} and node {id} hold different rows ({} vs {} rows); first difference: {:?}",
                cluster.node_id(*r),
                rows.len(),
                local.len(),
                rows.iter()
                    .zip(&local)
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| (a.clone(), b.clone()))
            ),
        }
    }
    reference.expect("at least one node").1
}

fn ids(rows: &[TRow]) -> Vec<&str> {
    rows.iter().map(|r| r.1.as_str()).collect()
}

/// What one writer task saw: acknowledged ids, ids whose write returned an error or timed out
/// (they may or may not have been applied), and the errors themselves.
#[derive(Default)]
struct WriterLog {
    acked: Vec<String>,
    unknown: Vec<String>,
    errors: Vec<String>,
}

/// Inserts rows with fresh ids until `stop`, through `client`. A failed write is never retried
/// with the same id: its outcome is unknown, so a retry with the same id could legitimately
/// duplicate it, which would hide real double-applies.
async fn writer(
    w: usize,
    client: Client,
    stop: Arc<AtomicBool>,
    acked: Arc<Vec<AtomicUsize>>,
) -> WriterLog {
    let mut log = WriterLog::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = format!("w{w}-{n}");
        n += 1;
        let write = insert(&client, &id, w as i64);
        match tokio::time::timeout(Duration::from_secs(15), write).await {
            Ok(Ok(())) => {
                log.acked.push(id);
                acked[w].fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                log.errors.push(format!("{id}: {e}"));
                log.unknown.push(id);
                // Back off a little so a writer facing an election does not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => {
                log.errors.push(format!("{id}: no answer within 15 s"));
                log.unknown.push(id);
            }
        }
    }
    log
}

/// The core durability claim: with writers hammering leader and followers, a SIGKILLed leader
/// is replaced quickly, writes go on, and after the old leader rejoins every replica holds every
/// acknowledged row exactly once, in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_follower_survive_leader_kill9() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let old_leader_id = cluster.node_id(leader);
    cluster.client(leader).batch(SCHEMA).await.unwrap();

    // Two writers per node; each prefers its node and fails over to the others in order.
    const WRITERS: usize = 6;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Vec<AtomicUsize>> =
        Arc::new((0..WRITERS).map(|_| AtomicUsize::new(0)).collect());
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let client = cluster.failover_client(w % cluster.len());
            tokio::spawn(writer(w, client, stop.clone(), acked.clone()))
        })
        .collect();
    let counts = |acked: &[AtomicUsize]| -> Vec<usize> {
        acked.iter().map(|a| a.load(Ordering::Relaxed)).collect()
    };
    let all_progressed = |base: Vec<usize>, by: usize| {
        let acked = acked.clone();
        move || {
            let now = counts(&acked);
            let ok = now.iter().zip(&base).all(|(n, b)| *n >= b + by);
            std::future::ready(ok.then_some(()))
        }
    };

    // Every writer, through leader and followers alike, gets writes acknowledged.
    poll_until(
        "every writer to get 10 writes acknowledged",
        CONVERGE,
        all_progressed(vec![0; WRITERS], 10),
    )
    .await;

    cluster.kill9(leader).await;
    let killed_at = Instant::now();
    let new_leader = cluster.leader_within(FAILOVER).await;
    let failover = killed_at.elapsed();
    assert_ne!(cluster.node_id(new_leader), old_leader_id);

    // Writes go on through the survivors, including for the writers whose node died.
    poll_until(
        "every writer to get 10 more writes acknowledged after the fail-over",
        CONVERGE,
        all_progressed(counts(&acked), 10),
    )
    .await;

    // The old leader rejoins and catches up while the writers keep going.
    cluster.restart(leader);
    let leader_now = cluster.leader().await;
    let target = cluster.status(leader_now).await.last_applied;
    cluster.wait_all_applied(target, CONVERGE).await;
    poll_until(
        "every writer to get 5 more writes acknowledged after the restart",
        CONVERGE,
        all_progressed(counts(&acked), 5),
    )
    .await;

    stop.store(true, Ordering::Relaxed);
    let mut acked_ids = HashSet::new();
    // The old leader takes writes again itself (the writers that preferred it moved on).
    insert_ok(&cluster.client(leader), "via-restarted-node", -1).await;
    acked_ids.insert("via-restarted-node".to_string());
    let mut unknown_ids = HashSet::new();
    let mut errors = Vec::new();
    for task in tasks {
        let log = task.await.expect("writer task");
        acked_ids.extend(log.acked);
        unknown_ids.extend(log.unknown);
        errors.extend(log.errors);
    }

    let rows = converged_rows(&cluster).await;
    let present: HashSet<&str> = ids(&rows).into_iter().collect();
    let lost: Vec<&String> = acked_ids
        .iter()
        .filter(|id| !present.contains(id.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let phantom: Vec<&&str> = present
        .iter()
        .filter(|id| !acked_ids.contains(**id) && !unknown_ids.contains(**id))
        .collect();
    assert!(phantom.is_empty(), "rows nobody wrote: {phantom:?}");
    assert!(
        errors.iter().all(|e| !e.contains("SQL error")),
        "a plain INSERT failed deterministically: {errors:?}"
    );

    // The restarted node is a voter again and everyone agrees on the leader.
    let statuses = cluster.statuses().await;
    assert_eq!(statuses.len(), 3, "all nodes answer: {statuses:?}");
    for s in statuses.values() {
        assert_eq!(s.voters, vec![1, 2, 3], "node {}", s.node_id);
    }
    let leaders: HashSet<Option<u64>> = statuses.values().map(|s| s.leader_id).collect();
    assert!(
        leaders.len() == 1 && !leaders.contains(&None),
        "nodes disagree on the leader: {statuses:?}"
    );
    let unknown_present = unknown_ids
        .iter()
        .filter(|id| present.contains(id.as_str()))
        .count();
    println!(
        "{} acknowledged, {} unknown ({unknown_present} of them applied), {} rows; new leader \
         after {failover:?}; test took {:?}; errors: {:?}",
        acked_ids.len(),
        unknown_ids.len(),
        rows.len(),
        started.elapsed(),
        &errors[..errors.len().min(5)]
    );
}

/// A 5-node cluster keeps a majority with two nodes down, the leader among them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_node_cluster_forms_and_tolerates_two_failures() {
    let _serial = SERIAL.lock().await;
    let mut cluster = ProcessCluster::start(5).await;
    let leader = cluster.leader().await;
    let statuses = cluster.statuses().await;
    assert_eq!(statuses.len(), 5);
    for s in statuses.values() {
        assert_eq!(s.voters, vec![1, 2, 3, 4, 5], "node {}", s.node_id);
    }
    cluster.client(leader).batch(SCHEMA).await.unwrap();
    let mut expected = Vec::new();
    for i in 0..5 {
        let id = format!("before-{i}");
        insert_ok(&cluster.client(i), &id, i as i64).await;
        expected.push(id);
    }

    let follower = (leader + 1) % 5;
    cluster.kill9(leader).await;
    cluster.kill9(follower).await;
    let new_leader = cluster.leader_within(FAILOVER).await;
    assert!(![leader, follower].contains(&new_leader));

    // Every survivor, leader or follower, still takes writes and serves consistent reads.
    let survivors = cluster.started();
    for &i in &survivors {
        for k in 0..3 {
            let id = format!("during-{i}-{k}");
            insert_ok(&cluster.client(i), &id, i as i64).await;
            expected.push(id);
        }
    }
    for &i in &survivors {
        let (n,): (i64,) = cluster
            .client(i)
            .query_consistent_one("SELECT count(*) FROM t", params!())
            .await
            .unwrap();
        assert_eq!(n as usize, expected.len(), "node {}", cluster.node_id(i));
    }

    cluster.restart(leader);
    cluster.restart(follower);
    cluster.wait_all_healthy(CONVERGE).await;
    for i in [leader, follower] {
        let id = format!("after-restart-{i}");
        insert_ok(&cluster.client(i), &id, i as i64).await;
        expected.push(id);
    }
    let rows = converged_rows(&cluster).await;
    assert_eq!(cluster.started().len(), 5);
    // Every write was acknowledged: the replicas hold exactly them, in the order they were made
    // (each insert returned before the next started).
    assert_eq!(ids(&rows), expected);
}

/// A single node recovers its committed data from its own disk after SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_node_cluster_restarts_with_its_data() {
    let _serial = SERIAL.lock().await;
    let mut cluster = ProcessCluster::start(1).await;
    let client = cluster.client(0);
    client.batch(SCHEMA).await.unwrap();
    let mut expected = Vec::new();
    for k in 0..20 {
        let id = format!("before-{k}");
        insert_ok(&client, &id, 0).await;
        expected.push(id);
    }
    let applied = cluster.status(0).await.last_applied;

    cluster.kill9(0).await;
    cluster.restart(0);
    cluster.wait_all_healthy(CONVERGE).await;
    assert_eq!(cluster.leader().await, 0);
    let status = cluster.status(0).await;
    assert!(
        status.last_applied >= applied,
        "last_applied went back from {applied} to {}",
        status.last_applied
    );
    let rows: Vec<TRow> = client.query_map(ALL_ROWS, params!()).await.unwrap();
    assert_eq!(ids(&rows), expected, "local read after restart");

    for k in 0..5 {
        let id = format!("after-{k}");
        insert_ok(&client, &id, 0).await;
        expected.push(id);
    }
    let rows = converged_rows(&cluster).await;
    assert_eq!(ids(&rows), expected);
}

/// Losing power on every node at once loses nothing that was acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_restart_all_nodes_keeps_data() {
    let _serial = SERIAL.lock().await;
    let mut cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    cluster.client(leader).batch(SCHEMA).await.unwrap();
    let mut expected = Vec::new();
    for k in 0..15 {
        let i = k % 3;
        let id = format!("before-{k}");
        insert_ok(&cluster.client(i), &id, i as i64).await;
        expected.push(id);
    }
    let old_term = cluster.status(leader).await.term;

    for i in 0..3 {
        cluster.kill9(i).await;
    }
    for i in 0..3 {
        cluster.restart(i);
    }
    let leader = cluster.leader_within(Duration::from_secs(30)).await;
    cluster.wait_all_healthy(CONVERGE).await;
    // The old leader may resume its term (its vote is durable), but terms never go back.
    let term = cluster.status(leader).await.term;
    assert!(term >= old_term, "term went back from {old_term} to {term}");
    let rows = converged_rows(&cluster).await;
    assert_eq!(ids(&rows), expected, "data after restarting every node");

    for k in 0..6 {
        let i = k % 3;
        let id = format!("after-{k}");
        insert_ok(&cluster.client(i), &id, i as i64).await;
        expected.push(id);
    }
    let rows = converged_rows(&cluster).await;
    assert_eq!(ids(&rows), expected);
}

/// Authenticates a raw TCP connection like a real peer would (see `hiqlite::net`'s handshake),
/// so the test can send malformed frames afterwards. Returns the server's status byte: 0 =
/// accepted (its proof is then read too), 1 = refused.
async fn handshake(stream: &mut TcpStream, secret: &str, channel: Channel) -> u8 {
    let mut hello = [0u8; 33];
    stream.read_exact(&mut hello).await.unwrap();
    assert_eq!(hello[32], PROTOCOL_VERSION, "server's protocol version");
    let client_nonce = [0x42u8; 32];
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("hiqlite-net/{channel}/client").as_bytes());
    mac.update(&[PROTOCOL_VERSION]);
    mac.update(&hello[..32]);
    mac.update(&client_nonce);
    let mut answer = client_nonce.to_vec();
    answer.extend_from_slice(&mac.finalize().into_bytes());
    stream.write_all(&answer).await.unwrap();
    let mut status = [0u8; 1];
    stream.read_exact(&mut status).await.unwrap();
    if status[0] == 0 {
        let mut proof = [0u8; 32];
        stream.read_exact(&mut proof).await.unwrap();
    }
    status[0]
}

/// Reads until the peer closes the connection (EOF or reset). Returns what was received, or an
/// error if the connection is still open after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, String> {
    let mut received = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    match tokio::time::timeout(within, read_all).await {
        Ok(()) => Ok(received),
        Err(_) => Err(format!("still open after {within:?}")),
    }
}

/// One kind of hostile peer.
#[derive(Debug, Clone, Copy)]
enum Attack {
    /// 64 random-looking bytes where the handshake answer belongs.
    GarbageHandshake,
    /// A 4-byte length prefix of 0xFFFFFFFF and silence: must be dropped by the handshake timeout.
    HugePrefixUnauthenticated,
    /// The right secret, then a frame announcing 4 GiB.
    HugePrefixAuthenticated,
    /// The right secret, then a well-sized frame whose body is not a valid message.
    GarbageFrameAuthenticated,
    /// The API secret presented on the Raft port (or the reverse).
    OtherChannelsSecret,
}

async fn attack(addr: String, channel: Channel, attack: Attack) -> Result<(), String> {
    let mut stream = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (secret, other) = match channel {
        Channel::Raft => (SECRET_RAFT, SECRET_API),
        Channel::Api => (SECRET_API, SECRET_RAFT),
    };
    let quick = Duration::from_secs(3);
    let outcome = match attack {
        Attack::GarbageHandshake => {
            let garbage: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37) ^ 0xA5).collect();
            stream
                .write_all(&garbage)
                .await
                .map_err(|e| e.to_string())?;
            read_until_closed(&mut stream, quick).await.and_then(|got| {
                // 33 bytes of challenge, then at most the "refused" status byte.
                match got.get(33) {
                    Some(0) => Err("the server accepted a garbage handshake".into()),
                    _ => Ok(()),
                }
            })
        }
        Attack::HugePrefixUnauthenticated => {
            stream
                .write_all(&[0xFF; 4])
                .await
                .map_err(|e| e.to_string())?;
            read_until_closed(&mut stream, HANDSHAKE_TIMEOUT + quick)
                .await
                .map(drop)
        }
        Attack::HugePrefixAuthenticated => {
            let status = handshake(&mut stream, secret, channel).await;
            if status != 0 {
                return Err(format!("the right secret was refused (status {status})"));
            }
            let mut frame = vec![0xFF; 4];
            frame.extend_from_slice(&[0u8; 64]);
            stream.write_all(&frame).await.map_err(|e| e.to_string())?;
            read_until_closed(&mut stream, quick).await.map(drop)
        }
        Attack::GarbageFrameAuthenticated => {
            let status = handshake(&mut stream, secret, channel).await;
            if status != 0 {
                return Err(format!("the right secret was refused (status {status})"));
            }
            // Length 9: an 8-byte request id, then enum variant 127, which no message has.
            let mut frame = 9u32.to_be_bytes().to_vec();
            frame.extend_from_slice(&1u64.to_be_bytes());
            frame.push(0x7F);
            stream.write_all(&frame).await.map_err(|e| e.to_string())?;
            read_until_closed(&mut stream, quick).await.map(drop)
        }
        Attack::OtherChannelsSecret => match handshake(&mut stream, other, channel).await {
            1 => read_until_closed(&mut stream, quick).await.map(drop),
            status => Err(format!("expected a refusal, got status {status}")),
        },
    };
    outcome.map_err(|e| format!("{attack:?} on {channel} port {addr}: {e}"))
}

/// Wrong secrets, garbage and oversized frames get a closed connection and nothing else; the
/// cluster keeps working. Also checks what `hiqlite sql` prints for errors and `--json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_secret_and_garbage_are_refused() {
    let _serial = SERIAL.lock().await;
    let mut cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let (leader_api, follower_api) = (
        cluster.api_addr(leader).to_string(),
        cluster.api_addr(follower).to_string(),
    );
    cluster
        .client(leader)
        .batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);")
        .await
        .unwrap();
    for name in ["apple", "banana"] {
        cluster
            .client(follower)
            .execute("INSERT INTO items (name) VALUES (?)", params!(name))
            .await
            .unwrap();
    }

    // A wrong API secret: refused at once, with an error that says so.
    let out = run_cli(&[
        "sql",
        "--api",
        &follower_api,
        "--secret-api",
        "not-the-right-secret-0123456789",
        "SELECT 1",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "wrong secret accepted: {out:?}");
    assert!(stderr.contains("authentication failed"), "stderr: {stderr}");

    // Hostile raw connections on every port kind of two nodes, all at once (the slowest waits
    // for the handshake timeout).
    let mut attacks = Vec::new();
    for i in [leader, follower] {
        for (addr, channel) in [
            (cluster.raft_addr(i).to_string(), Channel::Raft),
            (cluster.api_addr(i).to_string(), Channel::Api),
        ] {
            for kind in [
                Attack::GarbageHandshake,
                Attack::HugePrefixUnauthenticated,
                Attack::HugePrefixAuthenticated,
                Attack::GarbageFrameAuthenticated,
                Attack::OtherChannelsSecret,
            ] {
                attacks.push(attack(addr.clone(), channel, kind));
            }
        }
    }
    let failures: Vec<String> = futures::future::join_all(attacks)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");

    // Nothing crashed and the cluster still writes and reads through every node.
    cluster.assert_all_running();
    for i in 0..3 {
        cluster
            .client(i)
            .execute(
                "INSERT INTO items (name) VALUES (?)",
                params!(format!("after-{i}")),
            )
            .await
            .unwrap();
    }
    for i in 0..3 {
        let (n,): (i64,) = cluster
            .client(i)
            .query_consistent_one("SELECT count(*) FROM items", params!())
            .await
            .unwrap();
        assert_eq!(n, 5, "node {}", cluster.node_id(i));
    }
    for i in 0..3 {
        let log = cluster.log_text(i);
        assert!(!log.contains("panicked"), "node {} panicked", i + 1);
    }

    // Bad SQL: non-zero exit, SQLite's message on stderr.
    let out = run_cli(&[
        "sql",
        "--api",
        &leader_api,
        "--secret-api",
        SECRET_API,
        "NOT SQL",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "bad SQL succeeded: {out:?}");
    assert!(stderr.contains("syntax error"), "stderr: {stderr}");

    // --json prints one parseable array of row objects, locally and with --consistent.
    let expected = serde_json::json!([
        {"id": 1, "name": "apple"},
        {"id": 2, "name": "banana"},
    ]);
    let query = "SELECT id, name FROM items WHERE id <= 2 ORDER BY id";
    for (api, consistent) in [(&leader_api, false), (&follower_api, true)] {
        let mut args = vec!["sql", "--api", api, "--secret-api", SECRET_API, "--json"];
        if consistent {
            args.push("--consistent");
        }
        args.push(query);
        let out = run_cli(&args).await;
        assert!(out.status.success(), "{out:?}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(json, expected, "consistent: {consistent}");
    }

    // `status --json` names the node and the membership.
    let out = run_cli(&[
        "status",
        "--api",
        &follower_api,
        "--secret-api",
        SECRET_API,
        "--json",
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["node_id"], cluster.node_id(follower));
    assert_eq!(status["leader_id"], cluster.node_id(leader));
    assert_eq!(status["voters"], serde_json::json!([1, 2, 3]));
}
