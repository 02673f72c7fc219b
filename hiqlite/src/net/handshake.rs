//! The handshake that authenticates every connection before a single frame is read.
//!
//! Both sides prove they know the channel's shared secret without sending it:
//!
//! ```text
//! server -> client   server_nonce (32 random bytes) | protocol version (1 byte)
//! client -> server   client_nonce (32 random bytes) | HMAC(secret, label("client") | nonces)
//! server -> client   STATUS_OK | HMAC(secret, label("server") | nonces)
//!                 or STATUS_REFUSED, then the server hangs up
//! ```
//!
//! where `nonces` is `server_nonce | client_nonce`. The label names the protocol version, the
//! [`Channel`] and who is proving, so an API secret can never authenticate on the Raft port, and
//! one side's proof can never be replayed as the other's.
//! Fresh nonces on both sides mean a recorded handshake is worthless. The server reads exactly the
//! client's answer and nothing more before it has checked it, and the client sends no payload
//! before it has checked the server's proof, so neither talks to an impostor.
//!
//! ## Extensions: formats and node identity
//!
//! Nodes of format 2 and later mark their nonce: it starts with [`EXTENSION_MARKER`], then the
//! oldest and newest [format](crate::types::format) the side speaks, then a flags byte; the
//! other 23 bytes stay random. Nodes of format 1 (which predate this) ignore the nonce's content,
//! so the marks are invisible to them and the plain exchange above runs; a side whose peer's
//! nonce carries no mark takes the peer to speak exactly format 1. Both sides then use the newest
//! format both speak; when the ranges do not overlap, the client hangs up and the server refuses,
//! each with [`NetError::FormatMismatch`] naming both ranges. The nonces are part of every proof,
//! so the ranges are authenticated like everything else.
//!
//! **Node identity (Raft connections).** A node's Raft address is only configuration: a wrong
//! address (another member's port, or the same process reached as `localhost`, `0.0.0.0` or
//! another interface) would let one process answer for two members and count twice toward a
//! quorum. So on Raft connections both sides also prove *which node* they are. A server that is
//! a node sets [`FLAG_NODE`]; a client that knows which node it means to reach answers such a
//! server with the flag set too, and then:
//!
//! ```text
//! server -> client   MARK | formats | FLAG_NODE | 23 random bytes | version
//! client -> server   MARK | formats | FLAG_NODE | 23 random bytes
//!                    | HMAC(secret, label("client/id") | nonces | ids)
//!                    | client_id (u64 BE) | expected_server_id (u64 BE)
//! server -> client   status | server_id (u64 BE) | HMAC(secret, label("server/id") | nonces | ids
//!                    | status | server_id)
//! ```
//!
//! with `ids = client_id | expected_server_id` and status `STATUS_OK` (the server is the expected
//! node), `STATUS_WRONG_NODE` (it is another node: its id follows, proven, and it hangs up) or
//! `STATUS_SAME_ID` (the client claims the server's own id: two processes share a node id). A
//! client that reaches a format-1 server learns that the server's identity is
//! [unverified](PeerIdentity::Unverified).

use std::fmt;
use std::io;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::NetError;
use crate::config::Secret;
use crate::types::format::{Format, FormatRange, UNMARKED_PEER};

/// Version of the wire protocol (handshake and framing). Peers with different versions refuse to
/// talk to each other with [`NetError::VersionMismatch`].
pub const PROTOCOL_VERSION: u8 = 1;

/// How long a peer may take to complete the handshake before the connection is dropped, so a
/// silent or slow peer cannot hold a connection open.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The first bytes of the nonce of a side that speaks the extensions (see the module docs). A
/// random nonce never starts with it (such a nonce is altered before it is sent).
pub const EXTENSION_MARKER: [u8; 6] = *b"hqlext";

/// In a marked nonce's flags byte: the side proves its node id (Raft connections).
pub const FLAG_NODE: u8 = 1;

