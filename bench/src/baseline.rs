//! Baselines measured in the same run, on the same disk as the nodes' data (one directory tree):
//! plain rusqlite with one connection in WAL mode and `synchronous=FULL` committing every row
//! (the durable single-node floor), the same rows in one transaction (the apply ceiling), a cached
//! prepared point SELECT (the read floor), and a loopback TCP round trip (the network floor) next
//! to the same round trip through Hiqlite's RPC layer (what every hop between nodes pays).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hiqlite::config::Secret;
use hiqlite::net::{serve, Channel, RpcClient, Service};
use rusqlite::{Connection, OpenFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::report::{Figure, Section, Unit};
use crate::stats::{per_sec, Latencies, Summary};
use crate::workload::{self, Entity, RandomIds, CREATE_TABLE, DELETE_ABOVE, INSERT, SELECT_BY_ID};
use crate::{Result, Settings};

/// Bytes per loopback ping (about a small request frame).
const PING_BYTES: usize = 64;

pub struct Baselines {
    /// One commit per row, `synchronous=FULL`.
    pub durable_per_sec: f64,
    pub durable_rows: usize,
    pub durable_latency: Summary,
    /// R rows in one transaction.
    pub bulk_rows_per_sec: f64,
    /// Cached prepared point SELECT.
    pub read: Summary,
    /// Loopback TCP round trip.
    pub rtt: Summary,
    /// The same round trip through `hiqlite::net` (an echo [`Service`] and an [`RpcClient`]).
    pub rpc: Summary,
}

impl Baselines {
    /// The baselines as a report section (they have no baseline themselves).
    pub fn section(&self) -> Section {
        let mut s = Section::new(
            "baseline",
            "baselines: plain rusqlite on the same disk (WAL), loopback TCP",
        );
        let mut add = |key: &str, label: &str, value: f64, unit: Unit| {
            s.figures.push(Figure::new(key, label, value, unit));
        };
        add(
            "durable_insert_per_sec",
            "INSERT/s, synchronous=FULL, one commit per row",
            self.durable_per_sec,
            Unit::PerSec,
        );
        add(
            "durable_insert_p50_us",
            "  latency p50",
            self.durable_latency.p50_us,
            Unit::Micros,
        );
        add(
            "durable_insert_p99_us",
            "  latency p99",
            self.durable_latency.p99_us,
            Unit::Micros,
        );
        add(
            "bulk_insert_rows_per_sec",
            "bulk INSERT rows/s, R rows in one transaction",
            self.bulk_rows_per_sec,
            Unit::PerSec,
        );
        add(
            "point_select_p50_us",
            "point SELECT p50, cached prepared statement",
            self.read.p50_us,
            Unit::Micros,
        );
        add(
            "point_select_p99_us",
            "point SELECT p99, cached prepared statement",
            self.read.p99_us,
            Unit::Micros,
        );
        add(
            "loopback_rtt_p50_us",
            "loopback TCP round trip p50",
            self.rtt.p50_us,
            Unit::Micros,
        );
        add(
            "loopback_rtt_p99_us",
            "loopback TCP round trip p99",
            self.rtt.p99_us,
            Unit::Micros,
        );
        add(
            "rpc_rtt_p50_us",
            "RPC round trip p50 (hiqlite::net echo)",
            self.rpc.p50_us,
            Unit::Micros,
        );
        add(
            "rpc_rtt_p99_us",
            "RPC round trip p99 (hiqlite::net echo)",
            self.rpc.p99_us,
            Unit::Micros,
        );
        s.extra.push((
            "rpc_rtt_p50_vs_loopback".into(),
            self.rpc.p50_us / self.rtt.p50_us,
        ));
        s.extra
            .push(("durable_insert_rows".into(), self.durable_rows as f64));
        s
    }
}

/// Measures every baseline; the SQLite database lives in `dir`.
pub async fn measure(dir: PathBuf, s: &Settings) -> Result<Baselines> {
    let (rows, existing, samples, max) = (s.rows, s.existing, s.reads, s.max_per_run);
    let floors =
        tokio::task::spawn_blocking(move || sqlite(&dir, rows, existing, samples, max)).await??;
    let rtt = loopback_rtt(samples).await?.summary();
    let rpc = rpc_rtt(samples).await?.summary();
    Ok(Baselines {
        durable_per_sec: floors.durable_per_sec,
        durable_rows: floors.durable_rows,
        durable_latency: floors.durable_latency,
        bulk_rows_per_sec: floors.bulk_rows_per_sec,
        read: floors.read,
        rtt,
        rpc,
    })
}

/// The plain-SQLite part of [`Baselines`].
struct SqliteFloors {
    durable_per_sec: f64,
    durable_rows: usize,
    durable_latency: Summary,
    bulk_rows_per_sec: f64,
    read: Summary,
}

fn sqlite(
    dir: &Path,
    rows: usize,
    existing: u64,
    samples: usize,
    max: Duration,
) -> Result<SqliteFloors> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("baseline.db");
    let mut conn = Connection::open(&path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the baseline database refused WAL mode ({mode})").into());
    }
    conn.execute_batch("PRAGMA synchronous = FULL;")?;
    conn.execute_batch(CREATE_TABLE)?;
    let tx = conn.transaction()?;
    for sql in workload::fill_statements(existing) {
        tx.execute_batch(&sql)?;
    }
    tx.commit()?;

    // Durable floor: autocommit, so every INSERT is its own fsynced transaction.
    let data = workload::prepare(existing as i64 + 1, rows, 1).concat();
    let deadline = Instant::now() + max;
    let mut latencies = Latencies::with_capacity(data.len());
    let start = Instant::now();
    {
        let mut stmt = conn.prepare_cached(INSERT)?;
        for e in &data {
            if Instant::now() >= deadline {
                break;
            }
            let t = Instant::now();
            stmt.execute(rusqlite::params![e.id, e.ts, e.name])?;
            latencies.push(t.elapsed());
        }
    }
    let durable_per_sec = per_sec(latencies.len(), start.elapsed());
    conn.execute(DELETE_ABOVE, [existing as i64])?;

    // Apply ceiling: the same rows in one transaction, commit included.
    let start = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(INSERT)?;
        for e in &data {
            stmt.execute(rusqlite::params![e.id, e.ts, e.name])?;
        }
    }
    tx.commit()?;
    let bulk_rows_per_sec = per_sec(data.len(), start.elapsed());
    conn.execute(DELETE_ABOVE, [existing as i64])?;

    // Read floor: a read-only connection, as a node's read pool has.
    let reader = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let read = point_reads(&reader, samples, existing)?;

    Ok(SqliteFloors {
        durable_per_sec,
        durable_rows: latencies.len(),
        durable_latency: latencies.summary(),
        bulk_rows_per_sec,
        read: read.summary(),
    })
}

