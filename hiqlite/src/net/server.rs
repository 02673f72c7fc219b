//! The server loop: accept connections, authenticate them, and answer their requests with a
//! [`Service`].
//!
//! Each connection runs in its own task: handshake first, then a loop that reads frames and polls
//! every request's handler concurrently in that same task, so a slow request never holds up the
//! others on the same connection and no request pays for a spawn. Handlers write their responses
//! themselves, with the request's id (see `outbound`). Anything malformed
//! (bad frame, undecodable request, oversized frame) is logged with the peer's address and closes
//! only that connection. A shutdown signal stops the accept loop and every connection at once.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::admission::{Admission, HandshakePlace, PeerKey, PendingHandshake};
use super::frame::{self, RemoteFailure};
use super::handshake::{self, Accepted, HANDSHAKE_TIMEOUT};
use super::outbound::{self, Outbound};
use super::tls::{Stream, TlsServer};
use super::{Channel, NetError};
use crate::config::Secret;

/// Requests one connection may have in flight; beyond that the server stops reading from it until
/// some finish, so one peer cannot make it hold requests (and their memory) without bound.
const MAX_IN_FLIGHT_PER_CONNECTION: usize = 1024;

/// Bytes of request frames one connection may have in flight (64 MiB); beyond that the server
/// stops reading from it until some finish. With [`MAX_IN_FLIGHT_PER_CONNECTION`] this bounds
/// what a peer that sends large requests and never reads its answers can make the node hold:
/// these requests, plus the answers the outbound backlog holds (4 MiB, see `outbound`). A single
/// request larger than this (up to the frame limit) is still read when nothing else is in flight.
const MAX_IN_FLIGHT_BYTES_PER_CONNECTION: usize = 64 << 20;

/// What a server does with requests: one call per request, possibly many at the same time.
///
/// ```
/// use hiqlite::net::Service;
///
/// struct Echo;
///
/// impl Service for Echo {
///     type Request = String;
///     type Response = String;
///
///     async fn handle(&self, req: String) -> String {
///         req
///     }
/// }
/// ```
pub trait Service: Send + Sync + 'static {
    /// What clients send; a frame that does not decode as this closes the connection.
    type Request: DeserializeOwned + Send + 'static;
    /// What the server answers, one per request.
    type Response: Serialize + Send + 'static;

    /// Answers one request, concurrently with the connection's other requests: the connection's
    /// task polls every handler, so a handler must not block its thread (blocking work belongs in
    /// `spawn_blocking`).
    fn handle(&self, req: Self::Request) -> impl Future<Output = Self::Response> + Send;

    /// Called once a connection has passed the handshake, before its first request; every such
    /// call is later matched by one [`connection_closed`](Self::connection_closed). By default
    /// nothing.
    fn connection_opened(&self, peer: &Accepted) {
        let _ = peer;
    }

    /// Called once a connection has ended (the peer hung up, a bad frame, shutdown), after its
    /// requests still running were aborted: a service that keeps state per connection
    /// ([`Accepted::connection`]) drops it here. By default nothing.
    fn connection_closed(&self, peer: Accepted) {
        let _ = peer;
    }

    /// Answers one request from `peer`: the node id it proved in the handshake (`None`: it proved
    /// none, as clients and format-1 nodes do) and the format the connection uses (answers must
    /// be readable in it). By default the same as [`handle`](Self::handle); a service that must
    /// know who is asking overrides it.
    fn handle_from(
        &self,
        peer: Accepted,
        req: Self::Request,
    ) -> impl Future<Output = Self::Response> + Send {
        let _ = peer;
        self.handle(req)
    }
}

