//! The accepting side: [`TlsServer`] runs the TLS handshake on each accepted connection, after
//! checking that the client speaks TLS at all.
//!
//! A hiqlite client without TLS says nothing after connecting: it waits for the server's
//! handshake hello. A TLS client's first bytes are a ClientHello record (first byte 0x16). So
//! the server waits up to [`PLAINTEXT_SNIFF`] for the first byte: 0x16 starts TLS; silence is a
//! plaintext hiqlite client, which gets a hello it recognises as "this port speaks TLS" (see
//! `handshake::TLS_REQUIRED_NOTICE`) instead of waiting for its timeout; any other byte is a
//! stranger (an HTTP request, say). Both sides then report the mix-up in words.

use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::errors::{handshake_failed, Side};
use super::{provider, NodeCert, Stream, TlsError, VERSIONS};
use crate::net::handshake::TLS_REQUIRED_NOTICE;
use crate::net::NetError;

/// How long a TLS port waits for a client's first byte before it takes the client for a
/// plaintext one and tells it so. A TLS client sends its ClientHello right after connecting.
pub const PLAINTEXT_SNIFF: Duration = Duration::from_secs(1);

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The server side of TLS on one port: the node's certificate, and with mutual TLS the CA that
/// clients' certificates must chain to. Cheap to clone.
#[derive(Clone)]
pub struct TlsServer {
    acceptor: tokio_rustls::TlsAcceptor,
    cert: Arc<NodeCert>,
}

impl TlsServer {
    /// Serves `cert` (swapped in place when it is reloaded); with `client_ca`, clients must
    /// present a certificate that chains to it (mutual TLS).
    ///
    /// # Errors
    /// [`TlsError::Config`] when `client_ca` holds no usable anchor.
    pub fn new(
        cert: Arc<NodeCert>,
        client_ca: Option<RootCertStore>,
    ) -> Result<TlsServer, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match client_ca {
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| TlsError::Config(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_cert_resolver(cert.clone());
        Ok(TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            cert,
        })
    }

    /// The certificate this server presents.
    pub fn cert(&self) -> &Arc<NodeCert> {
        &self.cert
    }

    /// Runs the server side of the TLS handshake on `tcp` (the caller bounds it in time).
    ///
    /// # Errors
    /// [`NetError::PlaintextOnTlsPort`] for a client that does not speak TLS (a plaintext
    /// hiqlite client has been told why), [`NetError::TlsCertificate`] for a refused client
    /// certificate (mutual TLS), [`NetError::Tls`] for the rest, [`NetError::ConnectionClosed`]
    /// when the client left.
    pub(crate) async fn accept(&self, mut tcp: TcpStream) -> Result<Stream, NetError> {
        let mut first = [0u8; 1];
        match tokio::time::timeout(PLAINTEXT_SNIFF, tcp.peek(&mut first)).await {
            Ok(Ok(0)) => return Err(NetError::ConnectionClosed),
            Ok(Ok(_)) if first[0] == TLS_HANDSHAKE_RECORD => {}
            Ok(Ok(_)) => return Err(NetError::PlaintextOnTlsPort),
            Ok(Err(e)) => return Err(NetError::Io(e)),
            Err(_) => {
                // Silence: a plaintext hiqlite client waiting for our hello. Tell it.
                let _ = tcp.write_all(&TLS_REQUIRED_NOTICE).await;
                let _ = tcp.flush().await;
                return Err(NetError::PlaintextOnTlsPort);
            }
        }
        let stream = self
            .acceptor
            .accept(tcp)
            .await
            .map_err(|e| handshake_failed(e, Side::Server))?;
        Ok(Stream::Tls(Box::new(stream.into())))
    }
}