/// What a TLS port sends a client that connected without TLS, in place of the server's hello: 32
/// bytes of text (readable to a human with netcat) and the version byte 0x16, which no protocol
/// version uses. A client seeing it fails with [`NetError::TlsRequired`]; an older client reports
/// a protocol version mismatch (version 22).
pub(crate) const TLS_REQUIRED_NOTICE: [u8; NONCE_LEN + 1] =
    *b"hiqlite: this port requires TLS\n\x16";

/// Where the oldest and newest format and the flags sit in a marked nonce.
const OLDEST_AT: usize = EXTENSION_MARKER.len();
const NEWEST_AT: usize = OLDEST_AT + 1;
const FLAGS_AT: usize = NEWEST_AT + 1;

const NONCE_LEN: usize = 32;
const PROOF_LEN: usize = 32;
const ID_LEN: usize = 8;
const STATUS_OK: u8 = 0;
const STATUS_REFUSED: u8 = 1;
const STATUS_WRONG_NODE: u8 = 2;
const STATUS_SAME_ID: u8 = 3;

/// Which port a connection belongs to. Each channel has its own secret, and the channel is part
/// of what is signed, so a secret valid on one channel is refused on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Node-to-node Raft traffic, authenticated with `secret_raft`.
    Raft,
    /// Clients and forwarded writes, authenticated with `secret_api`.
    Api,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Raft => "raft",
            Channel::Api => "api",
        })
    }
}

/// The node ids a connecting node proves and expects (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeIds {
    /// The connecting node's own id.
    pub local: u64,
    /// The id of the node the connecting node means to reach at that address.
    pub expected: u64,
}

/// What a completed handshake established about the other side's node id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerIdentity {
    /// No node id was asked for (API connections, clients).
    NotAsked,
    /// The peer proved it is this node.
    Verified(u64),
    /// The peer runs an earlier version that cannot prove its node id.
    Unverified,
}

/// What a server learnt from a completed handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The client's proven node id; `None` for a client that proved none (clients, format-1
    /// nodes, or a server that is no node).
    pub peer_id: Option<u64>,
    /// The format the connection uses: the newest both sides speak.
    pub format: Format,
    /// Which of the server's connections this is: unique among the connections a process
    /// accepted, set by the server loop (0 from the handshake alone). Services keep state per
    /// connection under it (see [`Service::connection_closed`](crate::net::Service::connection_closed)).
    pub connection: u64,
}

/// What a client learnt from a completed handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connected {
    pub identity: PeerIdentity,
    /// The format the connection uses: the newest both sides speak.
    pub format: Format,
}

/// What one side puts in its nonce: its formats and flags, or nothing at all (as format-1 nodes
/// do; tests use that to play one).
#[derive(Debug, Clone, Copy)]
struct Mark {
    formats: FormatRange,
    flags: u8,
}

#[derive(Clone, Copy)]
enum Prover {
    Client,
    Server,
}

/// The MAC one side sends to prove it knows the secret; the domain label keeps proofs for
/// different channels, directions and protocol versions apart.
fn proof(
    secret: &Secret,
    channel: Channel,
    prover: Prover,
    server_nonce: &[u8],
    client_nonce: &[u8],
) -> Hmac<Sha256> {
    let label: &[u8] = match (channel, prover) {
        (Channel::Raft, Prover::Client) => b"hiqlite-net/raft/client",
        (Channel::Raft, Prover::Server) => b"hiqlite-net/raft/server",
        (Channel::Api, Prover::Client) => b"hiqlite-net/api/client",
        (Channel::Api, Prover::Server) => b"hiqlite-net/api/server",
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(label);
    mac.update(&[PROTOCOL_VERSION]);
    mac.update(server_nonce);
    mac.update(client_nonce);
    mac
}

/// The proof of the identity extension: the plain proof with a label of its own, bound to the
/// ids both sides named (and, for the server, to its verdict).
fn identity_proof(
    secret: &Secret,
    channel: Channel,
    prover: Prover,
    nonces: (&[u8], &[u8]),
    ids: NodeIds,
    verdict: Option<(u8, u64)>,
) -> Hmac<Sha256> {
    let mut mac = proof(secret, channel, prover, nonces.0, nonces.1);
    mac.update(b"/node-id");
    mac.update(&ids.local.to_be_bytes());
    mac.update(&ids.expected.to_be_bytes());
    if let Some((status, id)) = verdict {
        mac.update(&[status]);
        mac.update(&id.to_be_bytes());
    }
    mac
}

fn nonce(mark: Option<Mark>) -> Result<[u8; NONCE_LEN], NetError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut nonce)
        .map_err(|e| io::Error::other(format!("no system randomness for a nonce: {e}")))?;
    match mark {
        Some(mark) => {
            nonce[..OLDEST_AT].copy_from_slice(&EXTENSION_MARKER);
            nonce[OLDEST_AT] = mark.formats.oldest;
            nonce[NEWEST_AT] = mark.formats.newest;
            nonce[FLAGS_AT] = mark.flags;
        }
        // Never claim the extensions by chance.
        None if read_mark(&nonce).is_some() => nonce[0] ^= 1,
        None => {}
    }
    Ok(nonce)
}