/// Cached prepared point SELECTs mapped by column name, like the `query_map` figure.
fn point_reads(conn: &Connection, samples: usize, existing: u64) -> Result<Latencies> {
    let read = |id: i64| -> rusqlite::Result<Entity> {
        let mut stmt = conn.prepare_cached(SELECT_BY_ID)?;
        stmt.query_row([id], |r| {
            Ok(Entity {
                id: r.get("id")?,
                ts: r.get("ts")?,
                name: r.get("name")?,
            })
        })
    };
    let mut ids = RandomIds::new(existing);
    for _ in 0..samples.clamp(1, 100) {
        read(ids.next_id())?;
    }
    let mut latencies = Latencies::with_capacity(samples);
    for _ in 0..samples {
        let id = ids.next_id();
        let t = Instant::now();
        let row = read(id)?;
        latencies.push(t.elapsed());
        if row.id != id {
            return Err(format!("asked for id {id}, got {}", row.id).into());
        }
    }
    Ok(latencies)
}

/// Ping-pong of [`PING_BYTES`] over one loopback TCP connection (`TCP_NODELAY`, both ends in
/// this runtime, as the nodes of the in-process cluster are).
async fn loopback_rtt(samples: usize) -> Result<Latencies> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let echo = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let mut buf = [0u8; PING_BYTES];
        while socket.read_exact(&mut buf).await.is_ok() {
            socket.write_all(&buf).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut conn = TcpStream::connect(addr).await?;
    conn.set_nodelay(true)?;
    let mut buf = [7u8; PING_BYTES];
    let mut latencies = Latencies::with_capacity(samples);
    for i in 0..samples + samples.clamp(1, 100) {
        let t = Instant::now();
        conn.write_all(&buf).await?;
        conn.read_exact(&mut buf).await?;
        if i >= samples.clamp(1, 100) {
            latencies.push(t.elapsed());
        }
    }
    drop(conn);
    echo.await??;
    Ok(latencies)
}

/// An RPC service that answers every request with the request itself.
struct Echo;

impl Service for Echo {
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn handle(&self, req: Vec<u8>) -> Vec<u8> {
        req
    }
}

/// [`loopback_rtt`] through Hiqlite's RPC layer: one authenticated connection, one call at a
/// time with a [`PING_BYTES`] payload, answered by [`Echo`] in this runtime.
async fn rpc_rtt(samples: usize) -> Result<Latencies> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let secret = Secret::new("bench-rpc-secret-0123456789");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve(
        listener,
        secret.clone(),
        Channel::Api,
        1 << 20,
        Arc::new(Echo),
        shutdown,
    ));
    let client = RpcClient::connect(&addr, &secret, Channel::Api, 1 << 20).await?;
    let ping = vec![7u8; PING_BYTES];
    let mut latencies = Latencies::with_capacity(samples);
    for i in 0..samples + samples.clamp(1, 100) {
        let t = Instant::now();
        let pong: Vec<u8> = client.call(&ping, Duration::from_secs(5)).await?;
        if i >= samples.clamp(1, 100) {
            latencies.push(t.elapsed());
        }
        if pong != ping {
            return Err("the RPC echo answered with other bytes".into());
        }
    }
    drop(client);
    let _ = stop.send(true);
    server.await?;
    Ok(latencies)
}
