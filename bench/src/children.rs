//! Three `hiqlite serve` child processes on loopback, each with a client of its own: started,
//! killed and started again on their data, with waits for an agreed leader. Used by `failover`
//! and `snapshot` modes. Children are killed when dropped (`kill_on_drop`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hiqlite::Client;
use tokio::process::Child;

use crate::modes::{self, HEALTHY_TIMEOUT, SECRET_API};
use crate::Result;

/// How often cluster state is polled while waiting for it.
pub const POLL: Duration = Duration::from_millis(20);

/// One child node.
pub struct Node {
    pub id: u64,
    pub child: Child,
    pub log: PathBuf,
    /// A client of this node only.
    pub client: Client,
}

/// The three children and how to start one again.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    member_args: Vec<String>,
    env: Vec<(String, String)>,
    read_policy: hiqlite::config::ReadPolicy,
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts three children in `dir` (`dir/node{id}`, logs in `dir/node{id}.log`) with the
    /// extra environment `env`, and waits until they agree on a leader.
    ///
    /// # Errors
    /// A child cannot be started or exits, or no leader is agreed within [`HEALTHY_TIMEOUT`];
    /// the message then ends with the last lines of every child's log.
    pub async fn start(
        bin: &Path,
        dir: &Path,
        read_policy: hiqlite::config::ReadPolicy,
        env: Vec<(String, String)>,
    ) -> Result<Cluster> {
        let members = modes::members(3)?;
        let member_args: Vec<String> = members
            .iter()
            .map(|(id, raft, api)| format!("{id} {raft} {api}"))
            .collect();
        let mut nodes = Vec::new();
        for (id, _, api) in &members {
            let (child, log) = modes::spawn_node(bin, dir, *id, &member_args, read_policy, &env)?;
            nodes.push(Node {
                id: *id,
                child,
                log,
                client: Client::remote(vec![api.clone()], SECRET_API),
            });
        }
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            member_args,
            env,
            read_policy,
            nodes,
        };
        if let Err(e) = cluster.settle(None).await {
            let tails = cluster.log_tails();
            cluster.stop().await;
            return Err(format!("{e}{tails}").into());
        }
        Ok(cluster)
    }

    pub fn api_addrs(&self) -> Vec<String> {
        self.member_args
            .iter()
            .filter_map(|m| m.split(' ').nth(2).map(str::to_string))
            .collect()
    }

    /// Index of the node that leads, as every node says, and the highest term; waits for it.
    pub async fn leader(&self) -> Result<(usize, u64)> {
        let deadline = Instant::now() + HEALTHY_TIMEOUT;
        loop {
            let mut leader = None;
            let mut term = 0;
            for (i, n) in self.nodes.iter().enumerate() {
                if let Ok(st) = n.client.status().await {
                    term = term.max(st.term);
                    if st.role == "Leader" {
                        leader = Some(i);
                    }
                }
            }
            if let Some(i) = leader {
                return Ok((i, term));
            }
            if Instant::now() > deadline {
                return Err(format!("no leader after {HEALTHY_TIMEOUT:?}").into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The highest term any reachable node reports.
    pub async fn max_term(&self) -> Result<u64> {
        let mut term = None;
        for n in &self.nodes {
            if let Ok(st) = n.client.status().await {
                term = Some(term.unwrap_or(0).max(st.term));
            }
        }
        term.ok_or_else(|| "no node answers status".into())
    }

    /// Starts every killed child again and waits until the cluster is settled.
    pub async fn restart_and_settle(&mut self) -> Result<()> {
        let mut restarted = None;
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.try_wait()?.is_some() {
                self.respawn(i)?;
                restarted = Some(i);
            }
        }
        self.settle(restarted).await
    }

    /// Kills node `i` (SIGKILL) and waits until it has exited.
    pub async fn kill(&mut self, i: usize) -> Result<()> {
        self.nodes[i].child.kill().await?;
        Ok(())
    }

    /// Starts node `i` again on its data (after [`Cluster::kill`]); does not wait for it.
    pub fn respawn(&mut self, i: usize) -> Result<()> {
        let id = self.nodes[i].id;
        let (child, log) = modes::spawn_node(
            &self.bin,
            &self.dir,
            id,
            &self.member_args,
            self.read_policy,
            &self.env,
        )?;
        self.nodes[i].child = child;
        self.nodes[i].log = log;
        Ok(())
    }

    /// Node `i`'s data directory.
    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node{}", self.nodes[i].id))
    }

    /// Waits until all nodes name the same leader, one of them is it, and node `caught_up` (if
    /// any) has applied what the leader had applied when this started waiting.
    pub async fn settle(&mut self, caught_up: Option<usize>) -> Result<()> {
        let deadline = Instant::now() + HEALTHY_TIMEOUT;
        let mut target: Option<u64> = None;
        loop {
            for n in self.nodes.iter_mut() {
                if let Some(status) = n.child.try_wait()? {
                    return Err(format!("node {} exited ({status})", n.id).into());
                }
            }
            let mut statuses = Vec::new();
            for n in &self.nodes {
                statuses.push(n.client.status().await.ok());
            }
            let leaders: Vec<Option<u64>> = statuses
                .iter()
                .map(|s| s.as_ref().and_then(|s| s.leader_id))
                .collect();
            let agreed = leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]);
            let leader_status = statuses
                .iter()
                .flatten()
                .find(|s| s.role == "Leader" && Some(s.node_id) == leaders[0]);
            if let (true, Some(ls)) = (agreed, leader_status) {
                let goal = *target.get_or_insert(ls.last_applied);
                let ok = match caught_up {
                    Some(i) => statuses[i].as_ref().is_some_and(|s| s.last_applied >= goal),
                    None => true,
                };
                if ok {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(
                    format!("the cluster did not settle within {HEALTHY_TIMEOUT:?}").into(),
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn stop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.child.kill().await;
        }
    }

    /// The last lines of every child's log, for an error message.
    pub fn log_tails(&self) -> String {
        modes::log_tails(self.nodes.iter().map(|n| (n.id, n.log.as_path())))
    }
}
