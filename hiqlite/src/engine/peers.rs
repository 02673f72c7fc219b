//! Calls to other nodes' API ports (forwarded writes, read index, membership, status), over one
//! long-lived connection per peer, reconnected as needed.

use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use super::protocol::{ApiRequest, ApiResponse};
use super::Engine;
use crate::net::{Channel, NetError, RpcClient};
use crate::types::members::NodeId;

impl Engine {
    /// Calls a peer's API port with `request_timeout`, reconnecting as needed.
    pub(super) async fn call_peer(
        &self,
        peer: NodeId,
        req: &ApiRequest,
    ) -> Result<ApiResponse, PeerCallError> {
        self.call_peer_with_timeout(peer, req, self.request_timeout)
            .await
    }

    /// Calls a peer's API port with an explicit timeout (for long operations such as adding a
    /// node), reconnecting as needed.
    pub(crate) async fn call_peer_with_timeout(
        &self,
        peer: NodeId,
        req: &ApiRequest,
        timeout: Duration,
    ) -> Result<ApiResponse, PeerCallError> {
        let client = self
            .peer_client(peer)
            .await
            .map_err(|message| PeerCallError {
                message,
                sent: false,
                permanent: false,
            })?;
        client.call(req, timeout).await.map_err(|e| {
            if client.is_closed() {
                self.peers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&peer);
            }
            let not_sent = matches!(e, NetError::FrameTooLarge { .. } | NetError::Encode(_));
            PeerCallError {
                message: format!("node {peer}: {e}"),
                sent: !not_sent,
                // Would fail the same way on every retry.
                permanent: not_sent || matches!(e, NetError::Remote(_)),
            }
        })
    }

    pub(super) async fn peer_client(&self, peer: NodeId) -> Result<RpcClient, String> {
        if let Some(c) = self
            .peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&peer)
        {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let addr = self
            .api_addr_of(peer)
            .ok_or_else(|| format!("node {peer} is not in the membership"))?;
        let connect = RpcClient::connect_over(
            &self.api_transport,
            &addr,
            &self.secret_api,
            Channel::Api,
            self.max_frame_bytes,
        );
        let client = tokio::time::timeout(self.request_timeout, connect)
            .await
            .map_err(|_| format!("connecting to node {peer} at {addr} timed out"))?
            .map_err(|e| format!("node {peer} at {addr}: {e}"))?;
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, client.clone());
        Ok(client)
    }

    pub(super) fn api_addr_of(&self, node: NodeId) -> Option<String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        metrics
            .membership_config
            .membership()
            .get_node(&node)
            .map(|m| m.api_addr.clone())
    }
}

/// Why a call to a peer's API port failed.
pub(crate) struct PeerCallError {
    pub(crate) message: String,
    /// The request may have reached the peer, which may have acted on it.
    pub(crate) sent: bool,
    /// Retrying would fail the same way (too large to send, the peer could not answer it).
    pub(crate) permanent: bool,
}
