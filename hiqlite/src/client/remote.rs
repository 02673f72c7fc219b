//! The remote side of a client: talks to a cluster's API ports over the network.
//!
//! Requests go to one node; when it cannot be reached, the next one is tried, with the same request
//! id for writes, so a write is applied once however often it is retried. A write that may have
//! reached a node but got no answer ends as [`Error::OutcomeUnknown`], never as a plain network
//! error: the caller must not assume it failed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Secret;
use crate::engine::error::Error;
use crate::engine::protocol::{ApiRequest, ApiResponse, RemoteError};
use crate::net::{Channel, NetError, RpcClient, TlsClient, Transport};
use crate::types::format::Format;

/// Default of [`RemoteOptions::answer_margin`]: 5 s.
pub const DEFAULT_ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// Default of [`RemoteOptions::connect_timeout`]: 3 s, so that within the default 10 s
/// `request_timeout` a client can still try the other two nodes of a three-node cluster after
/// one whose machine is gone (a connection there hangs instead of being refused).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Default of [`RemoteOptions::backup_timeout`]: 1 hour, time to copy and encrypt a database of
/// tens of GB on an ordinary disk.
pub const DEFAULT_BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);

/// How a remote client reaches a cluster (see [`Client::remote_with`](crate::Client::remote_with)).
///
/// Set fields with struct update syntax or the `with_*` methods:
///
/// ```
/// use std::time::Duration;
/// use hiqlite::RemoteOptions;
/// let options = RemoteOptions::default()
///     .with_request_timeout(Duration::from_secs(3))
///     .with_connect_timeout(Duration::from_millis(500));
/// assert_eq!(options.answer_margin, hiqlite::client::remote::DEFAULT_ANSWER_MARGIN);
/// ```
///
/// How long a call takes at most: it tries nodes until `request_timeout` has passed, and the try
/// under way then still finishes: opening a connection (up to `connect_timeout`) and waiting for
/// the answer (up to `request_timeout` for a read, `request_timeout + answer_margin` for a
/// write). Then it fails with [`Error::Network`], or [`Error::OutcomeUnknown`] for a write that
/// may have been delivered (repeat it with a [`WriteKey`](crate::WriteKey) to be safe).
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// How long a request keeps trying nodes that cannot be reached; also the client's share of
    /// waiting for an answer (see [`answer_margin`](Self::answer_margin)). Set it to the nodes'
    /// `request_timeout`. Default: a node's default `request_timeout`
    /// ([`DEFAULT_REQUEST_TIMEOUT`](crate::config::DEFAULT_REQUEST_TIMEOUT), 10 s).
    pub request_timeout: Duration,
    /// Largest frame sent or accepted. Default: a node's default `max_frame_bytes`
    /// ([`DEFAULT_MAX_FRAME_BYTES`](crate::config::DEFAULT_MAX_FRAME_BYTES), 64 MiB).
    pub max_frame_bytes: usize,
    /// `true` (default): when no node can be reached, try them all again until
    /// `request_timeout` (nodes restarting, an election). `false`: try each address once, in
    /// order, and fail at once if none answers (the `hiqlite` command line).
    pub retry_unreachable: bool,
    /// How long opening one connection may take: the TCP connect and the authentication
    /// handshake together (each of the two also stops after 5 s,
    /// [`HANDSHAKE_TIMEOUT`](crate::net::HANDSHAKE_TIMEOUT)). A node that does not connect in
    /// time counts as unreachable and the next address is tried. Never longer than
    /// `request_timeout`. Default: [`DEFAULT_CONNECT_TIMEOUT`] (3 s).
    pub connect_timeout: Duration,
    /// How much longer than `request_timeout` a write (or membership change) waits for the node's
    /// answer. A node answers a write within its own `request_timeout` (a result, `NoLeader`, or
    /// an unknown outcome); the margin lets the client hear that verdict rather than give up
    /// first with [`Error::OutcomeUnknown`]. Reads wait `request_timeout`. Default:
    /// [`DEFAULT_ANSWER_MARGIN`] (5 s).
    pub answer_margin: Duration,
    /// How long [`Client::backup`](crate::Client::backup) waits for the node's answer: the node
    /// copies and encrypts the whole database before it answers, which takes far longer than a
    /// request. Finding a node that answers is still bounded by `request_timeout`. Default:
    /// [`DEFAULT_BACKUP_TIMEOUT`] (1 hour).
    pub backup_timeout: Duration,
    /// Plain TCP (default) or TLS to the API ports: set it with [`with_tls`](Self::with_tls) or
    /// [`with_tls_ca`](Self::with_tls_ca) for a cluster whose API ports have certificates.
    pub transport: Transport,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            request_timeout: crate::config::DEFAULT_REQUEST_TIMEOUT,
            max_frame_bytes: crate::config::DEFAULT_MAX_FRAME_BYTES,
            retry_unreachable: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            answer_margin: DEFAULT_ANSWER_MARGIN,
            backup_timeout: DEFAULT_BACKUP_TIMEOUT,
            transport: Transport::Plain,
        }
    }
}

