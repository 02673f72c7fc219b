//! One mode's measurements, in order: pre-fill `existing` rows; single-row INSERTs at every C on
//! the leader, then on a follower; one `txn` per task at every C; local point SELECTs through
//! `query_map` and `query_as`; consistent point SELECTs on the leader and on a follower; peak RSS.
//! Every write run starts from the same `existing` rows (the rows it added are deleted after it),
//! and every measurement starts once all nodes have applied everything before it.

use std::time::Instant;

use hiqlite::{params, Client};

use crate::baseline::Baselines;
use crate::modes::{Mode, NodeRss, Target};
use crate::report::{Figure, Section, Unit};
use crate::stats::{per_sec, Latencies, Summary};
use crate::workload::{self, Entity, SELECT_BY_ID};
use crate::{progress, Result, Settings};

/// Runs every measurement of `mode` against the started `target`.
pub async fn run(mode: Mode, target: &Target, s: &Settings, b: &Baselines) -> Result<Section> {
    let tag = mode.name();
    let mut section = Section::new(tag, mode.title());
    if target.remote {
        section.notes.push(
            "reads go over the network to the contacted node: `query_*` figures include a round \
             trip"
                .into(),
        );
    }

    progress(tag, &format!("pre-filling {} rows", s.existing));
    let fill = workload::create_and_fill(&target.leader, s.existing).await?;
    section
        .extra
        .push(("prefill_secs".into(), fill.as_secs_f64()));

    let mut writers = vec![("leader", &target.leader)];
    if let Some(f) = &target.follower {
        writers.push(("follower", f));
    }
    for (role, client) in writers {
        for &c in &s.concurrency {
            let sets = workload::prepare(s.existing as i64 + 1, s.rows, c);
            target.settle().await?;
            let run =
                workload::single_inserts(client, sets, Instant::now() + s.max_per_run).await?;
            workload::clean_up(&target.leader, s.existing).await?;
            let rate = per_sec(run.rows, run.elapsed);
            let lat = run.latencies.summary();
            progress(
                tag,
                &format!(
                    "INSERT on the {role}, C={c}: {} rows, {rate:.0}/s, p50 {:.0} µs, p99 {:.0} µs",
                    run.rows, lat.p50_us, lat.p99_us
                ),
            );
            let key = format!("insert_{role}_c{c}");
            section.figures.extend([
                Figure::new(
                    &format!("{key}_per_sec"),
                    &format!("single-row INSERT/s, {role}, C={c}"),
                    rate,
                    Unit::PerSec,
                )
                .vs("durable", b.durable_per_sec),
                Figure::new(
                    &format!("{key}_p50_us"),
                    "  write latency p50",
                    lat.p50_us,
                    Unit::Micros,
                )
                .vs("durable", b.durable_latency.p50_us),
                Figure::new(
                    &format!("{key}_p99_us"),
                    "  write latency p99",
                    lat.p99_us,
                    Unit::Micros,
                )
                .vs("durable", b.durable_latency.p99_us),
            ]);
            section.extra.push((format!("{key}_rows"), run.rows as f64));
        }
    }

    for &c in &s.concurrency {
        for (shape, key, label) in [
            (
                workload::TxnShape::StatementPerRow,
                "txn_insert",
                "one txn per task",
            ),
            (
                workload::TxnShape::ExecuteMany,
                "txn_many_insert",
                "one txn per task, execute_many",
            ),
        ] {
            let sets = workload::prepare(s.existing as i64 + 1, s.rows, c);
            target.settle().await?;
            let run = workload::txn_inserts(&target.leader, sets, shape).await?;
            workload::clean_up(&target.leader, s.existing).await?;
            let rate = per_sec(run.rows, run.elapsed);
            progress(
                tag,
                &format!("{key}, C={c}: {} rows, {rate:.0} rows/s", run.rows),
            );
            section.figures.push(
                Figure::new(
                    &format!("{key}_c{c}_rows_per_sec"),
                    &format!("txn INSERT rows/s, {label}, C={c}"),
                    rate,
                    Unit::PerSec,
                )
                .vs("bulk", b.bulk_rows_per_sec),
            );
        }
    }

    target.settle().await?;
    reads(tag, target, s, b, &mut section).await?;

    if let Some(kib) = crate::sys::own_peak_rss_kib() {
        section.figures.push(Figure::new(
            "peak_rss_kib",
            "peak RSS of the benchmark process so far",
            kib as f64,
            Unit::KiB,
        ));
    }
    Ok(section)
}

