//! Listen/notify and table change notifications on an in-process 3-node cluster: every node
//! delivers the same notifications in the same order; a slow subscriber is told how many it
//! lost and keeps no more than the buffer; table events come for committed changes only.

mod common;

use std::time::Duration;

use common::TestCluster;
use hiqlite::store::events::EVENT_BUFFER;
use hiqlite::{params, Client, ListenError, Subscription, TableEvent, TableOp};

async fn next<T: Clone>(sub: &mut Subscription<T>) -> Result<T, ListenError> {
    tokio::time::timeout(Duration::from_secs(30), sub.recv())
        .await
        .expect("a message within 30 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_delivers_the_same_notifications_in_the_same_order() {
    let cluster = TestCluster::start(3).await;
    let mut subs: Vec<_> = cluster
        .clients
        .iter()
        .map(|c| c.listen("orders").expect("listen"))
        .collect();
    let mut other = cluster.clients[0].listen("other").expect("listen");
    // 60 notifications, published concurrently from all three nodes: the log decides the order.
    // The remote client cannot listen (yet).
    assert!(matches!(
        Client::remote(vec![cluster.api_addr(0)], common::SECRET_API).listen("orders"),
        Err(hiqlite::Error::EmbeddedOnly { .. })
    ));
    let mut tasks = Vec::new();
    for (i, c) in cluster.clients.iter().enumerate() {
        for n in 0..20 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.notify("orders", format!("node{}-{n}", i + 1)).await
            }));
        }
    }
    // A remote client publishes too (its write goes through the API port).
    let remote = Client::remote(vec![cluster.api_addr(1)], common::SECRET_API);
    tasks.push(tokio::spawn(async move {
        remote.notify("orders", "remote").await
    }));
    for t in tasks {
        t.await.unwrap().expect("notify");
    }
    let mut seqs = Vec::new();
    for sub in &mut subs {
        let mut seq = Vec::new();
        for _ in 0..61 {
            let n = next(sub).await.expect("no lag");
            assert_eq!(n.channel, "orders");
            seq.push((n.log_index, n.payload));
        }
        seqs.push(seq);
    }
    println!(
        "node 1 received first {:?} ... last {:?}",
        seqs[0][0], seqs[0][60]
    );
    assert_eq!(seqs[0], seqs[1], "nodes 1 and 2 deliver the same sequence");
    assert_eq!(seqs[0], seqs[2], "nodes 1 and 3 deliver the same sequence");
    assert!(seqs[0].windows(2).all(|w| w[0].0 < w[1].0), "log order");
    let mut payloads: Vec<_> = seqs[0].iter().map(|(_, p)| p.clone()).collect();
    payloads.sort();
    payloads.dedup();
    assert_eq!(payloads.len(), 61, "every notification once");
    assert_eq!(other.try_recv(), Ok(None), "another channel gets nothing");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_subscriber_is_told_it_lagged_and_keeps_only_the_buffer() {
    let cluster = TestCluster::start(3).await;
    let leader = &cluster.clients[cluster.leader().await];
    let mut slow = leader.listen("bulk").expect("listen");
    let total = EVENT_BUFFER + 100;
    // Published in waves of 64 concurrent writes; `notify` returns once the leader applied it.
    for wave in (0..total).collect::<Vec<_>>().chunks(64) {
        let tasks: Vec<_> = wave
            .iter()
            .map(|&i| {
                let c = leader.clone();
                tokio::spawn(async move { c.notify("bulk", i.to_string()).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().expect("notify");
        }
    }
    let lagged = next(&mut slow).await;
    println!("slow subscriber after {total} notifications: {lagged:?}");
    assert_eq!(lagged, Err(ListenError::Lagged(100)));
    let mut kept = 0;
    let mut last_index = 0;
    while let Some(n) = slow.try_recv().expect("no further lag") {
        assert!(n.log_index > last_index);
        last_index = n.log_index;
        kept += 1;
    }
    println!("it then received {kept} (the buffer is {EVENT_BUFFER})");
    assert_eq!(kept, EVENT_BUFFER, "what was kept is the buffer, no more");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn table_events_come_for_committed_changes_only() {
    let cluster = TestCluster::start(3).await;
    let l = &cluster.clients[cluster.leader().await];
    l.batch("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE other (x);")
        .await
        .unwrap();
    let mut subs: Vec<_> = cluster
        .clients
        .iter()
        .map(|c| c.listen_tables(&["items"]).expect("listen_tables"))
        .collect();
    l.execute("INSERT INTO items VALUES (1, 'a')", params!())
        .await
        .unwrap();
    l.execute("UPDATE items SET v = 'b' WHERE id = 1", params!())
        .await
        .unwrap();
    l.execute("INSERT INTO other VALUES (1)", params!())
        .await
        .unwrap();
    l.execute("DELETE FROM items WHERE id = 1", params!())
        .await
        .unwrap();
    // A failing batch rolls back: its insert into `items` is never reported.
    l.batch("INSERT INTO items VALUES (2, 'rolled back'); INSERT INTO missing VALUES (1);")
        .await
        .unwrap_err();
    // A failing statement alone too.
    l.execute("INSERT INTO items VALUES (1, 'a'), (1, 'dup')", params!())
        .await
        .unwrap_err();
    l.execute("INSERT INTO items VALUES (3, 'c')", params!())
        .await
        .unwrap();
    for (i, sub) in subs.iter_mut().enumerate() {
        let mut got: Vec<(TableOp, i64)> = Vec::new();
        let mut last: Option<TableEvent> = None;
        while got.len() < 4 {
            let e = next(sub).await.expect("no lag");
            assert_eq!(e.table, "items");
            if let Some(prev) = &last {
                assert!(e.log_index > prev.log_index, "commit order");
            }
            got.push((e.op, e.rowid));
            last = Some(e);
        }
        println!("node {} table events: {got:?}", i + 1);
        assert_eq!(
            got,
            vec![
                (TableOp::Insert, 1),
                (TableOp::Update, 1),
                (TableOp::Delete, 1),
                (TableOp::Insert, 3),
            ]
        );
        assert_eq!(sub.try_recv(), Ok(None));
    }
    cluster.shutdown().await;
}
