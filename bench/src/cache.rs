//! `cache` mode (issue 16, "Measure"): on a 3-node in-process cluster, cache PUT/s at each
//! concurrency of `--concurrency` and local GET latency, printed next to two baselines measured
//! in the same run: a `HashMap` behind a `Mutex` (what an in-process cache costs) and our own
//! single-row SQL INSERT/s at the same concurrency (what the same writes cost as SQL). Every PUT
//! is durable (fsynced on a quorum before it returns); concurrent PUTs of the one client share
//! log entries (`hiqlite/src/client/cache_batch.rs`), INSERTs do not. Nothing is asserted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hiqlite::{params, Client};
use tokio::task::JoinSet;

use crate::modes::{self, Mode};
use crate::report::{Figure, Section, Unit};
use crate::stats::{per_sec, Latencies};
use crate::{progress, Result, Settings};

const TAG: &str = "cache";
/// Bytes per cached value.
const VALUE_BYTES: usize = 100;
/// Distinct keys the writers cycle through.
const KEYS: usize = 10_000;

/// Runs the cache measurements in `dir`; returns the baseline section and the mode's section.
pub async fn run(dir: &Path, s: &Settings) -> Result<(Section, Section)> {
    progress(TAG, "starting 3 embedded nodes");
    let target = modes::start(Mode::Cluster, dir, None, s).await?;
    let measured = measure(&target.leader, s).await;
    target.stop().await;
    measured
}

async fn measure(leader: &Client, s: &Settings) -> Result<(Section, Section)> {
    let mut base = Section::new(
        "baseline",
        "baseline: Mutex<HashMap> in this process; SQL INSERT through the same cluster",
    );
    let mut sec = Section::new("cache", Mode::Cache.title());
    sec.notes.push(format!(
        "{VALUE_BYTES}-byte values over {KEYS} keys; PUTs durable (Raft, fsync); at most {:.0} s per run",
        s.max_per_run.as_secs_f64()
    ));
    leader
        .execute(
            "CREATE TABLE IF NOT EXISTS _cache_bench (id INTEGER PRIMARY KEY, v BLOB NOT NULL)",
            params!(),
        )
        .await?;
    let map: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>> = Arc::default();
    let cache = leader.cache("bench");
    for &c in &s.concurrency {
        let n = s.rows;
        progress(
            TAG,
            &format!("C={c}: {n} PUTs, {n} HashMap inserts, {n} INSERTs"),
        );
        let (puts, put_lat) = run_tasks(c, n, s.max_per_run, {
            let cache = cache.clone();
            move |i| {
                let cache = cache.clone();
                async move {
                    cache
                        .put(key(i), [7u8; VALUE_BYTES], None)
                        .await
                        .map(|_| ())
                }
            }
        })
        .await?;
        let (map_puts, _) = run_tasks(c, n, s.max_per_run, {
            let map = map.clone();
            move |i| {
                let map = map.clone();
                async move {
                    map.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key(i), vec![7u8; VALUE_BYTES]);
                    Ok(())
                }
            }
        })
        .await?;
        let offset = (c * n * 10) as i64;
        let (inserts, _) = run_tasks(c, n, s.max_per_run, {
            let leader = leader.clone();
            move |i| {
                let leader = leader.clone();
                async move {
                    leader
                        .execute(
                            "INSERT OR REPLACE INTO _cache_bench (id, v) VALUES (?, ?)",
                            params!(offset + i as i64, vec![7u8; VALUE_BYTES]),
                        )
                        .await
                        .map(|_| ())
                }
            }
        })
        .await?;
        let put_sum = put_lat.summary();
        sec.figures.push(
            Figure::new(
                &format!("cache_put_per_sec_c{c}"),
                &format!("cache PUT/s, C={c}"),
                puts,
                Unit::PerSec,
            )
            .vs("SQL INSERT", inserts),
        );
        sec.figures.push(Figure::new(
            &format!("cache_put_p50_us_c{c}"),
            &format!("  PUT latency p50, C={c}"),
            put_sum.p50_us,
            Unit::Micros,
        ));
        base.figures.push(Figure::new(
            &format!("hashmap_insert_per_sec_c{c}"),
            &format!("Mutex<HashMap> insert/s, C={c}"),
            map_puts,
            Unit::PerSec,
        ));
        base.figures.push(Figure::new(
            &format!("sql_insert_per_sec_c{c}"),
            &format!("SQL INSERT/s (1 row), C={c}"),
            inserts,
            Unit::PerSec,
        ));
    }
    // GET latency: local reads on the leader, one after the other.
    let samples = s.reads.max(1);
    let mut gets = Latencies::with_capacity(samples);
    let mut map_gets = Latencies::with_capacity(samples);
    for i in 0..samples {
        let k = key(i % KEYS);
        let t = Instant::now();
        let v = cache.get(&k).await?;
        gets.push(t.elapsed());
        std::hint::black_box(v);
        let t = Instant::now();
        let v = map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&k)
            .cloned();
        map_gets.push(t.elapsed());
        std::hint::black_box(v);
    }
    let (g, m) = (gets.summary(), map_gets.summary());
    sec.figures.extend([
        Figure::new(
            "cache_get_p50_us",
            "cache GET p50 (local)",
            g.p50_us,
            Unit::Micros,
        )
        .vs("Mutex<HashMap>", m.p50_us),
        Figure::new(
            "cache_get_p99_us",
            "cache GET p99 (local)",
            g.p99_us,
            Unit::Micros,
        )
        .vs("Mutex<HashMap>", m.p99_us),
    ]);
    base.figures.extend([
        Figure::new(
            "hashmap_get_p50_us",
            "Mutex<HashMap> get p50",
            m.p50_us,
            Unit::Micros,
        ),
        Figure::new(
            "hashmap_get_p99_us",
            "Mutex<HashMap> get p99",
            m.p99_us,
            Unit::Micros,
        ),
    ]);
    Ok((base, sec))
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{}", i % KEYS).into_bytes()
}

/// `c` tasks run `op(i)` for `i` in their share of `0..n`, one after the other, until `limit`
/// has passed; returns calls per second and each call's latency.
async fn run_tasks<F, Fut>(c: usize, n: usize, limit: Duration, op: F) -> Result<(f64, Latencies)>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = std::result::Result<(), hiqlite::Error>> + Send,
{
    let c = c.max(1);
    let start = Instant::now();
    let deadline = start + limit;
    let mut tasks = JoinSet::new();
    for t in 0..c {
        let op = op.clone();
        tasks.spawn(async move {
            let mut lat = Latencies::with_capacity(n / c + 1);
            for i in (t..n).step_by(c) {
                if Instant::now() >= deadline {
                    break;
                }
                let began = Instant::now();
                op(i).await?;
                lat.push(began.elapsed());
            }
            Ok::<_, hiqlite::Error>(lat)
        });
    }
    let mut all = Latencies::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        all.append(done.map_err(|e| e.to_string())??);
    }
    Ok((per_sec(all.len(), start.elapsed()), all))
}
