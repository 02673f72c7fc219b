//! Getting frames onto a connection's socket.
//!
//! On plain TCP a frame is written by the task that sends it, with one non-blocking write: when
//! the socket takes the whole frame (the usual case on a healthy link) no other task is woken, so
//! a round trip costs no task hop on the sending side. What the socket does not take at once waits
//! in a backlog, in order, and the connection's [`Flusher`] writes it as soon as the socket is
//! writable, many frames per write. A frame sent while a backlog exists joins its end, so frames
//! never overtake each other, and a sender waits only when the backlog holds [`MAX_BACKLOG`]
//! bytes (a peer that stops reading cannot make us buffer without bound).
//!
//! Over TLS every write goes through the session's encryption state, which one task owns: frames
//! go through a queue to the flusher, which writes what is queued in one flush.
//!
//! Either way a failed write closes the connection: [`Outbound::send`] then fails with
//! [`NetError::ConnectionClosed`] and the flusher returns the error, which is how the owner of
//! the connection learns of it.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, ReadBuf, ReadHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, Notify};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use super::frame::{self, FrameCodec};
use super::tls::Stream;
use super::NetError;

/// Bytes the backlog may hold before senders wait for the flusher.
const MAX_BACKLOG: usize = 4 << 20;

/// Frames queued for a TLS connection's flusher before senders wait for room.
const TLS_QUEUE: usize = 1024;

/// Chunks one vectored write may gather (Linux accepts up to 1024).
const MAX_SLICES_PER_WRITE: usize = 128;

/// The receiving half of a connection, whatever its transport.
pub(crate) enum ReadSide {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<Stream>),
}

impl AsyncRead for ReadSide {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadSide::Plain(read) => Pin::new(read).poll_read(cx, buf),
            ReadSide::Tls(read) => Pin::new(read).poll_read(cx, buf),
        }
    }
}

/// Splits an authenticated connection into its incoming frames, a handle that sends frames (cheap
/// to clone), and the flusher that must be polled for as long as the connection lives. `closed`
/// is cancelled when a write fails; the owner should also cancel it when it ends the connection,
/// which stops the flusher.
pub(crate) fn split(
    stream: Stream,
    max_frame: usize,
    closed: CancellationToken,
) -> (FramedRead<ReadSide, FrameCodec>, Outbound, Flusher) {
    match stream {
        Stream::Plain(tcp) => {
            let (read, write) = tcp.into_split();
            let direct = Arc::new(Direct {
                socket: write,
                backlog: Mutex::new(Backlog::default()),
                has_backlog: Notify::new(),
                has_room: Notify::new(),
                max_frame,
                closed: closed.clone(),
            });
            (
                FramedRead::new(ReadSide::Plain(read), FrameCodec::new(max_frame)),
                Outbound::Direct(direct.clone()),
                Flusher::Direct { direct, closed },
            )
        }
        tls @ Stream::Tls(_) => {
            let (read, write) = tokio::io::split(tls);
            let (queue, queued) = mpsc::channel(TLS_QUEUE);
            (
                FramedRead::new(ReadSide::Tls(read), FrameCodec::new(max_frame)),
                Outbound::Queued {
                    queue,
                    closed: closed.clone(),
                },
                Flusher::Queued {
                    sink: FramedWrite::new(write, FrameCodec::new(max_frame)),
                    queued,
                    closed,
                },
            )
        }
    }
}

/// Sends frames on one connection; clones share it.
#[derive(Clone)]
pub(crate) enum Outbound {
    Direct(Arc<Direct>),
    Queued {
        queue: mpsc::Sender<Bytes>,
        closed: CancellationToken,
    },
}

impl Outbound {
    /// Sends one frame body built by [`frame::encode`]. Returns once the frame is written or
    /// queued behind earlier frames, which are then written first; a frame accepted here goes
    /// out even if the caller stops waiting.
    ///
    /// # Errors
    /// [`NetError::ConnectionClosed`] once the connection is closed (a write failed, or its
    /// owner ended it); [`NetError::FrameTooLarge`] for a body over the maximum frame size.
    pub(crate) async fn send(&self, body: Bytes) -> Result<(), NetError> {
        match self {
            Outbound::Direct(direct) => direct.send(body).await,
            Outbound::Queued { queue, closed } => {
                if closed.is_cancelled() {
                    return Err(NetError::ConnectionClosed);
                }
                queue
                    .send(body)
                    .await
                    .map_err(|_| NetError::ConnectionClosed)
            }
        }
    }
}

