//! HTTPS for the HTTP listener: an axum [`Listener`] that hands axum only connections whose TLS
//! handshake (with the node's API certificate, see `net::tls`) succeeded. Handshakes run in
//! tasks of their own, so a slow or silent client never holds up the others; each is bounded
//! by the handshake timeout.

use std::io;
use std::net::SocketAddr;

use axum::serve::Listener;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::net::tls::{Stream, TlsServer};
use crate::net::HANDSHAKE_TIMEOUT;

/// Connections whose handshake finished, waiting for axum to take them.
const READY_QUEUE: usize = 64;

/// A TCP listener that yields TLS connections.
pub(crate) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(Stream, SocketAddr)>,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener` and runs `tls`'s handshake on every connection.
    ///
    /// # Errors
    /// The listener's local address cannot be read.
    pub(crate) fn new(listener: TcpListener, tls: TlsServer) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!("HTTP listener: cannot accept a connection: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "HTTPS: refused connection: {e}"),
                        Err(_) => tracing::debug!(%peer, "HTTPS: no TLS handshake in time"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            ready,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl Listener for TlsListener {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Stream, SocketAddr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The acceptor is gone (only when this listener is dropped): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tls::testing::TestCa;
    use crate::net::tls::{NodeCert, TlsClient};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_http_over_tls_and_refuses_plain_http() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("hiqlite test CA");
        let (cert, key) = ca.leaf(&["127.0.0.1"], 1).write(dir.path(), "api");
        let tls = TlsServer::new(NodeCert::from_files(&cert, &key).unwrap(), None).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let router = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
        let server = tokio::spawn(async move {
            axum::serve(TlsListener::new(listener, tls).unwrap(), router)
                .await
                .unwrap();
        });

        let client = TlsClient::from_ca_file(&ca.write(dir.path())).unwrap();
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut stream = client.handshake(&addr, tcp).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");

        // Plain HTTP gets no answer, just a closed connection.
        let mut plain = tokio::net::TcpStream::connect(&addr).await.unwrap();
        plain
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, plain.read_to_end(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?} {buf:?}");
        server.abort();
    }
}
