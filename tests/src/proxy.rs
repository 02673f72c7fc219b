//! A TCP proxy in front of one node that can lose the node's replies: while
//! [`drop_replies`](ReplyDropProxy::drop_replies) is on, bytes from the node to the client are
//! read and thrown away, so a request arrives and runs but its answer never comes back. The
//! client's own connection stays open, as when a reply is lost on the network.
//!
//! Only one direction is lost. To cut a node off completely, kill it or use
//! [`ProcessCluster::start_in_namespaces`](crate::ProcessCluster::start_in_namespaces).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A proxy listening on a loopback port of its own; every connection to it is relayed to the
/// upstream address. Dropping it closes the listener and every relayed connection.
pub struct ReplyDropProxy {
    addr: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    drop_replies: AtomicBool,
    dropped_bytes: AtomicU64,
}

impl ReplyDropProxy {
    /// Starts relaying connections to `upstream` (`host:port`). A connection whose upstream
    /// cannot be reached is closed at once, as the node itself would refuse it.
    pub async fn start(upstream: &str) -> ReplyDropProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy's port");
        let addr = listener
            .local_addr()
            .expect("the proxy's address")
            .to_string();
        let state = Arc::new(State::default());
        let task = tokio::spawn(accept(listener, upstream.to_string(), state.clone()));
        ReplyDropProxy { addr, state, task }
    }

    /// The address (`host:port`) clients connect to instead of the node's.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `true`: from now on, throw away everything the node sends; `false`: pass it on again.
    pub fn drop_replies(&self, on: bool) {
        self.state.drop_replies.store(on, Ordering::SeqCst);
    }

    /// How many bytes from the node were thrown away so far.
    pub fn dropped_bytes(&self) -> u64 {
        self.state.dropped_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for ReplyDropProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every relay.
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: String, state: Arc<State>) {
    let mut relays = JoinSet::new();
    loop {
        while relays.try_join_next().is_some() {}
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        relays.spawn(relay(client, upstream.clone(), state.clone()));
    }
}

/// Relays one connection until either side closes it, then closes both.
async fn relay(client: TcpStream, upstream: String, state: Arc<State>) {
    let Ok(node) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = node.set_nodelay(true);
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_node, mut to_node) = node.into_split();
    let requests = tokio::io::copy(&mut from_client, &mut to_node);
    let replies = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from_node.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if state.drop_replies.load(Ordering::SeqCst) {
                state.dropped_bytes.fetch_add(n as u64, Ordering::SeqCst);
                continue;
            }
            if to_client.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = requests => {}
        _ = replies => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// An echo server behind the proxy: replies pass, then are lost while dropping, while the
    /// requests still arrive.
    #[tokio::test]
    async fn passes_requests_and_drops_replies_on_demand() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap().to_string();
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        tokio::spawn(async move {
            let (mut stream, _) = echo.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                counter.fetch_add(n as u64, Ordering::SeqCst);
                stream.write_all(&buf[..n]).await.unwrap();
            }
        });
        let proxy = ReplyDropProxy::start(&echo_addr).await;
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut buf = [0u8; 5];

        client.write_all(b"hello").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");

        proxy.drop_replies(true);
        client.write_all(b"lost!").await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while proxy.dropped_bytes() < 5 {
            assert!(
                std::time::Instant::now() < deadline,
                "the reply was not dropped"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(received.load(Ordering::SeqCst), 10, "the request arrived");
        let nothing = tokio::time::timeout(Duration::from_millis(200), client.read(&mut buf)).await;
        assert!(nothing.is_err(), "no reply reaches the client: {nothing:?}");

        proxy.drop_replies(false);
        client.write_all(b"again").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"again");
    }
}
