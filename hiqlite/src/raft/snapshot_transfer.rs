//! Streaming a snapshot file to a follower in chunks, and receiving it.
//!
//! The leader reads the snapshot file chunk by chunk and sends each as its own request on the
//! peer's snapshot connection, waiting for each acknowledgement: memory stays bounded by the chunk
//! size, and the per-request deadline means "no progress", not "whole transfer". The follower
//! writes the chunks at their offsets into a temporary file in its snapshot directory; the final
//! request carries the vote and meta and installs the complete, fsynced file.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::type_config::alias::SnapshotMetaOf;
use serde::{Deserialize, Serialize};

use super::{TypeConfig, Vote};
use crate::store::sqlite::snapshot::{read_file_meta, temp_file_in, SnapshotData};

/// Largest chunk sent when openraft does not ask for a size.
pub const DEFAULT_CHUNK_BYTES: usize = 1024 * 1024;

/// A piece of a snapshot file.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// Identifies one transfer (random per transfer).
    pub transfer: u64,
    /// The sending leader's vote: a transfer from an older leader never displaces a newer one.
    pub vote: Vote,
    /// Chunks arrive in order; any other offset is refused.
    pub offset: u64,
    pub data: Vec<u8>,
}

/// The end of a transfer: install what was received.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotDone {
    pub transfer: u64,
    pub vote: Vote,
    pub meta: SnapshotMetaOf<TypeConfig>,
    /// Size of the whole file: a transfer that lost a chunk is refused.
    pub len: u64,
}

/// Reads the chunk at `offset` of `snapshot` on a blocking thread; empty at the end of the file.
pub async fn read_chunk(
    snapshot: &Arc<SnapshotData>,
    offset: u64,
    size: usize,
) -> io::Result<Vec<u8>> {
    let snapshot = snapshot.clone();
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; size];
        let mut filled = 0;
        while filled < size {
            let n = snapshot.read_at(&mut buf[filled..], offset + filled as u64)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok(buf)
    })
    .await
    .map_err(io::Error::other)?
}

/// A new random transfer id.
pub fn new_transfer_id() -> u64 {
    let mut n = [0u8; 8];
    let _ = getrandom::getrandom(&mut n);
    u64::from_le_bytes(n)
}

/// The receiving side: transfers in progress, each a temporary file in the snapshot directory.
pub struct SnapshotInbox {
    dir: PathBuf,
    transfers: Mutex<HashMap<u64, Incoming>>,
}

/// A transfer in progress.
struct Incoming {
    vote: Vote,
    path: PathBuf,
    /// Bytes received so far; the next chunk must start here.
    received: u64,
}

fn refused(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why)
}

impl SnapshotInbox {
    pub fn new(dir: &Path) -> SnapshotInbox {
        SnapshotInbox {
            dir: dir.to_path_buf(),
            transfers: Mutex::new(HashMap::new()),
        }
    }

