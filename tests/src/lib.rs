//! Harness for the workspace-level cluster tests: real `hiqlite serve` child processes on
//! loopback, each with its own data directory and log file, that a test can SIGKILL and restart.
//!
//! Everything that waits polls a condition against a deadline (no fixed sleeps as
//! synchronisation). When a test panics while a [`ProcessCluster`] is alive, the cluster prints
//! the tail of every node's log and keeps the data directory for inspection.

pub mod cli;
pub mod differential;
pub mod docs;
pub mod faults;
pub mod http;
pub mod netns;
pub mod proxy;
pub mod slow_disk;
pub mod small_fs;
pub mod sqlgen;
pub mod webdriver;

use cli::remove_hql_env;
pub use cli::{free_addrs, hiqlite_bin, run_cli, run_cli_with_env};

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hiqlite::client::NodeStatus;
use hiqlite::{Client, RemoteOptions};
use tokio::process::{Child, Command};

use crate::netns::NodeNetwork;

/// Raft secret of every test cluster.
pub const SECRET_RAFT: &str = "cluster-tests-raft-secret-0123456789";
/// API secret of every test cluster.
pub const SECRET_API: &str = "cluster-tests-api-secret-0123456789";

/// How often the polling helpers look again.
pub const POLL: Duration = Duration::from_millis(25);

/// How long one status request may take before a node counts as "not answering" for this poll.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// Lines of each node's log printed when a test fails.
const LOG_TAIL_LINES: usize = 60;

/// Polls `check` every [`POLL`] until it returns `Some`, or panics with `what` after `timeout`.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// One `hiqlite serve` process and everything needed to start it again.
struct Node {
    id: u64,
    raft_addr: String,
    api_addr: String,
    data_dir: PathBuf,
    log_path: PathBuf,
    /// The slow-disk shim's control file (outside the data directory: a wipe keeps it).
    slow_disk_control: PathBuf,
    client: Client,
    child: Option<Child>,
    starts: usize,
    /// Environment of this node only, on top of the cluster's (e.g. a faked clock).
    env: Vec<(String, String)>,
    /// The `hiqlite` binary this node runs; `None`: the workspace's own ([`hiqlite_bin`]).
    bin: Option<PathBuf>,
}

/// Inserts keys `first..first + 20` into table `w (n INTEGER PRIMARY KEY)` through `client`,
/// all at once, and panics naming `phase` if one fails. Returns the next key: tests that write
/// in rounds under a fault count their acknowledged rows with it.
pub async fn insert_round(client: &Client, first: i64, phase: &str) -> i64 {
    const ROUND: i64 = 20;
    let writes = (first..first + ROUND).map(|n| {
        let client = client.clone();
        async move {
            client
                .execute("INSERT INTO w (n) VALUES (?)", hiqlite::params!(n))
                .await
        }
    });
    for result in futures::future::join_all(writes).await {
        result.unwrap_or_else(|e| panic!("a write {phase}: {e}"));
    }
    first + ROUND
}

/// A cluster of `hiqlite serve` processes on loopback. Nodes are addressed by index `0..len()`;
/// node `i` has Raft node id `i + 1`. Dropping the cluster kills every process.
pub struct ProcessCluster {
    nodes: Vec<Node>,
    /// Extra `HQL_*` settings every node starts with.
    env: Vec<(String, String)>,
    /// Members in every node's list beyond the cluster's own processes (see
    /// [`spawn_with_extra_members`](Self::spawn_with_extra_members)).
    extra_members: Vec<String>,
    /// `None` only after the directory was kept for a failed test.
    root: Option<tempfile::TempDir>,
    /// Set when the nodes run in network namespaces of their own (network faults possible).
    /// Declared after `nodes`: the namespaces go after the processes.
    network: Option<NodeNetwork>,
    /// How the harness's clients connect (TLS, say).
    client_options: RemoteOptions,
}

impl ProcessCluster {
    /// Starts `n` nodes that all know each other and waits until every node serves linearizable
    /// reads (a leader is elected and every node has joined).
    pub async fn start(n: usize) -> ProcessCluster {
        Self::start_with_env(n, &[]).await
    }

