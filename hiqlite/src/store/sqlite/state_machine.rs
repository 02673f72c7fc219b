//! openraft's `RaftStateMachine` on SQLite: hands committed entries to the writer thread and
//! reports what the database durably holds.
//!
//! Snapshots are not built yet (snapshot policy is "never" and logs are never purged), so a
//! lagging follower always catches up from the log; streaming snapshots come with self-healing.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf};
use tokio::sync::watch;

use super::reader::ReadPool;
use super::writer::SqliteWriter;
use crate::raft::{LogId, StoredMembership, TypeConfig};

/// The SQLite state machine of one node.
pub struct StateMachine {
    writer: Arc<SqliteWriter>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// Snapshot payload: a copy of the database file (not produced yet, see the module docs).
pub type SnapshotData = std::io::Cursor<Vec<u8>>;

impl StateMachine {
    /// Opens the database `db_dir/filename` (created if missing) and starts its writer thread.
    pub fn open(db_dir: &Path, filename: &str) -> io::Result<StateMachine> {
        std::fs::create_dir_all(db_dir)?;
        let path: PathBuf = db_dir.join(filename);
        let (writer, state) = SqliteWriter::open(&path)?;
        Ok(StateMachine {
            writer: Arc::new(writer),
            last_applied: state.last_applied,
            membership: state.membership,
        })
    }

    /// A pool of read-only connections to the same database.
    pub fn read_pool(&self, size: usize) -> io::Result<Arc<ReadPool>> {
        ReadPool::open(self.writer.db_path(), size)
            .map_err(|e| io::Error::other(format!("SQLite: {e}")))
    }

    /// The index of the last entry whose effects are committed in SQLite (visible to readers).
    pub fn applied_index(&self) -> watch::Receiver<u64> {
        self.writer.applied_index()
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = NoSnapshots;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + Send,
    {
        let mut items = Vec::new();
        while let Some(item) = entries.next().await {
            items.push(item?);
        }
        let Some((last, _)) = items.last() else {
            return Ok(());
        };
        let last_log_id = openraft::entry::RaftEntry::log_id(last);
        let membership = items
            .iter()
            .rev()
            .find_map(|(e, _)| openraft::entry::RaftEntry::get_membership(e).map(|m| (e, m)))
            .map(|(e, m)| StoredMembership::new(Some(openraft::entry::RaftEntry::log_id(e)), m));
        self.writer.apply(items).await?;
        self.last_applied = Some(last_log_id);
        if let Some(m) = membership {
            self.membership = m;
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        NoSnapshots
    }

    async fn install_snapshot(
        &mut self,
        _meta: &SnapshotMetaOf<TypeConfig>,
        _snapshot: SnapshotData,
    ) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "installing snapshots is not implemented yet (logs are never purged, so none is needed)",
        ))
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> io::Result<Option<SnapshotOf<TypeConfig, SnapshotData>>> {
        Ok(None)
    }
}

/// Snapshot builder placeholder until streamed snapshots land.
pub struct NoSnapshots;

impl RaftSnapshotBuilder<TypeConfig> for NoSnapshots {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<TypeConfig, SnapshotData>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "building snapshots is not implemented yet",
        ))
    }
}
