//! Starting and stopping a node: wires the log store, the state machine, Raft, the two listeners
//! and the client together, handing each part only what it needs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::SnapshotPolicy;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::local::LocalNode;
use crate::client::membership::{MembershipChange, MEMBERSHIP_TIMEOUT};
use crate::client::protocol::{ApiRequest, ApiResponse, RemoteError};
use crate::client::Client;
use crate::config::NodeConfig;
use crate::error::Error;
use crate::net::{Channel, RpcClient, Service};
use crate::raft::log_store::LogStore;
use crate::raft::network::{NetworkFactory, RaftService};
use crate::raft::snapshot_transfer::SnapshotInbox;
use crate::raft::{Member, Raft};
use crate::store::sqlite::state_machine::StateMachine;

/// Log entries kept behind a snapshot when the log is purged.
const LOGS_KEPT_AFTER_SNAPSHOT: u64 = 1000;

/// Starts a node of the cluster described by `config` and returns a client bound to it.
///
/// On first start the cluster forms by itself: every member gets the same `nodes` list, and an
/// uninitialized node that finds no running cluster among its peers initializes Raft with that
/// list (identical on every node, so several nodes doing it at once is safe). A restarted node
/// recovers its log and database and rejoins.
///
/// ```no_run
/// # async fn f() -> Result<(), hiqlite::Error> {
/// let config = hiqlite::NodeConfig::from_toml("hiqlite.toml")?;
/// let client = hiqlite::start_node(config).await?;
/// client.wait_until_healthy(std::time::Duration::from_secs(30)).await?;
/// # Ok(()) }
/// ```
pub async fn start_node(config: NodeConfig) -> Result<Client, Error> {
    config.validate()?;
    let me = config
        .nodes
        .iter()
        .find(|m| m.id == config.node_id)
        .cloned()
        .ok_or_else(|| Error::Config(format!("node_id {} is not in nodes", config.node_id)))?;

    let log_store =
        LogStore::open(&config.data_dir.join("logs"), config.log_sync).map_err(|e| {
            Error::Storage(format!(
                "cannot open the Raft log in {}: {e}",
                config.data_dir.display()
            ))
        })?;
    let mut state_machine = StateMachine::open(&config.data_dir.join("db"), &config.filename_db)
        .map_err(|e| {
            Error::Storage(format!(
                "cannot open the database in {}: {e}",
                config.data_dir.display()
            ))
        })?;
    reconcile_log_with_state(&log_store, &mut state_machine).await?;
    let reads = state_machine
        .read_pool(config.read_pool_size)
        .map_err(|e| Error::Storage(e.to_string()))?;
    let applied = state_machine.applied_index();
    let clock_offset = state_machine.clock_offset();
    let snapshot_dir = state_machine.snapshot_dir();

    // Bind before Raft starts, so a port conflict is a clear start-up error.
    let raft_listener = bind(
        config.listen_raft_addr.as_deref().unwrap_or(&me.raft_addr),
        "raft",
    )
    .await?;
    let api_listener = bind(
        config.listen_api_addr.as_deref().unwrap_or(&me.api_addr),
        "api",
    )
    .await?;

    let raft_config = openraft::Config {
        cluster_name: "hiqlite".into(),
        heartbeat_interval: config.heartbeat_interval.as_millis() as u64,
        election_timeout_min: config.election_timeout_min.as_millis() as u64,
        election_timeout_max: config.election_timeout_max.as_millis() as u64,
        snapshot_policy: match config.snapshot_after_logs {
            0 => SnapshotPolicy::Never,
            n => SnapshotPolicy::LogsSinceLast(n),
        },
        // A briefly lagging follower catches up from the log instead of a whole snapshot.
        max_in_snapshot_log_to_keep: LOGS_KEPT_AFTER_SNAPSHOT.min(config.snapshot_after_logs),
        // Per snapshot chunk (our transfer applies it to each request): "no progress" in this long.
        install_snapshot_timeout: 30_000,
        // A follower that lost its disk comes back with a shorter log than the leader remembers.
        // openraft's default is to stop the leader (to surface bugs); losing one node's disk must
        // not take the whole cluster down, so the leader re-replicates instead (see
        // docs/operations.md for what a lost disk means for durability).
        allow_log_reversion: Some(true),
        // A node that was removed, or was cut off, must not force elections when it comes back:
        // it first asks whether others would vote for it.
        enable_pre_vote: Some(true),
        max_payload_entries: 4096,
        ..Default::default()
    }
    .validate()
    .map_err(|e| Error::Config(format!("Raft timing: {e}")))?;

    let network = NetworkFactory::new(
        config.secret_raft.clone(),
        config.max_frame_bytes,
        log_store.purged_watermark(),
    );
    let raft = Raft::new(
        config.node_id,
        Arc::new(raft_config),
        network,
        log_store,
        state_machine,
    )
    .await
    .map_err(|e| Error::Raft(format!("cannot start Raft: {e}")))?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let raft_server = tokio::spawn(crate::net::serve(
        raft_listener,
        config.secret_raft.clone(),
        Channel::Raft,
        config.max_frame_bytes,
        Arc::new(RaftService {
            raft: raft.clone(),
            inbox: SnapshotInbox::new(&snapshot_dir),
        }),
        shutdown_rx.clone(),
    ));
    let local = Arc::new(LocalNode::new(
        &config,
        raft.clone(),
        reads,
        applied,
        clock_offset,
    ));
    let api_server = tokio::spawn(crate::net::serve(
        api_listener,
        config.secret_api.clone(),
        Channel::Api,
        config.max_frame_bytes,
        Arc::new(ApiService {
            node: local.clone(),
        }),
        shutdown_rx.clone(),
    ));
    let bootstrap = tokio::spawn(bootstrap(raft.clone(), config.clone(), shutdown_rx));

    tracing::info!(node_id = config.node_id, raft = %me.raft_addr, api = %me.api_addr, "node started");
    let handle = NodeHandle {
        inner: Arc::new(Mutex::new(Some(Running {
            shutdown: shutdown_tx,
            tasks: vec![raft_server, api_server, bootstrap],
        }))),
    };
    Ok(Client::local(local, handle))
}