/// The mark in a peer's nonce, if it carries one.
fn read_mark(nonce: &[u8]) -> Option<Mark> {
    nonce.starts_with(&EXTENSION_MARKER).then(|| Mark {
        formats: FormatRange {
            oldest: nonce[OLDEST_AT],
            newest: nonce[NEWEST_AT],
        },
        flags: nonce[FLAGS_AT],
    })
}

/// The formats a side speaks, by its mark: a side without one speaks format 1 only.
fn formats_of(mark: Option<Mark>) -> FormatRange {
    mark.map_or(FormatRange::UNMARKED, |m| m.formats)
}

/// The format both sides use, or the error that names both ranges.
fn agree(ours: Option<Mark>, peer_nonce: &[u8]) -> Result<Format, NetError> {
    let (ours, theirs) = (formats_of(ours), formats_of(read_mark(peer_nonce)));
    ours.agree(theirs)
        .ok_or(NetError::FormatMismatch { ours, theirs })
}

/// `read_exact`, but a peer hanging up is reported as [`NetError::ConnectionClosed`].
async fn read_exact<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) -> Result<(), NetError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(NetError::ConnectionClosed),
        Err(e) => Err(e.into()),
    }
}

fn read_id(bytes: &[u8]) -> u64 {
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&bytes[..ID_LEN]);
    u64::from_be_bytes(id)
}

/// Server side: challenges the peer and returns `Ok` only if it proved it knows `secret` for
/// `channel`. On failure the caller must close the connection without reading anything else.
#[cfg(test)]
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
    timeout: Duration,
) -> Result<(), NetError> {
    accept_as(stream, secret, channel, None, FormatRange::OURS, timeout)
        .await
        .map(|_| ())
}

/// [`accept`] for a server that is node `node_id` (Raft connections): a client that names the
/// node it expects must name this one. Returns the client's proven node id (`None` for a client
/// that proved none) and the format the connection uses, the newest in both the client's range
/// and `formats` (this binary's, [`FormatRange::OURS`], except in tests that play an older
/// node).
pub(crate) async fn accept_as<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
    node_id: Option<u64>,
    formats: FormatRange,
    timeout: Duration,
) -> Result<Accepted, NetError> {
    let mark = Some(Mark {
        formats,
        flags: if node_id.is_some() { FLAG_NODE } else { 0 },
    });
    tokio::time::timeout(
        timeout,
        accept_inner(stream, secret, channel, node_id, mark),
    )
    .await
    .map_err(|_| NetError::Timeout)?
}

