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
use crate::store::sqlite::snapshot::{temp_file_in, SnapshotData};

/// Largest chunk sent when openraft does not ask for a size.
pub const DEFAULT_CHUNK_BYTES: usize = 1024 * 1024;

/// A piece of a snapshot file.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// Identifies one transfer (random per transfer).
    pub transfer: u64,
    pub offset: u64,
    pub data: Vec<u8>,
}

/// The end of a transfer: install what was received.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotDone {
    pub transfer: u64,
    pub vote: Vote,
    pub meta: SnapshotMetaOf<TypeConfig>,
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
    transfers: Mutex<HashMap<u64, PathBuf>>,
}

impl SnapshotInbox {
    pub fn new(dir: &Path) -> SnapshotInbox {
        SnapshotInbox {
            dir: dir.to_path_buf(),
            transfers: Mutex::new(HashMap::new()),
        }
    }

    /// Writes one chunk. A new transfer abandons older ones (a leader sends one snapshot at a
    /// time; a new one means the old one was given up).
    pub async fn write_chunk(&self, chunk: SnapshotChunk) -> io::Result<()> {
        let path = {
            let mut transfers = self.transfers.lock().unwrap_or_else(|p| p.into_inner());
            if !transfers.contains_key(&chunk.transfer) {
                for (_, old) in transfers.drain() {
                    let _ = std::fs::remove_file(old);
                }
                transfers.insert(chunk.transfer, temp_file_in(&self.dir));
            }
            transfers[&chunk.transfer].clone()
        };
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)?;
            file.write_all_at(&chunk.data, chunk.offset)
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Completes a transfer: fsyncs the file and opens it for installing.
    pub async fn finish(&self, transfer: u64) -> io::Result<SnapshotData> {
        let path = self
            .transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&transfer)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no snapshot transfer {transfer:x} in progress"),
                )
            })?;
        tokio::task::spawn_blocking(move || {
            std::fs::File::open(&path)?.sync_all()?;
            SnapshotData::open(&path)
        })
        .await
        .map_err(io::Error::other)?
    }
}