    /// Like [`start`](Self::start), with extra environment (e.g. `HQL_SNAPSHOT_AFTER_LOGS`) for
    /// every node, on every start.
    pub async fn start_with_env(n: usize, env: &[(&str, &str)]) -> ProcessCluster {
        let cluster = Self::spawn_all_with_env(n, env);
        cluster.wait_all_healthy(Duration::from_secs(60)).await;
        cluster
    }

    /// Like [`start`](Self::start), with extra environment for single nodes: `(index, name,
    /// value)`, on every start of that node. An `LD_PRELOAD` is combined with the slow-disk shim.
    pub async fn start_with_node_env(n: usize, node_env: &[(usize, &str, &str)]) -> ProcessCluster {
        let cluster = Self::spawn_all_inner(n, &[], None, node_env, None);
        cluster.wait_all_healthy(Duration::from_secs(60)).await;
        cluster
    }

    /// Like [`start_with_node_env`](Self::start_with_node_env), with the harness's clients
    /// connecting with `options` (e.g. over TLS, for nodes whose `node_env` turns it on).
    pub async fn start_with_client_options(
        n: usize,
        node_env: &[(usize, &str, &str)],
        options: RemoteOptions,
    ) -> ProcessCluster {
        let cluster = Self::spawn_all_inner_with(n, &[], None, node_env, None, options);
        cluster.wait_all_healthy(Duration::from_secs(60)).await;
        cluster
    }

    /// Like [`start_with_node_env`](Self::start_with_node_env), node `i` keeping its data in
    /// `dir` (created if missing) instead of under the cluster's root: e.g. on a small
    /// filesystem the test mounted. [`data_dir`](Self::data_dir)`(i)` returns `dir`.
    pub async fn start_with_data_dir(
        n: usize,
        node_env: &[(usize, &str, &str)],
        i: usize,
        dir: &Path,
    ) -> ProcessCluster {
        let mut cluster = Self::build(n, &[], None, node_env, None, RemoteOptions::default());
        std::fs::create_dir_all(dir).expect("node data directory");
        cluster.nodes[i].data_dir = dir.to_path_buf();
        for k in 0..n {
            cluster.spawn(k);
        }
        cluster.wait_all_healthy(Duration::from_secs(60)).await;
        cluster
    }

    /// Starts `n` nodes without waiting for anything.
    pub fn spawn_all(n: usize) -> ProcessCluster {
        Self::spawn_all_with_env(n, &[])
    }

    /// Like [`start_with_env`](Self::start_with_env), with every node in a network namespace of
    /// its own so that links between nodes can be cut ([`cut`](Self::cut),
    /// [`isolate`](Self::isolate)). `Err` when namespaces cannot be created here (not root, no
    /// `ip`); the test decides whether to skip.
    pub async fn start_in_namespaces(
        n: usize,
        env: &[(&str, &str)],
    ) -> Result<ProcessCluster, String> {
        let network = NodeNetwork::create(n)?;
        let cluster = Self::spawn_all_inner(n, env, Some(network), &[], None);
        cluster.wait_all_healthy(Duration::from_secs(60)).await;
        Ok(cluster)
    }

    /// Like [`start_with_env`](Self::start_with_env), every node running the `hiqlite` binary
    /// `bin` instead of the workspace's own (e.g. an older release, for an upgrade test). Move a
    /// node to another binary with [`restart_with_bin`](Self::restart_with_bin).
    pub async fn start_with_bin(n: usize, bin: &Path, env: &[(&str, &str)]) -> ProcessCluster {
        let cluster = Self::spawn_all_inner(n, env, None, &[], Some(bin));
        cluster.wait_all_healthy(Duration::from_secs(60)).await;
        cluster
    }

    fn spawn_all_with_env(n: usize, env: &[(&str, &str)]) -> ProcessCluster {
        Self::spawn_all_inner(n, env, None, &[], None)
    }

    fn spawn_all_inner(
        n: usize,
        env: &[(&str, &str)],
        network: Option<NodeNetwork>,
        node_env: &[(usize, &str, &str)],
        bin: Option<&Path>,
    ) -> ProcessCluster {
        Self::spawn_all_inner_with(n, env, network, node_env, bin, RemoteOptions::default())
    }

    fn spawn_all_inner_with(
        n: usize,
        env: &[(&str, &str)],
        network: Option<NodeNetwork>,
        node_env: &[(usize, &str, &str)],
        bin: Option<&Path>,
        client_options: RemoteOptions,
    ) -> ProcessCluster {
        let mut cluster = Self::build(n, env, network, node_env, bin, client_options);
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster
    }