impl RemoteOptions {
    /// Connects over TLS, checking servers with `tls` (see [`TlsClient`]).
    pub fn with_tls(mut self, tls: TlsClient) -> Self {
        self.transport = Transport::Tls(tls);
        self
    }

    /// Connects over TLS, checking that each server's certificate chains to the CA in the PEM
    /// file `ca` and names the host of the address dialed.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use hiqlite::{Client, RemoteOptions};
    /// let options = RemoteOptions::default().with_tls_ca("/etc/hiqlite/ca.pem")?;
    /// let client = Client::remote_with(vec!["db1:8200".into()], "api-secret-at-least-16", options);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`TlsError`](crate::net::TlsError) naming the file when it cannot be read or holds no
    /// usable CA certificate.
    pub fn with_tls_ca(
        self,
        ca: impl AsRef<std::path::Path>,
    ) -> Result<Self, crate::net::TlsError> {
        Ok(self.with_tls(TlsClient::from_ca_file(ca.as_ref())?))
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`max_frame_bytes`](Self::max_frame_bytes).
    pub fn with_max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes;
        self
    }

    /// Sets [`retry_unreachable`](Self::retry_unreachable).
    pub fn with_retry_unreachable(mut self, retry: bool) -> Self {
        self.retry_unreachable = retry;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`answer_margin`](Self::answer_margin).
    pub fn with_answer_margin(mut self, margin: Duration) -> Self {
        self.answer_margin = margin;
        self
    }

    /// Sets [`backup_timeout`](Self::backup_timeout).
    pub fn with_backup_timeout(mut self, timeout: Duration) -> Self {
        self.backup_timeout = timeout;
        self
    }
}

/// Connections to the API ports of a cluster's nodes.
pub struct RemoteNodes {
    addrs: Vec<String>,
    secret: Secret,
    options: RemoteOptions,
    pub(crate) request_timeout: Duration,
    /// Index into `addrs` of the node currently used.
    current: AtomicUsize,
    conn: Mutex<Option<(usize, RpcClient)>>,
}

/// One failed try, and whether the request may have reached the node.
struct Failure {
    addr: String,
    error: NetError,
    sent: bool,
}

impl RemoteNodes {
    pub fn new(addrs: Vec<String>, secret: Secret, options: RemoteOptions) -> Self {
        RemoteNodes {
            addrs,
            secret,
            request_timeout: options.request_timeout,
            options,
            current: AtomicUsize::new(0),
            conn: Mutex::new(None),
        }
    }

    /// The largest frame this client sends or accepts.
    pub fn max_frame_bytes(&self) -> usize {
        self.options.max_frame_bytes
    }

    /// Sends `req` to the current node, moving on to the next node on connection failures.
    /// Authentication failures are not retried.
    pub async fn call(&self, req: &ApiRequest) -> Result<ApiResponse, Error> {
        self.call_with_timeout(req, self.request_timeout).await
    }

    /// [`call`](Self::call) for an operation that may take up to `timeout` on the node.
    pub async fn call_with_timeout(
        &self,
        req: &ApiRequest,
        timeout: Duration,
    ) -> Result<ApiResponse, Error> {
        let (resp, earlier_sent, _) = self
            .call_tracked(Fitted::Same(req), req.may_write(), timeout)
            .await?;
        if earlier_sent && says_not_applied(&resp) {
            // The node that answered did not apply it, but an earlier try (same request id) may
            // have reached a node that did, or will.
            let unknown = RemoteError::OutcomeUnknown(
                "an earlier try may have reached another node, which may still apply it".into(),
            );
            return Ok(match resp {
                ApiResponse::Write(_) => ApiResponse::Write(Err(unknown)),
                ApiResponse::Sql(_) => ApiResponse::Sql(Err(unknown)),
                ApiResponse::Membership(_) => ApiResponse::Membership(Err(unknown)),
                other => other,
            });
        }
        Ok(resp)
    }

