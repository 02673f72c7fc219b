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

use std::fmt;
use std::io;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::NetError;
use crate::config::Secret;

/// Version of the wire protocol (handshake and framing). Peers with different versions refuse to
/// talk to each other with [`NetError::VersionMismatch`].
pub const PROTOCOL_VERSION: u8 = 1;

/// How long a peer may take to complete the handshake before the connection is dropped, so a
/// silent or slow peer cannot hold a connection open.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

const NONCE_LEN: usize = 32;
const PROOF_LEN: usize = 32;
const STATUS_OK: u8 = 0;
const STATUS_REFUSED: u8 = 1;

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

fn nonce() -> Result<[u8; NONCE_LEN], NetError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut nonce)
        .map_err(|e| io::Error::other(format!("no system randomness for a nonce: {e}")))?;
    Ok(nonce)
}

/// `read_exact`, but a peer hanging up is reported as [`NetError::ConnectionClosed`].
async fn read_exact<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) -> Result<(), NetError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(NetError::ConnectionClosed),
        Err(e) => Err(e.into()),
    }
}

/// Server side: challenges the peer and returns `Ok` only if it proved it knows `secret` for
/// `channel`. On failure the caller must close the connection without reading anything else.
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
    timeout: Duration,
) -> Result<(), NetError> {
    tokio::time::timeout(timeout, accept_inner(stream, secret, channel))
        .await
        .map_err(|_| NetError::Timeout)?
}

async fn accept_inner<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
) -> Result<(), NetError> {
    let server_nonce = nonce()?;
    let mut hello = [0u8; NONCE_LEN + 1];
    hello[..NONCE_LEN].copy_from_slice(&server_nonce);
    hello[NONCE_LEN] = PROTOCOL_VERSION;
    stream.write_all(&hello).await?;

    let mut answer = [0u8; NONCE_LEN + PROOF_LEN];
    read_exact(stream, &mut answer).await?;
    let (client_nonce, client_proof) = answer.split_at(NONCE_LEN);

    // verify_slice compares in constant time, so timing reveals nothing about the expected MAC.
    let expected = proof(secret, channel, Prover::Client, &server_nonce, client_nonce);
    if expected.verify_slice(client_proof).is_err() {
        // Say why before hanging up, so the peer reports AuthFailed rather than a reset.
        let _ = stream.write_all(&[STATUS_REFUSED]).await;
        let _ = stream.flush().await;
        return Err(NetError::AuthFailed);
    }

    let server_proof = proof(secret, channel, Prover::Server, &server_nonce, client_nonce);
    let mut reply = [0u8; 1 + PROOF_LEN];
    reply[0] = STATUS_OK;
    reply[1..].copy_from_slice(&server_proof.finalize().into_bytes());
    stream.write_all(&reply).await?;
    stream.flush().await?;
    Ok(())
}

/// Client side: answers the server's challenge and checks the server's own proof, so no payload
/// is ever sent to a peer that does not know `secret`.
pub(crate) async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
    timeout: Duration,
) -> Result<(), NetError> {
    tokio::time::timeout(timeout, connect_inner(stream, secret, channel))
        .await
        .map_err(|_| NetError::Timeout)?
}

async fn connect_inner<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    channel: Channel,
) -> Result<(), NetError> {
    let mut hello = [0u8; NONCE_LEN + 1];
    read_exact(stream, &mut hello).await?;
    let (server_nonce, version) = hello.split_at(NONCE_LEN);
    if version[0] != PROTOCOL_VERSION {
        return Err(NetError::VersionMismatch {
            ours: PROTOCOL_VERSION,
            theirs: version[0],
        });
    }

    let client_nonce = nonce()?;
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
        .map_err(|_| NetError::AuthFailed)
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[tokio::test]
    async fn silent_client_times_out() {
        let (mut a, _b) = duplex(1024);
        let s = secret("s-0123456789abcdef");
        let server = accept(&mut a, &s, Channel::Api, Duration::from_millis(50)).await;
        assert!(matches!(server, Err(NetError::Timeout)), "{server:?}");
    }
}
