//! The node's engine: what a running node does for every request, whoever sent it (the
//! embedded client, a remote client, or a follower forwarding to the leader).
//!
//! Writes take one path on every node: propose locally when this node leads, otherwise forward to
//! the leader's API port; on a leader change, retry with the same request id (the state machine
//! answers a repeated id with its first result, so a retry never applies twice).

pub mod api;
pub mod backups;
pub mod cursors;
pub(crate) mod disk_watch;
pub mod error;
pub(crate) mod format_upgrade;
mod handover;
pub mod lifecycle;
pub mod member_watch;
pub mod membership;
pub mod metrics;
mod peers;
pub mod protocol;
mod read;
mod read_rounds;
pub mod recent_errors;
pub(crate) mod restore;
mod sql;
mod status;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use tokio::sync::watch;

use self::membership::Removal;
use crate::config::{NodeConfig, Secret};
use crate::engine::error::Error;
use crate::net::{RpcClient, Transport};
use crate::raft::network::PeerFormats;
use crate::raft::{NodeId, Raft};
use crate::store::sqlite::clock::ClockOffset;
use crate::store::sqlite::reader::ReadPool;
use crate::store::sqlite::state_machine::StateMachine;
use crate::types::format::ClusterFormat;

/// How long to wait for news (a leader change, a reconnect) before retrying a write.
const RETRY_BACKOFF: Duration = Duration::from_millis(50);
/// The shortest pause between two tries, so retries never spin.
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(5);

/// A node running in this process, as the client sees it.
pub struct Engine {
    pub(crate) node_id: NodeId,
    pub(crate) raft: Raft<StateMachine>,
    pub(crate) reads: Arc<ReadPool>,
    pub(crate) applied: watch::Receiver<u64>,
    clock_offset: ClockOffset,
    /// The cluster's format as this node applies it (see `types::format`).
    pub(crate) cluster_format: ClusterFormat,
    /// The formats of this node's Raft connections to its peers.
    pub(crate) peer_formats: PeerFormats,
    pub(crate) request_timeout: Duration,
    pub(crate) secret_api: Secret,
    /// For proving, when adding a node, that the process at its Raft address is that node.
    pub(crate) secret_raft: Secret,
    pub(crate) max_frame_bytes: usize,
    /// Stamped into the cache writes this node proposes as leader (`cache_max_bytes`).
    pub(crate) cache_max_bytes: u64,
    pub(crate) members_fingerprint: u64,
    read_policy: crate::config::ReadPolicy,
    peers: Mutex<HashMap<NodeId, RpcClient>>,
    /// How this node dials peers' Raft ports (membership probes) and API ports: plain or TLS.
    pub(crate) raft_transport: Transport,
    pub(crate) api_transport: Transport,
    /// Set once the leader no longer lists this node (see `engine::member_watch`).
    pub(crate) removal: watch::Sender<Option<Removal>>,
    /// Streaming reads that remote clients have open on this node (see `engine::cursors`).
    pub(crate) cursors: Arc<cursors::Cursors>,
    /// Where backups go, when `backup_dir` is set (see `crate::backup`).
    backups: Option<Arc<dyn backups::BackupStore>>,
    /// How scheduled backups went on this node (see `crate::backup::schedule`).
    backup_health: Arc<backups::BackupHealth>,
    /// Write and read counts and latencies (see `engine::metrics`).
    pub(crate) metrics: metrics::EngineMetrics,
    /// The last failed writes and reads, for the dashboard (see `engine::recent_errors`).
    pub(crate) recent_errors: recent_errors::RecentErrors,
    /// Committed notifications and table changes on this node (see `store::events`).
    pub(crate) events: Arc<crate::store::events::Events>,
    /// Set when the node starts shutting down: from then on it takes no new writes, consistent
    /// reads or membership changes (see [`Engine::refusal`]).
    stopping: std::sync::atomic::AtomicBool,
    /// Read-index rounds shared by concurrent consistent reads (see `engine::read_rounds`).
    read_rounds: read_rounds::ReadRounds,
    /// Whether this node's disk takes writes (see `types::disk` and `engine::disk_watch`).
    pub(crate) disk: crate::types::disk::DiskSpace,
}

/// Why one attempt did not succeed.
enum Attempt {
    /// Worth retrying after a leader change or reconnect. `maybe_applied`: the write may have
    /// reached a leader's log, so giving up later leaves its outcome unknown.
    Retry {
        reason: String,
        maybe_applied: bool,
    },
    Fatal(Error),
}

impl Attempt {
    fn retry(reason: impl Into<String>, maybe_applied: bool) -> Attempt {
        Attempt::Retry {
            reason: reason.into(),
            maybe_applied,
        }
    }
}

