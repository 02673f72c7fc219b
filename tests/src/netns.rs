//! Network namespaces for network faults: every node runs in a namespace of its own, wired by a
//! veth pair to a bridge in the test's namespace, so the harness can cut the link between any two
//! nodes while the test itself still reaches every node (as a client next to it would).
//!
//! A cut is a `blackhole` route in each namespace for the other node's address: packets already
//! in flight on open connections vanish silently (those connections stall until their timeouts),
//! new connections fail at once. Needs root and iproute2 (`ip`); [`NodeNetwork::available`] says
//! whether this machine has both, and callers skip network faults when it does not.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// Prefix of every namespace and interface this module creates.
const PREFIX: &str = "hq";

/// The namespaces, bridge and cuts of one cluster. Dropping it removes them all.
pub struct NodeNetwork {
    /// Unique per cluster on this machine: `<pid>x<counter>`.
    tag: String,
    /// First three octets of the cluster's /24, e.g. `10.142.3`.
    subnet: String,
    nodes: usize,
    /// Directed pairs `(from, to)` currently cut.
    cuts: Mutex<BTreeSet<(usize, usize)>>,
}

impl NodeNetwork {
    /// Whether network namespaces can be created here (root and `ip`). Checked once per process.
    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            let probe = format!("{PREFIX}probe{}", std::process::id());
            let ok = ip(&["netns", "add", &probe]).is_ok();
            if ok {
                let _ = ip(&["netns", "del", &probe]);
            }
            ok
        })
    }

    /// Creates one namespace per node, each with address [`ip`](Self::ip) on a bridge that the
    /// calling process can reach.
    pub fn create(nodes: usize) -> Result<NodeNetwork, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        sweep_stale();
        let pid = std::process::id();
        let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Different test processes and different clusters of one process get different subnets.
        let subnet = format!("10.{}.{}", 100 + pid % 100, counter % 256);
        let network = NodeNetwork {
            tag: format!("{pid}x{counter}"),
            subnet,
            nodes,
            cuts: Mutex::new(BTreeSet::new()),
        };
        network.build()?;
        Ok(network)
    }

    fn bridge(&self) -> String {
        format!("{PREFIX}b{}", self.tag)
    }

    /// Name of node `i`'s namespace.
    pub fn namespace(&self, i: usize) -> String {
        format!("{PREFIX}{}n{i}", self.tag)
    }

    /// Node `i`'s address, reachable from the test's namespace and from the other nodes.
    pub fn ip(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }

    fn build(&self) -> Result<(), String> {
        let bridge = self.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}.1/24", self.subnet),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..self.nodes {
            let ns = self.namespace(i);
            let host_end = format!("{PREFIX}{}h{i}", self.tag);
            let node_end = format!("{PREFIX}{}p{i}", self.tag);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", &node_end,
            ])?;
            ip(&["link", "set", &host_end, "master", &bridge, "up"])?;
            ip(&["link", "set", &node_end, "netns", &ns])?;
            let addr = format!("{}/24", self.ip(i));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &node_end])?;
            ip(&["-n", &ns, "link", "set", &node_end, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// The command that runs `program` inside node `i`'s namespace (`ip netns exec` execs it, so
    /// the process id is the program's own and signals reach it directly).
    pub fn command(&self, i: usize, program: &std::path::Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.namespace(i)]).arg(program);
        cmd
    }

    /// Drops every packet node `from` sends to node `to` (a one-way cut; TCP needs both ways, so
    /// connections between the two stall either way).
    pub fn cut_one_way(&self, from: usize, to: usize) {
        let mut cuts = self.cuts.lock().unwrap_or_else(|p| p.into_inner());
        if cuts.insert((from, to)) {
            let target = format!("{}/32", self.ip(to));
            ip(&[
                "-n",
                &self.namespace(from),
                "route",
                "add",
                "blackhole",
                &target,
            ])
            .expect("add a blackhole route");
        }
    }

    /// Cuts the link between `a` and `b` in both directions.
    pub fn cut(&self, a: usize, b: usize) {
        self.cut_one_way(a, b);
        self.cut_one_way(b, a);
    }

    /// Cuts node `i` off from every other node (the test still reaches it).
    pub fn isolate(&self, i: usize) {
        for other in (0..self.nodes).filter(|&o| o != i) {
            self.cut(i, other);
        }
    }

    /// Removes every cut.
    pub fn heal_all(&self) {
        let mut cuts = self.cuts.lock().unwrap_or_else(|p| p.into_inner());
        for (from, to) in std::mem::take(&mut *cuts) {
            let target = format!("{}/32", self.ip(to));
            ip(&[
                "-n",
                &self.namespace(from),
                "route",
                "del",
                "blackhole",
                &target,
            ])
            .expect("remove a blackhole route");
        }
    }

    /// The directed pairs currently cut.
    pub fn cuts(&self) -> Vec<(usize, usize)> {
        let cuts = self.cuts.lock().unwrap_or_else(|p| p.into_inner());
        cuts.iter().copied().collect()
    }
}

impl Drop for NodeNetwork {
    fn drop(&mut self) {
        // A namespace lives on until its last process exits; its veth end goes with it, and the
        // host end with that. The bridge is ours to delete.
        for i in 0..self.nodes {
            let _ = ip(&["netns", "del", &self.namespace(i)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}

/// Runs `ip <args>`; the error carries what `ip` printed.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes namespaces and bridges left behind by test processes that no longer run (a test
/// killed before its `Drop` ran).
fn sweep_stale() {
    let alive = |pid: &str| std::path::Path::new("/proc").join(pid).exists();
    // Names look like `hq<pid>x<counter>n<i>` and `hqb<pid>x<counter>`.
    let owner = |name: &str| -> Option<String> {
        let rest = name.strip_prefix(PREFIX)?;
        let rest = rest.strip_prefix('b').unwrap_or(rest);
        let (pid, _) = rest.split_once('x')?;
        pid.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| pid.to_string())
    };
    if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if owner(name).is_some_and(|pid| !alive(&pid)) {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
    if let Ok(out) = Command::new("ip")
        .args(["-o", "link", "show", "type", "bridge"])
        .output()
    {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // `7: hqb123x0: <BROADCAST,...`
            let name = line.split(':').nth(1).unwrap_or("").trim();
            if owner(name).is_some_and(|pid| !alive(&pid)) {
                let _ = ip(&["link", "del", name]);
            }
        }
    }
}