/// Local and consistent point SELECTs.
async fn reads(
    tag: &str,
    target: &Target,
    s: &Settings,
    b: &Baselines,
    section: &mut Section,
) -> Result<()> {
    // What a read costs at least: the raw read, plus one loopback round trip per network hop.
    let floor = |hops: u32| {
        let h = f64::from(hops);
        let name = match hops {
            0 => "read",
            1 => "rtt+read",
            _ => "2rtt+read",
        };
        (
            name,
            b.read.p50_us + h * b.rtt.p50_us,
            b.read.p99_us + h * b.rtt.p99_us,
        )
    };
    let client_hop = u32::from(target.remote);
    let consistent_hop = client_hop + u32::from(target.follower.is_some());

    let leader = &target.leader;
    let local_map = measure_reads(s, |id| {
        leader.query_map_one::<Entity>(SELECT_BY_ID, params!(id))
    })
    .await?;
    let local_as = measure_reads(s, |id| {
        leader.query_as_one::<Entity>(SELECT_BY_ID, params!(id))
    })
    .await?;
    let consistent_leader = measure_reads(s, |id| consistent(leader, id)).await?;
    let consistent_follower = match &target.follower {
        Some(f) => Some(measure_reads(s, |id| consistent(f, id)).await?),
        None => None,
    };

    let mut add = |key: &str, label: &str, lat: Summary, hops: u32| {
        let (name, p50, p99) = floor(hops);
        progress(
            tag,
            &format!(
                "{label}: p50 {:.1} µs, p99 {:.1} µs",
                lat.p50_us, lat.p99_us
            ),
        );
        section.figures.push(
            Figure::new(
                &format!("{key}_p50_us"),
                &format!("{label} p50"),
                lat.p50_us,
                Unit::Micros,
            )
            .vs(name, p50),
        );
        section.figures.push(
            Figure::new(
                &format!("{key}_p99_us"),
                &format!("{label} p99"),
                lat.p99_us,
                Unit::Micros,
            )
            .vs(name, p99),
        );
    };
    add(
        "select_query_map",
        "point SELECT via query_map",
        local_map,
        client_hop,
    );
    add(
        "select_query_as",
        "point SELECT via query_as",
        local_as,
        client_hop,
    );
    add(
        "consistent_select_leader",
        "consistent point SELECT, leader",
        consistent_leader,
        consistent_hop,
    );
    if let Some(lat) = consistent_follower {
        add(
            "consistent_select_follower",
            "consistent point SELECT, follower",
            lat,
            consistent_hop,
        );
    }
    Ok(())
}

async fn consistent(client: &Client, id: i64) -> std::result::Result<Entity, hiqlite::Error> {
    client
        .query_consistent_one::<Entity>(SELECT_BY_ID, params!(id))
        .await
}

async fn measure_reads<F, Fut>(s: &Settings, read: F) -> Result<Summary>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Entity, hiqlite::Error>>,
{
    let lat: Latencies = workload::point_reads(s.reads, s.existing, read).await?;
    Ok(lat.summary())
}

/// Adds the children's peak RSS (processes mode) to `section`.
pub fn add_node_rss(section: &mut Section, nodes: &[NodeRss]) {
    let known: Vec<(u64, u64)> = nodes
        .iter()
        .filter_map(|n| n.peak_rss_kib.map(|k| (n.node_id, k)))
        .collect();
    for (id, kib) in &known {
        section.figures.push(Figure::new(
            &format!("node{id}_peak_rss_kib"),
            &format!("peak RSS of node {id} (child process)"),
            *kib as f64,
            Unit::KiB,
        ));
    }
    if let Some(max) = known.iter().map(|(_, k)| *k).max() {
        section
            .extra
            .push(("node_peak_rss_kib_max".into(), max as f64));
    }
}