/// Serves `service` on `listener` until `shutdown` becomes `true` (or its sender is dropped),
/// then closes every connection and returns once they are all gone.
///
/// Every connection must pass the handshake for `channel` with `secret` within
/// [`HANDSHAKE_TIMEOUT`] before any frame is read. `max_frame` bounds requests received and
/// responses sent.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use std::sync::Arc;
/// use hiqlite::config::Secret;
/// use hiqlite::net::{serve, Channel, Service};
///
/// struct Echo;
/// impl Service for Echo {
///     type Request = String;
///     type Response = String;
///     async fn handle(&self, req: String) -> String { req }
/// }
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8200").await?;
/// let (stop, shutdown) = tokio::sync::watch::channel(false);
/// let secret = Secret::new("api-secret-at-least-16-chars");
/// let service = Arc::new(Echo);
/// let server = tokio::spawn(serve(listener, secret, Channel::Api, 16 << 20, service, shutdown));
/// // ... later:
/// stop.send(true).ok();
/// server.await.ok();
/// # Ok(()) }
/// ```
pub async fn serve<S: Service>(
    listener: TcpListener,
    secret: Secret,
    channel: Channel,
    max_frame: usize,
    service: Arc<S>,
    shutdown: watch::Receiver<bool>,
) {
    serve_over(
        None, listener, secret, channel, max_frame, service, shutdown,
    )
    .await
}

/// [`serve`] with TLS when `tls` is set: each connection runs the TLS handshake first (within the
/// handshake timeout) and the secret's handshake inside it. A client that connects without TLS
/// is told so and refused (see [`TlsServer`]); the refusal is logged with its address.
pub async fn serve_over<S: Service>(
    tls: Option<TlsServer>,
    listener: TcpListener,
    secret: Secret,
    channel: Channel,
    max_frame: usize,
    service: Arc<S>,
    shutdown: watch::Receiver<bool>,
) {
    let settings = Settings {
        tls,
        ..Settings::new(secret, channel, max_frame)
    };
    serve_settings(listener, settings, service, shutdown).await
}

/// [`serve`] with a custom handshake timeout (tests use a short one).
pub async fn serve_with_handshake_timeout<S: Service>(
    listener: TcpListener,
    secret: Secret,
    channel: Channel,
    max_frame: usize,
    handshake_timeout: Duration,
    service: Arc<S>,
    shutdown: watch::Receiver<bool>,
) {
    let settings = Settings {
        handshake_timeout,
        ..Settings::new(secret, channel, max_frame)
    };
    serve_settings(listener, settings, service, shutdown).await
}

/// [`serve`] on the API channel speaking only `formats`: tests play a node of an older release
/// with it.
#[cfg(test)]
pub(crate) async fn serve_api_speaking<S: Service>(
    listener: TcpListener,
    secret: Secret,
    formats: crate::types::format::FormatRange,
    service: Arc<S>,
    shutdown: watch::Receiver<bool>,
) {
    let settings = Settings {
        formats,
        ..Settings::new(secret, Channel::Api, 16 << 20)
    };
    serve_settings(listener, settings, service, shutdown).await
}

/// [`serve`] on the Raft channel for node `node_id`: every peer that names the node it means to
/// reach must name this one, and the service learns which node each peer proved it is (see
/// [`Service::handle_from`] and the handshake's node identity).
pub async fn serve_node<S: Service>(
    listener: TcpListener,
    secret: Secret,
    node_id: u64,
    max_frame: usize,
    service: Arc<S>,
    shutdown: watch::Receiver<bool>,
) {
    serve_node_over(
        None, listener, secret, node_id, max_frame, service, shutdown,
    )
    .await
}

/// [`serve_node`] with TLS when `tls` is set (see [`serve_over`]).
pub async fn serve_node_over<S: Service>(
    tls: Option<TlsServer>,
    listener: TcpListener,
    secret: Secret,
    node_id: u64,
    max_frame: usize,
    service: Arc<S>,
    shutdown: watch::Receiver<bool>,
) {
    let settings = Settings {
        node_id: Some(node_id),
        tls,
        ..Settings::new(secret, Channel::Raft, max_frame)
    };
    serve_settings(listener, settings, service, shutdown).await
}

