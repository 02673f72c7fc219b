//! The remote side of a client: talks to a cluster's API ports over the network.
//!
//! Requests go to one node; when it cannot be reached, the next one is tried, with the same request
//! id for writes, so a write is applied once however often it is retried.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::protocol::{ApiRequest, ApiResponse};
use crate::config::Secret;
use crate::error::Error;
use crate::net::{Channel, NetError, RpcClient};

/// Connections to the API ports of a cluster's nodes.
pub struct RemoteNodes {
    addrs: Vec<String>,
    secret: Secret,
    max_frame_bytes: usize,
    pub(crate) request_timeout: Duration,
    /// Index into `addrs` of the node currently used.
    current: AtomicUsize,
    conn: Mutex<Option<(usize, RpcClient)>>,
}

impl RemoteNodes {
    pub fn new(
        addrs: Vec<String>,
        secret: Secret,
        max_frame_bytes: usize,
        request_timeout: Duration,
    ) -> Self {
        RemoteNodes {
            addrs,
            secret,
            max_frame_bytes,
            request_timeout,
            current: AtomicUsize::new(0),
            conn: Mutex::new(None),
        }
    }

    /// Sends `req` to the current node, moving on to the next node on connection failures until
    /// `request_timeout` has passed. Authentication failures are not retried.
    pub async fn call(&self, req: &ApiRequest) -> Result<ApiResponse, Error> {
        self.call_with_timeout(req, self.request_timeout).await
    }

    /// [`call`](Self::call) for an operation that may take up to `timeout` on the node.
    pub async fn call_with_timeout(
        &self,
        req: &ApiRequest,
        timeout: Duration,
    ) -> Result<ApiResponse, Error> {
        if self.addrs.is_empty() {
            return Err(Error::Config(
                "a remote client needs at least one API address".into(),
            ));
        }
        let deadline = Instant::now() + self.request_timeout;
        let mut round_start = self.current.load(Ordering::Relaxed);
        loop {
            let idx = self.current.load(Ordering::Relaxed) % self.addrs.len();
            let addr = &self.addrs[idx];
            let result = match self.client(idx).await {
                Ok(client) => client.call(req, timeout).await,
                Err(e) => Err(e),
            };
            let error = match result {
                Ok(resp) => return Ok(resp),
                Err(e) if !is_retryable(&e) => return Err(Error::Network(format!("{addr}: {e}"))),
                Err(e) => e,
            };
            tracing::debug!(%addr, %error, "API call failed, trying the next node");
            *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
            let next = self.current.fetch_add(1, Ordering::Relaxed) + 1;
            if Instant::now() >= deadline {
                return Err(Error::Network(format!(
                    "no node answered within {:?}; last error: {addr}: {error}",
                    self.request_timeout
                )));
            }
            if next - round_start >= self.addrs.len() {
                // Every node failed once: give the cluster a moment (an election, a restart).
                round_start = next;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    async fn client(&self, idx: usize) -> Result<RpcClient, NetError> {
        if let Some((i, c)) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if *i == idx && !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let addr = &self.addrs[idx];
        let connect = RpcClient::connect(addr, &self.secret, Channel::Api, self.max_frame_bytes);
        let client = tokio::time::timeout(self.request_timeout, connect)
            .await
            .map_err(|_| NetError::Timeout)??;
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some((idx, client.clone()));
        Ok(client)
    }
}

/// Failures another node (or the same one, later) may not have. A wrong secret, a protocol
/// mismatch or a message too large would fail everywhere: they are reported at once.
fn is_retryable(e: &NetError) -> bool {
    matches!(
        e,
        NetError::Connect(..) | NetError::ConnectionClosed | NetError::Timeout | NetError::Io(_)
    )
}
