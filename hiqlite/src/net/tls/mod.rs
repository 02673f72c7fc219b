//! TLS under the handshake: on a port with a certificate, every connection is a TLS 1.3 session
//! first, and the challenge-response over the shared secret (`handshake`) then runs inside it,
//! unchanged. TLS hides the traffic and proves the server's name; the secret still proves that
//! both sides belong to the cluster.
//!
//! - `pem`: certificates, keys and CAs read from PEM files, each failure a [`TlsError`];
//! - `cert`: [`NodeCert`], the certificate a node serves (and, with mutual TLS, presents to
//!   peers), re-read when its files change or on SIGHUP;
//! - `auto`: self-signed development certificates (`tls_auto_certs`);
//! - `client`: [`TlsClient`], how a client verifies servers (a CA, or any certificate for
//!   generated ones), and [`Transport`], plain TCP or TLS;
//! - `server`: [`TlsServer`], the accepting side, which also recognises a plaintext client and
//!   tells it so instead of letting it wait for a timeout;
//! - `stream`: [`Stream`], the connection type the rest of `net` reads and writes;
//! - `errors`: what a failed TLS handshake means, in words an operator can act on.
//!
//! One crypto provider everywhere: rustls' aws-lc-rs provider (the one reqwest already uses for
//! S3), passed explicitly, so no process-wide default has to be installed.

mod auto;
mod cert;
mod client;
pub(crate) mod errors;
mod pem;
mod server;
mod stream;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

pub use cert::{NodeCert, Reload, RELOAD_POLL};
pub use client::{TlsClient, Transport};
pub use server::{TlsServer, PLAINTEXT_SNIFF};
pub use stream::Stream;

pub(crate) use auto::host_of;
pub(crate) use pem::roots;

/// Why TLS could not be set up from the configured files. Raised at start-up (the node does not
/// start) and on a reload (the node keeps serving its previous certificate and logs this).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {path} is not valid PEM: {detail}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("{what} {path} holds no {expected} (a PEM block `-----BEGIN {expected}-----`)")]
    Empty {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error(
        "the private key {key} does not belong to the certificate {cert}, or cannot be used: \
         {detail}"
    )]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
    #[error(
        "the CA file {path} holds a certificate rustls cannot use as a trust anchor: {detail}"
    )]
    BadCa { path: PathBuf, detail: String },
    #[error("cannot generate a development certificate: {0}")]
    Generate(String),
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// The crypto provider of every TLS configuration made here.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// TLS 1.3 only: both ends are hiqlite, and 1.3 is the version without legacy choices.
static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