async fn serve_settings<S: Service>(
    listener: TcpListener,
    settings: Settings,
    service: Arc<S>,
    mut shutdown: watch::Receiver<bool>,
) {
    let channel = settings.channel;
    let settings = Arc::new(settings);
    let admission = Admission::new(channel);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown_requested(&mut shutdown) => break,
            // Reap finished connections so the set does not grow with every peer ever seen.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            // A place among the connections in the handshake first (see `admission`): during a
            // flood this waits until evicted connections have closed their sockets.
            accepted = accept_admitted(&listener, &admission) => match accepted {
                Ok((stream, peer, place)) => {
                    // Registered here rather than in the connection's task, so a flood evicts
                    // older connections before this loop accepts the next one.
                    let pending = admission.begin_handshake(peer.ip(), place);
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        settings.clone(),
                        admission.clone(),
                        pending,
                        service.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => {
                    // Usually out of file descriptors: back off briefly instead of spinning, but
                    // still react to shutdown right away.
                    warn!(%channel, "cannot accept a connection: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        _ = shutdown_requested(&mut shutdown) => break,
                    }
                }
            },
        }
    }
    // New connection attempts are refused from here on.
    drop(listener);
    // Every connection watches the same signal and ends by itself; waiting for them means all
    // sockets are closed when `serve` returns.
    while connections.join_next().await.is_some() {}
    debug!(%channel, "server stopped");
}

/// Waits for a place for one more connection in the handshake, then accepts one. Cancel-safe:
/// both steps are.
async fn accept_admitted(
    listener: &TcpListener,
    admission: &Arc<Admission>,
) -> std::io::Result<(TcpStream, SocketAddr, HandshakePlace)> {
    let place = admission.handshake_place().await;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, place))
}

/// What every connection of one server needs to know.
struct Settings {
    secret: Secret,
    channel: Channel,
    max_frame: usize,
    handshake_timeout: Duration,
    /// This node's id on a Raft listener: proven to peers that ask (see `handshake`).
    node_id: Option<u64>,
    /// The formats this server speaks (this binary's, except in tests).
    formats: crate::types::format::FormatRange,
    /// TLS under the handshake, when this port has a certificate.
    tls: Option<TlsServer>,
}

impl Settings {
    /// A server on `channel` with the defaults: [`HANDSHAKE_TIMEOUT`], no node id, this binary's
    /// formats, no TLS.
    fn new(secret: Secret, channel: Channel, max_frame: usize) -> Settings {
        Settings {
            secret,
            channel,
            max_frame,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            node_id: None,
            formats: crate::types::format::FormatRange::OURS,
            tls: None,
        }
    }
}

/// Numbers the connections of this process ([`Accepted::connection`]), from 1.
fn next_connection_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Resolves once shutdown is requested. A dropped sender counts as a request: nobody could ever
/// stop the server otherwise.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&stop| stop).await;
}