/// Self-healing at start-up, before Raft reads the storage:
/// - the database lost entries (a deleted or damaged file) that neither the local snapshot nor
///   the log can restore (the log was purged past them): forget the log, keep the vote. The node
///   then looks like one that fell far behind, and the leader sends it a snapshot;
/// - the log lost entries the database already holds (a deleted log directory): openraft treats
///   them as purged, which requires a snapshot covering them, so build one now.
///
/// Otherwise openraft rebuilds locally: the newer of snapshot and database, then the log.
async fn reconcile_log_with_state(
    log_store: &LogStore,
    state_machine: &mut StateMachine,
) -> Result<(), Error> {
    use openraft::storage::RaftLogStorage;
    let mut store = log_store.clone();
    let log_state = store
        .get_log_state()
        .await
        .map_err(|e| Error::Storage(format!("cannot read the Raft log state: {e}")))?;
    let applied = state_machine.last_applied();
    let snapshot = state_machine.snapshot_last_log_id();
    let restorable = applied.max(snapshot).map(|l| l.index());
    if let Some(purged) = log_state.last_purged_log_id {
        if restorable.is_none_or(|r| r < purged.index()) {
            tracing::warn!(
                ?restorable,
                purged = purged.index(),
                "the database lost entries that the local log no longer holds; forgetting the log \
                 (keeping the vote) so that the leader sends a snapshot"
            );
            return log_store
                .forget_logs()
                .await
                .map_err(|e| Error::Storage(format!("cannot reset the Raft log: {e}")));
        }
    }
    let log_end = log_state.last_log_id.map(|l| l.index());
    if applied.map(|l| l.index()) > log_end && snapshot < applied {
        tracing::warn!(
            applied = ?applied.map(|l| l.index()),
            ?log_end,
            "the Raft log lost entries the database holds; taking a snapshot to cover them"
        );
        state_machine
            .snapshot_now()
            .await
            .map_err(|e| Error::Storage(format!("cannot build a snapshot: {e}")))?;
    }
    Ok(())
}

