//! Self-healing at start-up: makes the Raft log and the SQLite database agree before Raft reads
//! them (see docs/operations.md for every case).

use crate::config::NodeConfig;
use crate::engine::error::Error;
use crate::raft::log_store::LogStore;
use crate::store::sqlite::state_machine::StateMachine;

/// Warns when the node has a Raft log but its SQLite file is gone (deleted, or a volume mounted
/// without it): the database is rebuilt, from the local snapshot and the log or from the leader.
pub(super) fn warn_if_database_missing(config: &NodeConfig) {
    let logs = config.data_dir.join("logs");
    let has_log = std::fs::read_dir(&logs).is_ok_and(|mut entries| entries.next().is_some());
    let db = config.data_dir.join("db").join(&config.filename_db);
    if has_log && !db.exists() {
        tracing::warn!(
            "the database file {} is missing although the Raft log in {} is not empty; \
             rebuilding it from the local snapshot and log (or from the leader's snapshot)",
            db.display(),
            logs.display()
        );
    }
}

/// Self-healing at start-up, before Raft reads the storage:
/// - the database lost entries (a deleted or damaged file) that neither the local snapshot nor
///   the log can restore (the log was purged past them): forget the log, keep the vote. The node
///   then looks like one that fell far behind, and the leader sends it a snapshot;
/// - the log lost entries the database already holds (a deleted log directory): openraft treats
///   them as purged, which requires a snapshot covering them, so build one now.
///
/// Otherwise openraft rebuilds locally: the newer of snapshot and database, then the log.
pub(super) async fn reconcile_log_with_state(
    log_store: &LogStore,
    state_machine: &mut StateMachine,
) -> Result<(), Error> {
    use openraft::storage::RaftLogStorage;
    let mut store = log_store.clone();
    let log_state = store
        .get_log_state()
        .await
        .map_err(|e| Error::Storage(format!("cannot read the Raft log state: {e}")))?;
    let applied = state_machine.last_applied();
    let snapshot = state_machine.snapshot_last_log_id();
    let restorable = applied.max(snapshot).map(|l| l.index());
    if let Some(purged) = log_state.last_purged_log_id {
        if restorable.is_none_or(|r| r < purged.index()) {
            tracing::warn!(
                ?restorable,
                purged = purged.index(),
                "the database lost entries that the local log no longer holds; forgetting the log \
                 (keeping the vote) so that the leader sends a snapshot"
            );
            return log_store
                .forget_logs()
                .await
                .map_err(|e| Error::Storage(format!("cannot reset the Raft log: {e}")));
        }
    }
    let log_end = log_state.last_log_id.map(|l| l.index());
    if applied.map(|l| l.index()) > log_end && snapshot < applied {
        tracing::warn!(
            applied = ?applied.map(|l| l.index()),
            ?log_end,
            "the Raft log lost entries the database holds; taking a snapshot to cover them"
        );
        state_machine
            .snapshot_now()
            .await
            .map_err(|e| Error::Storage(format!("cannot build a snapshot: {e}")))?;
    }
    Ok(())
}

/// Waits until Raft reports the state it recovered from disk: `Raft::new` returns before its
/// core has loaded the log, and until then its metrics show an empty membership and no log. A
/// node must not answer `status` (or decide anything from metrics) with that placeholder: a
/// restarted member would claim to belong to no cluster.
///
/// `expected_last` is the log store's last log index read before Raft started. Gives up after
/// `timeout` with a warning (the listeners then start anyway; metrics catch up by themselves).
pub(super) async fn wait_for_recovered_state(
    raft: &crate::raft::Raft<StateMachine>,
    expected_last: Option<u64>,
    timeout: std::time::Duration,
) {
    let loaded = raft
        .wait(Some(timeout))
        .metrics(
            |m| m.last_log_index >= expected_last,
            "Raft reports the recovered log",
        )
        .await;
    if let Err(e) = loaded {
        tracing::warn!(
            ?expected_last,
            "Raft has not reported its recovered state yet: {e}"
        );
    }
}

/// The index of the last entry in the local Raft log (or the last purged one), as openraft will
/// see it when it starts.
pub(super) async fn last_log_index(log_store: &LogStore) -> Result<Option<u64>, Error> {
    use openraft::storage::RaftLogStorage;
    let state = log_store
        .clone()
        .get_log_state()
        .await
        .map_err(|e| Error::Storage(format!("cannot read the Raft log state: {e}")))?;
    Ok(state
        .last_log_id
        .or(state.last_purged_log_id)
        .map(|l| l.index()))
}
