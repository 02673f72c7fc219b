//! The systems under test: `single` (one embedded node), `cluster` (three embedded nodes in this
//! process, talking over loopback TCP), `processes` (three `hiqlite serve` children, reached
//! with [`Client::remote`]) and `backup` (the cluster of `cluster` with backups configured, see
//! `backup.rs`). Each starts in its own directory under the run's temporary directory;
//! [`Target::stop`] shuts embedded nodes down and kills children, and children are also killed
//! when a [`Target`] is dropped on an error path (`kill_on_drop`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hiqlite::{Client, NodeConfig};
use tokio::process::{Child, Command};

use crate::Result;

const SECRET_RAFT: &str = "bench-raft-secret-0123456789";
pub const SECRET_API: &str = "bench-api-secret-0123456789";
/// How long a fresh cluster may take to elect a leader and serve.
pub const HEALTHY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest [`Target::settle`] waits for followers to catch up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One embedded node.
    Single,
    /// Three embedded nodes in this process, real TCP on loopback.
    Cluster,
    /// Three `hiqlite serve` child processes, reached with `Client::remote`.
    Processes,
    /// Three embedded nodes with `backup_dir`, a random key and log shipping every second:
    /// backup and restore MB/s, writes during a backup, RPO. Not part of `all`.
    Backup,
    /// Three embedded nodes: cache PUT/s and GET latency next to a `Mutex<HashMap>` and SQL
    /// INSERT/s. Not part of `all`.
    Cache,
    /// Three `hiqlite serve` children: kill -9 of the leader to the next acknowledged write,
    /// `--rounds` times, and elections under steady full write load. Not part of `all`.
    Failover,
    /// Three `hiqlite serve` children: single writes while a snapshot of the whole database is
    /// built and streamed to a lagging follower, next to the same writes without. Not part of
    /// `all`.
    Snapshot,
    /// single, then cluster, then processes.
    All,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Cluster => "cluster",
            Mode::Processes => "processes",
            Mode::Backup => "backup",
            Mode::Cache => "cache",
            Mode::Failover => "failover",
            Mode::Snapshot => "snapshot",
            Mode::All => "all",
        }
    }

    /// The modes this one runs, in order.
    pub fn expand(self) -> Vec<Mode> {
        match self {
            Mode::All => vec![Mode::Single, Mode::Cluster, Mode::Processes],
            m => vec![m],
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Mode::Single => "single: one embedded node",
            Mode::Cluster => "cluster: 3 embedded nodes in this process, loopback TCP",
            Mode::Processes => "processes: 3 `hiqlite serve` children, remote client over TCP",
            Mode::Backup => {
                "backup: 3 embedded nodes in this process, loopback TCP, backup_dir, log shipping \
                 every 1 s"
            }
            Mode::Cache => {
                "cache: 3 embedded nodes in this process, loopback TCP, durable cache PUTs"
            }
            Mode::Failover => {
                "failover: 3 `hiqlite serve` children, kill -9 of the leader, remote client over TCP"
            }
            Mode::Snapshot => {
                "snapshot: 3 `hiqlite serve` children, writes while a snapshot is built and sent \
                 to a lagging follower"
            }
            Mode::All => "all",
        }
    }
}

/// A running system under test.
pub struct Target {
    /// A client whose writes start on the leader.
    pub leader: Client,
    /// A client whose writes start on a follower (forwarded to the leader); none for one node.
    pub follower: Option<Client>,
    /// Whether the clients reach their node over the network.
    pub remote: bool,
    /// The leader node's data directory (embedded nodes only).
    pub leader_dir: Option<PathBuf>,
    /// One client per node.
    all: Vec<Client>,
    nodes: Nodes,
}

enum Nodes {
    Embedded(Vec<Client>),
    Processes(Vec<NodeProcess>),
}

struct NodeProcess {
    id: u64,
    child: Child,
    log: PathBuf,
}

/// Peak RSS of a child node, read before it was stopped.
pub struct NodeRss {
    pub node_id: u64,
    pub peak_rss_kib: Option<u64>,
}

