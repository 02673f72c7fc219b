//! Reading PEM files: a certificate chain, a private key, the CA to verify peers with. Each
//! failure names the file and what was expected in it.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use super::{provider, TlsError};

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in `path`, in file order (the node's own first, then intermediates).
///
/// # Errors
/// [`TlsError::Read`], [`TlsError::Pem`], or [`TlsError::Empty`] when it holds none.
pub(crate) fn certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
            expected: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// The first private key in `path` (PKCS#8, PKCS#1 RSA or SEC1 EC).
///
/// # Errors
/// [`TlsError::Read`], [`TlsError::Pem`], or [`TlsError::Empty`] when it holds no key.
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = "the private key file";
    let bytes = read(what, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::Empty {
            what,
            path: path.to_path_buf(),
            expected: "PRIVATE KEY",
        },
        e => TlsError::Pem {
            what,
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
    })
}

/// The certificate chain in `cert` with the key in `key`, checked to belong together.
///
/// # Errors
/// What [`certificates`] and [`private_key`] raise, and [`TlsError::KeyMismatch`].
pub(crate) fn certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = certificates("the certificate file", cert)?;
    let der = private_key(key)?;
    CertifiedKey::from_der(chain, der, &provider())
        .map(Arc::new)
        .map_err(|e| TlsError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            detail: e.to_string(),
        })
}

/// The trust anchors in the CA file `path`: every certificate in it.
///
/// # Errors
/// What [`certificates`] raises, and [`TlsError::BadCa`] for a certificate that cannot anchor.
pub(crate) fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates("the CA file", path)? {
        store.add(cert).map_err(|e| TlsError::BadCa {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    }
    Ok(store)
}
