//! Fuzz harnesses: each function feeds arbitrary bytes to one parser the way the library meets
//! outside input (a peer's bytes, a stored entry, a file, a config). Each returns nothing and
//! must never panic, allocate without bound or hang, whatever the bytes; errors are the expected
//! outcome. Compiled only for `cargo fuzz` (`--cfg fuzzing`, targets in `fuzz/`) and for this
//! crate's tests, which run the kept corpus and every former crash through the same functions
//! on stable (fuzz/README.md).

use std::io::Cursor;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::Decoder;

use crate::backup::format::Compression;
use crate::backup::segment::{self, SegmentHeader};
use crate::backup::{crypto, BackupHeader};
use crate::config::{EncKey, EncKeys, Secret};
use crate::engine::protocol::{ApiRequest, ApiResponse};
use crate::net::{Channel, NodeIds};
use crate::raft::network::{RaftRequest, RaftResponse};
use crate::types::format::FormatRange;
use crate::NodeConfig;

/// The largest frame the `frame` and `rpc_request` harnesses accept: small, so that a length
/// prefix above it is an error (as it is for a real node above `max_frame_bytes`).
const MAX_FRAME: usize = 4096;

/// Frames as a node's reader splits a peer's bytes: the codec is fed the input in two parts (a
/// split point chosen by the first byte), as a TCP stream may deliver it, then the end of the
/// stream. Every frame's payload is decoded as an API and a Raft request.
pub fn frame(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(data.len());
    let mut codec = crate::net::FrameCodec::new(MAX_FRAME);
    let mut buf = BytesMut::new();
    for part in [&data[..split], &data[split..]] {
        buf.extend_from_slice(part);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() + 8 <= MAX_FRAME, "frame over the limit");
                    rpc_request(&frame.payload);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    while let Ok(Some(_)) = codec.decode_eof(&mut buf) {}
}

/// Decodes a frame payload as each message a node or client reads from a peer: API and Raft
/// requests (servers), and API and Raft responses (clients; `Result<_, RemoteFailure>`).
pub fn rpc_request(payload: &[u8]) {
    let _ = crate::net::decode_frame::<ApiRequest>(payload);
    let _ = crate::net::decode_frame::<RaftRequest>(payload);
    let _ = crate::net::decode_frame::<Result<ApiResponse, crate::net::RemoteFailure>>(payload);
    let _ = crate::net::decode_frame::<Result<RaftResponse, crate::net::RemoteFailure>>(payload);
}

/// A peer whose bytes are the fuzz input; what we send is dropped. It never waits: after the
/// input it reads end-of-stream.
struct Peer {
    input: Cursor<Vec<u8>>,
}

impl AsyncRead for Peer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let input = &mut self.input;
        let at = usize::try_from(input.position()).unwrap_or(usize::MAX);
        let rest = input.get_ref().get(at..).unwrap_or_default();
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        input.set_position((at + n) as u64);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Peer {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread tokio runtime");
}

/// The handshake against a hostile peer. The first byte chooses the side we play (bit 0: server,
/// else client), whether node ids are proven (bit 1) and the channel (bit 2); the rest is what
/// the peer sends.
pub fn handshake(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let secret = Secret::new("fuzzing-secret-of-enough-length");
    let channel = if mode & 4 == 0 {
        Channel::Raft
    } else {
        Channel::Api
    };
    let mut peer = Peer {
        input: Cursor::new(rest.to_vec()),
    };
    let timeout = Duration::from_secs(5);
    RUNTIME.with(|rt| {
        rt.block_on(async {
            if mode & 1 == 1 {
                let node_id = (mode & 2 != 0).then_some(7);
                let formats = FormatRange::OURS;
                let _ =
                    crate::net::accept_as(&mut peer, &secret, channel, node_id, formats, timeout)
                        .await;
            } else {
                let ids = (mode & 2 != 0).then_some(NodeIds {
                    local: 3,
                    expected: 7,
                });
                let _ = crate::net::connect_to(&mut peer, &secret, channel, ids, timeout).await;
            }
        })
    });
}

/// A stored log entry as the log store reads it back: the first 8 bytes are the rocksdb key, the
/// rest the value; the value is also decoded as each meta value (vote, committed, last purged).
pub fn log_entry(data: &[u8]) {
    let (key, value) = data.split_at(data.len().min(8));
    let _ = crate::raft::log_store::decode_stored(key, value);
}

/// A snapshot file as a follower checks it when the transfer completes
/// (`SnapshotInbox::finish`): the bytes are written to a file and its meta read with SQLite.
pub fn snapshot(data: &[u8]) {
    thread_local! {
        static FILE: PathBuf = std::env::temp_dir().join(format!(
            "hiqlite-fuzz-snapshot-{}-{:?}.db",
            std::process::id(),
            std::thread::current().id()
        ));
    }
    FILE.with(|file| {
        if std::fs::write(file, data).is_ok() {
            let _ = crate::store::sqlite::snapshot::read_file_meta(file);
        }
        // A file whose header says WAL mode gets a `-wal` and `-shm` file even when opened read
        // only: removed too, so no input sees the previous one's.
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = file.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    });
}

/// A backup's or a log segment's header (`BackupHeader::read`, `SegmentHeader::read`), and a
/// segment file's name (`segment::parse_name`).
pub fn backup_header(data: &[u8]) {
    let _ = BackupHeader::read(&mut &data[..], "fuzz");
    let _ = SegmentHeader::read(&mut &data[..], "fuzz");
    if let Ok(name) = std::str::from_utf8(data) {
        if let Some(parts) = segment::parse_name(name) {
            // A name that parses names the same segment when written again.
            let again = segment::name_for(
                parts.lineage,
                parts.first_index,
                parts.last_index,
                parts.first_ms,
                parts.last_ms,
            );
            assert_eq!(
                segment::parse_name(&again),
                Some(parts),
                "{name} -> {again}"
            );
        }
    }
}