    /// The cluster of [`spawn_all_inner_with`](Self::spawn_all_inner_with), no node started.
    fn build(
        n: usize,
        env: &[(&str, &str)],
        network: Option<NodeNetwork>,
        node_env: &[(usize, &str, &str)],
        bin: Option<&Path>,
        client_options: RemoteOptions,
    ) -> ProcessCluster {
        let root = tempfile::Builder::new()
            .prefix("hiqlite-cluster-test-")
            .tempdir()
            .expect("temporary directory");
        let addrs: Vec<String> = match &network {
            // Each node has an address of its own: fixed ports cannot collide.
            Some(net) => (0..n)
                .flat_map(|i| [format!("{}:7001", net.ip(i)), format!("{}:7002", net.ip(i))])
                .collect(),
            None => free_addrs(2 * n),
        };
        let mut cluster = ProcessCluster {
            nodes: Vec::new(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            root: Some(root),
            network,
            extra_members: Vec::new(),
            client_options,
        };
        cluster.nodes = (0..n)
            .map(|i| cluster.new_node(i as u64 + 1, &addrs[2 * i], &addrs[2 * i + 1]))
            .collect();
        for &(i, name, value) in node_env {
            cluster.nodes[i]
                .env
                .push((name.to_string(), value.to_string()));
        }
        for node in &mut cluster.nodes {
            node.bin = bin.map(Path::to_path_buf);
        }
        cluster
    }

    /// A node with its own data directory and log file under the cluster's root, not started.
    fn new_node(&self, id: u64, raft_addr: &str, api_addr: &str) -> Node {
        let root = self.root.as_ref().expect("the cluster's directory").path();
        let data_dir = root.join(format!("node{id}"));
        std::fs::create_dir_all(&data_dir).expect("node data directory");
        Node {
            id,
            raft_addr: raft_addr.to_string(),
            client: Client::remote_with(
                vec![api_addr.to_string()],
                SECRET_API,
                self.client_options.clone(),
            ),
            api_addr: api_addr.to_string(),
            log_path: root.join(format!("node{id}.log")),
            slow_disk_control: root.join(format!("node{id}.slow-disk")),
            data_dir,
            child: None,
            starts: 0,
            env: Vec::new(),
            bin: None,
        }
    }

    /// The directory that holds every node's data directory and log.
    pub fn root(&self) -> &Path {
        self.root.as_ref().expect("the cluster's directory").path()
    }

    /// Like [`spawn_all`](Self::spawn_all) with `env`, but every node's member list also holds
    /// the members `extra` returns, which have no process of their own: `extra` sees the cluster
    /// (its addresses) before any node starts, e.g. to list a member whose address is another
    /// node's Raft port under another host name.
    pub fn spawn_with_extra_members(
        n: usize,
        env: &[(&str, &str)],
        extra: impl FnOnce(&ProcessCluster) -> Vec<String>,
    ) -> ProcessCluster {
        let mut cluster = Self::spawn_all_inner(0, env, None, &[], None);
        let addrs = free_addrs(2 * n);
        cluster.nodes = (0..n)
            .map(|i| cluster.new_node(i as u64 + 1, &addrs[2 * i], &addrs[2 * i + 1]))
            .collect();
        cluster.extra_members = extra(&cluster);
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster
    }

    /// Every node's member list, as `--node` values.
    pub fn members(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("{} {} {}", n.id, n.raft_addr, n.api_addr))
            .chain(self.extra_members.iter().cloned())
            .collect()
    }

    /// Starts node `i`'s process; its output is appended to its log file.
    fn spawn(&mut self, i: usize) {
        self.spawn_with(i, &[]);
    }

