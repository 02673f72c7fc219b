//! Helpers shared by the networking tests: a small service with observable behaviour and a real
//! server on a loopback port.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::handshake::{self, HANDSHAKE_TIMEOUT};
use super::{serve_with_handshake_timeout, Channel, Service};
use crate::config::Secret;

pub(crate) const MAX_FRAME: usize = 64 * 1024;

/// Generous bound for anything that should happen "promptly" in a test.
pub(crate) const PROMPTLY: Duration = Duration::from_secs(5);

pub(crate) fn secret() -> Secret {
    Secret::new("net-test-secret-0123456789")
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum TestRequest {
    Echo(String),
    Add(u64, u64),
    /// Answers after this many milliseconds.
    Sleep(u64),
    /// Answers with this many zero bytes.
    Blob(usize),
    Panic,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum TestResponse {
    Echo(String),
    Sum(u64),
    Slept,
    Blob(Vec<u8>),
}

/// Counts its calls, so tests can check that a request was (or was never) handled.
#[derive(Default)]
pub(crate) struct TestService {
    calls: AtomicUsize,
    called: Notify,
}

impl TestService {
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub(crate) async fn wait_for_calls(&self, n: usize) {
        let wait = async {
            loop {
                // Created before the check, so a call in between still wakes us.
                let called = self.called.notified();
                if self.calls() >= n {
                    return;
                }
                called.await;
            }
        };
        tokio::time::timeout(PROMPTLY, wait)
            .await
            .expect("the service was not called in time");
    }
}

impl Service for TestService {
    type Request = TestRequest;
    type Response = TestResponse;

    async fn handle(&self, req: TestRequest) -> TestResponse {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.called.notify_waiters();
        match req {
            TestRequest::Echo(s) => TestResponse::Echo(s),
            TestRequest::Add(a, b) => TestResponse::Sum(a.wrapping_add(b)),
            TestRequest::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                TestResponse::Slept
            }
            TestRequest::Blob(n) => TestResponse::Blob(vec![0; n]),
            TestRequest::Panic => panic!("test service asked to panic"),
        }
    }
}

/// A real server on 127.0.0.1 with a fresh port, authenticating with [`secret`].
pub(crate) struct TestServer {
    pub addr: String,
    pub service: Arc<TestService>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(channel: Channel) -> TestServer {
        Self::start_with(channel, MAX_FRAME, HANDSHAKE_TIMEOUT).await
    }

    pub(crate) async fn start_with(
        channel: Channel,
        max_frame: usize,
        handshake_timeout: Duration,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let service = Arc::new(TestService::default());
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(serve_with_handshake_timeout(
            listener,
            secret(),
            channel,
            max_frame,
            handshake_timeout,
            service.clone(),
            shutdown,
        ));
        TestServer {
            addr,
            service,
            stop,
            task,
        }
    }

    /// A server on the API channel behind `tls`.
    pub(crate) async fn start_tls(tls: super::TlsServer) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let service = Arc::new(TestService::default());
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(super::serve_over(
            Some(tls),
            listener,
            secret(),
            Channel::Api,
            MAX_FRAME,
            service.clone(),
            shutdown,
        ));
        TestServer {
            addr,
            service,
            stop,
            task,
        }
    }

    /// Signals shutdown and waits until `serve` has returned.
    pub(crate) async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(PROMPTLY, self.task)
            .await
            .expect("the server must stop promptly after shutdown")
            .unwrap();
    }

    /// A raw TCP stream that has passed the handshake, for tests that send hand-made bytes.
    pub(crate) async fn authenticated_stream(&self, channel: Channel) -> TcpStream {
        let mut stream = TcpStream::connect(&self.addr).await.unwrap();
        handshake::connect(&mut stream, &secret(), channel, PROMPTLY)
            .await
            .unwrap();
        stream
    }
}

/// Asserts that the peer closes `stream` promptly (end of stream or a reset), whatever it
/// still sends before that.
pub(crate) async fn assert_closed_by_peer(stream: &mut TcpStream) {
    let drain = async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(PROMPTLY, drain)
        .await
        .expect("the server must close the connection");
}