    /// Writes one chunk. Chunks of a transfer must come in order. A new transfer (offset 0)
    /// replaces older ones unless one of them comes from a newer leader; a leader sends one
    /// snapshot at a time, so a new one means the old one was given up.
    pub async fn write_chunk(&self, chunk: SnapshotChunk) -> io::Result<()> {
        let len = chunk.data.len() as u64;
        let path = {
            let mut transfers = self.transfers.lock().unwrap_or_else(|p| p.into_inner());
            match transfers.get_mut(&chunk.transfer) {
                Some(incoming) => {
                    if chunk.offset != incoming.received {
                        return Err(refused(format!(
                            "snapshot chunk at offset {} but {} bytes were received",
                            chunk.offset, incoming.received
                        )));
                    }
                    incoming.received += len;
                    incoming.path.clone()
                }
                None => {
                    if chunk.offset != 0 {
                        return Err(refused(format!(
                            "unknown snapshot transfer {:x}",
                            chunk.transfer
                        )));
                    }
                    if transfers.values().any(|t| t.vote > chunk.vote) {
                        return Err(refused(
                            "a snapshot from a newer leader is being received".into(),
                        ));
                    }
                    for (_, old) in transfers.drain() {
                        let _ = std::fs::remove_file(old.path);
                    }
                    let path = temp_file_in(&self.dir);
                    transfers.insert(
                        chunk.transfer,
                        Incoming {
                            vote: chunk.vote,
                            path: path.clone(),
                            received: len,
                        },
                    );
                    path
                }
            }
        };
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)?;
            file.write_all_at(&chunk.data, chunk.offset)?;
            // Each chunk goes to the disk as it comes: the final fsync then has little left to
            // write, and the disk's queue never holds the whole snapshot at once (this node's
            // own log fsyncs, and those of any node sharing the disk, would wait behind it).
            file.sync_data()
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Completes a transfer: checks it is whole and holds what `meta` announces, fsyncs it, and
    /// opens it for installing. A refused file is deleted; the leader sends the snapshot again.
    pub async fn finish(&self, done: &SnapshotDone) -> io::Result<SnapshotData> {
        let incoming = self
            .transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&done.transfer)
            .ok_or_else(|| {
                refused(format!(
                    "no snapshot transfer {:x} in progress",
                    done.transfer
                ))
            })?;
        if incoming.received != done.len || incoming.vote != done.vote {
            let _ = std::fs::remove_file(&incoming.path);
            return Err(refused(format!(
                "snapshot transfer incomplete: {} of {} bytes",
                incoming.received, done.len
            )));
        }
        let expected = done.meta.clone();
        let path = incoming.path;
        tokio::task::spawn_blocking(move || {
            let checked = (|| {
                std::fs::File::open(&path)?.sync_all()?;
                let found = read_file_meta(&path)?;
                if found != expected {
                    return Err(refused(format!(
                        "snapshot holds {found:?}, its sender announced {expected:?}"
                    )));
                }
                SnapshotData::open(&path)
            })();
            if checked.is_err() {
                let _ = std::fs::remove_file(&path);
            }
            checked
        })
        .await
        .map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(transfer: u64, term: u64, offset: u64, data: &[u8]) -> SnapshotChunk {
        SnapshotChunk {
            transfer,
            vote: Vote::new_committed(term, 1),
            offset,
            data: data.to_vec(),
        }
    }

    fn done(transfer: u64, term: u64, len: u64) -> SnapshotDone {
        SnapshotDone {
            transfer,
            vote: Vote::new_committed(term, 1),
            meta: Default::default(),
            len,
        }
    }

    #[tokio::test]
    async fn chunks_must_arrive_in_order_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = SnapshotInbox::new(dir.path());
        inbox.write_chunk(chunk(1, 2, 0, b"abcd")).await.unwrap();
        // A gap or a repeat is refused.
        assert!(inbox.write_chunk(chunk(1, 2, 8, b"ijkl")).await.is_err());
        assert!(inbox.write_chunk(chunk(1, 2, 0, b"abcd")).await.is_err());
        // A chunk of a transfer that never started is refused.
        assert!(inbox.write_chunk(chunk(9, 2, 4, b"efgh")).await.is_err());
        inbox.write_chunk(chunk(1, 2, 4, b"efgh")).await.unwrap();
        // Announcing more bytes than arrived: refused, and the file is gone.
        let err = inbox.finish(&done(1, 2, 12)).await.unwrap_err();
        assert!(err.to_string().contains("incomplete"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn an_older_leader_cannot_displace_a_newer_transfer() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = SnapshotInbox::new(dir.path());
        inbox.write_chunk(chunk(1, 5, 0, b"new")).await.unwrap();
        assert!(inbox.write_chunk(chunk(2, 4, 0, b"old")).await.is_err());
        // The newer transfer goes on undisturbed.
        inbox.write_chunk(chunk(1, 5, 3, b"er")).await.unwrap();
        // A still newer leader replaces it.
        inbox.write_chunk(chunk(3, 6, 0, b"newest")).await.unwrap();
        assert!(inbox.write_chunk(chunk(1, 5, 5, b"x")).await.is_err());
        // Not a database: refused at the end, file removed.
        assert!(inbox.finish(&done(3, 6, 6)).await.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
