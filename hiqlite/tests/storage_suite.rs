//! openraft's storage conformance suite, run against the real storage of a node: the rocksdb
//! [`LogStore`] together with the SQLite [`StateMachine`] (log state, vote, purge/truncate,
//! membership recovery, applied state, and building/installing snapshots).

use std::io;

use hiqlite::raft::log_store::LogStore;
use hiqlite::raft::TypeConfig;
use hiqlite::store::sqlite::state_machine::StateMachine;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use openraft::StorageError;
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_and_sqlite_state_machine_pass_openraft_suite(
) -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(NodeStorageBuilder).await
}

/// Builds a fresh log store and state machine in their own temporary directory.
struct NodeStorageBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for NodeStorageBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let to_storage_error = |e: io::Error| StorageError::write(TypeConfig::err_from_error(&e));
        let dir = tempfile::tempdir().map_err(to_storage_error)?;
        let store = LogStore::open(&dir.path().join("logs"), true).map_err(to_storage_error)?;
        let sm =
            StateMachine::open(&dir.path().join("db"), "hiqlite.db").map_err(to_storage_error)?;
        Ok((dir, store, sm))
    }
}
