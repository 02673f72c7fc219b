//! Item 1 of issue 10, the safety property itself: no write is acknowledged without a real
//! majority of distinct processes. Two processes run, but the member list has three voters, the
//! third's Raft address being node 1's own port under another host name. Without node identity in
//! the handshake node 1 answered for node 3, and one process alone acknowledged writes.

use std::time::Duration;

use hiqlite::params;
use hiqlite_cluster_tests::{free_addrs, ProcessCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_process_never_counts_as_two_voters() {
    for alias in ["localhost", "0.0.0.0"] {
        let env = [("HQL_REQUEST_TIMEOUT_MS", "3000")];
        let mut cluster = ProcessCluster::spawn_with_extra_members(2, &env, |c| {
            let port = c.raft_addr(0).rsplit_once(':').expect("host:port").1;
            vec![format!("3 {alias}:{port} {}", free_addrs(1)[0])]
        });
        cluster.wait_all_healthy(Duration::from_secs(60)).await;
        let client = cluster.client(0);
        // Nodes 1 and 2 are a real majority of three: writes are acknowledged.
        client.batch("CREATE TABLE t (v INTEGER)").await.unwrap();
        client
            .execute("INSERT INTO t VALUES (1)", params!())
            .await
            .unwrap();
        cluster.kill9(1).await;
        // One process is left: nothing may be acknowledged, however it is asked.
        for v in 2..4 {
            let result = client.execute("INSERT INTO t VALUES (?)", params!(v)).await;
            assert!(
                result.is_err(),
                "{alias}: a write was acknowledged by node 1 alone: {result:?}"
            );
        }
        let result = client
            .query_consistent_map::<(i64,)>("SELECT count(*) FROM t", params!())
            .await;
        assert!(
            result.is_err(),
            "{alias}: a consistent read without a majority"
        );
        let n: Vec<(i64,)> = client
            .query_map("SELECT count(*) FROM t", params!())
            .await
            .unwrap();
        assert_eq!(n[0].0, 1, "{alias}: an unacknowledged write was applied");
        let status = cluster.status(0).await;
        assert_eq!(status.voters, vec![1, 2, 3], "{alias}");
        // Node 1 refused to count itself as node 3, and said so.
        let log = cluster.log_text(0);
        assert!(log.contains("is node 1, not node 3"), "{alias}: {log}");
    }
}