fn fuzz_keys() -> EncKeys {
    let key = EncKey::new("fuzz", [7; 32]).expect("a valid key id");
    EncKeys {
        keys: vec![key],
        active: Some("fuzz".into()),
    }
}

/// Reading a log segment (`segment::read_segment`) twice: the bytes as a whole file, and, so the
/// fuzzer gets past the encryption, a segment this harness seals with the reader's key around a
/// payload it chooses. Then the first 50 bytes are header fields (compression, indexes, terms,
/// times, chunk size) and the rest the payload (the zstd-compressed or raw postcard entries).
pub fn segment(data: &[u8]) {
    let keys = fuzz_keys();
    let _ = segment::read_segment(&mut &data[..], &keys, "fuzz");

    const FIELDS: usize = 1 + 6 * 8 + 1;
    if data.len() < FIELDS {
        return;
    }
    let (fields, payload) = data.split_at(FIELDS);
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&fields[1 + 8 * i..9 + 8 * i]);
        u64::from_be_bytes(w)
    };
    let key = &keys.keys[0];
    let nonce_prefix = [1; 16];
    let header = SegmentHeader {
        format_version: segment::SEGMENT_FORMAT,
        data_format: crate::types::format::NEWEST,
        compression: if fields[0] & 1 == 0 {
            Compression::None
        } else {
            Compression::Zstd
        },
        first_index: word(0),
        first_term: word(1),
        last_index: word(2),
        last_term: word(3),
        first_ms: word(4) as i64,
        last_ms: word(5) as i64,
        lineage: 0,
        key_id: key.id().to_string(),
        plain_len: payload.len() as u64,
        sha256: <sha2::Sha256 as sha2::Digest>::digest(payload).into(),
        nonce_prefix,
        key_check: crypto::key_check(key, &nonce_prefix),
        // Small chunks, so that bodies of several chunks are common.
        chunk_size: u32::from(fields[FIELDS - 1]).max(1) * 64,
    };
    let header_bytes = header.encode();
    let mut file = header_bytes.clone();
    if crypto::seal_body(key, &header, &header_bytes, &mut &payload[..], &mut file).is_ok() {
        let _ = segment::read_segment(&mut &file[..], &keys, "fuzz");
    }
}

/// The config's TOML parser and the checks of `build` (the text need not be UTF-8; lossy).
pub fn config_toml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(builder) = NodeConfig::builder().toml_str(&text) {
        build_config(builder);
    }
}

/// `build`, with `data_dir` replaced by a scratch directory of this process: `build` creates
/// `data_dir` (and writes a probe file there), and the fuzzer must not create directories all
/// over the file system.
fn build_config(builder: crate::config::NodeConfigBuilder) {
    thread_local! {
        static DATA_DIR: PathBuf = std::env::temp_dir().join(format!(
            "hiqlite-fuzz-config-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
    }
    let dir = DATA_DIR.with(PathBuf::clone);
    let _ = builder.data_dir(&dir).build();
    let _ = std::fs::remove_dir(&dir);
}

/// The `HQL_*` environment variables (and the keys' `ENC_KEYS`, `ENC_KEY_ACTIVE`) and the checks
/// of `build`: the input is lines of `NAME=value` (lossy UTF-8), read through `env_with`. A name
/// also answers for itself with `HQL_` in front, so the fuzzer need not find the prefix.
pub fn config_env(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let vars: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.trim().to_ascii_uppercase(), value.to_string()))
        .collect();
    let lookup = |name: &str| {
        vars.iter()
            .rev()
            .find(|(n, _)| n == name || name.strip_prefix("HQL_") == Some(n.as_str()))
            .map(|(_, v)| v.clone())
    };
    if let Ok(builder) = NodeConfig::builder().env_with(lookup) {
        build_config(builder);
    }
}

#[cfg(test)]
mod tests {
    //! The fuzz corpus (`fuzz/corpus/<target>/`) and every input that once failed
    //! (`fuzz/regressions/<target>/`) through the harnesses, on stable, in `cargo test`.

    fn run_dir(target: &str, harness: fn(&[u8])) {
        // The package's directory at run time (cargo sets it for the tests it runs), not the one
        // compiled in: a build reused from a clone elsewhere (a shared CARGO_TARGET_DIR) would
        // look in that clone.
        let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let root = manifest.join("../fuzz");
        let mut ran = 0;
        for kind in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| harness(&data));
                assert!(outcome.is_ok(), "{} panicked", path.display());
                ran += 1;
            }
        }
        assert!(
            ran > 0,
            "no inputs for fuzz target {target} under {}",
            root.display()
        );
    }

    #[test]
    fn fuzz_corpus_frame() {
        run_dir("frame", super::frame);
    }

    #[test]
    fn fuzz_corpus_rpc_request() {
        run_dir("rpc_request", super::rpc_request);
    }

    #[test]
    fn fuzz_corpus_handshake() {
        run_dir("handshake", super::handshake);
    }

    #[test]
    fn fuzz_corpus_log_entry() {
        run_dir("log_entry", super::log_entry);
    }

    #[test]
    fn fuzz_corpus_snapshot() {
        run_dir("snapshot", super::snapshot);
    }

    #[test]
    fn fuzz_corpus_backup_header() {
        run_dir("backup_header", super::backup_header);
    }

    #[test]
    fn fuzz_corpus_segment() {
        run_dir("segment", super::segment);
    }

    #[test]
    fn fuzz_corpus_config_toml() {
        run_dir("config_toml", super::config_toml);
    }

    #[test]
    fn fuzz_corpus_config_env() {
        run_dir("config_env", super::config_env);
    }
}