async fn bind(addr: &str, what: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on the {what} address {addr}: {e}")))
}

/// Forms the cluster on first start. A node that is already initialized (it has a log) does
/// nothing: Raft brings it back into the cluster it belongs to.
async fn bootstrap(raft: Raft<StateMachine>, config: NodeConfig, shutdown: watch::Receiver<bool>) {
    match raft.is_initialized().await {
        Ok(true) | Err(_) => return,
        Ok(false) => {}
    }
    match survey_peers(&config).await {
        PeerSurvey::NoCluster => {}
        PeerSurvey::RunningCluster {
            peer,
            voters,
            learners,
        } => {
            if voters.contains(&config.node_id) || learners.contains(&config.node_id) {
                tracing::info!(
                    "a running cluster was found; waiting for its leader to replicate to this node"
                );
            } else {
                tracing::info!("a running cluster was found; asking to join it");
                join(&config, &peer, &shutdown).await;
            }
            return;
        }
        PeerSurvey::DifferentMembers(peer) => {
            tracing::error!(
                peer,
                "node {peer} was configured with a different member list; not initializing a cluster \
                 (give every node the same `nodes`)"
            );
            return;
        }
    }
    if *shutdown.borrow() {
        return;
    }
    let members: BTreeMap<u64, Member> = config.nodes.iter().map(|m| (m.id, m.clone())).collect();
    match raft.initialize(members).await {
        Ok(()) => tracing::info!(
            "initialized the cluster with {} members",
            config.nodes.len()
        ),
        // Another path got there first (e.g. a leader already replicated to us): fine.
        Err(e) => tracing::debug!("initialize skipped: {e}"),
    }
}

/// What the peers said when an uninitialized node asked them.
enum PeerSurvey {
    /// No peer is part of an initialized cluster (or none answered).
    NoCluster,
    /// A peer belongs to an initialized cluster with these members.
    RunningCluster {
        peer: Member,
        voters: Vec<u64>,
        learners: Vec<u64>,
    },
    /// No cluster runs, and some peer was given a different member list: initializing could
    /// form two clusters.
    DifferentMembers(u64),
}

/// One request to `peer`'s API port on a fresh connection (start-up only; the client keeps
/// long-lived connections for everything else).
async fn call_api(
    config: &NodeConfig,
    peer: &Member,
    req: &ApiRequest,
    timeout: Duration,
) -> Result<ApiResponse, crate::net::NetError> {
    let client = RpcClient::connect(
        &peer.api_addr,
        &config.secret_api,
        Channel::Api,
        config.max_frame_bytes,
    )
    .await?;
    client.call(req, timeout).await
}

/// Asks each peer's API whether it is part of an initialized cluster, and with which members.
async fn survey_peers(config: &NodeConfig) -> PeerSurvey {
    let ours = members_fingerprint(&config.nodes);
    let mut mismatch = None;
    for peer in config.nodes.iter().filter(|m| m.id != config.node_id) {
        let probe = async {
            match call_api(config, peer, &ApiRequest::Status, Duration::from_secs(1))
                .await
                .ok()?
            {
                ApiResponse::Status(s) => Some(s),
                _ => None,
            }
        };
        let Ok(Some(status)) = tokio::time::timeout(Duration::from_secs(2), probe).await else {
            continue;
        };
        if !status.voters.is_empty() {
            return PeerSurvey::RunningCluster {
                peer: peer.clone(),
                voters: status.voters,
                learners: status.learners,
            };
        }
        if status.members_fingerprint != ours {
            mismatch = Some(peer.id);
        }
    }
    mismatch.map_or(PeerSurvey::NoCluster, PeerSurvey::DifferentMembers)
}