/// Writes what senders could not write themselves. Poll [`run`](Flusher::run) for as long as
/// the connection lives.
pub(crate) enum Flusher {
    Direct {
        direct: Arc<Direct>,
        closed: CancellationToken,
    },
    Queued {
        sink: FramedWrite<tokio::io::WriteHalf<Stream>, FrameCodec>,
        queued: mpsc::Receiver<Bytes>,
        closed: CancellationToken,
    },
}

impl Flusher {
    /// Writes backlogged or queued frames until the connection closes. Returns `Ok` when the
    /// owner closed it (the `closed` token), the error when a write failed.
    pub(crate) async fn run(self) -> Result<(), NetError> {
        match self {
            Flusher::Direct { direct, closed } => {
                let result = tokio::select! {
                    _ = closed.cancelled() => Ok(()),
                    result = direct.flush_backlog() => result,
                };
                if result.is_err() {
                    direct.fail();
                }
                result
            }
            Flusher::Queued {
                sink,
                queued,
                closed,
            } => {
                let result = tokio::select! {
                    _ = closed.cancelled() => Ok(()),
                    result = frame::write_frames(sink, queued) => result,
                };
                closed.cancel();
                result
            }
        }
    }
}

/// A plain TCP connection's sending side: the socket and the frames it has not taken yet.
pub(crate) struct Direct {
    socket: OwnedWriteHalf,
    /// Held only for non-blocking writes and queue edits, never across an `await`: writes from
    /// different tasks cannot interleave their bytes.
    backlog: Mutex<Backlog>,
    /// Tells the flusher that the backlog is no longer empty.
    has_backlog: Notify,
    /// Tells waiting senders that the backlog shrank.
    has_room: Notify,
    max_frame: usize,
    closed: CancellationToken,
}

/// Bytes accepted for sending but not yet taken by the socket, in order: each frame's length
/// prefix and body as separate chunks, the first possibly partly written.
#[derive(Default)]
struct Backlog {
    chunks: VecDeque<Bytes>,
    bytes: usize,
}

impl Backlog {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.bytes += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Drops `written` bytes from the front.
    fn consume(&mut self, mut written: usize) {
        self.bytes -= written;
        while written > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if written < front.len() {
                front.advance(written);
                return;
            }
            written -= front.len();
            self.chunks.pop_front();
        }
    }
}

impl Direct {
    fn backlog(&self) -> MutexGuard<'_, Backlog> {
        // Edits leave the backlog consistent at every step, so a poisoned lock is still usable.
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn send(&self, body: Bytes) -> Result<(), NetError> {
        if body.len() > self.max_frame.min(u32::MAX as usize) {
            return Err(NetError::FrameTooLarge {
                size: body.len(),
                max: self.max_frame,
            });
        }
        let prefix = Bytes::copy_from_slice(&(body.len() as u32).to_be_bytes());
        loop {
            // Registered before the backlog is checked, so a flush in between cannot be missed.
            let room = self.has_room.notified();
            {
                let mut backlog = self.backlog();
                if self.closed.is_cancelled() {
                    return Err(NetError::ConnectionClosed);
                }
                if backlog.chunks.is_empty() {
                    return self.write_now(&mut backlog, prefix, body);
                }
                if backlog.bytes < MAX_BACKLOG {
                    backlog.push(prefix);
                    backlog.push(body);
                    return Ok(());
                }
            }
            tokio::select! {
                _ = room => {}
                _ = self.closed.cancelled() => return Err(NetError::ConnectionClosed),
            }
        }
    }

    /// Writes a frame on an idle socket from the caller's task; what the socket does not take
    /// goes to the backlog for the flusher.
    fn write_now(
        &self,
        backlog: &mut Backlog,
        mut prefix: Bytes,
        mut body: Bytes,
    ) -> Result<(), NetError> {
        let total = prefix.len() + body.len();
        match self
            .socket
            .try_write_vectored(&[IoSlice::new(&prefix), IoSlice::new(&body)])
        {
            Ok(written) if written == total => return Ok(()),
            Ok(written) => {
                let from_prefix = written.min(prefix.len());
                prefix.advance(from_prefix);
                body.advance(written - from_prefix);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                self.fail();
                return Err(NetError::Io(e));
            }
        }
        backlog.push(prefix);
        backlog.push(body);
        self.has_backlog.notify_one();
        Ok(())
    }

