//! The RPC client: many concurrent calls over one authenticated TCP connection.
//!
//! Each call gets a fresh request id and registers a oneshot under it, then sends its frame from
//! its own task (see `outbound`). The reader task hands every response to the oneshot registered
//! under its id.
//! When the connection breaks, the table of waiting calls is dropped, so every pending call fails
//! at once with [`NetError::ConnectionClosed`] instead of waiting for its timeout, and
//! [`RpcClient::is_closed`] tells the owner to reconnect.
//!
//! Calls on one connection share its bandwidth: traffic that must not queue behind bulk transfers
//! (Raft heartbeats and votes behind replication) should use a connection of its own.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::frame::{self, FrameCodec, RemoteFailure};
use super::handshake::{self, Connected, NodeIds, PeerIdentity, HANDSHAKE_TIMEOUT};
use super::outbound::{self, Outbound, ReadSide};
use super::tls::{Stream, Transport};
use super::{Channel, NetError};
use crate::config::Secret;

/// A multiplexed, authenticated connection to one peer. Cheap to clone: clones share the
/// connection, and dropping the last clone closes it.
///
/// ```no_run
/// # async fn example() -> Result<(), hiqlite::net::NetError> {
/// use std::time::Duration;
/// use hiqlite::config::Secret;
/// use hiqlite::net::{Channel, RpcClient};
///
/// let secret = Secret::new("api-secret-at-least-16-chars");
/// let client = RpcClient::connect("127.0.0.1:8200", &secret, Channel::Api, 16 << 20).await?;
/// let answer: String = client.call(&"ping".to_string(), Duration::from_secs(1)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

struct Inner {
    addr: String,
    channel: Channel,
    max_frame: usize,
    peer: Connected,
    next_id: AtomicU64,
    outbound: Outbound,
    shared: Arc<Shared>,
}

/// State shared between the client handles, the reader task and the flusher.
struct Shared {
    /// Calls waiting for a response, by request id. `None` once the connection is closed, so a
    /// call can never register after everyone else was failed (it would wait until its timeout).
    waiting: Mutex<Option<HashMap<u64, oneshot::Sender<BytesMut>>>>,
    /// Cancelled when the connection closes, for whatever reason; stops the reader task and the flusher.
    closed: CancellationToken,
}

impl Shared {
    fn waiting(&self) -> MutexGuard<'_, Option<HashMap<u64, oneshot::Sender<BytesMut>>>> {
        // The map stays consistent even if a holder panicked, so a poisoned lock is still usable.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the connection closed. Dropping the oneshot senders wakes every waiting call, which
    /// then fails with `ConnectionClosed`.
    fn close(&self) {
        self.waiting().take();
        self.closed.cancel();
    }
}

/// Removes a call's entry when the call ends early (timeout, or its future was dropped), so
/// abandoned calls do not pile up in the table; a late response is then simply discarded.
struct Registration<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Some(waiting) = self.shared.waiting().as_mut() {
            waiting.remove(&self.id);
        }
    }
}

impl RpcClient {
    /// Connects to `addr` over plain TCP, authenticates on `channel` with `secret`, and starts
    /// the connection's reader task and flusher. Connecting and authenticating each give up after
    /// [`HANDSHAKE_TIMEOUT`]. `max_frame` bounds both requests sent and responses accepted.
    pub async fn connect(
        addr: &str,
        secret: &Secret,
        channel: Channel,
        max_frame: usize,
    ) -> Result<RpcClient, NetError> {
        RpcClient::connect_over(&Transport::Plain, addr, secret, channel, max_frame).await
    }

    /// [`connect`](Self::connect) over `transport`: with [`Transport::Tls`] the TLS handshake
    /// runs first and the secret's handshake inside it.
    ///
    /// # Errors
    /// Besides [`connect`](Self::connect)'s: [`NetError::TlsRequired`] (plain TCP to a TLS
    /// port), [`NetError::NotTls`] (TLS to a plaintext port), [`NetError::TlsCertificate`]
    /// (the server's certificate is refused), [`NetError::Tls`].
    pub async fn connect_over(
        transport: &Transport,
        addr: &str,
        secret: &Secret,
        channel: Channel,
        max_frame: usize,
    ) -> Result<RpcClient, NetError> {
        let stream = transport.open(addr).await?;
        Self::authenticate(stream, addr, secret, channel, max_frame, None).await
    }

