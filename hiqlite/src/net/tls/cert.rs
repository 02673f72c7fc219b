//! [`NodeCert`]: the certificate a node serves on a port, swapped in place when its files change.
//!
//! rustls asks the resolver for a certificate on every new handshake, so swapping the
//! `Arc<CertifiedKey>` behind it is all a reload takes: connections made afterwards get the new
//! certificate, established ones keep the session they have. A new file that does not load (half
//! written, a key that does not match) is logged and the previous certificate stays in use.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use tokio::sync::watch;

use super::{auto, pem, TlsError};

/// How often a [`NodeCert`] read from files checks whether they changed.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// The certificate and key a node serves on one port (and presents as a client with mutual
/// TLS). Made from PEM files ([`from_files`](Self::from_files)), re-read by
/// [`watch`](Self::watch) when they change; or generated for development
/// ([`generated`](Self::generated)).
pub struct NodeCert {
    files: Option<(PathBuf, PathBuf)>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times when last looked at.
    seen: Mutex<Stamp>,
}

type Stamp = (Option<SystemTime>, Option<SystemTime>);

/// What [`NodeCert::reload_if_changed`] did.
#[derive(Debug)]
pub enum Reload {
    /// The files have not changed since the last look (or the certificate is generated).
    Unchanged,
    /// The new files were loaded: new connections get the new certificate.
    Reloaded,
    /// The files changed but do not load; the previous certificate stays in use.
    Failed(TlsError),
}

fn stamp(files: &(PathBuf, PathBuf)) -> Stamp {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(&files.0), modified(&files.1))
}

impl NodeCert {
    /// Loads the certificate chain in `cert` and the private key in `key` (PEM).
    ///
    /// # Errors
    /// [`TlsError`] naming the file that cannot be read or parsed, or a key that does not
    /// belong to the certificate.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Arc<NodeCert>, TlsError> {
        let files = (cert.to_path_buf(), key.to_path_buf());
        let seen = stamp(&files);
        let current = pem::certified_key(cert, key)?;
        Ok(Arc::new(NodeCert {
            files: Some(files),
            current: RwLock::new(current),
            seen: Mutex::new(seen),
        }))
    }

    /// A self-signed development certificate for `hosts` (see `tls_auto_certs`), logged with a
    /// warning: nobody can verify it.
    ///
    /// # Errors
    /// [`TlsError::Generate`] when a host is not a valid name.
    pub fn generated(hosts: &[String]) -> Result<Arc<NodeCert>, TlsError> {
        let current = auto::self_signed(hosts)?;
        Ok(Arc::new(NodeCert {
            files: None,
            current: RwLock::new(current),
            seen: Mutex::new((None, None)),
        }))
    }

    /// The certificate served right now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the files if either one's modification time changed since the last look.
    pub fn reload_if_changed(&self) -> Reload {
        let Some(files) = &self.files else {
            return Reload::Unchanged;
        };
        let now = stamp(files);
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == now {
                return Reload::Unchanged;
            }
            // Remembered even when loading fails: the next change (the other half of a
            // certificate/key pair being written) tries again.
            *seen = now;
        }
        match pem::certified_key(&files.0, &files.1) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
                Reload::Reloaded
            }
            Err(e) => Reload::Failed(e),
        }
    }

    /// Reloads the files whenever they change (checked every [`RELOAD_POLL`]) or the process
    /// gets SIGHUP, until `shutdown` turns true. Logs each reload and each failed one. Returns at
    /// once for a generated certificate.
    pub async fn watch(self: Arc<Self>, what: &'static str, mut shutdown: watch::Receiver<bool>) {
        let Some((cert, _)) = &self.files else {
            return;
        };
        let cert = cert.clone();
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            let hup = async {
                match hangup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.wait_for(|&stop| stop) => return,
                _ = tokio::time::sleep(RELOAD_POLL) => {}
                _ = hup => {
                    // A signal forces a re-read even if the times did not change.
                    *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = (None, None);
                }
            }
            match self.reload_if_changed() {
                Reload::Unchanged => {}
                Reload::Reloaded => tracing::info!(
                    "reloaded the {what} TLS certificate from {}: new connections use it",
                    cert.display()
                ),
                Reload::Failed(e) => tracing::warn!(
                    "the {what} TLS certificate changed but does not load, still serving the \
                     previous one: {e}"
                ),
            }
        }
    }
}

impl fmt::Debug for NodeCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCert")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for NodeCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// With mutual TLS a node presents the same certificate when it dials a peer.
impl ResolvesClientCert for NodeCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