    /// Writes the backlog whenever it has something and the socket is writable. Runs until a
    /// write fails.
    async fn flush_backlog(&self) -> Result<(), NetError> {
        loop {
            self.has_backlog.notified().await;
            loop {
                self.socket.writable().await?;
                let mut backlog = self.backlog();
                if backlog.chunks.is_empty() {
                    break;
                }
                let slices: Vec<IoSlice<'_>> = backlog
                    .chunks
                    .iter()
                    .take(MAX_SLICES_PER_WRITE)
                    .map(|chunk| IoSlice::new(chunk))
                    .collect();
                match self.socket.try_write_vectored(&slices) {
                    Ok(written) => {
                        drop(slices);
                        backlog.consume(written);
                        self.has_room.notify_waiters();
                    }
                    // Readiness was stale: wait for the socket again.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(NetError::Io(e)),
                }
            }
        }
    }

    /// Closes the connection after a failed write: every later send fails, waiting senders wake.
    fn fail(&self) {
        self.closed.cancel();
        self.has_room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{FutureExt, StreamExt};
    use std::time::Duration;
    use tokio::net::{TcpListener, TcpStream};

    const FRAME: usize = 64 << 10;

    /// A connected pair: our sending side (split) and the peer's raw socket.
    async fn pair() -> (Outbound, Flusher, CancellationToken, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        let closed = CancellationToken::new();
        let (_frames, outbound, flusher) = split(Stream::Plain(ours), 1 << 20, closed.clone());
        (outbound, flusher, closed, peer)
    }

    fn body(id: u64) -> Bytes {
        let mut body = id.to_be_bytes().to_vec();
        body.resize(FRAME, (id % 251) as u8);
        Bytes::from(body)
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_gets_every_frame_whole_and_in_order_later() {
        let (outbound, flusher, _closed, peer) = pair().await;
        let flusher = tokio::spawn(flusher.run());

        // The peer reads nothing: frames fill the socket, then the backlog, until a send waits.
        let mut sent = 0u64;
        while outbound.send(body(sent)).now_or_never().is_some() {
            sent += 1;
            assert!(
                sent < 10_000,
                "sends never waited: the backlog is unbounded"
            );
        }
        assert!(
            sent as usize * FRAME >= MAX_BACKLOG,
            "a send waited after only {sent} frames"
        );

        // The waiting send completes once the peer reads; everything arrives in order.
        let last = tokio::spawn({
            let outbound = outbound.clone();
            async move { outbound.send(body(sent)).await }
        });
        let mut frames = frame::reader(peer, 1 << 20);
        for id in 0..=sent {
            let frame = frames.next().await.unwrap().unwrap();
            assert_eq!(frame.id, id);
            assert_eq!(frame.payload.len(), FRAME - 8);
            assert!(frame.payload.iter().all(|&b| b == (id % 251) as u8));
        }
        tokio::time::timeout(Duration::from_secs(10), last)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(!flusher.is_finished());
    }

    #[tokio::test]
    async fn a_failed_write_closes_the_connection_for_every_sender() {
        let (outbound, flusher, closed, peer) = pair().await;
        let flusher = tokio::spawn(flusher.run());
        drop(peer);

        // Writes to a socket the peer closed fail after at most a few frames (RST).
        let failed = tokio::time::timeout(Duration::from_secs(10), async {
            let mut id = 0;
            loop {
                if let Err(e) = outbound.send(body(id)).await {
                    return e;
                }
                id += 1;
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("sending to a closed peer must fail");
        assert!(
            matches!(failed, NetError::Io(_) | NetError::ConnectionClosed),
            "{failed}"
        );
        tokio::time::timeout(Duration::from_secs(10), closed.cancelled())
            .await
            .unwrap();
        let later = outbound.send(body(0)).await.unwrap_err();
        assert!(matches!(later, NetError::ConnectionClosed), "{later}");
        let _ = tokio::time::timeout(Duration::from_secs(10), flusher)
            .await
            .expect("the flusher ends with the connection");
    }

    #[tokio::test]
    async fn an_oversized_frame_fails_alone() {
        let (outbound, flusher, closed, _peer) = pair().await;
        let _flusher = tokio::spawn(flusher.run());
        let err = outbound
            .send(Bytes::from(vec![0; (1 << 20) + 1]))
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::FrameTooLarge { .. }), "{err}");
        assert!(!closed.is_cancelled());
        outbound.send(body(1)).await.unwrap();
    }
}
