//! The replicated cache and distributed locks on in-process 3-node clusters: TTL expiry identical
//! on every node, compare-and-swap and counters, the cache across restarts, and locks across a
//! leader fail-over and a holder's death (fencing refuses the stale holder).

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::TestCluster;
use hiqlite::{params, Client, Error, Rows, SqlError, Txn};

/// Clusters are CPU-hungry; one at a time keeps election timing realistic on 2 cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Awaits `cond` until it holds, or panics with `what` after `limit`.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every row of the cache table on `client`'s node, in key order.
async fn cache_rows(client: &Client) -> Rows {
    client
        .query_rows(
            "SELECT cache, key, value, expires_ms FROM _hiqlite_cache ORDER BY cache, key",
            params!(),
        )
        .await
        .unwrap()
}

async fn last_applied(client: &Client) -> u64 {
    client.status().await.unwrap().last_applied
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ttl_expiry_is_identical_on_every_node() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let leader = &cluster.clients[cluster.leader().await];
    let follower = &cluster.clients[cluster.follower().await];
    let cache = follower.cache("sessions");

    cache
        .put("short", "gone soon", Some(Duration::from_millis(300)))
        .await
        .unwrap();
    cache.put("forever", "stays", None).await.unwrap();
    assert_eq!(
        cache.get("short").await.unwrap().as_deref(),
        Some(&b"gone soon"[..])
    );

    // No other write follows: the leader's expirer must propose the expiry by itself.
    let started = Instant::now();
    wait_for(
        "the key to expire on the follower",
        Duration::from_secs(10),
        || async { cache.get("short").await.unwrap().is_none() },
    )
    .await;
    let took = started.elapsed();
    println!("short key gone on the follower {took:?} after a 300 ms TTL was set");
    assert!(
        took >= Duration::from_millis(250),
        "expired early: {took:?}"
    );

    // At the same applied index every node holds the same rows.
    let target = last_applied(leader).await;
    for c in &cluster.clients {
        wait_for("the node to catch up", Duration::from_secs(10), || async {
            last_applied(c).await >= target
        })
        .await;
    }
    let rows: Vec<Rows> = futures_rows(&cluster.clients).await;
    assert!(
        rows.windows(2).all(|w| w[0] == w[1]),
        "nodes differ: {rows:?}"
    );
    assert_eq!(
        rows[0].rows.len(),
        1,
        "only the key without TTL is left: {rows:?}"
    );
    for c in &cluster.clients {
        assert_eq!(
            c.cache("sessions").get("forever").await.unwrap().as_deref(),
            Some(&b"stays"[..])
        );
        assert_eq!(c.cache("sessions").get("short").await.unwrap(), None);
    }
    cluster.shutdown().await;
}