    /// [`connect`](Self::connect) to node `ids.expected`'s Raft port as node `ids.local`: both
    /// sides prove their node ids in the handshake, and a process at `addr` that is another node
    /// is refused with [`NetError::WrongNode`]. A peer of an earlier version cannot prove its id:
    /// see [`peer_identity`](Self::peer_identity).
    pub async fn connect_node(
        addr: &str,
        secret: &Secret,
        ids: NodeIds,
        max_frame: usize,
    ) -> Result<RpcClient, NetError> {
        RpcClient::connect_node_over(&Transport::Plain, addr, secret, ids, max_frame).await
    }

    /// [`connect_node`](Self::connect_node) over `transport` (see
    /// [`connect_over`](Self::connect_over)).
    pub async fn connect_node_over(
        transport: &Transport,
        addr: &str,
        secret: &Secret,
        ids: NodeIds,
        max_frame: usize,
    ) -> Result<RpcClient, NetError> {
        let stream = transport.open(addr).await?;
        Self::authenticate(stream, addr, secret, Channel::Raft, max_frame, Some(ids)).await
    }

    async fn authenticate(
        mut stream: Stream,
        addr: &str,
        secret: &Secret,
        channel: Channel,
        max_frame: usize,
        ids: Option<NodeIds>,
    ) -> Result<RpcClient, NetError> {
        let peer = handshake::connect_to(&mut stream, secret, channel, ids, HANDSHAKE_TIMEOUT)
            .await
            .map_err(super::tls::errors::surfaced_later)?;
        Ok(Self::start(stream, addr, channel, max_frame, peer))
    }

    /// Spawns the reader task and the flusher for an authenticated stream.
    fn start(
        stream: Stream,
        addr: &str,
        channel: Channel,
        max_frame: usize,
        peer: Connected,
    ) -> RpcClient {
        let shared = Arc::new(Shared {
            waiting: Mutex::new(Some(HashMap::new())),
            closed: CancellationToken::new(),
        });
        let (frames, outbound, flusher) = outbound::split(stream, max_frame, shared.closed.clone());

        tokio::spawn(read_responses(frames, shared.clone(), addr.to_string()));
        let flusher_shared = shared.clone();
        let flusher_addr = addr.to_string();
        tokio::spawn(async move {
            if let Err(e) = flusher.run().await {
                debug!(peer = %flusher_addr, "cannot send to peer: {e}");
            }
            flusher_shared.close();
        });

        RpcClient {
            inner: Arc::new(Inner {
                addr: addr.to_string(),
                channel,
                max_frame,
                peer,
                next_id: AtomicU64::new(1),
                outbound,
                shared,
            }),
        }
    }

    /// Sends `req` and waits up to `timeout` for the response.
    ///
    /// Fails with [`NetError::Timeout`] if no response came in time (the connection stays open),
    /// [`NetError::ConnectionClosed`] if the connection broke (reconnect), or
    /// [`NetError::FrameTooLarge`] if the request or its response exceeds the maximum frame size.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, NetError> {
        let inner = &self.inner;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = frame::encode(id, req, inner.max_frame)?;

        let (respond, response) = oneshot::channel();
        match inner.shared.waiting().as_mut() {
            Some(waiting) => {
                waiting.insert(id, respond);
            }
            None => return Err(NetError::ConnectionClosed),
        }
        let _registration = Registration {
            shared: &inner.shared,
            id,
        };

        let exchange = async {
            inner.outbound.send(body).await?;
            response.await.map_err(|_| NetError::ConnectionClosed)
        };
        let payload = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| NetError::Timeout)??;

        let reply: Result<Resp, RemoteFailure> = frame::decode(&payload)?;
        reply.map_err(NetError::from)
    }

    /// `true` once the connection is closed; every later call fails, so reconnect.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.is_cancelled()
    }

    /// The address this client is connected to.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// What the handshake established about the peer's node id.
    pub fn peer_identity(&self) -> PeerIdentity {
        self.inner.peer.identity
    }

    /// The format this connection uses, agreed in the handshake: the newest both sides speak
    /// (1 for a peer that predates formats; see `types::format`).
    pub fn peer_format(&self) -> crate::types::format::Format {
        self.inner.peer.format
    }
}

