//! openraft's storage conformance suite, run against the rocksdb [`LogStore`].
//!
//! The suite needs a state machine next to the log store. This one is a minimal in-memory state
//! machine (like openraft's memstore examples) so that only the log store is under test here; the
//! SQLite state machine runs the same suite in its own test.

use std::io::{self, Cursor};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use hiqlite::raft::log_store::LogStore;
use hiqlite::raft::{LogId, StoredMembership, TypeConfig};
use hiqlite::store::command::ApplyResult;
use openraft::storage::{EntryResponder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf};
use openraft::type_config::TypeConfigExt;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageError};
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_passes_openraft_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(RocksBuilder).await
}

/// Builds a fresh log store in its own temporary directory (the guard deletes it afterwards).
struct RocksBuilder;

impl StoreBuilder<TypeConfig, LogStore, MemStateMachine, TempDir> for RocksBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore, MemStateMachine), StorageError<TypeConfig>> {
        let to_storage_error = |e: io::Error| StorageError::write(TypeConfig::err_from_error(&e));
        let dir = tempfile::tempdir().map_err(to_storage_error)?;
        let store = LogStore::open(dir.path(), true).map_err(to_storage_error)?;
        Ok((dir, store, MemStateMachine::default()))
    }
}

/// What the minimal state machine holds: where it is, and its snapshot.
#[derive(Default, Clone, Serialize, Deserialize)]
struct SmState {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

/// The current snapshot: its meta and the encoded [`SmState`].
type StoredSnapshot = (SnapshotMetaOf<TypeConfig>, Vec<u8>);

#[derive(Default, Clone)]
struct MemStateMachine {
    state: Arc<Mutex<SmState>>,
    snapshot: Arc<Mutex<Option<StoredSnapshot>>>,
}

impl MemStateMachine {
    fn state(&self) -> SmState {
        self.state.lock().expect("state lock").clone()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for MemStateMachine {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(
        &mut self,
    ) -> Result<SnapshotOf<TypeConfig, Self::SnapshotData>, io::Error> {
        let state = self.state();
        let data = postcard::to_allocvec(&state).map_err(io::Error::other)?;
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.last_membership,
        };
        *self.snapshot.lock().expect("snapshot lock") = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}

impl RaftStateMachine<TypeConfig> for MemStateMachine {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let state = self.state();
        Ok((state.last_applied, state.last_membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            {
                let mut state = self.state.lock().expect("state lock");
                if let EntryPayload::Membership(membership) = entry.payload {
                    state.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                }
                state.last_applied = Some(entry.log_id);
            }
            if let Some(responder) = responder {
                responder.send(ApplyResult(None));
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: Self::SnapshotData,
    ) -> Result<(), io::Error> {
        let data = snapshot.into_inner();
        let state: SmState = postcard::from_bytes(&data).map_err(io::Error::other)?;
        *self.state.lock().expect("state lock") = state;
        *self.snapshot.lock().expect("snapshot lock") = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, Self::SnapshotData>>, io::Error> {
        let current = self.snapshot.lock().expect("snapshot lock").clone();
        Ok(current.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Cursor::new(data),
        }))
    }
}