async fn accept_inner<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
    node_id: Option<u64>,
    mark: Option<Mark>,
) -> Result<Accepted, NetError> {
    let server_nonce = nonce(mark)?;
    let mut hello = [0u8; NONCE_LEN + 1];
    hello[..NONCE_LEN].copy_from_slice(&server_nonce);
    hello[NONCE_LEN] = PROTOCOL_VERSION;
    stream.write_all(&hello).await?;
    // Inside TLS the hello sits in the session's buffer until flushed.
    stream.flush().await?;

    let mut answer = [0u8; NONCE_LEN + PROOF_LEN];
    read_exact(stream, &mut answer).await?;
    let (client_nonce, client_proof) = answer.split_at(NONCE_LEN);
    let client_proves_id = read_mark(client_nonce).is_some_and(|m| m.flags & FLAG_NODE != 0);

    if let (Some(own_id), true, Some(_)) = (node_id, client_proves_id, mark) {
        let mut claimed = [0u8; 2 * ID_LEN];
        read_exact(stream, &mut claimed).await?;
        let ids = NodeIds {
            local: read_id(&claimed),
            expected: read_id(&claimed[ID_LEN..]),
        };
        let nonces = (&server_nonce[..], client_nonce);
        let expected = identity_proof(secret, channel, Prover::Client, nonces, ids, None);
        if expected.verify_slice(client_proof).is_err() {
            return Err(refuse(stream).await);
        }
        let format = match agree(mark, client_nonce) {
            Ok(format) => format,
            Err(e) => return Err(refuse_with(stream, e).await),
        };
        let status = if ids.expected != own_id {
            STATUS_WRONG_NODE
        } else if ids.local == own_id {
            STATUS_SAME_ID
        } else {
            STATUS_OK
        };
        let verdict = Some((status, own_id));
        let server_proof = identity_proof(secret, channel, Prover::Server, nonces, ids, verdict);
        let mut reply = [0u8; 1 + ID_LEN + PROOF_LEN];
        reply[0] = status;
        reply[1..1 + ID_LEN].copy_from_slice(&own_id.to_be_bytes());
        reply[1 + ID_LEN..].copy_from_slice(&server_proof.finalize().into_bytes());
        stream.write_all(&reply).await?;
        stream.flush().await?;
        return match status {
            STATUS_OK => Ok(Accepted {
                peer_id: Some(ids.local),
                format,
                connection: 0,
            }),
            STATUS_SAME_ID => Err(NetError::SameNodeId(own_id)),
            _ => Err(NetError::WrongNode {
                expected: ids.expected,
                actual: own_id,
            }),
        };
    }

    // verify_slice compares in constant time, so timing reveals nothing about the expected MAC.
    let expected = proof(secret, channel, Prover::Client, &server_nonce, client_nonce);
    if expected.verify_slice(client_proof).is_err() {
        // A TLS ClientHello record (0x16, version 3.x) where the answer should be: a TLS client
        // on this plaintext port. Only judged after the proof failed, as a random nonce may
        // start with these bytes too.
        if answer.starts_with(&[0x16, 0x03]) {
            return Err(refuse_with(stream, NetError::TlsOnPlaintextPort).await);
        }
        return Err(refuse(stream).await);
    }
    let format = match agree(mark, client_nonce) {
        Ok(format) => format,
        Err(e) => return Err(refuse_with(stream, e).await),
    };

    let server_proof = proof(secret, channel, Prover::Server, &server_nonce, client_nonce);
    let mut reply = [0u8; 1 + PROOF_LEN];
    reply[0] = STATUS_OK;
    reply[1..].copy_from_slice(&server_proof.finalize().into_bytes());
    stream.write_all(&reply).await?;
    stream.flush().await?;
    Ok(Accepted {
        peer_id: None,
        format,
        connection: 0,
    })
}

/// Says why before hanging up, so the peer reports AuthFailed rather than a reset.
async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S) -> NetError {
    refuse_with(stream, NetError::AuthFailed).await
}

/// Refuses a peer that proved the secret but speaks no format in common: it learns only that it
/// was refused (a format-1 peer has no word for the reason), the server reports `e`.
async fn refuse_with<S: AsyncWrite + Unpin>(stream: &mut S, e: NetError) -> NetError {
    let _ = stream.write_all(&[STATUS_REFUSED]).await;
    let _ = stream.flush().await;
    e
}

/// Client side: answers the server's challenge and checks the server's own proof, so no payload
/// is ever sent to a peer that does not know `secret`.
#[cfg(test)]
pub(crate) async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
    timeout: Duration,
) -> Result<(), NetError> {
    connect_to(stream, secret, channel, None, timeout)
        .await
        .map(|_| ())
}