/// Starts `mode` (not `All`) with its data in `dir`, and waits until it is healthy.
pub async fn start(
    mode: Mode,
    dir: &Path,
    hiqlite_bin: Option<&Path>,
    s: &crate::Settings,
) -> Result<Target> {
    match mode {
        Mode::Single => start_embedded(1, dir, s.read_policy, None).await,
        Mode::Cluster | Mode::Cache => start_embedded(3, dir, s.read_policy, None).await,
        Mode::Backup => Err("backup mode starts its cluster with `start_backup_cluster`".into()),
        Mode::Failover => Err("failover mode starts its children in `failover.rs`".into()),
        Mode::Snapshot => Err("snapshot mode starts its children in `snapshot.rs`".into()),
        Mode::Processes => {
            let bin = hiqlite_bin.ok_or("processes mode needs the hiqlite binary")?;
            start_processes(bin, dir, s.read_policy).await
        }
        Mode::All => Err("`all` is not a single mode".into()),
    }
}

impl Target {
    /// Waits (at most [`SETTLE_TIMEOUT`]) until every node has applied the same log index, so a
    /// measurement does not share the CPU with followers still applying the previous one.
    pub async fn settle(&self) -> Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let mut applied = Vec::with_capacity(self.all.len());
            for c in &self.all {
                applied.push(c.status().await?.last_applied);
            }
            if applied.windows(2).all(|w| w[0] == w[1]) || Instant::now() > deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops every node. Returns the children's peak RSS (empty for embedded nodes).
    pub async fn stop(self) -> Vec<NodeRss> {
        match self.nodes {
            Nodes::Embedded(clients) => {
                shutdown_all(&clients).await;
                Vec::new()
            }
            Nodes::Processes(mut procs) => {
                let mut out = Vec::new();
                for p in &mut procs {
                    out.push(NodeRss {
                        node_id: p.id,
                        peak_rss_kib: p.child.id().and_then(crate::sys::peak_rss_kib),
                    });
                    let _ = p.child.kill().await;
                }
                out
            }
        }
    }
}

/// `n` free loopback addresses (`127.0.0.1:port`), each port released right away for a node to
/// take; the small race with other programs is acceptable for a benchmark.
fn free_addrs(n: usize) -> Result<Vec<String>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(format!("127.0.0.1:{}", l.local_addr()?.port())))
        .collect()
}

/// Member `i` (0-based) as (id, raft address, api address).
pub fn members(n: usize) -> Result<Vec<(u64, String, String)>> {
    let addrs = free_addrs(2 * n)?;
    Ok((0..n)
        .map(|i| (i as u64 + 1, addrs[2 * i].clone(), addrs[2 * i + 1].clone()))
        .collect())
}

/// What `backup` mode adds to every node's configuration.
#[derive(Debug, Clone)]
pub struct BackupSetup {
    /// One `enc_keys` entry, `ID/BASE64`.
    pub key_entry: String,
    /// Its id, the active key.
    pub key_id: String,
    /// `backup_log_interval`.
    pub log_interval: Duration,
    /// `request_timeout` (each restore piece and the restore's commit is one write bounded by
    /// it); `None`: the library's default.
    pub request_timeout: Option<Duration>,
}

/// Node `id`'s `backup_dir` in a cluster started in `dir`.
pub fn backup_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("node{id}")).join("backups")
}

/// Node `id`'s SQLite database in a cluster started in `dir` (the default `filename_db`).
pub fn db_file(node_dir: &Path) -> PathBuf {
    node_dir
        .join("db")
        .join(hiqlite::config::DEFAULT_FILENAME_DB)
}

/// Three embedded nodes as in `cluster` mode, each with its own `backup_dir` ([`backup_dir`]),
/// the key of `setup` and log shipping every `setup.log_interval`. Raft snapshots are off
/// (`snapshot_after_logs` 0), so that a snapshot of the large database does not land in only
/// one of two windows that are compared.
pub async fn start_backup_cluster(
    dir: &Path,
    s: &crate::Settings,
    setup: &BackupSetup,
) -> Result<Target> {
    start_embedded(3, dir, s.read_policy, Some(setup)).await
}