    /// [`spawn`](Self::spawn) with `extra` environment on top of the cluster's.
    fn spawn_with(&mut self, i: usize, extra: &[(&str, &str)]) {
        let members = self.members();
        let bin = self.bin(i).to_path_buf();
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {} is already running", node.id);
        node.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .expect("node log file");
        use std::io::Write;
        let _ = writeln!(
            log,
            "===== test harness: start #{} ({}) =====",
            node.starts,
            bin.display()
        );
        let mut cmd = match &self.network {
            Some(net) => net.command(i, &bin),
            None => Command::new(&bin),
        };
        cmd.arg("serve")
            .arg("--node-id")
            .arg(node.id.to_string())
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("--secret-raft")
            .arg(SECRET_RAFT)
            .arg("--secret-api")
            .arg(SECRET_API);
        for m in &members {
            cmd.arg("--node").arg(m);
        }
        remove_hql_env(&mut cmd);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.envs(node.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.envs(extra.iter().copied());
        if let Some(shim) = slow_disk::shim() {
            let node_preload = node.env.iter().find(|(k, _)| k == "LD_PRELOAD");
            let preload = match node_preload {
                Some((_, other)) => format!("{} {other}", shim.display()),
                None => shim.display().to_string(),
            };
            cmd.env("LD_PRELOAD", preload)
                .env(slow_disk::CONTROL_ENV, &node.slow_disk_control);
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .kill_on_drop(true);
        node.child = Some(cmd.spawn().expect("cannot start hiqlite serve"));
    }

    /// The namespaces the nodes run in; panics if the cluster was not started with
    /// [`start_in_namespaces`](Self::start_in_namespaces).
    fn network(&self) -> &NodeNetwork {
        self.network
            .as_ref()
            .expect("network faults need a cluster started with start_in_namespaces")
    }

    /// Whether links between nodes can be cut.
    pub fn has_network(&self) -> bool {
        self.network.is_some()
    }

    /// Cuts the link between nodes `a` and `b`, both directions.
    pub fn cut(&self, a: usize, b: usize) {
        self.network().cut(a, b);
        self.note_in_logs(
            &[a, b],
            &format!("cut link {} <-> {}", self.nodes[a].id, self.nodes[b].id),
        );
    }

    /// Cuts node `i` off from every other node; clients (the test) still reach it.
    pub fn isolate(&self, i: usize) {
        self.network().isolate(i);
        self.note_in_logs(&[i], "isolated from every other node");
    }

    /// Removes every cut.
    pub fn heal_network(&self) {
        if self.network().cuts().is_empty() {
            return;
        }
        self.network().heal_all();
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.note_in_logs(&all, "network healed");
    }

    fn note_in_logs(&self, nodes: &[usize], what: &str) {
        use std::io::Write;
        for &i in nodes {
            if let Ok(mut log) = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.nodes[i].log_path)
            {
                let _ = writeln!(log, "===== test harness: {what} =====");
            }
        }
    }

    /// Whether the slow-disk fault is available (a C compiler built the shim).
    pub fn has_slow_disk(&self) -> bool {
        slow_disk::shim().is_some()
    }

    /// Makes every fsync/fdatasync of node `i` wait `delay` until [`fast_disk`](Self::fast_disk).
    pub fn slow_disk(&self, i: usize, delay: Duration) {
        assert!(self.has_slow_disk(), "the slow-disk shim is not available");
        slow_disk::set_delay(&self.nodes[i].slow_disk_control, Some(delay));
        self.note_in_logs(&[i], &format!("slow disk: every sync waits {delay:?}"));
    }

    /// Ends a [`slow_disk`](Self::slow_disk) fault on node `i`.
    pub fn fast_disk(&self, i: usize) {
        slow_disk::set_delay(&self.nodes[i].slow_disk_control, None);
        self.note_in_logs(&[i], "disk back to normal speed");
    }

    /// How many syncs of node `i` the slow-disk shim has delayed so far.
    pub fn delayed_syncs(&self, i: usize) -> u64 {
        slow_disk::delayed_syncs(&self.nodes[i].slow_disk_control)
    }

    /// Asserts that table `w` holds `expected` rows on every node.
    pub async fn assert_rows_in_w(&self, expected: i64) {
        for i in 0..self.len() {
            let (count,): (i64,) = self
                .client(i)
                .query_map_one("SELECT count(*) FROM w", hiqlite::params!())
                .await
                .expect("count");
            assert_eq!(count, expected, "rows on node {}", self.node_id(i));
        }
    }

    /// Node `i`'s data directory (`logs/` for the Raft log, `db/` for SQLite and snapshots).
    pub fn data_dir(&self, i: usize) -> &Path {
        &self.nodes[i].data_dir
    }

    /// Number of nodes (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (never true for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Raft node id of node `i`.
    pub fn node_id(&self, i: usize) -> u64 {
        self.nodes[i].id
    }

    /// Index of the node with Raft id `id`.
    pub fn index_of(&self, id: u64) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node with id {id}"))
    }