async fn serve_connection<S: Service>(
    tcp: TcpStream,
    peer: SocketAddr,
    settings: Arc<Settings>,
    admission: Arc<Admission>,
    pending: PendingHandshake,
    service: Arc<S>,
    mut shutdown: watch::Receiver<bool>,
) {
    let channel = settings.channel;
    // Responses are often small and latency-bound (Raft heartbeats); don't let Nagle delay them.
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(%peer, %channel, "cannot set TCP_NODELAY: {e}");
    }
    // Until the handshake is done, a flood of newer connections may evict this one.
    let evicted = pending.evicted();
    tokio::pin!(evicted);
    let mut stream = match &settings.tls {
        None => Stream::Plain(tcp),
        Some(tls) => {
            let accept = tokio::time::timeout(settings.handshake_timeout, tls.accept(tcp));
            let accepted = tokio::select! {
                result = accept => result.unwrap_or(Err(NetError::Timeout)),
                _ = shutdown_requested(&mut shutdown) => return,
                _ = &mut evicted => return log_evicted(peer, channel),
            };
            match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    log_refused(peer, channel, settings.handshake_timeout, e);
                    return;
                }
            }
        }
    };

    let handshake = handshake::accept_as(
        &mut stream,
        &settings.secret,
        channel,
        settings.node_id,
        settings.formats,
        settings.handshake_timeout,
    );
    let authenticated = tokio::select! {
        result = handshake => result,
        _ = shutdown_requested(&mut shutdown) => return,
        _ = &mut evicted => return log_evicted(peer, channel),
    };
    drop(pending);
    let peer_id = match authenticated {
        Ok(accepted) => Accepted {
            connection: next_connection_id(),
            ..accepted
        },
        Err(e) => {
            log_refused(peer, channel, settings.handshake_timeout, e);
            return;
        }
    };
    let key = match peer_id.peer_id {
        Some(node) => PeerKey::Node(node),
        None => PeerKey::Address(peer.ip()),
    };
    // Held until the connection ends.
    let Some(_slot) = admission.admit(key) else {
        debug!(%peer, %channel, ?key, "refused: the peer holds too many connections");
        return;
    };
    debug!(%peer, %channel, ?peer_id, "peer authenticated");
    service.connection_opened(&peer_id);

    // A bare connect-and-close (port scan, TCP health check) is not worth a warning.

    let closed = CancellationToken::new();
    let (mut frames, outbound, flusher) =
        outbound::split(stream, settings.max_frame, closed.clone());
    // Polled in the select below rather than spawned, so it ends with this connection.
    let flusher = flusher.run();
    tokio::pin!(flusher);
    // Requests are polled by this task, not spawned: an answer that is ready at once, or once the
    // service wakes it, is written from here without a hop to another task. Dropping the set when
    // the connection ends drops requests still running: nobody is left to receive their answers
    // (callers retry on a new connection).
    let mut handlers = FuturesUnordered::new();
    let mut in_flight_bytes = 0usize;

    loop {
        let may_read = handlers.len() < MAX_IN_FLIGHT_PER_CONNECTION
            && in_flight_bytes < MAX_IN_FLIGHT_BYTES_PER_CONNECTION;
        tokio::select! {
            _ = shutdown_requested(&mut shutdown) => break,
            result = &mut flusher => {
                if let Err(e) = result {
                    debug!(%peer, %channel, "cannot send to peer: {e}");
                }
                break;
            }
            Some(done_bytes) = handlers.next(), if !handlers.is_empty() => {
                in_flight_bytes -= done_bytes;
            }
            next = frames.next(), if may_read => match next {
                Some(Ok(frame)) => match frame::decode::<S::Request>(&frame.payload) {
                    Ok(req) => {
                        let bytes = frame.payload.len();
                        in_flight_bytes += bytes;
                        let answered = answer(
                            service.clone(),
                            peer_id,
                            frame.id,
                            req,
                            outbound.clone(),
                            settings.max_frame,
                        );
                        handlers.push(answered.map(move |()| bytes));
                    }
                    Err(e) => {
                        warn!(%peer, %channel, "closing connection: request {}: {e}", frame.id);
                        break;
                    }
                },
                Some(Err(e)) => {
                    warn!(%peer, %channel, "closing connection: {e}");
                    break;
                }
                None => {
                    debug!(%peer, %channel, "peer closed the connection");
                    break;
                }
            },
        }
    }
    closed.cancel();
    drop(handlers);
    service.connection_closed(peer_id);
}

/// Logs a connection closed in the handshake because newer ones arrived (see `admission`; the
/// listener warns about floods itself, once per interval).
fn log_evicted(peer: SocketAddr, channel: Channel) {
    debug!(%peer, %channel, "closed: too many connections in the handshake, this one the oldest");
}

/// Logs why a connection was refused during the handshake.
fn log_refused(peer: SocketAddr, channel: Channel, timeout: Duration, e: NetError) {
    match e {
        // A bare connect-and-close (port scan, TCP health check) is not worth a warning.
        NetError::ConnectionClosed => debug!(%peer, %channel, "peer left during the handshake"),
        NetError::AuthFailed => {
            warn!(%peer, %channel, "refused connection: peer does not know the secret")
        }
        NetError::Timeout => {
            warn!(%peer, %channel, "dropped connection: no handshake within {timeout:?}")
        }
        // The dialing node reports this itself, with backoff (it retries every heartbeat).
        e @ (NetError::WrongNode { .. } | NetError::SameNodeId(_)) => {
            debug!(%peer, %channel, "refused a node that dialed another node's id: {e}")
        }
        e @ (NetError::PlaintextOnTlsPort
        | NetError::TlsOnPlaintextPort
        | NetError::TlsCertificate(_)
        | NetError::Tls(_)) => warn!(%peer, %channel, "refused connection from {peer}: {e}"),
        e => warn!(%peer, %channel, "handshake failed: {e}"),
    }
}

