//! The node's TLS parts, made from its [`TlsConfig`](crate::config::TlsConfig): what each
//! listener serves and how the node dials its peers' Raft and API ports.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::NodeConfig;
use crate::engine::error::Error;
use crate::net::tls::{NodeCert, TlsClient, TlsServer, Transport};
use crate::types::members::Member;

/// TLS for one node: `None` / [`Transport::Plain`] where a port has none.
pub(crate) struct NodeTls {
    pub raft_server: Option<TlsServer>,
    pub api_server: Option<TlsServer>,
    /// How this node dials peers' Raft ports (with mutual TLS presenting its Raft certificate).
    pub raft_client: Transport,
    /// How this node dials peers' API ports.
    pub api_client: Transport,
    /// Certificates read from files, watched for changes.
    files: Vec<(&'static str, Arc<NodeCert>)>,
}

impl NodeTls {
    /// Loads the certificate files (or generates development certificates for `me`'s hosts).
    ///
    /// # Errors
    /// [`Error::Config`] naming the file that cannot be read or used.
    pub fn from_config(config: &NodeConfig, me: &Member) -> Result<NodeTls, Error> {
        let tls = &config.tls;
        let err = |e: crate::net::TlsError| Error::Config(format!("TLS: {e}"));
        if tls.auto_certs {
            let hosts: Vec<String> = [&me.raft_addr, &me.api_addr]
                .iter()
                .map(|a| crate::net::tls::host_of(a).to_string())
                .collect();
            let cert = NodeCert::generated(&hosts).map_err(err)?;
            tracing::warn!(
                "!!! tls_auto_certs: this node serves a freshly generated SELF-SIGNED certificate \
                 for {hosts:?}. FOR DEVELOPMENT ONLY: peers and clients accept ANY certificate, \
                 so TLS encrypts but does not prove who the server is; only the shared secrets \
                 authenticate. Use certificate files and tls_ca in production (docs/operations.md) !!!"
            );
            let server = TlsServer::new(cert, None).map_err(err)?;
            let client = Transport::Tls(TlsClient::accept_any());
            return Ok(NodeTls {
                raft_server: Some(server.clone()),
                api_server: Some(server),
                raft_client: client.clone(),
                api_client: client,
                files: Vec::new(),
            });
        }
        let roots = match &tls.ca {
            Some(ca) => Some(crate::net::tls::roots(ca).map_err(err)?),
            None => None,
        };
        let mut files = Vec::new();
        let mut node = NodeTls {
            raft_server: None,
            api_server: None,
            raft_client: Transport::Plain,
            api_client: Transport::Plain,
            files: Vec::new(),
        };
        if let (Some(cert), Some(key), Some(roots)) = (&tls.raft_cert, &tls.raft_key, &roots) {
            let cert = NodeCert::from_files(cert, key).map_err(err)?;
            let client_ca = tls.client_auth.then(|| roots.clone());
            node.raft_server = Some(TlsServer::new(cert.clone(), client_ca).map_err(err)?);
            let present = tls
                .client_auth
                .then(|| cert.clone() as Arc<dyn rustls::client::ResolvesClientCert>);
            node.raft_client =
                Transport::Tls(TlsClient::from_roots(roots.clone(), present).map_err(err)?);
            files.push(("Raft", cert));
        }
        if let (Some(cert), Some(key), Some(roots)) = (&tls.api_cert, &tls.api_key, &roots) {
            let cert = NodeCert::from_files(cert, key).map_err(err)?;
            node.api_server = Some(TlsServer::new(cert.clone(), None).map_err(err)?);
            node.api_client =
                Transport::Tls(TlsClient::from_roots(roots.clone(), None).map_err(err)?);
            files.push(("API", cert));
        }
        node.files = files;
        Ok(node)
    }

    /// One task per certificate file pair, reloading it when it changes (or on SIGHUP).
    pub fn watchers(&self, shutdown: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        self.files
            .iter()
            .map(|(what, cert)| tokio::spawn(cert.clone().watch(what, shutdown.clone())))
            .collect()
    }
}
