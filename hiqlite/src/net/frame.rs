//! Framing: how messages travel on an authenticated connection.
//!
//! On the wire a frame is a 4-byte big-endian length, then the body: an 8-byte big-endian request
//! id followed by a postcard-encoded message. A request and its response carry the same id, which
//! is what lets many calls share one connection. Responses are encoded as
//! `Result<Response, RemoteFailure>` so the server can fail a single call (e.g. a response that is
//! too large to send) without tearing down the whole connection.
//!
//! The length prefix is handled by `tokio_util`'s `LengthDelimitedCodec`; [`FrameCodec`] adds the
//! request id and turns codec errors into [`NetError`]s. A body larger than the configured maximum
//! is an error on both sides: the sender refuses to send it, the receiver closes the connection.

use bytes::{Bytes, BytesMut};
use futures::SinkExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::codec::{
    Decoder, Encoder, FramedWrite, LengthDelimitedCodec, LengthDelimitedCodecError,
};

use super::NetError;

/// Size of the request id that opens every frame body.
const ID_LEN: usize = 8;

/// Size of the length prefix written by `LengthDelimitedCodec` (its default, a `u32`).
const LENGTH_PREFIX_LEN: usize = 4;

/// How many queued frames one write may gather before it flushes: under load many small frames go
/// out in one syscall, but a steady stream of frames still gets flushed regularly.
const MAX_FRAMES_PER_FLUSH: usize = 64;

/// One received frame: the request id and the still-encoded message.
#[derive(Debug)]
pub(crate) struct Frame {
    pub id: u64,
    pub payload: BytesMut,
}

/// Why a server could not answer a single request. Sent in place of the response, so the caller
/// gets a clear error right away and the connection stays usable.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum RemoteFailure {
    /// The encoded response was larger than the server's maximum frame size.
    ResponseTooLarge { size: u64, max: u64 },
    /// The service panicked while handling the request (a bug; the server logs it).
    HandlerPanicked,
    /// The service produced a response that could not be serialized.
    Encode(String),
}

impl From<RemoteFailure> for NetError {
    fn from(failure: RemoteFailure) -> Self {
        match failure {
            RemoteFailure::ResponseTooLarge { size, max } => NetError::FrameTooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                max: usize::try_from(max).unwrap_or(usize::MAX),
            },
            RemoteFailure::HandlerPanicked => {
                NetError::Remote("the request handler panicked (see the server's log)".into())
            }
            RemoteFailure::Encode(e) => {
                NetError::Remote(format!("cannot encode the response: {e}"))
            }
        }
    }
}

/// Length-delimited frames that start with a request id. `max_frame` bounds the body (id +
/// payload), not counting the 4-byte length prefix.
pub(crate) struct FrameCodec {
    inner: LengthDelimitedCodec,
    max_frame: usize,
}

impl FrameCodec {
    pub(crate) fn new(max_frame: usize) -> Self {
        // The length prefix is a u32, so larger limits could never be reached anyway.
        let max_frame = max_frame.min(u32::MAX as usize);
        let inner = LengthDelimitedCodec::builder()
            .length_field_length(LENGTH_PREFIX_LEN)
            .max_frame_length(max_frame)
            .new_codec();
        FrameCodec { inner, max_frame }
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = NetError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, NetError> {
        let body = match self.inner.decode(src) {
            Ok(Some(body)) => body,
            Ok(None) => return Ok(None),
            Err(e)
                if e.get_ref()
                    .is_some_and(|e| e.is::<LengthDelimitedCodecError>()) =>
            {
                // The codec rejects an oversized length without consuming it, so the prefix is
                // still at the front: read it to tell the operator how large the frame was.
                let size = src
                    .get(..LENGTH_PREFIX_LEN)
                    .and_then(|prefix| <[u8; LENGTH_PREFIX_LEN]>::try_from(prefix).ok())
                    .map_or(0, |prefix| u32::from_be_bytes(prefix) as usize);
                return Err(NetError::FrameTooLarge {
                    size,
                    max: self.max_frame,
                });
            }
            Err(e) => return Err(e.into()),
        };
        if body.len() < ID_LEN {
            return Err(NetError::Decode(format!(
                "frame of {} bytes is shorter than its {ID_LEN}-byte request id",
                body.len()
            )));
        }
        let mut payload = body;
        let header = payload.split_to(ID_LEN);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&header);
        Ok(Some(Frame {
            id: u64::from_be_bytes(id),
            payload,
        }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, NetError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(NetError::Decode(format!(
                "connection closed in the middle of a frame ({} bytes left over)",
                src.len()
            ))),
        }
    }
}

/// Takes a frame body built by [`encode`] and writes it with its length prefix.
impl Encoder<Bytes> for FrameCodec {
    type Error = NetError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), NetError> {
        if body.len() > self.max_frame {
            return Err(NetError::FrameTooLarge {
                size: body.len(),
                max: self.max_frame,
            });
        }
        Ok(self.inner.encode(body, dst)?)
    }
}