impl Drop for Inner {
    /// The last clone is gone: stop both tasks, which drops the socket.
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcClient")
            .field("addr", &self.inner.addr)
            .field("channel", &self.inner.channel)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Routes each response to the call waiting for it, until the connection ends.
async fn read_responses(
    mut frames: FramedRead<ReadSide, FrameCodec>,
    shared: Arc<Shared>,
    addr: String,
) {
    loop {
        let next = tokio::select! {
            _ = shared.closed.cancelled() => break,
            next = frames.next() => next,
        };
        match next {
            Some(Ok(frame)) => {
                let waiter = shared.waiting().as_mut().and_then(|w| w.remove(&frame.id));
                // No waiter: that call timed out or was dropped, and nobody wants the answer.
                if let Some(waiter) = waiter {
                    let _ = waiter.send(frame.payload);
                }
            }
            Some(Err(e)) => {
                warn!(peer = %addr, "closing connection: {e}");
                break;
            }
            None => {
                debug!(peer = %addr, "peer closed the connection");
                break;
            }
        }
    }
    shared.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::testing::{secret, TestRequest, TestResponse, TestServer, MAX_FRAME};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    const T: Duration = Duration::from_secs(10);

    async fn client(server: &TestServer) -> RpcClient {
        RpcClient::connect(&server.addr, &secret(), Channel::Api, MAX_FRAME)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn round_trip() {
        let server = TestServer::start(Channel::Api).await;
        let client = client(&server).await;
        let resp: TestResponse = client
            .call(&TestRequest::Echo("hello".into()), T)
            .await
            .unwrap();
        assert_eq!(resp, TestResponse::Echo("hello".into()));
        let resp: TestResponse = client.call(&TestRequest::Add(2, 3), T).await.unwrap();
        assert_eq!(resp, TestResponse::Sum(5));
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousand_concurrent_calls_share_one_connection() {
        let server = TestServer::start(Channel::Api).await;
        let client = client(&server).await;
        let calls = (0..1000u64).map(|i| {
            let client = client.clone();
            async move {
                let resp: TestResponse = client.call(&TestRequest::Add(i, i), T).await?;
                Ok::<_, NetError>((i, resp))
            }
        });
        for result in futures::future::join_all(calls).await {
            let (i, resp) = result.unwrap();
            assert_eq!(resp, TestResponse::Sum(2 * i));
        }
        assert_eq!(server.service.calls(), 1000);
        server.stop().await;
    }

    #[tokio::test]
    async fn wrong_secret_is_auth_failed() {
        let server = TestServer::start(Channel::Api).await;
        let wrong = Secret::new("not-the-right-secret-at-all");
        let err = RpcClient::connect(&server.addr, &wrong, Channel::Api, MAX_FRAME)
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::AuthFailed), "{err}");
        server.stop().await;
    }

    #[tokio::test]
    async fn raft_secret_cannot_authenticate_on_the_api_channel() {
        // Same secret on both sides: only the channel differs.
        let server = TestServer::start(Channel::Api).await;
        let err = RpcClient::connect(&server.addr, &secret(), Channel::Raft, MAX_FRAME)
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::AuthFailed), "{err}");
        server.stop().await;
    }

    #[tokio::test]
    async fn connect_to_a_closed_port_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = RpcClient::connect(&addr, &secret(), Channel::Api, MAX_FRAME)
            .await
            .unwrap_err();
        assert!(
            matches!(err, NetError::Connect(ref a, _) if *a == addr),
            "{err}"
        );
    }

    #[tokio::test]
    async fn timeout_fails_only_that_call() {
        let server = TestServer::start(Channel::Api).await;
        let client = client(&server).await;
        let err = client
            .call::<_, TestResponse>(&TestRequest::Sleep(300), Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::Timeout), "{err}");
        // This answer comes after the late answer to the timed-out call, which is discarded.
        let resp: TestResponse = client.call(&TestRequest::Sleep(500), T).await.unwrap();
        assert_eq!(resp, TestResponse::Slept);
        assert!(!client.is_closed());
        server.stop().await;
    }

    #[tokio::test]
    async fn slow_request_does_not_block_others() {
        let server = TestServer::start(Channel::Api).await;
        let client = client(&server).await;
        let slow = tokio::spawn({
            let client = client.clone();
            async move {
                client
                    .call::<_, TestResponse>(&TestRequest::Sleep(30_000), T)
                    .await
            }
        });
        let resp: TestResponse = client
            .call(&TestRequest::Echo("fast".into()), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(resp, TestResponse::Echo("fast".into()));
        assert!(!slow.is_finished());
        slow.abort();
        server.stop().await;
    }

    #[tokio::test]
    async fn request_over_our_own_limit_fails_only_that_call() {
        let server = TestServer::start(Channel::Api).await;
        let client = RpcClient::connect(&server.addr, &secret(), Channel::Api, 1024)
            .await
            .unwrap();
        let err = client
            .call::<_, TestResponse>(&TestRequest::Echo("x".repeat(2000)), T)
            .await
            .unwrap_err();
        assert!(
            matches!(err, NetError::FrameTooLarge { max: 1024, .. }),
            "{err}"
        );
        assert!(!client.is_closed());
        let resp: TestResponse = client.call(&TestRequest::Add(1, 1), T).await.unwrap();
        assert_eq!(resp, TestResponse::Sum(2));
        server.stop().await;
    }

    #[tokio::test]
    async fn response_over_the_servers_limit_fails_only_that_call() {
        let server = TestServer::start_with(Channel::Api, 1024, HANDSHAKE_TIMEOUT).await;
        let client = client(&server).await;
        let err = client
            .call::<_, TestResponse>(&TestRequest::Blob(5000), T)
            .await
            .unwrap_err();
        assert!(
            matches!(err, NetError::FrameTooLarge { max: 1024, .. }),
            "{err}"
        );
        let resp: TestResponse = client.call(&TestRequest::Blob(10), T).await.unwrap();
        assert_eq!(resp, TestResponse::Blob(vec![0; 10]));
        server.stop().await;
    }

    #[tokio::test]
    async fn panicking_handler_fails_only_that_call() {
        let server = TestServer::start(Channel::Api).await;
        let client = client(&server).await;
        let err = client
            .call::<_, TestResponse>(&TestRequest::Panic, T)
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::Remote(_)), "{err}");
        let resp: TestResponse = client.call(&TestRequest::Add(1, 2), T).await.unwrap();
        assert_eq!(resp, TestResponse::Sum(3));
        server.stop().await;
    }

    #[tokio::test]
    async fn broken_connection_fails_pending_calls_promptly() {
        let server = TestServer::start(Channel::Api).await;
        let client = client(&server).await;
        let pending = tokio::spawn({
            let client = client.clone();
            async move {
                client
                    .call::<_, TestResponse>(&TestRequest::Sleep(60_000), Duration::from_secs(60))
                    .await
            }
        });
        server.service.wait_for_calls(1).await;
        server.stop().await;

        let result = tokio::time::timeout(Duration::from_secs(5), pending)
            .await
            .expect("pending call must fail promptly, not wait for its timeout")
            .unwrap();
        assert!(
            matches!(result, Err(NetError::ConnectionClosed)),
            "{result:?}"
        );
        assert!(client.is_closed());
        let err = client
            .call::<_, TestResponse>(&TestRequest::Add(1, 1), T)
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::ConnectionClosed), "{err}");
    }

    #[tokio::test]
    async fn dropping_the_last_clone_closes_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            handshake::accept(&mut stream, &secret(), Channel::Raft, T)
                .await
                .unwrap();
            stream
        });
        let client = RpcClient::connect(&addr, &secret(), Channel::Raft, MAX_FRAME)
            .await
            .unwrap();
        let mut stream = server.await.unwrap();

        let clone = client.clone();
        drop(client);
        assert!(!clone.is_closed());
        drop(clone);

        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the server side must see the connection close");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}
