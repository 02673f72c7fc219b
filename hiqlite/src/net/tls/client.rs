//! The dialing side: [`Transport`] opens a connection, plain or TLS; [`TlsClient`] says how a TLS
//! client checks the server (and, with mutual TLS, which certificate it presents).

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;

use super::errors::{handshake_failed, Side};
use super::{auto, pem, provider, Stream, TlsError, VERSIONS};
use crate::net::{NetError, HANDSHAKE_TIMEOUT};

/// How a client checks the servers it connects to over TLS. Cheap to clone.
///
/// ```no_run
/// # fn f() -> Result<(), hiqlite::net::TlsError> {
/// use hiqlite::net::{TlsClient, Transport};
/// let tls = TlsClient::from_ca_file("/etc/hiqlite/ca.pem".as_ref())?;
/// let transport = Transport::Tls(tls);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    /// `true` when any certificate is accepted (generated development certificates).
    accepts_any: bool,
}

impl TlsClient {
    /// Verifies servers against the CA certificate(s) in the PEM file `ca`: the server's
    /// certificate must chain to one of them, be valid now, and name the host of the address
    /// dialed (a DNS name or IP address SAN).
    ///
    /// # Errors
    /// [`TlsError`] naming the file when it cannot be read or holds no usable certificate.
    pub fn from_ca_file(ca: &Path) -> Result<TlsClient, TlsError> {
        TlsClient::from_roots(pem::roots(ca)?, None)
    }

    /// [`from_ca_file`](Self::from_ca_file) with the CA certificates given in DER form.
    ///
    /// # Errors
    /// [`TlsError::Config`] when a certificate cannot serve as a trust anchor.
    pub fn from_ca_der(ca: &[CertificateDer<'static>]) -> Result<TlsClient, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in ca {
            roots
                .add(cert.clone())
                .map_err(|e| TlsError::Config(e.to_string()))?;
        }
        TlsClient::from_roots(roots, None)
    }

    /// Accepts any server certificate, for clusters running on generated development
    /// certificates (`tls_auto_certs`): the connection is encrypted, but nothing proves who the
    /// server is except the shared-secret handshake that follows.
    pub fn accept_any() -> TlsClient {
        TlsClient::accepting_any(None)
    }

    pub(crate) fn from_roots(
        roots: RootCertStore,
        client_cert: Option<Arc<dyn ResolvesClientCert>>,
    ) -> Result<TlsClient, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots);
        let config = with_client_cert(builder, client_cert);
        Ok(TlsClient {
            config: Arc::new(config),
            accepts_any: false,
        })
    }

    pub(crate) fn accepting_any(client_cert: Option<Arc<dyn ResolvesClientCert>>) -> TlsClient {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .expect("the aws-lc-rs provider supports TLS 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate));
        let config = with_client_cert(builder, client_cert);
        TlsClient {
            config: Arc::new(config),
            accepts_any: true,
        }
    }

    /// Runs the TLS handshake on `tcp` as a client of `addr` (`host:port`), within
    /// [`HANDSHAKE_TIMEOUT`].
    ///
    /// # Errors
    /// [`NetError::NotTls`] when the server does not speak TLS, [`NetError::TlsCertificate`]
    /// when its certificate is refused (wrong CA, expired, another name), [`NetError::Tls`]
    /// for the rest, [`NetError::Timeout`].
    pub(crate) async fn handshake(&self, addr: &str, tcp: TcpStream) -> Result<Stream, NetError> {
        let host = auto::host_of(addr);
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            NetError::Tls(format!(
                "{host:?} (from {addr}) is neither a DNS name nor an IP address"
            ))
        })?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| NetError::Timeout)?
            .map_err(|e| handshake_failed(e, Side::Client))?;
        Ok(Stream::Tls(Box::new(stream.into())))
    }
}

/// Finishes a client configuration: the client certificate for mutual TLS, if any, and no
/// session resumption, so every connection checks the server's current certificate (a reloaded
/// or expired one is seen at the next reconnect; connections are long-lived, so full handshakes
/// cost little).
fn with_client_cert(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    client_cert: Option<Arc<dyn ResolvesClientCert>>,
) -> ClientConfig {
    let mut config = match client_cert {
        Some(cert) => builder.with_client_cert_resolver(cert),
        None => builder.with_no_client_auth(),
    };
    config.resumption = rustls::client::Resumption::disabled();
    config
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("accepts_any", &self.accepts_any)
            .finish_non_exhaustive()
    }
}

/// How connections are opened: plain TCP, or TLS checked by a [`TlsClient`].
#[derive(Clone, Debug, Default)]
pub enum Transport {
    #[default]
    Plain,
    Tls(TlsClient),
}

impl Transport {
    /// Connects to `addr` (`host:port`), sets TCP_NODELAY, and with TLS runs its handshake;
    /// each step within [`HANDSHAKE_TIMEOUT`].
    ///
    /// # Errors
    /// [`NetError::Connect`] when the TCP connection fails; with TLS what
    /// [`TlsClient`]'s handshake raises.
    pub(crate) async fn open(&self, addr: &str) -> Result<Stream, NetError> {
        let tcp = match tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(NetError::Connect(addr.to_string(), e)),
            Err(_) => {
                let e = io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no answer within the handshake timeout",
                );
                return Err(NetError::Connect(addr.to_string(), e));
            }
        };
        // Requests are small and latency-bound (Raft heartbeats); don't let Nagle hold them back.
        tcp.set_nodelay(true)
            .map_err(|e| NetError::Connect(addr.to_string(), e))?;
        match self {
            Transport::Plain => Ok(Stream::Plain(tcp)),
            Transport::Tls(tls) => tls.handshake(addr, tcp).await,
        }
    }

    /// `true` for TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }
}

/// Accepts every certificate but still checks the handshake signature (so the server holds the
/// key of the certificate it sent). For generated development certificates only.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is offered.
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
