//! Raft traffic between nodes: the openraft network factory (client side) and the service that
//! answers Raft RPCs (server side), both on top of `net`'s authenticated multiplexed connections.
//!
//! Each peer gets separate connections for replication, heartbeats/votes and snapshots
//! (openraft asks for them with `new_client`, `new_heartbeat_client`, `new_snapshot_client`), so a
//! heartbeat never queues behind a large `append_entries` on the same TCP stream.
//!
//! Every connection proves node ids both ways in the handshake (`net::handshake`): a member whose
//! address reaches another node's process is never reached, so it never counts toward a quorum;
//! and a request is answered only if the vote it carries is the proven sender's own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RPCTypes, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use serde::{Deserialize, Serialize};

use super::peer_health::{PeerHealth, Trouble};
use super::snapshot_transfer::{
    new_transfer_id, read_chunk, SnapshotChunk, SnapshotDone, SnapshotInbox, DEFAULT_CHUNK_BYTES,
};
use super::{Member, NodeId, TypeConfig};
use crate::config::Secret;
use crate::net::{NetError, NodeIds, PeerIdentity, RpcClient, Transport};
use crate::store::sqlite::state_machine::SnapshotData;
use crate::types::format::{ClusterFormat, Format};
use openraft::async_runtime::WatchReceiver;
use openraft::type_config::TypeConfigExt;
use openraft::StorageError;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// A Raft RPC as it travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    SnapshotChunk(SnapshotChunk),
    SnapshotDone(SnapshotDone),
}

/// The answer to a [`RaftRequest`]; `Err` carries the remote node's error message.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftResponse {
    Append(Result<AppendEntriesResponse<TypeConfig>, String>),
    Vote(Result<VoteResponse<TypeConfig>, String>),
    TransferLeader(Result<TransferLeaderResponse<TypeConfig>, String>),
    SnapshotChunk(Result<(), String>),
    Snapshot(Result<SnapshotResponse<TypeConfig>, String>),
}

/// The format each peer's Raft connection agreed in its handshake (see `types::format`), kept
/// while the connection works: the leader raises the cluster's format only once every member is
/// in here with a newer one.
#[derive(Debug, Clone, Default)]
pub struct PeerFormats(Arc<Mutex<HashMap<NodeId, Format>>>);

impl PeerFormats {
    /// The format of `peer`'s working connection, if one is open.
    pub fn get(&self, peer: NodeId) -> Option<Format> {
        self.lock().get(&peer).copied()
    }

    fn set(&self, peer: NodeId, format: Format) {
        self.lock().insert(peer, format);
    }