    /// API address (`host:port`) of node `i`.
    pub fn api_addr(&self, i: usize) -> &str {
        &self.nodes[i].api_addr
    }

    /// Raft address (`host:port`) of node `i`.
    pub fn raft_addr(&self, i: usize) -> &str {
        &self.nodes[i].raft_addr
    }

    /// A remote client bound to node `i`'s API port only: reads run on node `i`.
    pub fn client(&self, i: usize) -> Client {
        self.nodes[i].client.clone()
    }

    /// A fresh remote client that prefers node `i` and falls over to the others, in order,
    /// when node `i` cannot be reached.
    pub fn failover_client(&self, i: usize) -> Client {
        let n = self.nodes.len();
        let addrs = (0..n)
            .map(|k| self.nodes[(i + k) % n].api_addr.clone())
            .collect();
        Client::remote_with(addrs, SECRET_API, self.client_options.clone())
    }

    /// Whether node `i`'s process is running (it has not been killed and has not exited).
    pub fn is_running(&mut self, i: usize) -> bool {
        match self.nodes[i].child.as_mut() {
            None => false,
            Some(child) => matches!(child.try_wait(), Ok(None)),
        }
    }

    /// Indices of the nodes the harness started and did not kill.
    pub fn started(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].child.is_some())
            .collect()
    }

    /// Panics if a started node's process has exited on its own (a crash).
    pub fn assert_all_running(&mut self) {
        for i in self.started() {
            if let Some(Ok(Some(status))) = self.nodes[i].child.as_mut().map(Child::try_wait) {
                panic!("node {} exited on its own: {status}", self.nodes[i].id);
            }
        }
    }

    /// SIGKILLs node `i` (no shutdown of any kind) and waits until the process is gone.
    pub async fn kill9(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let mut child = node
            .child
            .take()
            .unwrap_or_else(|| panic!("node {} is not running", node.id));
        // tokio's `kill` sends SIGKILL on Unix and then reaps the child.
        child.kill().await.expect("SIGKILL a node");
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(&node.log_path)
            .expect("node log file");
        use std::io::Write;
        let _ = writeln!(log, "===== test harness: SIGKILL =====");
    }

    /// Stops node `i` gracefully (SIGTERM, as a service manager does) and waits until it exited;
    /// returns whether it exited successfully.
    pub async fn stop(&mut self, i: usize) -> bool {
        self.signal(i, "-TERM");
        let node = &mut self.nodes[i];
        let mut child = node.child.take().expect("a running node");
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap_or_else(|_| panic!("node {} did not stop within 30 s of SIGTERM", node.id))
            .expect("wait for a node");
        status.success()
    }

    /// Operating-system process id of node `i`, if the harness started it and did not kill it.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().and_then(Child::id)
    }

    /// Freezes node `i` with SIGSTOP: the process keeps its sockets open but answers nothing,
    /// like a long GC pause or a VM migration. Undo with [`resume`](Self::resume).
    pub fn pause(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// Lets a node frozen by [`pause`](Self::pause) run again (SIGCONT).
    pub fn resume(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, signal: &str) {
        let node = &self.nodes[i];
        let pid = self
            .pid(i)
            .unwrap_or_else(|| panic!("node {} is not running", node.id));
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(&node.log_path)
            .expect("node log file");
        use std::io::Write;
        let _ = writeln!(log, "===== test harness: kill {signal} =====");
    }

    /// Deletes everything in node `i`'s data directory (the node must not be running): a wiped
    /// volume. The empty directory stays, as a freshly mounted disk would.
    pub fn wipe_data_dir(&self, i: usize) {
        let node = &self.nodes[i];
        assert!(node.child.is_none(), "node {} is still running", node.id);
        std::fs::remove_dir_all(&node.data_dir).expect("remove the data directory");
        std::fs::create_dir_all(&node.data_dir).expect("recreate the data directory");
    }

    /// Starts node `i` again with the same id, addresses and data directory.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
    }

    /// [`restart`](Self::restart) with `extra` environment for this start only.
    pub fn restart_with_env(&mut self, i: usize, extra: &[(&str, &str)]) {
        self.spawn_with(i, extra);
    }

    /// Starts node `i` again like [`restart`](Self::restart), now and on every later start
    /// running the `hiqlite` binary `bin` (an upgrade or a downgrade of that node).
    pub fn restart_with_bin(&mut self, i: usize, bin: &Path) {
        self.nodes[i].bin = Some(bin.to_path_buf());
        self.spawn(i);
    }

    /// The `hiqlite` binary node `i` runs (or ran last, or will run at its next start).
    pub fn bin(&self, i: usize) -> &Path {
        self.nodes[i]
            .bin
            .as_deref()
            .unwrap_or_else(|| hiqlite_bin())
    }

    /// Node `i`'s status, or `None` if it does not answer within a second.
    pub async fn try_status(&self, i: usize) -> Option<NodeStatus> {
        match tokio::time::timeout(STATUS_TIMEOUT, self.nodes[i].client.status()).await {
            Ok(Ok(status)) => Some(status),
            _ => None,
        }
    }

    /// Node `i`'s status; polls for up to 10 s (a busy node may miss one answer), then panics.
    pub async fn status(&self, i: usize) -> NodeStatus {
        let what = format!("node {} to answer a status request", self.nodes[i].id);
        poll_until(&what, Duration::from_secs(10), || self.try_status(i)).await
    }

    /// Statuses of all started nodes that answer, by index.
    pub async fn statuses(&self) -> HashMap<usize, NodeStatus> {
        let started = self.started();
        let answers = futures::future::join_all(
            started
                .iter()
                .map(|&i| async move { (i, self.try_status(i).await) }),
        )
        .await;
        answers
            .into_iter()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect()
    }

    /// Index of the current leader: a running node that says it leads, and that a majority of
    /// the cluster (itself included) names as leader. Polls for up to `timeout`.
    pub async fn leader_within(&self, timeout: Duration) -> usize {
        let majority = self.nodes.len() / 2 + 1;
        poll_until("a leader known to a majority", timeout, || async {
            let statuses = self.statuses().await;
            statuses.values().find_map(|s| {
                let self_leader = s.leader_id == Some(s.node_id) && s.role == "Leader";
                let followers = statuses
                    .values()
                    .filter(|o| o.leader_id == Some(s.node_id))
                    .count();
                (self_leader && followers >= majority).then(|| self.index_of(s.node_id))
            })
        })
        .await
    }

    /// [`leader_within`](Self::leader_within) with 30 s.
    pub async fn leader(&self) -> usize {
        self.leader_within(Duration::from_secs(30)).await
    }

    /// Waits until every started node serves a linearizable read.
    pub async fn wait_all_healthy(&self, timeout: Duration) {
        for i in self.started() {
            if let Err(e) = self.nodes[i].client.wait_until_healthy(timeout).await {
                panic!("node {} did not become healthy: {e}", self.nodes[i].id);
            }
        }
    }

    /// Waits until every started node has applied at least up to `index`.
    pub async fn wait_all_applied(&self, index: u64, timeout: Duration) {
        let started = self.started();
        poll_until(
            &format!("nodes {started:?} to apply up to index {index}"),
            timeout,
            || async {
                let statuses = self.statuses().await;
                let done = started.iter().all(|i| {
                    statuses
                        .get(i)
                        .is_some_and(|status| status.last_applied >= index)
                });
                done.then_some(())
            },
        )
        .await
    }

    /// Waits until all started nodes agree on the leader and have applied everything the leader
    /// has applied; returns the leader's index. Call it when no writes are running.
    pub async fn wait_converged(&self, timeout: Duration) -> usize {
        let leader = self.leader_within(timeout).await;
        let target = self.status(leader).await.last_applied;
        self.wait_all_applied(target, timeout).await;
        leader
    }

    /// The whole log of node `i` so far (all of its starts).
    pub fn log_text(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log_path).unwrap_or_default()
    }

    /// Prints the last lines of every node's log to stderr.
    pub fn print_log_tails(&self) {
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log_path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            eprintln!(
                "----- node {} log ({}), last {} lines -----",
                node.id,
                node.log_path.display(),
                tail.len()
            );
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        // `kill_on_drop` stops the processes; start them dying before printing.
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let _ = child.start_kill();
            }
        }
        if std::thread::panicking() {
            self.print_log_tails();
            if let Some(root) = self.root.take() {
                eprintln!("node data and logs kept in {}", root.keep().display());
            }
        }
    }
}
