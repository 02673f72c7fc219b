//! Safe retries on a cluster of real processes: a keyed write reaches the leader and commits, its
//! reply is lost on the way back, the leader is killed with SIGKILL, and the caller repeats the
//! write with the same key through another node. The repeat returns the first result and the row
//! exists exactly once on every node; the same statement without a key is applied again.

use std::time::Duration;

use hiqlite::{params, Client, Error, RemoteOptions, WriteKey};
use hiqlite_cluster_tests::proxy::ReplyDropProxy;
use hiqlite_cluster_tests::{poll_until, ProcessCluster, SECRET_API};

const INSERT: &str = "INSERT INTO retry_items (name) VALUES ('exactly-once')";
const COUNT: &str = "SELECT count(*) FROM retry_items WHERE name = 'exactly-once'";

/// The row count on the node `client` is bound to (a local read), `None` if it does not answer.
async fn local_count(client: &Client) -> Option<i64> {
    client
        .query_map_one::<(i64,)>(COUNT, params!())
        .await
        .ok()
        .map(|(n,)| n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_keyed_write_whose_reply_was_lost_applies_once_across_a_leader_kill() {
    let mut cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    cluster
        .client(follower)
        .batch(
            "CREATE TABLE retry_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO retry_items (name) VALUES ('before');",
        )
        .await
        .unwrap();

    // A remote client that reaches the leader only through a proxy that can lose its replies,
    // with short timeouts so that its first attempt gives up soon.
    let proxy = ReplyDropProxy::start(cluster.api_addr(leader)).await;
    let options = RemoteOptions::default()
        .with_request_timeout(Duration::from_secs(3))
        .with_answer_margin(Duration::from_secs(1))
        .with_connect_timeout(Duration::from_secs(1));
    let through_proxy = Client::remote_with(vec![proxy.addr().to_string()], SECRET_API, options);
    // Opens and authenticates the connection while replies still pass.
    through_proxy.status().await.expect("the proxy relays");
    proxy.drop_replies(true);

    let key = WriteKey::new();
    let first_attempt = tokio::spawn({
        let client = through_proxy.clone();
        async move { client.with_key(key).execute(INSERT, params!()).await }
    });

    // The write committed: a follower applies only committed entries. Its reply was lost.
    let follower_client = cluster.client(follower);
    poll_until(
        "the keyed row on a follower",
        Duration::from_secs(20),
        || async { (local_count(&follower_client).await == Some(1)).then_some(()) },
    )
    .await;
    poll_until(
        "the leader's reply to be lost",
        Duration::from_secs(20),
        || async { (proxy.dropped_bytes() > 0).then_some(()) },
    )
    .await;
    let (original_id,): (i64,) = follower_client
        .query_map_one(
            "SELECT id FROM retry_items WHERE name = 'exactly-once'",
            params!(),
        )
        .await
        .unwrap();
    assert_eq!(original_id, 2, "the row after 'before'");

    cluster.kill9(leader).await;
    let first = first_attempt.await.expect("the first attempt's task");
    assert!(
        matches!(first, Err(Error::OutcomeUnknown(_))),
        "the caller cannot know the first attempt's outcome: {first:?}"
    );

    // The retry, with the same key, through another node (a new leader is elected meanwhile).
    let survivor = cluster.failover_client(follower);
    let retried = survivor
        .with_key(key)
        .execute(INSERT, params!())
        .await
        .expect("the retry is answered");
    assert_eq!(
        (retried.rows_affected, retried.last_insert_rowid),
        (1, original_id),
        "the retry returns the first attempt's result"
    );

    eprintln!(
        "key {key}: reply lost ({} bytes dropped), leader node {} killed, first attempt: {}; \
         retry through node {}: {retried:?}",
        proxy.dropped_bytes(),
        cluster.node_id(leader),
        first
            .as_ref()
            .map(|_| "Ok".to_string())
            .unwrap_or_else(|e| e.to_string()),
        cluster.node_id(follower),
    );

    // Exactly one row on every node, the killed one too once it is back.
    cluster.restart(leader);
    cluster.wait_all_healthy(Duration::from_secs(60)).await;
    cluster.wait_converged(Duration::from_secs(60)).await;
    // Once more through the restarted node, which forwards to the new leader.
    let again = cluster
        .client(leader)
        .with_key(key)
        .execute(INSERT, params!())
        .await
        .unwrap();
    assert_eq!(again, retried);
    cluster.wait_converged(Duration::from_secs(60)).await;
    for i in 0..cluster.len() {
        assert_eq!(
            local_count(&cluster.client(i)).await,
            Some(1),
            "node {}",
            cluster.node_id(i)
        );
    }

    // The same retry without a key is a new write: the row would now exist twice.
    let unkeyed = survivor.execute(INSERT, params!()).await.unwrap();
    assert_ne!(unkeyed.last_insert_rowid, original_id);
    cluster.wait_converged(Duration::from_secs(60)).await;
    for i in 0..cluster.len() {
        assert_eq!(local_count(&cluster.client(i)).await, Some(2));
    }
}
