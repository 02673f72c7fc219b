//! `hiqlite demo`: a 3-node cluster on loopback, as three `hiqlite serve` child processes.
//!
//! It applies `migrations/` (from two nodes at once: each migration still applies once), writes and reads through different nodes, kills the leader with
//! SIGKILL, shows the new leader, the fail-over time (from the kill to the first acknowledged
//! write) and that no acknowledged write was lost, restarts the old leader
//! and shows it caught up, measures concurrent single-row inserts, and removes everything it made.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hiqlite::{params, Client, Error, Migrations};
use tokio::process::{Child, Command};

#[derive(Args)]
pub struct DemoArgs {
    /// Directory for the three nodes' data and logs (default: a fresh temporary directory).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep the data directory after the demo.
    #[arg(long)]
    keep: bool,
    /// Concurrent tasks in the throughput step.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Inserts per task in the throughput step.
    #[arg(long, default_value_t = 100)]
    inserts_per_task: usize,
}

const SECRET_RAFT: &str = "demo-raft-secret-0123456789";
const SECRET_API: &str = "demo-api-secret-0123456789";

struct DemoNode {
    id: u64,
    api_addr: String,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl DemoNode {
    fn spawn(&mut self) -> Result<(), Error> {
        let exe = std::env::current_exe()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("node{}.log", self.id)))?;
        let child = Command::new(exe)
            .arg("serve")
            .args(&self.args)
            .env_remove("HQL_API")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    fn client(&self) -> Client {
        Client::remote(vec![self.api_addr.clone()], SECRET_API)
    }
}

pub async fn run(args: DemoArgs) -> Result<(), Error> {
    let (root, temporary) = match &args.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("hiqlite-demo-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&root)?;
    let mut nodes = plan_nodes(&root)?;
    let result = run_steps(&mut nodes, &args).await;
    for node in nodes.iter_mut() {
        node.kill().await;
    }
    if temporary && !args.keep {
        let _ = std::fs::remove_dir_all(&root);
    } else {
        println!("data and node logs kept in {}", root.display());
    }
    if let Err(e) = &result {
        eprintln!("demo failed: {e} (node logs: {})", root.display());
    }
    result
}

fn plan_nodes(root: &Path) -> Result<Vec<DemoNode>, Error> {
    let mut ports = Vec::new();
    for _ in 0..6 {
        // Ask the OS for free ports; they are released right away and taken by the children.
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        ports.push(l.local_addr()?.port());
    }
    let members: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "{} 127.0.0.1:{} 127.0.0.1:{}",
                i + 1,
                ports[i * 2],
                ports[i * 2 + 1]
            )
        })
        .collect();
    (0..3)
        .map(|i| {
            let id = i as u64 + 1;
            let dir = root.join(format!("node{id}"));
            std::fs::create_dir_all(&dir)?;
            let mut args = vec![
                "--node-id".to_string(),
                id.to_string(),
                "--data-dir".into(),
                dir.display().to_string(),
                "--secret-raft".into(),
                SECRET_RAFT.into(),
                "--secret-api".into(),
                SECRET_API.into(),
            ];
            for m in &members {
                args.push("--node".into());
                args.push(m.clone());
            }
            Ok(DemoNode {
                id,
                api_addr: format!("127.0.0.1:{}", ports[i * 2 + 1]),
                args,
                dir,
                child: None,
            })
        })
        .collect()
}

