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
use crate::net::{Channel, RpcClient};

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
        if self.addrs.is_empty() {
            return Err(Error::Config(
                "a remote client needs at least one API address".into(),
            ));
        }
        let deadline = Instant::now() + self.request_timeout;
        loop {
            let idx = self.current.load(Ordering::Relaxed) % self.addrs.len();
            let last_error;
            match self.client(idx).await {
                Ok(client) => match client.call(req, self.request_timeout).await {
                    Ok(resp) => return Ok(resp),
                    Err(e) => last_error = format!("{}: {e}", self.addrs[idx]),
                },
                Err(Error::Network(e)) if e.contains("authentication") => {
                    return Err(Error::Network(e))
                }
                Err(e) => last_error = e.to_string(),
            }
            tracing::debug!(error = %last_error, "API call failed, trying the next node");
            *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.current.store(idx + 1, Ordering::Relaxed);
            if Instant::now() >= deadline {
                return Err(Error::Network(format!(
                    "no node answered within {:?}; last error: {last_error}",
                    self.request_timeout
                )));
            }
            if (idx + 1) % self.addrs.len() == 0 {
                // Tried every node once: give the cluster a moment (e.g. an election) before the next round.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    async fn client(&self, idx: usize) -> Result<RpcClient, Error> {
        if let Some((i, c)) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if *i == idx && !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let addr = &self.addrs[idx];
        let connect = RpcClient::connect(addr, &self.secret, Channel::Api, self.max_frame_bytes);
        let client = tokio::time::timeout(self.request_timeout, connect)
            .await
            .map_err(|_| Error::Network(format!("connecting to {addr} timed out")))?
            .map_err(|e| Error::Network(format!("{addr}: {e}")))?;
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some((idx, client.clone()));
        Ok(client)
    }
}