/// A node that is in its own `nodes` but not a member of the running cluster asks to be added:
/// as a learner first, promoted to voter once it has caught up (or a learner for good with
/// `learner = true`).
async fn join(config: &NodeConfig, peer: &Member, shutdown: &watch::Receiver<bool>) {
    let Some(me) = config
        .nodes
        .iter()
        .find(|m| m.id == config.node_id)
        .cloned()
    else {
        return;
    };
    let req = ApiRequest::Membership {
        change: MembershipChange::AddNode {
            member: me,
            voter: !config.learner,
        },
        forwarded: false,
    };
    while !*shutdown.borrow() {
        match call_api(config, peer, &req, MEMBERSHIP_TIMEOUT).await {
            Ok(ApiResponse::Membership(Ok(members))) => {
                tracing::info!(voters = ?members.voters, learners = ?members.learners, "joined the cluster");
                return;
            }
            // The cluster answered: don't insist (it may have removed this node on purpose).
            Ok(ApiResponse::Membership(Err(e))) => {
                tracing::error!(
                    "the cluster refused to add this node: {e}; add it with `hiqlite add-node`"
                );
                return;
            }
            Ok(other) => tracing::warn!("unexpected answer to a join request: {other:?}"),
            Err(e) => tracing::warn!("cannot reach node {} to join: {e}", peer.id),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A stable fingerprint (FNV-1a) of a member list, independent of its order.
pub(crate) fn members_fingerprint(nodes: &[Member]) -> u64 {
    let mut sorted: Vec<&Member> = nodes.iter().collect();
    sorted.sort_by_key(|m| m.id);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for m in sorted {
        for byte in format!("{} {} {};", m.id, m.raft_addr, m.api_addr).bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Owns what a running node must stop at shutdown.
#[derive(Clone)]
pub struct NodeHandle {
    inner: Arc<Mutex<Option<Running>>>,
}

struct Running {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl NodeHandle {
    /// Stops Raft, then the listeners; waits for each to finish. Idempotent.
    pub(crate) async fn shutdown(&self, node: &LocalNode) -> Result<(), Error> {
        let Some(running) = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        node.hand_over_leadership().await;
        let raft_result = node.raft.shutdown().await;
        let _ = running.shutdown.send(true);
        for task in running.tasks {
            let _ = task.await;
        }
        node.reads.close();
        raft_result.map_err(|e| Error::Raft(format!("Raft did not stop cleanly: {e}")))
    }
}

/// Answers API requests (remote clients, forwarded writes, read-index requests) for this node.
struct ApiService {
    node: Arc<LocalNode>,
}

impl Service for ApiService {
    type Request = ApiRequest;
    type Response = ApiResponse;

    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        match req {
            ApiRequest::Write { id, op, forwarded } => ApiResponse::Write(if forwarded {
                self.node.write_on_leader(id, op).await
            } else {
                self.node.write(id, op).await.map_err(to_remote)
            }),
            ApiRequest::Query {
                sql,
                params,
                consistent,
            } => {
                let rows = async {
                    if consistent {
                        self.node.linearize().await?;
                    }
                    self.node.query_rows(sql, params).await
                };
                ApiResponse::Rows(rows.await.map_err(to_remote))
            }
            ApiRequest::ReadIndex => ApiResponse::ReadIndex(self.node.read_index_on_leader().await),
            ApiRequest::Status => ApiResponse::Status(self.node.status()),
            ApiRequest::Membership { change, forwarded } => ApiResponse::Membership(if forwarded {
                self.node.change_membership_on_leader(change).await
            } else {
                self.node.change_membership(change).await.map_err(to_remote)
            }),
            ApiRequest::Sql {
                id,
                sql,
                consistent,
            } => ApiResponse::Sql(
                self.node
                    .run_sql(id, sql, consistent)
                    .await
                    .map_err(to_remote),
            ),
        }
    }
}

fn to_remote(e: Error) -> RemoteError {
    match e {
        Error::Sql(e) => RemoteError::Sql(e),
        Error::NoRows => RemoteError::NoRows,
        other => RemoteError::Other(other.to_string()),
    }
}

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or SIGTERM. For a program that
/// embeds a node, await it and then call [`Client::shutdown`] so a leader hands over first.
///
/// ```no_run
/// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
/// hiqlite::shutdown_signal().await;
/// client.shutdown().await
/// # }
/// ```
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        // No SIGTERM handler could be installed: Ctrl-C alone still works.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
