//! Development certificates (`tls_auto_certs`): a fresh self-signed certificate per node and
//! start, for the hosts the node is reached at. No peer can verify it against a CA, so with
//! them TLS only encrypts; the shared-secret handshake is what authenticates (see
//! docs/operations.md, "TLS").

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use super::{provider, TlsError};

/// A self-signed certificate naming `hosts` (DNS names or IP addresses; `localhost` and
/// `127.0.0.1` are always added), valid from now for a year.
///
/// # Errors
/// [`TlsError::Generate`] when a host is not a valid DNS name or the key cannot be made.
pub(crate) fn self_signed(hosts: &[String]) -> Result<Arc<CertifiedKey>, TlsError> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    for host in hosts {
        if !names.contains(host) {
            names.push(host.clone());
        }
    }
    let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let key = rcgen::KeyPair::generate().map_err(generate)?;
    let mut params = rcgen::CertificateParams::new(names).map_err(generate)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hiqlite development certificate");
    let cert = params.self_signed(&key).map_err(generate)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
    CertifiedKey::from_der(chain, der, &provider())
        .map(Arc::new)
        .map_err(|e| TlsError::Generate(e.to_string()))
}

/// The host part of a `host:port` address (`[::1]:8100` gives `::1`).
pub(crate) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}