/// [`connect`] for a node that means to reach node `ids.expected` (Raft connections): fails with
/// [`NetError::WrongNode`] when the server proves it is another node. Returns what the server
/// proved about its identity and the format the connection uses.
pub(crate) async fn connect_to<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
    ids: Option<NodeIds>,
    timeout: Duration,
) -> Result<Connected, NetError> {
    let ours = Some(FormatRange::OURS);
    tokio::time::timeout(timeout, connect_inner(stream, secret, channel, ids, ours))
        .await
        .map_err(|_| NetError::Timeout)?
}

async fn connect_inner<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
    ids: Option<NodeIds>,
    ours: Option<FormatRange>,
) -> Result<Connected, NetError> {
    let mut hello = [0u8; NONCE_LEN + 1];
    read_exact(stream, &mut hello).await?;
    if hello == TLS_REQUIRED_NOTICE {
        return Err(NetError::TlsRequired);
    }
    let (server_nonce, version) = hello.split_at(NONCE_LEN);
    if version[0] != PROTOCOL_VERSION {
        return Err(NetError::VersionMismatch {
            ours: PROTOCOL_VERSION,
            theirs: version[0],
        });
    }

    let server_is_node = read_mark(server_nonce).is_some_and(|m| m.flags & FLAG_NODE != 0);
    let identity = ids.filter(|_| server_is_node && ours.is_some());
    let mark = ours.map(|formats| Mark {
        formats,
        flags: if identity.is_some() { FLAG_NODE } else { 0 },
    });
    // Hang up before proving anything to a server we could not talk to. (A format-1 node, which
    // tests play with `ours` = `None`, checks nothing.)
    let format = match ours {
        Some(_) => agree(mark, server_nonce)?,
        None => UNMARKED_PEER,
    };
    let client_nonce = nonce(mark)?;
    if let Some(ids) = identity {
        let nonces = (server_nonce, &client_nonce[..]);
        let identity = connect_with_identity(stream, secret, channel, nonces, ids).await?;
        return Ok(Connected { identity, format });
    }

    let client_proof = proof(secret, channel, Prover::Client, server_nonce, &client_nonce);
    let mut answer = [0u8; NONCE_LEN + PROOF_LEN];
    answer[..NONCE_LEN].copy_from_slice(&client_nonce);
    answer[NONCE_LEN..].copy_from_slice(&client_proof.finalize().into_bytes());
    stream.write_all(&answer).await?;
    stream.flush().await?;

    let mut status = [0u8; 1];
    read_exact(stream, &mut status).await?;
    match status[0] {
        STATUS_OK => {}
        STATUS_REFUSED => return Err(NetError::AuthFailed),
        other => {
            return Err(NetError::Decode(format!(
                "unexpected handshake status byte {other}"
            )))
        }
    }
    let mut server_proof = [0u8; PROOF_LEN];
    read_exact(stream, &mut server_proof).await?;
    proof(secret, channel, Prover::Server, server_nonce, &client_nonce)
        .verify_slice(&server_proof)
        .map_err(|_| NetError::AuthFailed)?;
    let identity = match ids {
        Some(_) => PeerIdentity::Unverified,
        None => PeerIdentity::NotAsked,
    };
    Ok(Connected { identity, format })
}