    /// Sends a read that depends on what the node speaks: `build` makes the request for the
    /// format of the connection it goes out on (a node of an older release cannot decode
    /// requests added since). Moves on to the next node on connection failures, as
    /// [`call`](Self::call) does. Returns the answer and the connection that gave it (a streaming
    /// read goes on on that connection).
    pub async fn call_fitted(
        &self,
        build: &(dyn Fn(Format) -> ApiRequest + Sync),
    ) -> Result<(ApiResponse, RpcClient), Error> {
        self.call_fitted_waiting(build, self.request_timeout).await
    }

    /// [`call_fitted`](Self::call_fitted) for a request the node answers only after a long job
    /// (a backup): waits up to `answer_timeout` for the answer once a node took the request.
    pub async fn call_fitted_waiting(
        &self,
        build: &(dyn Fn(Format) -> ApiRequest + Sync),
        answer_timeout: Duration,
    ) -> Result<(ApiResponse, RpcClient), Error> {
        let (resp, _, rpc) = self
            .call_tracked(Fitted::PerFormat(build), false, answer_timeout)
            .await?;
        Ok((resp, rpc))
    }

    /// [`RemoteOptions::backup_timeout`].
    pub(crate) fn backup_timeout(&self) -> Duration {
        self.options.backup_timeout
    }

