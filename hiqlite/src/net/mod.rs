//! Networking: authenticated, multiplexed RPC over TCP, used both for Raft traffic between nodes
//! and for the API (clients, forwarded writes). It knows nothing about Raft or SQL: callers bring
//! their own request and response types (anything serde can handle).
//!
//! - `handshake`: every connection first proves, both ways, knowledge of the channel's shared
//!   secret (HMAC challenge-response, constant-time check) before a single frame is read; on
//!   Raft connections both sides also prove their node ids.
//! - `frame`: length-prefixed frames with a maximum size; each carries a request id and a
//!   postcard-encoded message.
//! - `rpc`: [`RpcClient`], many concurrent calls over one connection, matched up by request id.
//! - `outbound`: how frames reach the socket: written from the sender's own task when the socket
//!   takes them at once, otherwise in order by the connection's flusher.
//! - `server`: [`serve`] runs a [`Service`] for every authenticated connection, its requests
//!   polled concurrently by the connection's task, until shut down.
//! - `tls`: TLS under the handshake (rustls): [`TlsServer`], [`TlsClient`], [`Transport`],
//!   certificates from PEM files reloaded when they change ([`NodeCert`]);
//! - `error`: [`NetError`].

mod admission;
mod error;
mod frame;
mod handshake;
mod outbound;
mod rpc;
mod server;
#[cfg(test)]
mod testing;

// For the fuzz harnesses (`crate::fuzzing`): frames and handshakes read as a node reads them.
#[cfg(any(test, fuzzing))]
pub(crate) use frame::{decode as decode_frame, FrameCodec, RemoteFailure};
#[cfg(any(test, fuzzing))]
pub(crate) use handshake::{accept_as, connect_to};
pub mod tls;

pub use error::NetError;
pub use handshake::{
    Accepted, Channel, NodeIds, PeerIdentity, EXTENSION_MARKER, HANDSHAKE_TIMEOUT, PROTOCOL_VERSION,
};
pub use rpc::RpcClient;
#[cfg(test)]
pub(crate) use server::serve_api_speaking;
pub use server::{
    serve, serve_node, serve_node_over, serve_over, serve_with_handshake_timeout, Service,
};
pub use tls::{NodeCert, TlsClient, TlsError, TlsServer, Transport};