/// The client's half of the identity extension (both nonces carry the node flag).
async fn connect_with_identity<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
    nonces: (&[u8], &[u8]),
    ids: NodeIds,
) -> Result<PeerIdentity, NetError> {
    let client_nonce = nonces.1;
    let client_proof = identity_proof(secret, channel, Prover::Client, nonces, ids, None);
    let mut answer = [0u8; NONCE_LEN + PROOF_LEN + 2 * ID_LEN];
    answer[..NONCE_LEN].copy_from_slice(client_nonce);
    answer[NONCE_LEN..NONCE_LEN + PROOF_LEN].copy_from_slice(&client_proof.finalize().into_bytes());
    answer[NONCE_LEN + PROOF_LEN..NONCE_LEN + PROOF_LEN + ID_LEN]
        .copy_from_slice(&ids.local.to_be_bytes());
    answer[NONCE_LEN + PROOF_LEN + ID_LEN..].copy_from_slice(&ids.expected.to_be_bytes());
    stream.write_all(&answer).await?;
    stream.flush().await?;

    let mut status = [0u8; 1];
    read_exact(stream, &mut status).await?;
    match status[0] {
        STATUS_OK | STATUS_WRONG_NODE | STATUS_SAME_ID => {}
        STATUS_REFUSED => return Err(NetError::AuthFailed),
        other => {
            return Err(NetError::Decode(format!(
                "unexpected handshake status byte {other}"
            )))
        }
    }
    let mut rest = [0u8; ID_LEN + PROOF_LEN];
    read_exact(stream, &mut rest).await?;
    let server_id = read_id(&rest);
    let verdict = Some((status[0], server_id));
    identity_proof(secret, channel, Prover::Server, nonces, ids, verdict)
        .verify_slice(&rest[ID_LEN..])
        .map_err(|_| NetError::AuthFailed)?;
    match status[0] {
        STATUS_OK if server_id == ids.expected => Ok(PeerIdentity::Verified(server_id)),
        STATUS_SAME_ID => Err(NetError::SameNodeId(server_id)),
        _ => Err(NetError::WrongNode {
            expected: ids.expected,
            actual: server_id,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::format::NEWEST;
    use tokio::io::duplex;

    fn secret(s: &str) -> Secret {
        Secret::new(s)
    }

    const T: Duration = Duration::from_secs(5);

    /// Runs both sides over an in-memory pipe and returns (server result, client result).
    async fn handshake(
        server: (&Secret, Channel),
        client: (&Secret, Channel),
    ) -> (Result<(), NetError>, Result<(), NetError>) {
        let (mut a, mut b) = duplex(1024);
        tokio::join!(
            accept(&mut a, server.0, server.1, T),
            connect(&mut b, client.0, client.1, T)
        )
    }

    #[tokio::test]
    async fn same_secret_and_channel_authenticates_both_sides() {
        let s = secret("raft-secret-0123456789");
        let (server, client) = handshake((&s, Channel::Raft), (&s, Channel::Raft)).await;
        server.unwrap();
        client.unwrap();
    }

    #[tokio::test]
    async fn wrong_secret_is_refused() {
        let (server, client) = handshake(
            (&secret("right-secret-0123456789"), Channel::Api),
            (&secret("wrong-secret-0123456789"), Channel::Api),
        )
        .await;
        assert!(matches!(server, Err(NetError::AuthFailed)), "{server:?}");
        assert!(matches!(client, Err(NetError::AuthFailed)), "{client:?}");
    }

    #[tokio::test]
    async fn same_secret_on_the_other_channel_is_refused() {
        let s = secret("shared-secret-0123456789");
        let (server, client) = handshake((&s, Channel::Api), (&s, Channel::Raft)).await;
        assert!(matches!(server, Err(NetError::AuthFailed)), "{server:?}");
        assert!(matches!(client, Err(NetError::AuthFailed)), "{client:?}");
    }

    #[tokio::test]
    async fn client_refuses_a_server_that_cannot_prove_the_secret() {
        let (mut fake_server, mut b) = duplex(1024);
        let impostor = async move {
            let mut hello = [7u8; NONCE_LEN + 1];
            hello[NONCE_LEN] = PROTOCOL_VERSION;
            fake_server.write_all(&hello).await.unwrap();
            let mut answer = [0u8; NONCE_LEN + PROOF_LEN];
            fake_server.read_exact(&mut answer).await.unwrap();
            // Claims success, but cannot compute the server proof.
            let mut reply = [0u8; 1 + PROOF_LEN];
            reply[0] = STATUS_OK;
            fake_server.write_all(&reply).await.unwrap();
            fake_server
        };
        let s = secret("raft-secret-0123456789");
        let (_server, client) = tokio::join!(impostor, connect(&mut b, &s, Channel::Raft, T));
        assert!(matches!(client, Err(NetError::AuthFailed)), "{client:?}");
    }

    #[tokio::test]
    async fn client_refuses_another_protocol_version() {
        let (mut fake_server, mut b) = duplex(1024);
        let mut hello = [0u8; NONCE_LEN + 1];
        hello[NONCE_LEN] = PROTOCOL_VERSION + 1;
        fake_server.write_all(&hello).await.unwrap();
        let client = connect(&mut b, &secret("s-0123456789abcdef"), Channel::Api, T).await;
        let expected = PROTOCOL_VERSION + 1;
        assert!(
            matches!(client, Err(NetError::VersionMismatch { theirs, .. }) if theirs == expected),
            "{client:?}"
        );
    }

    /// Runs both sides with node ids: the server is `server_id` (or an earlier version without
    /// ids), the client expects `ids` (or asks nothing).
    async fn identity_handshake(
        server_id: Option<u64>,
        ids: Option<NodeIds>,
    ) -> (
        Result<Option<u64>, NetError>,
        Result<PeerIdentity, NetError>,
    ) {
        let s = secret("raft-secret-0123456789");
        let (mut a, mut b) = duplex(1024);
        let (server, client) = tokio::join!(
            accept_as(&mut a, &s, Channel::Raft, server_id, FormatRange::OURS, T),
            connect_to(&mut b, &s, Channel::Raft, ids, T)
        );
        if let (Ok(server), Ok(client)) = (&server, &client) {
            assert_eq!(server.format, NEWEST);
            assert_eq!(client.format, NEWEST);
        }
        (server.map(|a| a.peer_id), client.map(|c| c.identity))
    }

    /// The server's and the client's result when one side plays a format-1 node (its nonce is
    /// unmarked) or speaks `formats`.
    async fn formats_handshake(
        server: Option<FormatRange>,
        client: Option<FormatRange>,
    ) -> (Result<Accepted, NetError>, Result<Connected, NetError>) {
        let s = secret("raft-secret-0123456789");
        let ids = NodeIds {
            local: 1,
            expected: 2,
        };
        let mark = server.map(|formats| Mark {
            formats,
            flags: FLAG_NODE,
        });
        let (mut a, b) = duplex(1024);
        // Each side owns its end, so one that hangs up is seen hanging up by the other.
        let client_secret = s.clone();
        let client = async move {
            let mut b = b;
            connect_inner(&mut b, &client_secret, Channel::Raft, Some(ids), client).await
        };
        tokio::join!(
            accept_inner(&mut a, &s, Channel::Raft, Some(2), mark),
            client
        )
    }

    #[tokio::test]
    async fn both_sides_prove_their_node_ids() {
        let ids = NodeIds {
            local: 1,
            expected: 2,
        };
        let (server, client) = identity_handshake(Some(2), Some(ids)).await;
        assert_eq!(server.unwrap(), Some(1));
        assert_eq!(client.unwrap(), PeerIdentity::Verified(2));
    }

    #[tokio::test]
    async fn another_node_at_the_address_is_refused_on_both_sides() {
        // Node 1 dials "node 5", but the address reaches node 1 itself (the alias case).
        let ids = NodeIds {
            local: 1,
            expected: 5,
        };
        let (server, client) = identity_handshake(Some(1), Some(ids)).await;
        assert!(
            matches!(
                server,
                Err(NetError::WrongNode {
                    expected: 5,
                    actual: 1
                })
            ),
            "{server:?}"
        );
        assert!(
            matches!(
                client,
                Err(NetError::WrongNode {
                    expected: 5,
                    actual: 1
                })
            ),
            "{client:?}"
        );
    }

    #[tokio::test]
    async fn two_processes_with_one_node_id_are_refused() {
        let ids = NodeIds {
            local: 3,
            expected: 3,
        };
        let (server, client) = identity_handshake(Some(3), Some(ids)).await;
        assert!(matches!(server, Err(NetError::SameNodeId(3))), "{server:?}");
        assert!(matches!(client, Err(NetError::SameNodeId(3))), "{client:?}");
    }

    #[tokio::test]
    async fn format_1_nodes_on_either_side_connect_unverified_in_format_1() {
        // A format-1 server cannot prove its id: the client is told.
        let (server, client) = formats_handshake(None, Some(FormatRange::OURS)).await;
        assert_eq!(
            server.unwrap(),
            Accepted {
                peer_id: None,
                format: 1,
                connection: 0
            }
        );
        let client = client.unwrap();
        assert_eq!(client.identity, PeerIdentity::Unverified);
        assert_eq!(client.format, 1);
        // A format-1 client proves nothing and is served as before, in format 1.
        let (server, client) = formats_handshake(Some(FormatRange::OURS), None).await;
        assert_eq!(
            server.unwrap(),
            Accepted {
                peer_id: None,
                format: 1,
                connection: 0
            }
        );
        assert_eq!(client.unwrap().format, 1);
        // A client that names no node (the API) is served without identity.
        let (server, client) = identity_handshake(Some(2), None).await;
        assert_eq!(server.unwrap(), None);
        assert_eq!(client.unwrap(), PeerIdentity::NotAsked);
    }

    #[tokio::test]
    async fn sides_use_the_newest_format_both_speak() {
        let range = |oldest, newest| Some(FormatRange { oldest, newest });
        let (server, client) = formats_handshake(range(1, 3), range(2, 2)).await;
        assert_eq!(server.unwrap().format, 2);
        assert_eq!(client.unwrap().format, 2);
    }

    #[tokio::test]
    async fn ranges_without_a_common_format_are_refused_on_both_sides() {
        let newer = Some(FormatRange {
            oldest: NEWEST + 1,
            newest: NEWEST + 2,
        });
        // The client sees the server's range first and hangs up.
        let (server, client) = formats_handshake(newer, Some(FormatRange::OURS)).await;
        assert!(
            matches!(client, Err(NetError::FormatMismatch { theirs, .. }) if theirs.oldest == NEWEST + 1),
            "{client:?}"
        );
        assert!(server.is_err(), "{server:?}");
        // A format-1 client is refused by a server that no longer speaks format 1.
        let (server, client) = formats_handshake(newer, None).await;
        assert!(
            matches!(server, Err(NetError::FormatMismatch { theirs, .. }) if theirs.newest == 1),
            "{server:?}"
        );
        assert!(matches!(client, Err(NetError::AuthFailed)), "{client:?}");
        let message = server.unwrap_err().to_string();
        assert!(
            message.contains(&format!("formats {}..={}", NEWEST + 1, NEWEST + 2))
                && message.contains("format 1"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn identity_proofs_need_the_secret() {
        let ids = NodeIds {
            local: 1,
            expected: 2,
        };
        let (mut a, mut b) = duplex(1024);
        let right = secret("right-secret-0123456789");
        let wrong = secret("wrong-secret-0123456789");
        let (server, client) = tokio::join!(
            accept_as(&mut a, &right, Channel::Raft, Some(2), FormatRange::OURS, T),
            connect_to(&mut b, &wrong, Channel::Raft, Some(ids), T)
        );
        assert!(matches!(server, Err(NetError::AuthFailed)), "{server:?}");
        assert!(matches!(client, Err(NetError::AuthFailed)), "{client:?}");
    }

    #[test]
    fn random_nonces_never_carry_the_marker() {
        for _ in 0..1000 {
            assert!(read_mark(&nonce(None).unwrap()).is_none());
        }
        let mark = Mark {
            formats: FormatRange::OURS,
            flags: FLAG_NODE,
        };
        let read = read_mark(&nonce(Some(mark)).unwrap()).unwrap();
        assert_eq!((read.formats, read.flags), (FormatRange::OURS, FLAG_NODE));
    }

    #[tokio::test]
    async fn silent_client_times_out() {
        let (mut a, _b) = duplex(1024);
        let s = secret("s-0123456789abcdef");
        let server = accept(&mut a, &s, Channel::Api, Duration::from_millis(50)).await;
        assert!(matches!(server, Err(NetError::Timeout)), "{server:?}");
    }
}