/// Runs one request and queues its response under the request's id. If the service panics or the
/// response cannot be sent, the caller gets a [`RemoteFailure`] instead of waiting for its timeout.
async fn answer<S: Service>(
    service: Arc<S>,
    peer: Accepted,
    id: u64,
    req: S::Request,
    outbound: Outbound,
    max_frame: usize,
) {
    let body = match AssertUnwindSafe(service.handle_from(peer, req))
        .catch_unwind()
        .await
    {
        Ok(resp) => match frame::encode(id, &Ok::<_, RemoteFailure>(resp), max_frame) {
            Ok(body) => Some(body),
            Err(NetError::FrameTooLarge { size, max }) => {
                warn!(
                    request = id,
                    "response of {size} bytes exceeds the maximum frame size of {max} bytes"
                );
                let (size, max) = (size as u64, max as u64);
                failure(id, RemoteFailure::ResponseTooLarge { size, max }, max_frame)
            }
            Err(e) => {
                error!(request = id, "cannot encode response: {e}");
                failure(id, RemoteFailure::Encode(e.to_string()), max_frame)
            }
        },
        Err(_) => {
            error!(request = id, "request handler panicked");
            failure(id, RemoteFailure::HandlerPanicked, max_frame)
        }
    };
    if let Some(body) = body {
        // Fails only if the connection is already gone, and then nobody waits for the answer.
        let _ = outbound.send(body).await;
    }
}

