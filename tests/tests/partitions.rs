//! Network partitions between real `hiqlite serve` processes, each in a network namespace of its
//! own: the leader cut off from its peers, and a single cut link between the leader and one
//! follower. The test process stays connected to every node, as a client next to it would be.
//!
//! Needs root and iproute2; without them the tests say so and pass without running (the fault
//! suite then also runs without network faults).

use std::time::Duration;

use hiqlite::{params, Client};
use hiqlite_cluster_tests::netns::NodeNetwork;
use hiqlite_cluster_tests::{poll_until, ProcessCluster};

/// One cluster at a time: elections on a 2-core machine need the CPU.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SCHEMA: &str = "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);";

/// Bound for a new leader after a partition (a few election timeouts, on a loaded machine).
const FAILOVER: Duration = Duration::from_secs(20);
/// Bound for one operation that must not succeed while its node is cut off.
const CUT_OFF_OP: Duration = Duration::from_secs(5);

async fn cluster() -> Option<ProcessCluster> {
    if !NodeNetwork::available() {
        eprintln!("skipped: network namespaces need root and iproute2");
        return None;
    }
    let cluster = ProcessCluster::start_in_namespaces(3, &[])
        .await
        .expect("nodes in network namespaces");
    let leader = cluster.leader().await;
    cluster
        .client(leader)
        .batch(SCHEMA)
        .await
        .expect("create the table");
    Some(cluster)
}

async fn put(client: &Client, k: &str, v: i64) -> Result<(), hiqlite::Error> {
    client
        .execute(
            "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            params!(k, v),
        )
        .await
        .map(|_| ())
}

async fn get_consistent(client: &Client, k: &str) -> Result<Option<i64>, hiqlite::Error> {
    Ok(client
        .query_consistent_optional::<(i64,)>("SELECT v FROM kv WHERE k = ?", params!(k))
        .await?
        .map(|(v,)| v))
}

/// The leader is cut off from both followers. The followers elect a new leader and keep
/// serving; the old leader, still reachable by clients, must not acknowledge a write nor answer
/// a consistent read with a stale value. After the heal it follows and has every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_isolated_leader_is_replaced_and_serves_nothing_stale() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = cluster().await else {
        return;
    };
    let old = cluster.leader().await;
    put(&cluster.client(old), "x", 1)
        .await
        .expect("first write");
    cluster.wait_converged(FAILOVER).await;

    cluster.isolate(old);
    let majority: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let new = poll_until(
        "a new leader among the connected nodes",
        FAILOVER,
        || async {
            let statuses = cluster.statuses().await;
            majority
                .iter()
                .copied()
                .find(|i| statuses.get(i).is_some_and(|s| s.role == "Leader"))
        },
    )
    .await;
    put(&cluster.client(new), "x", 2)
        .await
        .expect("the majority side takes writes");

    // The old leader answers clients but can reach no one: nothing may succeed on its word.
    let write = tokio::time::timeout(CUT_OFF_OP, put(&cluster.client(old), "y", 1)).await;
    assert!(
        !matches!(write, Ok(Ok(()))),
        "an isolated node acknowledged a write"
    );
    let read = tokio::time::timeout(CUT_OFF_OP, get_consistent(&cluster.client(old), "x")).await;
    if let Ok(Ok(value)) = read {
        panic!("an isolated node answered a consistent read: {value:?} (the committed value is 2)");
    }

    cluster.heal_network();
    let leader = cluster.wait_converged(FAILOVER).await;
    assert_ne!(
        cluster.status(old).await.role,
        "Leader",
        "the old leader (node {}) still leads after the heal although node {} was elected",
        cluster.node_id(old),
        cluster.node_id(leader)
    );
    for i in 0..3 {
        let value = get_consistent(&cluster.client(i), "x").await.expect("read");
        assert_eq!(value, Some(2), "node {} after the heal", cluster.node_id(i));
    }
    // The write sent to the isolated node either failed or took effect once, never half.
    let y: Vec<(i64,)> = cluster
        .client(new)
        .query_consistent_map("SELECT count(*) FROM kv WHERE k = 'y'", params!())
        .await
        .expect("count");
    assert!(y[0].0 <= 1);
}

/// The link between the leader and one follower is cut; the follower still reaches the other
/// follower. The cluster keeps taking writes the whole time (pre-vote keeps the cut follower from
/// deposing a leader the rest of the cluster still hears), and the follower catches up after the
/// heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_link_does_not_stop_the_cluster() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = cluster().await else {
        return;
    };
    let leader = cluster.leader().await;
    let cut_off = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    cluster.cut(leader, cut_off);

    // Writes keep succeeding through the side that sees everyone, whoever leads.
    let writer = cluster.failover_client(other);
    for v in 0..50 {
        tokio::time::timeout(FAILOVER, put(&writer, "counter", v))
            .await
            .unwrap_or_else(|_| panic!("write {v} took longer than {FAILOVER:?} during the cut"))
            .unwrap_or_else(|e| panic!("write {v} failed during the cut: {e}"));
    }

    cluster.heal_network();
    cluster.wait_converged(FAILOVER).await;
    for i in 0..3 {
        let value = cluster
            .client(i)
            .query_map_one::<(i64,)>("SELECT v FROM kv WHERE k = 'counter'", params!())
            .await
            .expect("local read after convergence");
        assert_eq!(value.0, 49, "node {} after the heal", cluster.node_id(i));
    }
}
