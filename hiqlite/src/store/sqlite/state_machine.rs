//! openraft's `RaftStateMachine` on SQLite: hands committed entries to the writer thread,
//! reports what the database durably holds, and builds/installs snapshots (see `snapshot`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf};
use tokio::sync::watch;

use super::reader::ReadPool;
pub use super::snapshot::SnapshotData;
use super::snapshot::SnapshotStore;
use super::writer::SqliteWriter;
use crate::types::disk::DiskSpace;
use crate::types::raft::{LogId, StoredMembership, TypeConfig};

/// The SQLite state machine of one node.
pub struct StateMachine {
    writer: Arc<SqliteWriter>,
    snapshots: SnapshotStore,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl StateMachine {
    /// Opens the database `db_dir/filename` (created if missing) and starts its writer thread.
    /// Snapshots live in `db_dir/snapshots`.
    pub fn open(db_dir: &Path, filename: &str) -> io::Result<StateMachine> {
        Self::open_reporting(db_dir, filename, DiskSpace::default())
    }

    /// [`open`](Self::open), reporting a full disk to `disk`: applying entries and building
    /// snapshots wait for space (and say so there) instead of failing, since openraft stops for
    /// good on a state machine error (see `types::disk`).
    pub fn open_reporting(
        db_dir: &Path,
        filename: &str,
        disk: DiskSpace,
    ) -> io::Result<StateMachine> {
        std::fs::create_dir_all(db_dir)?;
        let path: PathBuf = db_dir.join(filename);
        let (writer, state) = match SqliteWriter::open_reporting(&path, disk.clone()) {
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let moved = set_aside(&path)?;
                tracing::error!(
                    "the database {} is damaged ({e}); moved it to {} and starting from an empty \
                     database, rebuilt from the local snapshot and log or from the leader",
                    path.display(),
                    moved.display()
                );
                SqliteWriter::open_reporting(&path, disk.clone())?
            }
            other => other?,
        };
        let snapshots = SnapshotStore::open(&path, &db_dir.join("snapshots"))?.with_disk(disk);
        Ok(StateMachine {
            writer: Arc::new(writer),
            snapshots,
            last_applied: state.last_applied,
            membership: state.membership,
        })
    }

    /// A pool of read-only connections to the same database.
    pub fn read_pool(&self, size: usize) -> io::Result<Arc<ReadPool>> {
        ReadPool::open(self.writer.db_path(), size, self.writer.schema_generation())
            .map_err(|e| io::Error::other(format!("SQLite: {e}")))
    }

    /// What SQLite holds: the last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }

    /// The last log id covered by the local snapshot.
    pub fn snapshot_last_log_id(&self) -> Option<LogId> {
        self.snapshots.current_meta().and_then(|m| m.last_log_id)
    }

    /// Builds a snapshot of the database as it is now.
    pub async fn snapshot_now(&mut self) -> io::Result<()> {
        use openraft::storage::RaftSnapshotBuilder;
        self.snapshots.clone().build_snapshot().await.map(|_| ())
    }

    /// The directory incoming snapshot transfers are written to.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.snapshots.dir().to_path_buf()
    }

    /// The current snapshot's file (absent before the first snapshot).
    pub fn snapshot_file(&self) -> PathBuf {
        self.snapshots.file()
    }

    /// The index of the last entry whose effects are committed in SQLite (visible to readers).
    /// How far this node's clock is from the time of the entries it applies.
    pub fn clock_offset(&self) -> super::clock::ClockOffset {
        self.writer.clock_offset()
    }

    /// The cluster's format as this node applies it (see `types::format`).
    /// Where committed notifications and table changes are published (see `store::events`).
    pub fn events(&self) -> Arc<crate::store::events::Events> {
        self.writer.events()
    }

    pub fn cluster_format(&self) -> crate::types::format::ClusterFormat {
        self.writer.cluster_format()
    }

    pub fn applied_index(&self) -> watch::Receiver<u64> {
        self.writer.applied_index()
    }

    /// The lineage of the database's history (see `SqliteWriter::lineage`).
    pub fn lineage(&self) -> watch::Receiver<u64> {
        self.writer.lineage()
    }
}

/// Renames a damaged database (and its WAL and shared-memory files) out of the way, keeping it
/// for inspection; returns its new name.
fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let moved = PathBuf::from(format!("{}.damaged-{stamp}", path.display()));
    std::fs::rename(path, &moved)?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            std::fs::rename(&side, format!("{}{suffix}", moved.display()))?;
        }
    }
    Ok(moved)
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotStore;

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
        let last_log_id = last.log_id();
        let membership = items.iter().rev().find_map(|(e, _)| {
            e.get_membership()
                .map(|m| StoredMembership::new(Some(e.log_id()), m))
        });
        self.writer.apply(items).await?;
        self.last_applied = Some(last_log_id);
        if let Some(m) = membership {
            self.membership = m;
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshots.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: SnapshotData,
    ) -> io::Result<()> {
        let t0 = std::time::Instant::now();
        let file = self.snapshots.verify(meta, snapshot).await?;
        let verified = t0.elapsed();
        let state = self.writer.restore(file.clone()).await?;
        let restored = t0.elapsed();
        self.snapshots.keep_installed(file, meta.clone()).await?;
        tracing::info!(
            "snapshot installed at {:?}: verify {:?}, restore {:?}, keep {:?}",
            meta.last_log_id,
            verified,
            restored - verified,
            t0.elapsed() - restored
        );
        self.last_applied = state.last_applied;
        self.membership = state.membership;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> io::Result<Option<SnapshotOf<TypeConfig, SnapshotData>>> {
        self.snapshots.current().await
    }
}