    fn forget(&self, peer: NodeId) {
        self.lock().remove(&peer);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Format>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Creates connections to peers; openraft calls it once per peer and purpose.
pub struct NetworkFactory {
    node_id: NodeId,
    secret: Secret,
    max_frame_bytes: usize,
    /// The local log's purge watermark (see `PeerConnection::is_stale_session`).
    purged_below: Arc<AtomicU64>,
    health: Arc<PeerHealth>,
    formats: PeerFormats,
    cluster_format: ClusterFormat,
    /// Plain TCP or TLS to the peers' Raft ports.
    transport: Transport,
}

impl NetworkFactory {
    /// The connections of node `node_id`, authenticated with `secret`.
    pub fn new(
        node_id: NodeId,
        secret: Secret,
        max_frame_bytes: usize,
        purged_below: Arc<AtomicU64>,
        cluster_format: ClusterFormat,
    ) -> Self {
        NetworkFactory {
            node_id,
            secret,
            max_frame_bytes,
            purged_below,
            health: Arc::new(PeerHealth::default()),
            formats: PeerFormats::default(),
            cluster_format,
            transport: Transport::Plain,
        }
    }

    /// These connections, made over `transport` (TLS when the Raft port has a certificate).
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The formats of the peers' connections, for the engine's format upgrade.
    pub fn peer_formats(&self) -> PeerFormats {
        self.formats.clone()
    }

    fn peer(&self, target: NodeId, node: &Member, replication: bool) -> PeerConnection {
        PeerConnection {
            ids: NodeIds {
                local: self.node_id,
                expected: target,
            },
            addr: node.raft_addr.clone(),
            secret: self.secret.clone(),
            max_frame_bytes: self.max_frame_bytes,
            client: None,
            purged_below: replication.then(|| self.purged_below.clone()),
            health: self.health.clone(),
            formats: self.formats.clone(),
            cluster_format: self.cluster_format.clone(),
            transport: self.transport.clone(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerConnection {
        self.peer(target, node, true)
    }

    async fn new_heartbeat_client(&mut self, target: NodeId, node: &Member) -> PeerConnection {
        self.peer(target, node, false)
    }

    async fn new_snapshot_client(&mut self, target: NodeId, node: &Member) -> PeerConnection {
        self.peer(target, node, false)
    }
}

/// One lazily (re)connected connection to a peer's Raft port.
pub struct PeerConnection {
    /// This node's id and the peer's, both proven in the handshake.
    ids: NodeIds,
    addr: String,
    secret: Secret,
    max_frame_bytes: usize,
    client: Option<RpcClient>,
    /// Set on the replication connection only: the local log's purge watermark.
    purged_below: Option<Arc<AtomicU64>>,
    health: Arc<PeerHealth>,
    formats: PeerFormats,
    /// Nothing is sent to a peer whose connection's format is older than the cluster's: it could
    /// not read the entries.
    cluster_format: ClusterFormat,
    transport: Transport,
}

#[derive(Debug, thiserror::Error)]
#[error("node {target} ({addr}): {message}")]
struct PeerError {
    target: NodeId,
    addr: String,
    message: String,
    /// No answer came within the call's deadline (the connection may still work).
    timed_out: bool,
}

impl PeerConnection {
    /// An empty append on the replication connection whose `prev` lies before the purged part of
    /// the log: the leader's log store returned nothing because the entries it should send are
    /// gone. openraft 0.10.0-alpha.37 keeps such a session alive when its core has already
    /// re-planned (after a follower's log reverted), and it would retry forever.
    fn is_stale_session(&self, rpc: &AppendEntriesRequest<TypeConfig>) -> bool {
        let Some(purged_below) = &self.purged_below else {
            return false;
        };
        let next = rpc.prev_log_id.map_or(0, |l| l.index() + 1);
        rpc.entries.is_empty() && next < purged_below.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn call(
        &mut self,
        req: RaftRequest,
        timeout: Duration,
    ) -> Result<RaftResponse, PeerError> {
        let result = self.try_call(req, timeout).await;
        match &result {
            Ok(_) => self.health.succeeded(self.ids.expected),
            Err((trouble, e)) => {
                self.formats.forget(self.ids.expected);
                self.health
                    .failed(self.ids.expected, &self.addr, *trouble, e)
            }
        }
        result.map_err(|(_, e)| e)
    }

    async fn try_call(
        &mut self,
        req: RaftRequest,
        timeout: Duration,
    ) -> Result<RaftResponse, (Trouble, PeerError)> {
        let client = match &self.client {
            Some(c) if !c.is_closed() => c.clone(),
            _ => {
                let connect = RpcClient::connect_node_over(
                    &self.transport,
                    &self.addr,
                    &self.secret,
                    self.ids,
                    self.max_frame_bytes,
                );
                let c = tokio::time::timeout(timeout, connect)
                    .await
                    .map_err(|_| NetError::Timeout)
                    .and_then(|r| r)
                    .map_err(|e| {
                        let trouble = match e {
                            NetError::WrongNode { .. } | NetError::SameNodeId(_) => {
                                Trouble::WrongNode
                            }
                            _ => Trouble::Unreachable,
                        };
                        (trouble, self.net_error(e))
                    })?;
                let (format, cluster) = (c.peer_format(), self.cluster_format.get());
                if format < cluster {
                    let e = format!(
                        "node {} speaks format {format} only, but the cluster runs format \
                         {cluster}",
                        self.ids.expected
                    );
                    return Err((Trouble::OldFormat, self.error(e)));
                }
                self.formats.set(self.ids.expected, format);
                if c.peer_identity() == PeerIdentity::Unverified {
                    tracing::warn!(
                        peer = self.ids.expected,
                        addr = %self.addr,
                        "node {} runs an earlier version that cannot prove its node id; its \
                         identity is checked once it is upgraded",
                        self.ids.expected
                    );
                }
                self.client = Some(c.clone());
                c
            }
        };
        match client
            .call::<RaftRequest, RaftResponse>(&req, timeout)
            .await
        {
            Ok(resp) => Ok(resp),
            Err(e) => {
                if client.is_closed() {
                    self.client = None;
                }
                Err((Trouble::Unreachable, self.net_error(e)))
            }
        }
    }

    fn error(&self, message: String) -> PeerError {
        PeerError {
            target: self.ids.expected,
            addr: self.addr.clone(),
            message,
            timed_out: false,
        }
    }

    fn net_error(&self, e: NetError) -> PeerError {
        PeerError {
            timed_out: matches!(e, NetError::Timeout),
            ..self.error(e.to_string())
        }
    }

    /// How a failed append is reported to openraft: a missed deadline as
    /// [`RPCError::Timeout`], anything else as unreachable. openraft weighs the two apart: after
    /// an unreachable node it pauses replication to it for its backoff (200 ms by default)
    /// before the next try; after a timeout it retries at once (it backs off only after about
    /// ten timeouts in a row). An append's deadline is one heartbeat interval (openraft's
    /// choice), which one slow fsync on the follower can miss; reported as unreachable, that
    /// follower then heard of new entries about 250 ms late, and every write sent through it
    /// waited as long (docs/benchmarks.md, "A fix found on the way: 253 ms writes").
    fn append_failed(&self, e: PeerError, deadline: Duration) -> RPCError<TypeConfig> {
        if !e.timed_out {
            return unreachable(e);
        }
        RPCError::Timeout(openraft::error::Timeout {
            action: RPCTypes::AppendEntries,
            id: self.ids.local,
            target: self.ids.expected,
            timeout: deadline,
        })
    }
}

/// How many leading entries fit in `budget` encoded bytes (at least one: a single entry is
/// bounded when it is proposed, see `client::local`).
fn entries_within(entries: &[crate::raft::Entry], budget: usize) -> usize {
    // Heartbeats and single entries need no measuring: one entry always fits (checked when it
    // was proposed), and this runs on every append.
    if entries.len() <= 1 {
        return entries.len();
    }
    let mut used = 0;
    for (i, entry) in entries.iter().enumerate() {
        used += postcard::experimental::serialized_size(entry).unwrap_or(usize::MAX / 2);
        if used > budget {
            return i.max(1);
        }
    }
    entries.len()
}

fn unreachable(e: impl std::error::Error + 'static) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::new(&e))
}

fn remote_failed(e: String) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(e)))
}

fn unexpected(resp: RaftResponse) -> RPCError<TypeConfig> {
    remote_failed(format!("unexpected response {resp:?}"))
}

impl RaftNetworkV2<TypeConfig> for PeerConnection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        if self.is_stale_session(&rpc) {
            // Failing the request ends openraft's replication session; the next one starts from
            // the core's current plan (a snapshot). See `is_stale_session`.
            return Err(remote_failed(format!(
                "stale replication session to node {}: entries after {:?} were purged",
                self.ids.expected, rpc.prev_log_id
            )));
        }
        // Send no more entries than fit in one frame; the rest follow in the next request, and
        // this one reports success only up to its last entry.
        let fitting = entries_within(&rpc.entries, self.max_frame_bytes / 2);
        let cut_after = (fitting < rpc.entries.len()).then(|| {
            rpc.entries.truncate(fitting);
            rpc.entries.last().map(|e| e.log_id)
        });
        let deadline = option.hard_ttl();
        let response = self
            .call(RaftRequest::Append(rpc), deadline)
            .await
            .map_err(|e| self.append_failed(e, deadline))?;
        match (response, cut_after) {
            (RaftResponse::Append(Ok(AppendEntriesResponse::Success)), Some(last_sent)) => {
                Ok(AppendEntriesResponse::PartialSuccess(last_sent))
            }
            (RaftResponse::Append(r), _) => r.map_err(remote_failed),
            (other, _) => Err(unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(RaftRequest::Vote(rpc), option.hard_ttl())
            .await
            .map_err(unreachable)?
        {
            RaftResponse::Vote(r) => r.map_err(remote_failed),
            other => Err(unexpected(other)),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(RaftRequest::PreVote(rpc), option.hard_ttl())
            .await
            .map_err(unreachable)?
        {
            RaftResponse::Vote(r) => r.map_err(remote_failed),
            other => Err(unexpected(other)),
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(RaftRequest::TransferLeader(req), option.hard_ttl())
            .await
            .map_err(unreachable)?
        {
            RaftResponse::TransferLeader(r) => r.map_err(remote_failed),
            other => Err(unexpected(other)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let chunk_size = option
            .snapshot_chunk_size()
            .unwrap_or(DEFAULT_CHUNK_BYTES)
            .clamp(1, self.max_frame_bytes / 4);
        let timeout = option.hard_ttl();
        let meta = snapshot.meta;
        let data = Arc::new(snapshot.snapshot);
        let transfer = new_transfer_id();
        let len = data.len().map_err(|e| {
            StreamingError::StorageError(StorageError::read_snapshot(
                None,
                TypeConfig::err_from_error(&e),
            ))
        })?;
        let send = async {
            let mut offset = 0u64;
            loop {
                let chunk = read_chunk(&data, offset, chunk_size).await.map_err(|e| {
                    StreamingError::StorageError(StorageError::read_snapshot(
                        None,
                        TypeConfig::err_from_error(&e),
                    ))
                })?;
                if chunk.is_empty() {
                    break;
                }
                let len = chunk.len() as u64;
                let req = RaftRequest::SnapshotChunk(SnapshotChunk {
                    transfer,
                    vote,
                    offset,
                    data: chunk,
                });
                match self
                    .call(req, timeout)
                    .await
                    .map_err(unreachable_streaming)?
                {
                    RaftResponse::SnapshotChunk(Ok(())) => offset += len,
                    RaftResponse::SnapshotChunk(Err(e)) => return Err(streaming_failed(e)),
                    other => {
                        return Err(streaming_failed(format!("unexpected response {other:?}")))
                    }
                }
            }
            let done = RaftRequest::SnapshotDone(SnapshotDone {
                transfer,
                vote,
                meta,
                len,
            });
            match self
                .call(done, timeout)
                .await
                .map_err(unreachable_streaming)?
            {
                RaftResponse::Snapshot(r) => r.map_err(streaming_failed),
                other => Err(streaming_failed(format!("unexpected response {other:?}"))),
            }
        };
        tokio::select! {
            result = send => result,
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }
}

fn unreachable_streaming(e: PeerError) -> StreamingError<TypeConfig> {
    StreamingError::Unreachable(Unreachable::new(&e))
}

fn streaming_failed(e: String) -> StreamingError<TypeConfig> {
    StreamingError::Unreachable(Unreachable::new(&std::io::Error::other(e)))
}

/// Answers Raft RPCs from peers by handing them to the local Raft node.
pub struct RaftService {
    pub raft: super::Raft<crate::store::sqlite::state_machine::StateMachine>,
    /// Where incoming snapshot transfers are assembled.
    pub inbox: SnapshotInbox,
    /// Peers whose connection speaks an older format than the cluster's are refused: they could
    /// not read its entries (and, being format-1 nodes, cannot prove their node id).
    pub cluster_format: ClusterFormat,
    /// Authenticated connections open on the Raft port (`hiqlite_connections{channel="raft"}`).
    pub connections: metrics::Gauge,
}

impl crate::net::Service for RaftService {
    type Request = RaftRequest;
    type Response = RaftResponse;

    fn connection_opened(&self, _peer: &crate::net::Accepted) {
        self.connections.increment(1.0);
    }

    fn connection_closed(&self, _peer: crate::net::Accepted) {
        self.connections.decrement(1.0);
    }

    /// A request whose vote names another node than the one the connection proved to be is
    /// refused: one process can never speak for two members.
    async fn handle_from(&self, peer: crate::net::Accepted, req: RaftRequest) -> RaftResponse {
        let cluster = self.cluster_format.get();
        if peer.format < cluster {
            let e = format!(
                "refused: the peer speaks format {} only, but the cluster runs format {cluster}: \
                 upgrade it (see docs/upgrades.md)",
                peer.format
            );
            tracing::warn!("{e}");
            return refusal(&req, e);
        }
        if let (Some(peer), Some(sender)) = (peer.peer_id, sender_of(&req)) {
            if peer != sender {
                let e = format!(
                    "refused: the connection proved node {peer}, but the request speaks for node \
                     {sender}"
                );
                tracing::error!("{e}");
                return refusal(&req, e);
            }
        }
        self.handle(req).await
    }

    async fn handle(&self, req: RaftRequest) -> RaftResponse {
        let err = |e: openraft::error::RaftError<TypeConfig>| e.to_string();
        match req {
            RaftRequest::Append(rpc) => {
                RaftResponse::Append(self.raft.append_entries(rpc).await.map_err(err))
            }
            RaftRequest::Vote(rpc) => RaftResponse::Vote(self.raft.vote(rpc).await.map_err(err)),
            RaftRequest::PreVote(rpc) => {
                RaftResponse::Vote(self.raft.pre_vote(rpc).await.map_err(err))
            }
            RaftRequest::TransferLeader(rpc) => RaftResponse::TransferLeader(
                self.raft
                    .handle_transfer_leader(rpc)
                    .await
                    .map_err(|e| e.to_string()),
            ),
            RaftRequest::SnapshotChunk(chunk) => RaftResponse::SnapshotChunk(
                self.inbox
                    .write_chunk(chunk)
                    .await
                    .map_err(|e| e.to_string()),
            ),
            RaftRequest::SnapshotDone(done) => RaftResponse::Snapshot(self.install(done).await),
        }
    }
}

/// The node a request speaks for: the leader or candidate named by its vote.
fn sender_of(req: &RaftRequest) -> Option<NodeId> {
    use openraft::vote::RaftLeaderId;
    let vote = match req {
        RaftRequest::Append(rpc) => &rpc.vote,
        RaftRequest::Vote(rpc) | RaftRequest::PreVote(rpc) => &rpc.vote,
        RaftRequest::TransferLeader(rpc) => rpc.from_leader(),
        RaftRequest::SnapshotChunk(chunk) => &chunk.vote,
        RaftRequest::SnapshotDone(done) => &done.vote,
    };
    Some(*vote.leader_id().node_id())
}

/// The error answer to `req`, in the response variant its sender waits for.
fn refusal(req: &RaftRequest, e: String) -> RaftResponse {
    match req {
        RaftRequest::Append(_) => RaftResponse::Append(Err(e)),
        RaftRequest::Vote(_) | RaftRequest::PreVote(_) => RaftResponse::Vote(Err(e)),
        RaftRequest::TransferLeader(_) => RaftResponse::TransferLeader(Err(e)),
        RaftRequest::SnapshotChunk(_) => RaftResponse::SnapshotChunk(Err(e)),
        RaftRequest::SnapshotDone(_) => RaftResponse::Snapshot(Err(e)),
    }
}

impl RaftService {
    async fn install(&self, done: SnapshotDone) -> Result<SnapshotResponse<TypeConfig>, String> {
        self.check_installable(&done)?;
        let data = self.inbox.finish(&done).await.map_err(|e| e.to_string())?;
        let snapshot = openraft::storage::Snapshot {
            meta: done.meta,
            snapshot: data,
        };
        // The state machine may still be restoring from the file when this returns, so the file
        // is not removed here; one openraft did not need stays until the next start.
        self.raft
            .install_full_snapshot(done.vote, snapshot)
            .await
            .map_err(|e| e.to_string())
    }

    /// openraft panics on a snapshot inconsistent with the vote or with committed logs (only a
    /// broken or foreign sender produces one); refuse such input before it gets there.
    fn check_installable(&self, done: &SnapshotDone) -> Result<(), String> {
        if !done.vote.is_committed() {
            return Err("snapshot sent under a vote that is not committed".into());
        }
        let Some(last) = done.meta.last_log_id else {
            return Err("snapshot without a last log id".into());
        };
        if last.committed_leader_id() > done.vote.leader_id() {
            return Err(format!(
                "snapshot at {last} is beyond its sender's leadership"
            ));
        }
        let committed = self.raft.metrics().borrow_watched().local_committed;
        if let Some(committed) = committed {
            if last > committed && last.index() <= committed.index() {
                return Err(format!(
                    "snapshot at {last} contradicts this node's committed log at {committed}: \
                     is the sender from another cluster?"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use openraft::entry::RaftEntry;
    use openraft::impls::leader_id_adv::LeaderId;
    use tokio::net::TcpListener;
    use tokio::sync::watch;

    use super::*;
    use crate::raft::{Entry, LogId, Vote};
    use crate::types::format::NEWEST;

    const MAX_FRAME: usize = 1 << 20;

    /// A follower whose disk takes `fsync` for every append.
    struct SlowFollower {
        fsync: Duration,
    }

    impl crate::net::Service for SlowFollower {
        type Request = RaftRequest;
        type Response = RaftResponse;

        async fn handle(&self, _req: RaftRequest) -> RaftResponse {
            tokio::time::sleep(self.fsync).await;
            RaftResponse::Append(Ok(AppendEntriesResponse::Success))
        }
    }

    fn secret() -> Secret {
        Secret::new("raft-secret-for-network-tests")
    }

    /// Node 1's replication connection to node 2 at `addr`.
    async fn connection_to(addr: String) -> PeerConnection {
        let mut factory = NetworkFactory::new(
            1,
            secret(),
            MAX_FRAME,
            Arc::new(AtomicU64::new(0)),
            ClusterFormat::new(NEWEST),
        );
        let member = Member {
            id: 2,
            raft_addr: addr.clone(),
            api_addr: addr,
        };
        factory.new_client(2, &member).await
    }

    fn append() -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: None,
            entries: vec![Entry::new_blank(LogId::new(
                LeaderId {
                    term: 1,
                    node_id: 1,
                },
                1,
            ))],
            leader_commit: None,
        }
    }

    #[tokio::test]
    async fn an_append_past_its_deadline_is_a_timeout_and_a_closed_port_is_unreachable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, shutdown) = watch::channel(false);
        let follower = Arc::new(SlowFollower {
            fsync: Duration::from_millis(300),
        });
        let server = tokio::spawn(crate::net::serve_node(
            listener,
            secret(),
            2,
            MAX_FRAME,
            follower,
            shutdown,
        ));
        let mut conn = connection_to(addr.clone()).await;

        let patient = RPCOption::new(Duration::from_secs(5));
        // Answered in time (this also connects, so the short deadline below is spent waiting
        // for the answer alone).
        let answer = conn.append_entries(append(), patient.clone()).await;
        assert!(
            matches!(answer, Ok(AppendEntriesResponse::Success)),
            "{answer:?}"
        );
        let deadline = Duration::from_millis(50);
        match conn
            .append_entries(append(), RPCOption::new(deadline))
            .await
        {
            Err(RPCError::Timeout(t)) => {
                assert_eq!((t.action, t.id, t.target), (RPCTypes::AppendEntries, 1, 2));
                assert_eq!(t.timeout, deadline);
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // The connection was not broken by the timeout: the follower answers the next one.
        let answer = conn.append_entries(append(), patient.clone()).await;
        assert!(
            matches!(answer, Ok(AppendEntriesResponse::Success)),
            "{answer:?}"
        );

        stop.send(true).unwrap();
        server.await.unwrap();
        let mut conn = connection_to(addr).await;
        let refused = conn.append_entries(append(), patient).await;
        assert!(
            matches!(refused, Err(RPCError::Unreachable(_))),
            "{refused:?}"
        );
    }
}