/// Encodes `msg` as the body of frame `id`, refusing bodies larger than `max_frame` up front so
/// an oversized message fails only its own call, never the shared connection.
pub(crate) fn encode<T: Serialize + ?Sized>(
    id: u64,
    msg: &T,
    max_frame: usize,
) -> Result<Bytes, NetError> {
    let body = postcard::to_extend(msg, id.to_be_bytes().to_vec())
        .map_err(|e| NetError::Encode(e.to_string()))?;
    if body.len() > max_frame.min(u32::MAX as usize) {
        return Err(NetError::FrameTooLarge {
            size: body.len(),
            max: max_frame,
        });
    }
    Ok(Bytes::from(body))
}

/// Decodes a frame's payload. Trailing bytes are an error: they mean both sides disagree on the
/// message type, which is better reported than silently ignored.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, NetError> {
    match postcard::take_from_bytes(payload) {
        Ok((msg, [])) => Ok(msg),
        Ok((_, rest)) => Err(NetError::Decode(format!(
            "{} unexpected bytes after the message",
            rest.len()
        ))),
        Err(e) => Err(NetError::Decode(e.to_string())),
    }
}

/// Writes every frame body from `queue` until all its senders are gone, then closes the write
/// side. Frames that are already queued go out together in one flush.
pub(crate) async fn write_frames<W: AsyncWrite + Unpin>(
    mut sink: FramedWrite<W, FrameCodec>,
    mut queue: mpsc::Receiver<Bytes>,
) -> Result<(), NetError> {
    while let Some(body) = queue.recv().await {
        sink.feed(body).await?;
        for _ in 1..MAX_FRAMES_PER_FLUSH {
            match queue.try_recv() {
                Ok(body) => sink.feed(body).await?,
                Err(_) => break,
            }
        }
        sink.flush().await?;
    }
    sink.close().await
}

/// A `FramedRead` over any reader; used by tests that frame raw streams.
#[cfg(test)]
pub(crate) fn reader<R: tokio::io::AsyncRead>(
    read: R,
    max_frame: usize,
) -> tokio_util::codec::FramedRead<R, FrameCodec> {
    tokio_util::codec::FramedRead::new(read, FrameCodec::new(max_frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn encode_then_decode_round_trips() {
        let body = encode(42, &("hello", 7u32), 1024).unwrap();
        let mut codec = FrameCodec::new(1024);
        let mut wire = BytesMut::new();
        codec.encode(body, &mut wire).unwrap();

        let frame = codec.decode(&mut wire).unwrap().unwrap();
        assert_eq!(frame.id, 42);
        let msg: (String, u32) = decode(&frame.payload).unwrap();
        assert_eq!(msg, ("hello".to_string(), 7));
        assert!(wire.is_empty());
    }

    #[test]
    fn oversized_body_is_refused_before_sending() {
        let err = encode(1, &vec![0u8; 100], 50).unwrap_err();
        assert!(
            matches!(err, NetError::FrameTooLarge { max: 50, .. }),
            "{err}"
        );
    }

    #[test]
    fn oversized_length_prefix_is_an_error_with_its_size() {
        let mut wire = BytesMut::from(&1_000_000u32.to_be_bytes()[..]);
        let err = FrameCodec::new(1024).decode(&mut wire).unwrap_err();
        assert!(
            matches!(
                err,
                NetError::FrameTooLarge {
                    size: 1_000_000,
                    max: 1024
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn frame_shorter_than_its_id_is_a_decode_error() {
        let mut wire = BytesMut::from(&[0, 0, 0, 3, 1, 2, 3][..]);
        let err = FrameCodec::new(1024).decode(&mut wire).unwrap_err();
        assert!(matches!(err, NetError::Decode(_)), "{err}");
    }

    #[test]
    fn trailing_bytes_and_garbage_are_decode_errors() {
        let payload = postcard::to_stdvec(&(1u8, 2u8)).unwrap();
        assert!(matches!(decode::<u8>(&payload), Err(NetError::Decode(_))));
        assert!(matches!(
            decode::<String>(&[0xff, 0xff, 0xff]),
            Err(NetError::Decode(_))
        ));
    }

    #[tokio::test]
    async fn stream_ending_inside_a_frame_is_a_decode_error() {
        let wire: &[u8] = &[0, 0, 0, 20, 0, 0, 0];
        let mut frames = reader(wire, 1024);
        let err = frames.next().await.unwrap().unwrap_err();
        assert!(matches!(err, NetError::Decode(_)), "{err}");
    }
}