async fn futures_rows(clients: &[Client]) -> Vec<Rows> {
    let mut out = Vec::new();
    for c in clients {
        out.push(cache_rows(c).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compare_and_swap_counters_and_take() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;

    // Counters: 3 nodes x 20 concurrent increments = 60, nothing lost.
    let mut tasks = Vec::new();
    for c in &cluster.clients {
        for _ in 0..20 {
            let cache = c.cache("counters");
            tasks.push(tokio::spawn(
                async move { cache.add("hits", 1, None).await },
            ));
        }
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=60).collect::<Vec<i64>>(),
        "each add returns a distinct new value"
    );
    let any = &cluster.clients[0].cache("counters");
    assert_eq!(
        any.get_consistent("hits").await.unwrap().map(|b| b.len()),
        Some(8)
    );
    assert_eq!(any.counter("hits").await.unwrap(), Some(60));
    assert_eq!(any.add("hits", -10, None).await.unwrap(), 50);
    let overflow = any.add("hits", i64::MAX, None).await;
    assert!(matches!(overflow, Err(Error::Sql(_))), "{overflow:?}");

    // Compare-and-swap: absent -> v1, then only the caller that expects v1 wins.
    let cache = cluster.clients[1].cache("cas");
    assert_eq!(
        cache
            .compare_and_swap("k", None, Some(b"v1"), None)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        cache
            .compare_and_swap("k", None, Some(b"v2"), None)
            .await
            .unwrap(),
        Err(Some(b"v1".to_vec()))
    );
    assert_eq!(
        cache
            .compare_and_swap("k", Some(b"v1"), Some(b"v2"), None)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        cache
            .compare_and_swap("k", Some(b"v2"), None, None)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(cache.get("k").await.unwrap(), None);

    // Take: of two takers, exactly one gets the value.
    let cache = cluster.clients[2].cache("jobs");
    assert_eq!(cache.put("job-1", "payload", None).await.unwrap(), None);
    assert_eq!(
        cache
            .put("job-1", "payload2", None)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"payload"[..])
    );
    let (jobs0, jobs1) = (
        cluster.clients[0].cache("jobs"),
        cluster.clients[1].cache("jobs"),
    );
    let (a, b) = tokio::join!(jobs0.take("job-1"), jobs1.take("job-1"));
    let got: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(got, vec![b"payload2".to_vec()]);
    assert!(!cache.delete("job-1").await.unwrap());
    // A remote client reads and writes the same cache.
    let remote = Client::remote(vec![cluster.api_addr(1)], common::SECRET_API);
    assert_eq!(
        remote.cache("counters").counter("hits").await.unwrap(),
        Some(50)
    );
    assert_eq!(
        remote.cache("counters").add("hits", 1, None).await.unwrap(),
        51
    );
    assert_eq!(remote.cache("nothing").get("k").await.unwrap(), None);
    // Caches are separate key spaces.
    cluster.clients[0]
        .cache("a")
        .put("k", "in a", None)
        .await
        .unwrap();
    assert_eq!(
        cluster.clients[0]
            .cache("b")
            .get_consistent("k")
            .await
            .unwrap(),
        None
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_keeps_the_cache() {
    let _serial = SERIAL.lock().await;
    let mut cluster = TestCluster::start(3).await;
    let cache = cluster.clients[0].cache("kept");
    cache.put("a", "1", None).await.unwrap();
    cache
        .put("b", "2", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    cache.add("n", 7, None).await.unwrap();
    for i in 0..3 {
        cluster.stop(i).await;
    }
    for i in 0..3 {
        cluster.restart(i).await;
    }
    for c in &cluster.clients {
        c.wait_until_healthy(Duration::from_secs(30)).await.unwrap();
    }
    for c in &cluster.clients {
        let cache = c.cache("kept");
        assert_eq!(
            cache.get_consistent("a").await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(cache.get("b").await.unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(cache.counter("n").await.unwrap(), Some(7));
    }
    // And it keeps working after the restart.
    assert_eq!(
        cluster.clients[1]
            .cache("kept")
            .add("n", 1, None)
            .await
            .unwrap(),
        8
    );
    cluster.shutdown().await;
}

/// A lock holder in a process of its own (a runtime on its own thread, reaching the cluster
/// through a remote client), which can die without releasing anything.
struct Holder {
    token: u64,
    kill: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Holder {
    fn lock(api_addr: String, name: &'static str, lease: Duration) -> Holder {
        let (token_tx, token_rx) = std::sync::mpsc::channel();
        let (kill, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let guard = runtime.block_on(async move {
                let client = Client::remote(vec![api_addr], common::SECRET_API);
                client.lock_with(name, lease).await.unwrap()
            });
            token_tx.send(guard.token()).unwrap();
            let _ = kill_rx.recv();
            // Dies: no release; the runtime's end stops the renewals.
            std::mem::forget(guard);
            runtime.shutdown_background();
        });
        let token = token_rx.recv().expect("the holder gets the lock");
        Holder {
            token,
            kill,
            thread,
        }
    }

    fn die(self) {
        self.kill.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

/// Inserts a row into `fenced` only if grant `token` of lock "job" still holds it.
async fn fenced_insert(client: &Client, token: u64, what: &str) -> Result<(), Error> {
    let mut txn = Txn::new();
    txn.fence("job", token);
    txn.execute("INSERT INTO fenced (what) VALUES (?)", params!(what));
    client.txn(txn).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locks_survive_fail_over_and_fence_a_dead_holder() {
    let _serial = SERIAL.lock().await;
    let mut cluster = TestCluster::start(3).await;
    let old_leader = cluster.leader().await;
    let a_node = (old_leader + 1) % 3;
    let b_node = (old_leader + 2) % 3;
    cluster.clients[old_leader]
        .batch("CREATE TABLE fenced (what TEXT NOT NULL)")
        .await
        .unwrap();

    let lease = Duration::from_millis(1500);
    let a = Holder::lock(cluster.api_addr(a_node), "job", lease);
    println!("holder A got token {}", a.token);
    let b_client = cluster.clients[b_node].clone();
    assert!(
        b_client.try_lock("job", lease).await.unwrap().is_none(),
        "two holders at once"
    );
    fenced_insert(&b_client, a.token, "a before fail-over")
        .await
        .unwrap();

    // The leader goes away while A holds the lock: the grant is in the log, A keeps it.
    cluster.stop(old_leader).await;
    wait_for("a new leader", Duration::from_secs(30), || async {
        b_client.is_leader().await.unwrap_or(false)
            || cluster.clients[a_node].is_leader().await.unwrap_or(false)
    })
    .await;
    // Longer than a lease: only renewals through the new leader keep A's grant alive.
    let until = Instant::now() + lease * 2;
    while Instant::now() < until {
        assert!(
            b_client.try_lock("job", lease).await.unwrap().is_none(),
            "two holders at once"
        );
    }
    fenced_insert(&b_client, a.token, "a after fail-over")
        .await
        .unwrap();
    cluster.restart(old_leader).await;
    cluster.clients[old_leader]
        .wait_until_healthy(Duration::from_secs(30))
        .await
        .unwrap();

    // A's process dies: nobody renews, the lease runs out on the leader's clock, B gets the lock.
    let a_token = a.token;
    a.die();
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    let b = loop {
        if let Some(b) = b_client.try_lock("job", lease).await.unwrap() {
            break b;
        }
        assert!(Instant::now() < deadline, "B never got the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "holder B got token {} {:?} after A died",
        b.token(),
        started.elapsed()
    );
    assert!(b.token() > a_token, "fencing tokens grow");

    // A's stale token is refused; B's is accepted.
    let stale = fenced_insert(&b_client, a_token, "stale a").await;
    assert!(
        matches!(
            stale,
            Err(Error::Sql(SqlError::GuardFailed { statement: 0 }))
        ),
        "{stale:?}"
    );
    fenced_insert(&b_client, b.token(), "b").await.unwrap();
    let rows: Vec<(String,)> = b_client
        .query_consistent_map("SELECT what FROM fenced ORDER BY rowid", params!())
        .await
        .unwrap();
    let rows: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(rows, ["a before fail-over", "a after fail-over", "b"]);

    // Released: free at once.
    assert!(b.release().await.unwrap());
    let c = b_client.try_lock("job", lease).await.unwrap();
    assert!(c.is_some_and(|c| c.token() > a_token));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn size_bound_evicts_the_same_keys_on_every_node() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start_with(3, |b| b.cache_max_bytes(1000)).await;
    let cache = cluster.clients[cluster.follower().await].cache("bounded");
    // Each key plus value is 200 bytes: five fit.
    cache
        .put("t", vec![b't'; 199], Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    for i in 0..10 {
        cache
            .put(format!("k{i}"), vec![b'v'; 198], None)
            .await
            .unwrap();
    }
    // The key with a TTL goes first, then the least recently written.
    let target = last_applied(&cluster.clients[cluster.leader().await]).await;
    for c in &cluster.clients {
        wait_for("the node to catch up", Duration::from_secs(10), || async {
            last_applied(c).await >= target
        })
        .await;
    }
    let rows = futures_rows(&cluster.clients).await;
    assert!(rows.windows(2).all(|w| w[0] == w[1]), "nodes differ");
    let keys: Vec<String> = rows[0]
        .rows
        .iter()
        .map(|r| match &r[1] {
            hiqlite::Value::Blob(b) => String::from_utf8(b.clone()).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(keys, ["k5", "k6", "k7", "k8", "k9"]);
    let too_big = cache.put("big", vec![0u8; 1000], None).await;
    assert!(matches!(too_big, Err(Error::Sql(_))), "{too_big:?}");
    assert_eq!(cache.get("k9").await.unwrap().map(|v| v.len()), Some(198));
    cluster.shutdown().await;
}

/// Concurrent cache writes of one client share log entries, and each call still gets its own
/// answer: 300 concurrent `add`s through a follower each see a distinct counter value, the
/// final value is their sum, a refused call in the crowd fails alone, and far fewer than 300
/// entries were appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cache_writes_share_entries_and_keep_their_own_answers() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let follower = &cluster.clients[cluster.follower().await];
    let cache = follower.cache("hits");
    cache.put("not-a-counter", "x", None).await.unwrap();
    let before = last_applied(follower).await;

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..300 {
        let cache = cache.clone();
        calls.spawn(async move { cache.add("n", 1, None).await });
    }
    let refused = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.add("not-a-counter", 1, None).await })
    };
    let mut seen: Vec<i64> = calls
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("each add succeeds"))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=300).collect::<Vec<i64>>());
    let refused = refused.await.unwrap();
    assert!(
        matches!(&refused, Err(Error::Sql(SqlError::Sqlite { message })) if message.contains("not a counter")),
        "{refused:?}"
    );
    assert_eq!(cache.counter("n").await.unwrap(), Some(300));

    let entries = last_applied(follower).await - before;
    println!("300 concurrent adds took {entries} log entries");
    assert!(entries < 150, "{entries} entries for 300 concurrent adds");
    cluster.shutdown().await;
}

/// `lock_timeout` gives up after its wait while another grant holds the lock, and takes the lock
/// once it is free; a fence before any lock was ever granted fails as a guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_timeout_bounds_the_wait_and_an_early_fence_fails_as_a_guard() {
    let _serial = SERIAL.lock().await;
    let cluster = TestCluster::start(3).await;
    let client = &cluster.clients[cluster.follower().await];
    client
        .execute("CREATE TABLE fenced (what TEXT NOT NULL)", params!())
        .await
        .unwrap();
    let e = fenced_insert(client, 1, "before any lock")
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Sql(SqlError::GuardFailed { statement: 0 })),
        "{e:?}"
    );

    let lease = Duration::from_secs(5);
    let a = client.lock_with("job", lease).await.unwrap();
    let started = Instant::now();
    let b = client
        .lock_timeout("job", lease, Duration::from_millis(300))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(b.is_none(), "granted while held: {b:?}");
    assert!(
        waited >= Duration::from_millis(300) && waited < lease,
        "gave up after {waited:?}"
    );
    let a_token = a.token();
    assert!(a.release().await.unwrap());
    let b = client
        .lock_timeout("job", lease, Duration::from_secs(10))
        .await
        .unwrap()
        .expect("free after the release");
    assert!(b.token() > a_token);
    fenced_insert(client, b.token(), "the current holder")
        .await
        .unwrap();
    b.release().await.unwrap();
    cluster.shutdown().await;
}