async fn run_steps(nodes: &mut [DemoNode], args: &DemoArgs) -> Result<(), Error> {
    println!("== starting 3 nodes on loopback");
    for node in nodes.iter_mut() {
        node.spawn()?;
        println!("   node {} (api {})", node.id, node.api_addr);
    }
    let clients: Vec<Client> = nodes.iter().map(DemoNode::client).collect();
    let started = Instant::now();
    for c in &clients {
        c.wait_until_healthy(Duration::from_secs(60)).await?;
    }
    let leader = leader_of(&clients[0]).await?;
    println!(
        "   cluster formed in {:.2?}; leader is node {leader}",
        started.elapsed()
    );

    let migrations = migrations()?;
    println!(
        "== applying migrations/ ({} file(s)) from node 1 and node 2 at once: each applies once",
        migrations.len()
    );
    let (first, second) = tokio::join!(
        clients[0].migrate(migrations.clone()),
        clients[1].migrate(migrations.clone())
    );
    for (node, report) in [(1, first?), (2, second?)] {
        for m in &report.applied {
            println!("   node {node} applied {m}");
        }
        for m in &report.already_applied {
            println!("   node {node} found {m} applied already");
        }
    }
    let again = clients[2].migrate(migrations).await?;
    println!(
        "   node 3: {} to apply, {} applied already (calling migrate on every start is safe)",
        again.applied.len(),
        again.already_applied.len()
    );

    println!("== writing through every node (followers forward to the leader)");
    for (i, c) in clients.iter().enumerate() {
        let name = format!("user-from-node-{}", i + 1);
        let res = c
            .execute(
                "INSERT INTO users (name, email) VALUES (?, ?)",
                params!(name.clone(), format!("{name}@example.com")),
            )
            .await?;
        println!(
            "   node {} inserted {name} with id {}",
            i + 1,
            res.last_insert_rowid
        );
    }
    for (i, c) in clients.iter().enumerate() {
        let local: Vec<(i64,)> = c.query_map("SELECT count(*) FROM users", params!()).await?;
        let consistent: Vec<(i64,)> = c
            .query_consistent_map("SELECT count(*) FROM users", params!())
            .await?;
        println!(
            "   node {}: local read {} users, consistent read {} users",
            i + 1,
            local[0].0,
            consistent[0].0
        );
    }
    println!(
        "   (a local read answers from the node's own copy at once, and may not have the newest\n    \
         writes of other nodes yet; a consistent read waits until it has them)"
    );

    println!("== killing the leader (node {leader}) with SIGKILL");
    let before_kill: i64 = count_users(&clients[0]).await?;
    let leader_idx = (leader - 1) as usize;
    let survivor = &clients[(leader_idx + 1) % 3];
    let killed_at = Instant::now();
    nodes[leader_idx].kill().await;
    // The first write right after the kill waits (retrying inside the client and the node) until
    // a new leader takes it: the time a user could not write.
    survivor
        .execute(
            "INSERT INTO users (name) VALUES (?)",
            params!("after-failover-0"),
        )
        .await?;
    let failover = killed_at.elapsed();
    let new_leader = leader_of(survivor).await?;
    println!(
        "   fail-over: new leader node {new_leader}, first write acknowledged {} ms after the kill",
        failover.as_millis()
    );
    for i in 1..5 {
        survivor
            .execute(
                "INSERT INTO users (name) VALUES (?)",
                params!(format!("after-failover-{i}")),
            )
            .await?;
    }
    let after = survivor
        .query_consistent_one::<(i64,)>("SELECT count(*) FROM users", params!())
        .await?
        .0;
    println!(
        "   {before_kill} users before the kill, 5 written after, {after} now: nothing lost = {}",
        after == before_kill + 5
    );

    println!("== restarting node {leader}");
    nodes[leader_idx].spawn()?;
    let restarted = &clients[leader_idx];
    restarted
        .wait_until_healthy(Duration::from_secs(60))
        .await?;
    let on_restarted = count_users(restarted).await?;
    let status = restarted.status().await?;
    println!(
        "   node {leader} is back as {} at log index {}, sees {on_restarted} users: caught up = {}",
        status.role,
        status.last_applied,
        on_restarted == after
    );

    println!(
        "== throughput: {} tasks x {} single-row inserts, durable (fsync before ack)",
        args.concurrency, args.inserts_per_task
    );
    let writer = Client::remote(
        nodes.iter().map(|n| n.api_addr.clone()).collect(),
        SECRET_API,
    );
    let leader_now = leader_of(&writer).await?;
    let to_leader = Arc::new(clients[(leader_now - 1) as usize].clone());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..args.concurrency {
        let c = to_leader.clone();
        let n = args.inserts_per_task;
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                c.execute(
                    "INSERT INTO events (kind, payload) VALUES (?, ?)",
                    params!("bench", format!("{t}-{i}")),
                )
                .await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| Error::Raft(e.to_string()))??;
    }
    let total = args.concurrency * args.inserts_per_task;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "   {total} inserts in {secs:.2} s = {:.0} inserts/s (remote client, through the leader)",
        total as f64 / secs
    );
    println!("== done");
    Ok(())
}

async fn leader_of(client: &Client) -> Result<u64, Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(l) = client.status().await?.leader_id {
            return Ok(l);
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout("no leader".into()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn count_users(client: &Client) -> Result<i64, Error> {
    Ok(client
        .query_consistent_one::<(i64,)>("SELECT count(*) FROM users", params!())
        .await?
        .0)
}

/// `migrations/` of the current directory, or else of the workspace this program was built in.
fn migrations() -> Result<Migrations, Error> {
    let here = PathBuf::from("migrations");
    if here.is_dir() {
        return Ok(Migrations::from_dir(here)?);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    Ok(Migrations::from_dir(
        std::fs::canonicalize(&workspace).unwrap_or(workspace),
    )?)
}