/// The frame that tells the caller why there is no response. `None` only if even this small
/// message exceeds the maximum frame size; the caller then runs into its timeout.
fn failure(id: u64, failure: RemoteFailure, max_frame: usize) -> Option<Bytes> {
    frame::encode(id, &Err::<(), _>(failure), max_frame).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::testing::{
        assert_closed_by_peer, secret, TestRequest, TestResponse, TestServer, MAX_FRAME, PROMPTLY,
    };
    use crate::net::RpcClient;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const T: Duration = Duration::from_secs(10);

    async fn assert_serves_a_good_client(server: &TestServer) {
        let client = RpcClient::connect(&server.addr, &secret(), Channel::Api, MAX_FRAME)
            .await
            .unwrap();
        let resp: TestResponse = client.call(&TestRequest::Add(20, 22), T).await.unwrap();
        assert_eq!(resp, TestResponse::Sum(42));
    }

    /// A frame as the server expects it: length prefix, then id and payload.
    fn raw_frame(id: u64, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(8 + payload.len()).unwrap();
        let mut frame = len.to_be_bytes().to_vec();
        frame.extend_from_slice(&id.to_be_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    #[tokio::test]
    async fn wrong_secret_never_reaches_the_service() {
        let server = TestServer::start(Channel::Api).await;
        let mut stream = TcpStream::connect(&server.addr).await.unwrap();
        let wrong = Secret::new("not-the-right-secret-at-all");
        let result = handshake::connect(&mut stream, &wrong, Channel::Api, PROMPTLY).await;
        assert!(matches!(result, Err(NetError::AuthFailed)), "{result:?}");

        // Send a perfectly valid request anyway: it must never be read, let alone handled.
        let body = frame::encode(1, &TestRequest::Echo("sneaky".into()), MAX_FRAME).unwrap();
        let _ = stream.write_all(&raw_frame(1, &body[8..])).await;
        assert_closed_by_peer(&mut stream).await;
        assert_eq!(server.service.calls(), 0);

        assert_serves_a_good_client(&server).await;
        server.stop().await;
    }

    #[tokio::test]
    async fn garbage_after_the_handshake_closes_only_that_connection() {
        let server = TestServer::start(Channel::Api).await;
        let garbage: Vec<(&str, Vec<u8>)> = vec![
            (
                "frame shorter than its request id",
                vec![0, 0, 0, 3, 1, 2, 3],
            ),
            (
                "undecodable request",
                raw_frame(7, &[0xff, 0xff, 0xff, 0xff]),
            ),
            ("valid request plus trailing bytes", {
                let mut payload = postcard::to_stdvec(&TestRequest::Add(1, 2)).unwrap();
                payload.extend_from_slice(b"junk");
                raw_frame(8, &payload)
            }),
            ("line noise", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ];
        for (what, bytes) in garbage {
            let calls_before = server.service.calls();
            let mut stream = server.authenticated_stream(Channel::Api).await;
            stream.write_all(&bytes).await.unwrap();
            assert_closed_by_peer(&mut stream).await;
            assert_eq!(
                server.service.calls(),
                calls_before,
                "{what} reached the service"
            );
            // The server keeps serving everyone else.
            assert_serves_a_good_client(&server).await;
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn oversized_frame_closes_the_connection() {
        let server = TestServer::start_with(Channel::Api, 1024, HANDSHAKE_TIMEOUT).await;

        // A raw peer announcing a huge frame: refused from the length prefix alone.
        let mut stream = server.authenticated_stream(Channel::Api).await;
        stream
            .write_all(&100_000_000u32.to_be_bytes())
            .await
            .unwrap();
        assert_closed_by_peer(&mut stream).await;

        // A client whose own limit is larger than the server's.
        let client = RpcClient::connect(&server.addr, &secret(), Channel::Api, MAX_FRAME)
            .await
            .unwrap();
        let err = client
            .call::<_, TestResponse>(&TestRequest::Echo("x".repeat(5000)), T)
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::ConnectionClosed), "{err}");
        assert!(client.is_closed());
        assert_eq!(server.service.calls(), 0);

        assert_serves_a_good_client(&server).await;
        server.stop().await;
    }

    #[tokio::test]
    async fn silent_peer_is_dropped_after_the_handshake_timeout() {
        let server =
            TestServer::start_with(Channel::Api, MAX_FRAME, Duration::from_millis(200)).await;
        let mut stream = TcpStream::connect(&server.addr).await.unwrap();
        let mut hello = [0u8; 33];
        stream.read_exact(&mut hello).await.unwrap();
        // ...and never answer.
        assert_closed_by_peer(&mut stream).await;

        assert_serves_a_good_client(&server).await;
        server.stop().await;
    }

    #[tokio::test]
    async fn a_flood_of_silent_connections_cannot_keep_a_good_client_out() {
        use crate::net::admission::MAX_PENDING_HANDSHAKES;
        // Silent connections would otherwise wait ten minutes each.
        let server =
            TestServer::start_with(Channel::Api, MAX_FRAME, Duration::from_secs(600)).await;
        let mut flood = Vec::new();
        for _ in 0..3 * MAX_PENDING_HANDSHAKES {
            flood.push(TcpStream::connect(&server.addr).await.unwrap());
        }
        // Everything but the newest MAX_PENDING_HANDSHAKES is closed by the server, at once.
        for stream in &mut flood[..2 * MAX_PENDING_HANDSHAKES] {
            assert_closed_by_peer(stream).await;
        }
        // A good client gets in while the flood goes on, again and again.
        let addr = server.addr.clone();
        let flooder = tokio::spawn(async move {
            let mut held = std::collections::VecDeque::new();
            loop {
                if let Ok(s) = TcpStream::connect(&addr).await {
                    held.push_back(s);
                }
                if held.len() > 2 * MAX_PENDING_HANDSHAKES {
                    held.pop_front();
                }
                tokio::task::yield_now().await;
            }
        });
        for _ in 0..10 {
            assert_serves_a_good_client(&server).await;
        }
        flooder.abort();
        server.stop().await;
    }

    #[tokio::test]
    async fn a_peer_holds_at_most_its_share_of_connections() {
        use crate::net::admission::MAX_CONNECTIONS_PER_PEER;
        let server = TestServer::start(Channel::Api).await;
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS_PER_PEER {
            held.push(server.authenticated_stream(Channel::Api).await);
        }
        // One more passes the handshake (the secret is right) and is then closed unserved.
        let mut extra = server.authenticated_stream(Channel::Api).await;
        let body = frame::encode(1, &TestRequest::Add(1, 2), MAX_FRAME).unwrap();
        let _ = extra.write_all(&raw_frame(1, &body[8..])).await;
        assert_closed_by_peer(&mut extra).await;
        assert_eq!(server.service.calls(), 0);
        // A closed connection gives its place back.
        drop(held.pop());
        let served = async {
            loop {
                let client = RpcClient::connect(&server.addr, &secret(), Channel::Api, MAX_FRAME)
                    .await
                    .unwrap();
                // The server may not have seen the close yet: then this one is refused too.
                if let Ok(TestResponse::Sum(3)) = client.call(&TestRequest::Add(1, 2), T).await {
                    return;
                }
            }
        };
        tokio::time::timeout(PROMPTLY, served)
            .await
            .expect("a freed place is given to the next connection");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_client_that_never_reads_its_answers_holds_bounded_memory() {
        const REQUEST: usize = 1 << 20;
        const SENT: usize = 400;
        let server = TestServer::start_with(Channel::Api, 4 * REQUEST, HANDSHAKE_TIMEOUT).await;
        let stream = server.authenticated_stream(Channel::Api).await;
        let (mut reader, mut writer) = stream.into_split();
        // 400 requests of 1 MiB whose answers are 1 MiB each; nobody reads the answers yet.
        let writes = tokio::spawn(async move {
            let echo = TestRequest::Echo("x".repeat(REQUEST));
            for id in 1..=SENT as u64 {
                let body = frame::encode(id, &echo, 4 * REQUEST).unwrap();
                writer.write_all(&raw_frame(id, &body[8..])).await.unwrap();
            }
            writer
        });
        // The server stops reading once 64 MiB of requests wait for their answers to be taken:
        // the number handled stops growing, far below what was sent.
        let mut last = usize::MAX;
        let settled = async {
            loop {
                let calls = server.service.calls();
                if calls == last && calls > 0 {
                    return calls;
                }
                last = calls;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        let handled = tokio::time::timeout(PROMPTLY, settled)
            .await
            .expect("the handled count settles");
        let bound = MAX_IN_FLIGHT_BYTES_PER_CONNECTION / REQUEST + 32;
        assert!(
            handled <= bound,
            "{handled} requests of 1 MiB handled while the client reads nothing (bound {bound})"
        );
        assert!(!writes.is_finished(), "the client's writes are held back");

        // Once the client reads, every answer arrives, whole (in any order: requests run
        // concurrently).
        let mut len = [0u8; 4];
        let mut answered = std::collections::BTreeSet::new();
        for _ in 0..SENT {
            tokio::time::timeout(PROMPTLY, reader.read_exact(&mut len))
                .await
                .expect("answers keep coming")
                .unwrap();
            let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
            reader.read_exact(&mut frame).await.unwrap();
            answered.insert(u64::from_be_bytes(frame[..8].try_into().unwrap()));
        }
        assert_eq!(answered, (1..=SENT as u64).collect());
        let _writer = writes.await.unwrap();
        assert_eq!(server.service.calls(), SENT);
        server.stop().await;
    }

    #[tokio::test]
    async fn shutdown_stops_the_server_and_closes_connections() {
        let server =
            TestServer::start_with(Channel::Api, MAX_FRAME, Duration::from_secs(600)).await;
        let addr = server.addr.clone();
        let client = RpcClient::connect(&addr, &secret(), Channel::Api, MAX_FRAME)
            .await
            .unwrap();
        let _: TestResponse = client.call(&TestRequest::Add(1, 1), T).await.unwrap();
        // A peer stuck in the handshake must not delay shutdown either.
        let mut silent = TcpStream::connect(&addr).await.unwrap();

        server.stop().await;

        assert_closed_by_peer(&mut silent).await;
        let err = client
            .call::<_, TestResponse>(&TestRequest::Add(1, 1), T)
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::ConnectionClosed), "{err}");
        assert!(client.is_closed());
        let err = RpcClient::connect(&addr, &secret(), Channel::Api, MAX_FRAME)
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::Connect(..)), "{err}");
    }
}