impl Engine {
    /// The client side of the node configured by `config`, reading through `reads` and
    /// learning what SQLite has applied from `applied`.
    pub(crate) fn new(
        config: &NodeConfig,
        raft: Raft<StateMachine>,
        reads: Arc<ReadPool>,
        applied: watch::Receiver<u64>,
        clock_offset: ClockOffset,
        formats: (ClusterFormat, PeerFormats),
    ) -> Self {
        Engine {
            node_id: config.node_id,
            raft,
            reads,
            applied,
            clock_offset,
            cluster_format: formats.0,
            peer_formats: formats.1,
            request_timeout: config.request_timeout,
            secret_api: config.secret_api.clone(),
            secret_raft: config.secret_raft.clone(),
            max_frame_bytes: config.max_frame_bytes,
            cache_max_bytes: config.cache_max_bytes,
            members_fingerprint: crate::types::members::members_fingerprint(&config.nodes),
            read_policy: config.read_policy,
            peers: Mutex::new(HashMap::new()),
            raft_transport: Transport::Plain,
            api_transport: Transport::Plain,
            removal: watch::channel(None).0,
            cursors: cursors::Cursors::new(config.max_frame_bytes),
            backups: None,
            backup_health: Arc::default(),
            metrics: metrics::EngineMetrics::default(),
            recent_errors: recent_errors::RecentErrors::default(),
            events: Arc::default(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            read_rounds: read_rounds::ReadRounds::default(),
            disk: Default::default(),
        }
    }

    /// This engine, refusing writes while `disk` reports a full disk (see `engine::disk_watch`).
    pub(crate) fn with_disk(mut self, disk: crate::types::disk::DiskSpace) -> Self {
        self.disk = disk;
        self
    }

    /// This engine, publishing the state machine's committed events from `events`.
    pub(crate) fn with_events(mut self, events: Arc<crate::store::events::Events>) -> Self {
        self.events = events;
        self
    }

    /// This engine, writing backups to `store`.
    pub(crate) fn with_backups(mut self, store: Arc<dyn backups::BackupStore>) -> Self {
        self.backups = Some(store);
        self
    }

    /// This engine, dialing peers' Raft ports over `raft` and their API ports over `api`.
    pub(crate) fn with_transports(mut self, raft: Transport, api: Transport) -> Self {
        self.raft_transport = raft;
        self.api_transport = api;
        self
    }

    /// This engine, recording writes and reads into `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: metrics::EngineMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Makes a backup on this node: linearizes first, so that it holds every write acknowledged
    /// before the call, then copies and encrypts (see `crate::backup`).
    ///
    /// # Errors
    /// [`Error::Backup`] (`NotConfigured` without `backup_dir`), or what linearizing fails with.
    pub(crate) async fn create_backup(&self) -> Result<crate::types::backup::BackupInfo, Error> {
        let store = self.backups.as_ref().ok_or_else(backups::not_configured)?;
        self.linearize().await?;
        Ok(store.create().await?)
    }

    /// The backups this node's store holds, oldest log index first.
    ///
    /// # Errors
    /// [`Error::Backup`].
    pub(crate) async fn list_backups(
        &self,
    ) -> Result<Vec<crate::types::backup::BackupInfo>, Error> {
        let store = self.backups.as_ref().ok_or_else(backups::not_configured)?;
        Ok(store.list().await?)
    }

    /// How this node's scheduled backups went: written by the scheduler, read for metrics.
    pub(crate) fn backup_health(&self) -> &Arc<backups::BackupHealth> {
        &self.backup_health
    }

    /// From now on this node refuses new writes, consistent reads and membership changes with
    /// [`Error::ShuttingDown`]; those already running go on. Called first thing at shutdown: its
    /// Raft metrics still name a leader afterwards, and without this a write through the stopped
    /// node would be forwarded there and applied.
    pub(crate) fn begin_shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Why this node takes no write, consistent read or membership change now: it is shutting
    /// down ([`Error::ShuttingDown`]) or the leader removed it ([`Error::Removed`]).
    pub(crate) fn refusal(&self) -> Option<Error> {
        if self.stopping.load(std::sync::atomic::Ordering::Acquire) {
            return Some(Error::ShuttingDown);
        }
        self.removed_error()
    }

    pub(crate) fn current_leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// Waits until something may have changed: the leader, or simply a short backoff.
    async fn wait_for_news(&self, deadline: Instant) {
        let remaining = deadline.saturating_duration_since(Instant::now());
        // Never spin: even when the metrics keep changing, pause a little before the next try.
        tokio::time::sleep(MIN_RETRY_PAUSE.min(remaining)).await;
        let mut metrics = self.raft.metrics();
        // A cloned receiver starts out "changed"; mark the current value seen to wait for news.
        let _ = metrics.borrow_and_update();
        let wait = RETRY_BACKOFF.min(deadline.saturating_duration_since(Instant::now()));
        let _ = tokio::time::timeout(wait, metrics.changed()).await;
    }

    /// Waits until this node's SQLite holds entry `index` (so a read here sees the write).
    pub(crate) async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), Error> {
        let mut applied = self.applied.clone();
        let wait = deadline.saturating_duration_since(Instant::now());
        let reached = tokio::time::timeout(wait, async {
            applied.wait_for(|i| *i >= index).await.map(|_| ())
        })
        .await;
        match reached {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::ShuttingDown),
            Err(_) => Err(Error::Timeout(format!(
                "this node did not apply log index {index} within {:?}",
                self.request_timeout
            ))),
        }
    }
}