async fn start_embedded(
    n: usize,
    dir: &Path,
    read_policy: hiqlite::config::ReadPolicy,
    backup: Option<&BackupSetup>,
) -> Result<Target> {
    let members = members(n)?;
    let mut builder = NodeConfig::builder();
    for (id, raft, api) in &members {
        builder = builder.node(*id, raft.clone(), api.clone());
    }
    let mut clients = Vec::new();
    for (id, _, _) in &members {
        let mut node = builder
            .clone()
            .node_id(*id)
            .data_dir(dir.join(format!("node{id}")))
            .secret_raft(SECRET_RAFT)
            .secret_api(SECRET_API)
            .read_policy(read_policy);
        if let Some(b) = backup {
            node = node
                .backup_dir(backup_dir(dir, *id))
                .enc_keys([b.key_entry.as_str()])
                .enc_key_active(b.key_id.clone())
                .backup_log_interval(b.log_interval)
                .snapshot_after_logs(0);
            if let Some(t) = b.request_timeout {
                node = node.request_timeout(t);
            }
        }
        let config = node.build()?;
        match hiqlite::start_node(config).await {
            Ok(c) => clients.push(c),
            Err(e) => {
                shutdown_all(&clients).await;
                return Err(format!("node {id} did not start: {e}").into());
            }
        }
    }
    let roles = async {
        for c in &clients {
            c.wait_until_healthy(HEALTHY_TIMEOUT).await?;
        }
        leader_index(&clients).await
    };
    match roles.await {
        Ok(li) => Ok(Target {
            leader: clients[li].clone(),
            follower: (n > 1).then(|| clients[(li + 1) % n].clone()),
            remote: false,
            leader_dir: Some(dir.join(format!("node{}", members[li].0))),
            all: clients.clone(),
            nodes: Nodes::Embedded(clients),
        }),
        Err(e) => {
            shutdown_all(&clients).await;
            Err(e)
        }
    }
}

async fn shutdown_all(clients: &[Client]) {
    for c in clients {
        if let Err(e) = c.shutdown().await {
            eprintln!("warning: a node did not shut down cleanly: {e}");
        }
    }
}

