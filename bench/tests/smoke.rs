//! Smoke test of the benchmark program: `--quick --json` in `single`, `cluster`, `backup`,
//! `failover` and `snapshot` mode must exit successfully and print one JSON object holding every
//! figure as a positive number. It checks that the program works, never how fast anything is.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Far more than a quick run takes, even on a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the benchmark with `args`; returns its stdout, panicking with its stderr on failure.
fn run_bench(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hiqlite-bench"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the benchmark starts");
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "hiqlite-bench {args:?} ran longer than {TIMEOUT:?}; stderr:\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.success(),
        "hiqlite-bench {args:?} failed ({status}); stderr:\n{stderr}"
    );
    stdout
}

fn positive(obj: &Value, key: &str) {
    let v = &obj[key];
    assert!(
        v.as_f64().is_some_and(|n| n > 0.0),
        "{key} should be a positive number, is {v}"
    );
}

/// `hiqlite-bench --quick --json --mode <mode>`: its stdout as one JSON object, whose `mode` is
/// `mode`.
fn quick_json(mode: &str) -> Value {
    let out = run_bench(&["--quick", "--json", "--mode", mode]);
    let v: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{out}"));
    assert_eq!(v["mode"], mode);
    v
}

/// Whether the `hiqlite` binary that the child-process modes start is there (next to the
/// benchmark, or named by `HIQLITE_BIN`); says the test is skipped when it is not.
fn hiqlite_bin_available() -> bool {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_hiqlite-bench"));
    let bin = exe.with_file_name(format!("hiqlite{}", std::env::consts::EXE_SUFFIX));
    let available = bin.is_file() || std::env::var_os("HIQLITE_BIN").is_some();
    if !available {
        eprintln!("skipped: no hiqlite binary at {}", bin.display());
    }
    available
}

fn check(mode: &str) {
    let v = quick_json(mode);
    assert!(v["date"].as_str().is_some_and(|d| d.len() >= 10));
    positive(&v, "cores");
    positive(&v, "rows");
    positive(&v, "existing_rows");
    let cs: Vec<u64> = v["concurrency"]
        .as_array()
        .expect("concurrency is a list")
        .iter()
        .map(|c| c.as_u64().expect("a number"))
        .collect();
    assert!(!cs.is_empty());

    let baseline = &v["baseline"];
    for key in [
        "durable_insert_per_sec",
        "durable_insert_p50_us",
        "durable_insert_p99_us",
        "bulk_insert_rows_per_sec",
        "point_select_p50_us",
        "point_select_p99_us",
        "loopback_rtt_p50_us",
        "loopback_rtt_p99_us",
    ] {
        positive(baseline, key);
    }

    let r = &v["results"][mode];
    assert!(r.is_object(), "results.{mode} missing:\n{v}");
    let mut keys: Vec<String> = Vec::new();
    let roles: &[&str] = if mode == "single" {
        &["leader"]
    } else {
        &["leader", "follower"]
    };
    for c in &cs {
        for role in roles {
            for suffix in ["per_sec", "p50_us", "p99_us", "rows"] {
                keys.push(format!("insert_{role}_c{c}_{suffix}"));
            }
        }
        keys.push(format!("txn_insert_c{c}_rows_per_sec"));
    }
    let mut reads = vec![
        "select_query_map",
        "select_query_as",
        "consistent_select_leader",
    ];
    if mode != "single" {
        reads.push("consistent_select_follower");
    }
    for read in reads {
        keys.push(format!("{read}_p50_us"));
        keys.push(format!("{read}_p99_us"));
    }
    if cfg!(target_os = "linux") {
        keys.push("peak_rss_kib".into());
        positive(&v, "peak_rss_kib");
    }
    for key in &keys {
        positive(r, key);
    }
    // Every figure with a baseline has its ratio.
    positive(&r["ratios"], &format!("insert_leader_c{}_per_sec", cs[0]));
    positive(&r["ratios"], "select_query_map_p50_us");
}

#[test]
fn quick_single() {
    check("single");
}

#[test]
fn quick_cluster() {
    check("cluster");
}

/// `--mode backup --quick --json`: every figure of a backup, the writes around one, the RPO and
/// both restores is a positive number (a failed restore would leave its figures out).
#[test]
fn quick_backup() {
    let v = quick_json("backup");
    positive(&v, "backup_mb");
    positive(&v["baseline"], "copy_mb_per_sec");
    let r = &v["results"]["backup"];
    for key in [
        "db_mib",
        "fill_secs",
        "backup_mb_per_sec",
        "backup_file_mib",
        "insert_during_backup_c4_per_sec",
        "insert_no_backup_c4_per_sec",
        "rpo_min_ms",
        "rpo_median_ms",
        "rpo_max_ms",
        "restore_file_mb_per_sec",
        "restore_pitr_latest_mb_per_sec",
    ] {
        positive(r, key);
    }
    positive(&r["ratios"], "backup_mb_per_sec");
}

/// `--mode failover --quick --json`: two kills of the leader, each round's fail-over time and the
/// summary are positive numbers, and the counts are present. Needs the `hiqlite` binary of the
/// same target directory (`cargo build -p hiqlite --bin hiqlite`); skipped without it.
#[test]
fn quick_failover() {
    if !hiqlite_bin_available() {
        return;
    }
    let v = quick_json("failover");
    for key in ["election_timeout_max_ms", "detection_min_ms"] {
        positive(&v["baseline"], key);
    }
    let r = &v["results"]["failover"];
    for key in [
        "round_1_ms",
        "round_2_ms",
        "failover_min_ms",
        "failover_p50_ms",
        "failover_max_ms",
        "elected_p50_ms",
    ] {
        positive(r, key);
    }
    positive(r, "steady_writes");
    assert!(
        r["failover_elections"].as_f64().is_some_and(|n| n >= 2.0),
        "two kills of the leader need at least two elections: {r}"
    );
    assert!(
        r["steady_elections"].as_f64().is_some(),
        "steady_elections missing: {r}"
    );
}

/// `--mode snapshot --quick --json`: a snapshot was built past `snapshot_after_logs` and
/// installed on the restarted follower, and both phases' write figures and their ratios are
/// positive numbers. Needs the `hiqlite` binary of the same target directory; skipped without it.
#[test]
fn quick_snapshot() {
    if !hiqlite_bin_available() {
        return;
    }
    let v = quick_json("snapshot");
    for key in [
        "writes_per_sec",
        "write_p50_us",
        "write_p99_us",
        "write_max_us",
    ] {
        positive(&v["baseline"], key);
    }
    let r = &v["results"]["snapshot"];
    for key in [
        "writes_per_sec",
        "write_p99_us",
        "snapshot_mib",
        "snapshot_build_secs",
        "installed_secs",
    ] {
        positive(r, key);
    }
    for key in ["writes_per_sec", "write_p99_us"] {
        positive(&r["ratios"], key);
    }
    let after = r["snapshot_after_logs"].as_f64().unwrap_or(0.0);
    let index = r["snapshot_index"].as_f64().unwrap_or(0.0);
    assert!(
        after > 0.0 && index >= after - 1.0,
        "the snapshot must cover the logs that crossed snapshot_after_logs: {r}"
    );
}
