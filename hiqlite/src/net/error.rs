//! The one error type of the networking layer. Each variant says what happened and, where it
//! helps, what to check; none of them ever carries secret material.

use std::io;

/// What can go wrong when connecting to a peer, authenticating, or calling it.
///
/// After [`NetError::ConnectionClosed`], [`NetError::FrameTooLarge`] on a received frame, or
/// [`NetError::Io`], the connection is gone: check [`RpcClient::is_closed`] and reconnect.
/// [`NetError::Timeout`] and [`NetError::Remote`] fail a single call and leave the connection up.
///
/// [`RpcClient::is_closed`]: crate::net::RpcClient::is_closed
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, #[source] io::Error),
    #[error(
        "authentication failed: the peer refused our shared secret or could not prove it knows \
         it (check that secret_raft / secret_api match on both sides and that the address is \
         the right port)"
    )]
    AuthFailed,
    #[error("protocol version mismatch: the peer speaks version {theirs}, we speak {ours}")]
    VersionMismatch { ours: u8, theirs: u8 },
    #[error(
        "no format in common: the peer speaks {theirs}, this node speaks {ours} (see \
         docs/upgrades.md for which releases can run in one cluster)"
    )]
    FormatMismatch {
        ours: crate::types::format::FormatRange,
        theirs: crate::types::format::FormatRange,
    },
    #[error(
        "the process at this address is node {actual}, not node {expected}: the address given \
         for node {expected} is wrong (each member's address must reach that member's process \
         and no other)"
    )]
    WrongNode { expected: u64, actual: u64 },
    #[error("the peer runs with this node's own id {0}: two processes must never share a node id")]
    SameNodeId(u64),
    #[error(
        "the server speaks TLS and this side connected without it: give this side the CA that \
         signed the server's certificate (tls_ca, HQL_TLS_CA, --tls-ca), or for a cluster with \
         generated development certificates turn on tls_auto_certs (HQL_TLS_AUTO_CERTS)"
    )]
    TlsRequired,
    #[error(
        "plaintext connection on a TLS port: the client has no TLS configured (it needs tls_ca, \
         HQL_TLS_CA or --tls-ca; or tls_auto_certs with generated certificates)"
    )]
    PlaintextOnTlsPort,
    #[error(
        "the server did not answer in TLS: it has no TLS certificate for this port (tls_raft_cert \
         / tls_api_cert, or tls_auto_certs), or this is not a hiqlite port. Enable TLS on the \
         server, or connect without it (no tls_ca on this side)"
    )]
    NotTls,
    #[error(
        "TLS connection on a plaintext port: this node has no TLS certificate for this port but \
         the client speaks TLS (give the node tls_raft_cert / tls_api_cert, or tls_auto_certs; \
         or remove tls_ca on the client)"
    )]
    TlsOnPlaintextPort,
    #[error("TLS: the peer's certificate is refused: {0}")]
    TlsCertificate(String),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("the connection is closed")]
    ConnectionClosed,
    #[error("timed out")]
    Timeout,
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes (max_frame_bytes)")]
    FrameTooLarge { size: usize, max: usize },
    #[error("cannot encode the message: {0}")]
    Encode(String),
    #[error("malformed frame: {0}")]
    Decode(String),
    #[error("the peer could not answer this request: {0}")]
    Remote(String),
    #[error("network I/O error: {0}")]
    Io(#[from] io::Error),
}