/// Index of the client whose node leads.
async fn leader_index(clients: &[Client]) -> Result<usize> {
    let deadline = Instant::now() + HEALTHY_TIMEOUT;
    loop {
        for (i, c) in clients.iter().enumerate() {
            if c.is_leader().await? {
                return Ok(i);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no leader after {HEALTHY_TIMEOUT:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn start_processes(
    bin: &Path,
    dir: &Path,
    read_policy: hiqlite::config::ReadPolicy,
) -> Result<Target> {
    let members = members(3)?;
    let member_args: Vec<String> = members
        .iter()
        .map(|(id, raft, api)| format!("{id} {raft} {api}"))
        .collect();
    let mut procs = Vec::new();
    for (id, _, _) in &members {
        let (child, log) = spawn_node(bin, dir, *id, &member_args, read_policy, &[])?;
        procs.push(NodeProcess {
            id: *id,
            child,
            log,
        });
    }
    let clients: Vec<Client> = members
        .iter()
        .map(|(_, _, api)| Client::remote(vec![api.clone()], SECRET_API))
        .collect();
    if let Err(e) = wait_for_processes(&clients, &mut procs).await {
        // Dropping `procs` kills the children.
        return Err(format!(
            "{e}{}",
            log_tails(procs.iter().map(|p| (p.id, p.log.as_path())))
        )
        .into());
    }
    let li = leader_index(&clients).await?;
    Ok(Target {
        leader: clients[li].clone(),
        follower: Some(clients[(li + 1) % 3].clone()),
        remote: true,
        leader_dir: None,
        all: clients,
        nodes: Nodes::Processes(procs),
    })
}

/// Starts `hiqlite serve` node `id` of the cluster `member_args` (`"ID RAFT API"` each) with its
/// data in `dir/node{id}` and its output appended to `dir/node{id}.log` (a restarted node keeps
/// its earlier output). Only the flags and `env` configure it: the caller's `HQL_*` variables are
/// removed. The child is killed when dropped. Returns the child and its log's path.
///
/// # Errors
/// The directory or log cannot be created, or the binary cannot be started.
pub fn spawn_node(
    bin: &Path,
    dir: &Path,
    id: u64,
    member_args: &[String],
    read_policy: hiqlite::config::ReadPolicy,
    env: &[(String, String)],
) -> Result<(Child, PathBuf)> {
    let node_dir = dir.join(format!("node{id}"));
    std::fs::create_dir_all(&node_dir)?;
    let log = dir.join(format!("node{id}.log"));
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--node-id")
        .arg(id.to_string())
        .arg("--data-dir")
        .arg(&node_dir)
        .arg("--secret-raft")
        .arg(SECRET_RAFT)
        .arg("--secret-api")
        .arg(SECRET_API);
    for m in member_args {
        cmd.arg("--node").arg(m);
    }
    // Only the flags configure the children: an HQL_* variable of the caller's shell (say
    // HQL_LOG_SYNC) would change what is measured.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HQL_") {
            cmd.env_remove(key);
        }
    }
    if read_policy == hiqlite::config::ReadPolicy::Lease {
        cmd.env("HQL_READ_POLICY", "lease");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    Ok((child, log))
}

/// Waits until every node serves, failing early when a child exits.
async fn wait_for_processes(clients: &[Client], procs: &mut [NodeProcess]) -> Result<()> {
    let deadline = Instant::now() + HEALTHY_TIMEOUT;
    for c in clients {
        loop {
            for p in procs.iter_mut() {
                if let Some(status) = p.child.try_wait()? {
                    return Err(format!("node {} exited at start-up ({status})", p.id).into());
                }
            }
            match c.wait_until_healthy(Duration::from_millis(500)).await {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("the cluster did not become healthy: {e}").into())
                }
                Err(_) => {}
            }
        }
    }
    Ok(())
}

/// The last lines of each child's log (`(node id, log file)`), for an error message.
pub fn log_tails<'a>(logs: impl IntoIterator<Item = (u64, &'a Path)>) -> String {
    let mut out = String::new();
    for (id, log) in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        out.push_str(&format!("\n--- node {id} log (last lines) ---\n"));
        for l in &lines[lines.len().saturating_sub(15)..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The `hiqlite` binary for processes mode: `HIQLITE_BIN`, else next to this executable (in the
/// same target directory). Fails with instructions when it is missing.
pub fn find_hiqlite_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("HIQLITE_BIN") {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            return Err(format!("HIQLITE_BIN={} is not a file", bin.display()).into());
        }
        return Ok(bin);
    }
    let exe = std::env::current_exe()?;
    let name = format!("hiqlite{}", std::env::consts::EXE_SUFFIX);
    let dir = exe
        .parent()
        .ok_or("the benchmark executable has no directory")?;
    // target/<profile>/hiqlite-bench, or target/<profile>/deps/... for test executables.
    let candidates = [Some(dir.join(&name)), dir.parent().map(|d| d.join(&name))];
    if let Some(bin) = candidates.into_iter().flatten().find(|p| p.is_file()) {
        // Built together, the two link seconds apart in either order: only warn past that.
        let stale = match (modified(&bin), modified(&exe)) {
            (Some(b), Some(e)) => e
                .duration_since(b)
                .is_ok_and(|d| d > Duration::from_secs(10)),
            _ => false,
        };
        if stale {
            eprintln!(
                "note: {} is older than this benchmark; if the library changed since, rebuild it \
                 ({})",
                bin.display(),
                build_command(dir)
            );
        }
        return Ok(bin);
    }
    Err(format!(
        "processes mode runs `hiqlite serve` children, but no `hiqlite` binary is next to this \
         benchmark in {}.\nBuild it with the benchmark's profile: {}\nor point HIQLITE_BIN at one.",
        dir.display(),
        build_command(dir)
    )
    .into())
}

fn build_command(dir: &Path) -> &'static str {
    if dir.components().any(|c| c.as_os_str() == "release") {
        "cargo build --release -p hiqlite --bin hiqlite"
    } else {
        "cargo build -p hiqlite --bin hiqlite"
    }
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}