    /// Sends the request until a node answers; also says whether an earlier try may have
    /// delivered it to another node, and which connection answered.
    async fn call_tracked(
        &self,
        req: Fitted<'_>,
        writes: bool,
        timeout: Duration,
    ) -> Result<(ApiResponse, bool, RpcClient), Error> {
        if self.addrs.is_empty() {
            return Err(Error::Config(
                "a remote client needs at least one API address".into(),
            ));
        }
        let answer_timeout = if writes {
            timeout + self.options.answer_margin
        } else {
            timeout
        };
        let deadline = Instant::now() + self.request_timeout;
        let mut failures: Vec<Failure> = Vec::new();
        let mut round_start = self.current.load(Ordering::Relaxed);
        loop {
            let idx = self.current.load(Ordering::Relaxed) % self.addrs.len();
            let addr = &self.addrs[idx];
            let failure = match self.client(idx).await {
                Ok(client) => match req.call(&client, answer_timeout).await {
                    Ok(resp) => {
                        let earlier_sent = writes && failures.iter().any(|f| f.sent);
                        return Ok((resp, earlier_sent, client));
                    }
                    Err(error) => Failure {
                        addr: addr.clone(),
                        sent: !matches!(
                            error,
                            NetError::Encode(_) | NetError::FrameTooLarge { .. }
                        ),
                        error,
                    },
                },
                Err(error) => Failure {
                    addr: addr.clone(),
                    error,
                    sent: false,
                },
            };
            let retryable = is_retryable(&failure.error);
            tracing::debug!(%addr, error = %failure.error, "API call failed");
            failures.push(failure);
            if !retryable {
                return Err(give_up(writes, failures, None));
            }
            *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
            let next = self.current.fetch_add(1, Ordering::Relaxed) + 1;
            let round_done = next - round_start >= self.addrs.len();
            if Instant::now() >= deadline || (round_done && !self.options.retry_unreachable) {
                return Err(give_up(writes, failures, Some(self.request_timeout)));
            }
            if round_done {
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
        let connect = RpcClient::connect_over(
            &self.options.transport,
            addr,
            &self.secret,
            Channel::Api,
            self.options.max_frame_bytes,
        );
        let limit = self.options.connect_timeout.min(self.request_timeout);
        let client = tokio::time::timeout(limit, connect)
            .await
            .map_err(|_| NetError::Timeout)??;
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some((idx, client.clone()));
        Ok(client)
    }
}

/// A request as [`RemoteNodes::call_tracked`] sends it: the same to every node, or made for the
/// format of the connection it goes out on.
#[derive(Clone, Copy)]
enum Fitted<'a> {
    Same(&'a ApiRequest),
    PerFormat(&'a (dyn Fn(Format) -> ApiRequest + Sync)),
}

impl Fitted<'_> {
    async fn call(self, client: &RpcClient, timeout: Duration) -> Result<ApiResponse, NetError> {
        match self {
            Fitted::Same(req) => client.call(req, timeout).await,
            Fitted::PerFormat(build) => client.call(&build(client.peer_format()), timeout).await,
        }
    }
}

/// Whether `resp` is an error that says the request was not applied.
fn says_not_applied(resp: &ApiResponse) -> bool {
    let e = match resp {
        ApiResponse::Write(Err(e)) | ApiResponse::Sql(Err(e)) | ApiResponse::Membership(Err(e)) => {
            e
        }
        _ => return false,
    };
    matches!(
        e,
        RemoteError::NoLeader { .. }
            | RemoteError::Removed { .. }
            | RemoteError::ShuttingDown
            | RemoteError::DiskFull { .. }
    )
}

/// The error after the last failed try: a write that may have reached a node has an unknown
/// outcome; anything else is a network error naming every address tried.
fn give_up(writes: bool, failures: Vec<Failure>, waited: Option<Duration>) -> Error {
    let maybe_applied = writes && failures.iter().any(|f| f.sent);
    let tried = summarize(&failures);
    if maybe_applied {
        return Error::OutcomeUnknown(format!("no answer from the cluster ({tried})"));
    }
    match waited {
        Some(waited) if failures.len() > 1 => Error::Network(format!(
            "no node answered (tried for up to {waited:?}): {tried}"
        )),
        _ => Error::Network(tried),
    }
}

/// Every try as `addr: error`, in order; a run of identical ones once, with its count (a node
/// that keeps closing connections is tried every 100 ms until `request_timeout`).
fn summarize(failures: &[Failure]) -> String {
    let mut runs: Vec<(String, usize)> = Vec::new();
    for f in failures {
        let line = format!("{}: {}", f.addr, f.error);
        match runs.last_mut() {
            Some((last, count)) if *last == line => *count += 1,
            _ => runs.push((line, 1)),
        }
    }
    let runs: Vec<String> = runs
        .into_iter()
        .map(|(line, count)| match count {
            1 => line,
            n => format!("{line} ({n} times)"),
        })
        .collect();
    runs.join("; ")
}

/// Failures another node (or the same one, later) may not have. A wrong secret, a protocol
/// mismatch or a message too large would fail everywhere: they are reported at once.
fn is_retryable(e: &NetError) -> bool {
    matches!(
        e,
        NetError::Connect(..) | NetError::ConnectionClosed | NetError::Timeout | NetError::Io(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_are_summarized_once_with_their_count() {
        let failure = |addr: &str, error: NetError| Failure {
            addr: addr.into(),
            error,
            sent: true,
        };
        let failures = vec![
            failure("a:1", NetError::ConnectionClosed),
            failure("a:1", NetError::ConnectionClosed),
            failure("a:1", NetError::ConnectionClosed),
            failure("b:2", NetError::Timeout),
            failure("a:1", NetError::ConnectionClosed),
        ];
        let closed = NetError::ConnectionClosed.to_string();
        let timeout = NetError::Timeout.to_string();
        assert_eq!(
            summarize(&failures),
            format!("a:1: {closed} (3 times); b:2: {timeout}; a:1: {closed}")
        );
        let e = give_up(true, failures, Some(Duration::from_secs(1)));
        assert!(matches!(e, Error::OutcomeUnknown(_)), "{e}");
    }

    /// A node that accepts TCP connections but never completes the handshake (a hung process):
    /// the client gives up on it after `connect_timeout`, not after `request_timeout`.
    #[tokio::test]
    async fn connect_timeout_bounds_a_hanging_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let options = RemoteOptions::default()
            .with_request_timeout(Duration::from_secs(10))
            .with_connect_timeout(Duration::from_millis(200))
            .with_retry_unreachable(false);
        let nodes = RemoteNodes::new(vec![addr], Secret::new("a-secret-of-16+-chars"), options);
        let started = Instant::now();
        let result = nodes.call(&ApiRequest::Status).await;
        assert!(matches!(result, Err(Error::Network(_))), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "gave up after {:?}",
            started.elapsed()
        );
        hold.abort();
    }
}
