//! `hiqlite recover`: when a majority of the voters is lost for good, makes one stopped node's
//! log and database the start of a new cluster with the members given, like etcd's
//! `--force-new-cluster` or rqlite's `peers.json`.
//!
//! Raft cannot do this by itself: the stored membership always wins, and without a majority of it
//! nothing commits. So, offline, the node's log gets one more entry: a membership of the new
//! members, under a new term in which this node is the leader (its vote is stored committed for
//! itself). Started with the new member list, the node is the leader at once (openraft restores a
//! committed leader at start), and the new membership entry commits with a majority of the new
//! members, committing every entry the node had before it. What the node never received is lost:
//! [`RecoveryReport`] says what that can be.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use openraft::entry::RaftEntry;
use openraft::storage::RaftLogStorage;
use openraft::vote::{RaftLeaderId, RaftLeaderIdExt};
use openraft::{Membership, RaftLogReader};

use crate::engine::error::Error;
use crate::raft::log_store::LogStore;
use crate::raft::{Entry, LogId, Member, NodeId, TypeConfig, Vote};
use crate::store::sqlite::writer::AppliedState;

/// What the node held, and what the recovery did (or, with `dry_run`, would do).
#[derive(Debug, Clone)]
pub struct RecoveryReport {
    pub node_id: NodeId,
    /// The last entry of the node's log (index, term).
    pub last_log: Option<(u64, u64)>,
    /// The last index the node knew to be committed.
    pub committed: Option<u64>,
    /// The last index its database had applied.
    pub applied: Option<u64>,
    /// The membership in its log before the recovery.
    pub old_voters: Vec<NodeId>,
    pub old_learners: Vec<NodeId>,
    /// The new cluster: every member a voter.
    pub members: Vec<Member>,
    /// Index and term of the new membership entry, under which this node leads.
    pub new_entry: (u64, u64),
    /// `true` if nothing was written.
    pub dry_run: bool,
}

/// Makes the node `node_id` whose data is in `data_dir` the first member of a new cluster of
/// `members` (all voters; `node_id` must be one of them). Run it only while the node is stopped
/// (the log store refuses to open otherwise). With `dry_run` nothing is written.
pub async fn recover(
    data_dir: &Path,
    filename_db: &str,
    node_id: NodeId,
    members: Vec<Member>,
    dry_run: bool,
) -> Result<RecoveryReport, Error> {
    check_members(node_id, &members)?;
    let logs = data_dir.join("logs");
    if !logs.is_dir() {
        return Err(Error::Config(format!(
            "{} has no Raft log (no {}): is this the node's data directory?",
            data_dir.display(),
            logs.display()
        )));
    }
    let mut store = LogStore::open(&logs, true).map_err(|e| {
        Error::Storage(format!(
            "cannot open the Raft log in {} (is the node still running? stop it first): {e}",
            logs.display()
        ))
    })?;
    let result = recover_with(&mut store, data_dir, filename_db, node_id, members, dry_run).await;
    store.close();
    result
}

async fn recover_with(
    store: &mut LogStore,
    data_dir: &Path,
    filename_db: &str,
    node_id: NodeId,
    members: Vec<Member>,
    dry_run: bool,
) -> Result<RecoveryReport, Error> {
    let storage = |e: std::io::Error| Error::Storage(format!("reading the Raft log: {e}"));
    let state = store.get_log_state().await.map_err(storage)?;
    let vote = store.read_vote().await.map_err(storage)?;
    let committed = store.read_committed().await.map_err(storage)?;
    let applied = applied_state(data_dir, filename_db);
    let Some(last) = state.last_log_id else {
        return Err(Error::Config(format!(
            "the Raft log in {} is empty: this node holds no data to recover from",
            data_dir.display()
        )));
    };
    let first = state.last_purged_log_id.map_or(0, |l| l.index() + 1);
    let entries = store
        .try_get_log_entries(first..=last.index())
        .await
        .map_err(storage)?;
    // The last membership in the log, or (all of it purged) the one the database applied.
    let old = entries
        .iter()
        .rev()
        .find_map(|e| e.get_membership())
        .or_else(|| applied.as_ref().map(|a| a.membership.membership().clone()))
        .map(|m| (m.voter_ids().collect(), m.learner_ids().collect()))
        .unwrap_or_default();

    let term = vote
        .map(|v| v.leader_id().term())
        .unwrap_or(0)
        .max(last.leader_id.term())
        + 1;
    let index = last.index() + 1;
    let report = RecoveryReport {
        node_id,
        last_log: Some((last.index(), last.leader_id.term())),
        committed: committed.map(|l| l.index()),
        applied: applied.and_then(|a| a.last_applied).map(|l| l.index()),
        old_voters: old.0,
        old_learners: old.1,
        members: members.clone(),
        new_entry: (index, term),
        dry_run,
    };
    if dry_run {
        return Ok(report);
    }

    let voters: BTreeSet<NodeId> = members.iter().map(|m| m.id).collect();
    let nodes: BTreeMap<NodeId, Member> = members.into_iter().map(|m| (m.id, m)).collect();
    let membership = Membership::new(vec![voters], nodes)
        .map_err(|e| Error::Config(format!("invalid membership: {e}")))?;
    let leader =
        <openraft::type_config::alias::LeaderIdOf<TypeConfig>>::new_committed(term, node_id);
    let entry = Entry::new_membership(LogId::new(leader, index), membership);
    let vote = Vote::new_committed(term, node_id);
    store
        .force_vote_and_append(&vote, &entry)
        .await
        .map_err(|e| Error::Storage(format!("writing the new membership: {e}")))?;
    Ok(report)
}

/// What the database says it applied, if it can be read.
fn applied_state(data_dir: &Path, filename_db: &str) -> Option<AppliedState> {
    let path = data_dir.join("db").join(filename_db);
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(path, flags).ok()?;
    crate::store::sqlite::writer::read_applied_state(&conn).ok()
}

/// The new member list must include the node, and give every member its own id and addresses.
fn check_members(node_id: NodeId, members: &[Member]) -> Result<(), Error> {
    let mut problems = Vec::new();
    if !members.iter().any(|m| m.id == node_id) {
        problems.push(format!(
            "--node-id {node_id} is not in the new members (--node): the recovered node must be one"
        ));
    }
    let mut ids = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    for m in members {
        if !ids.insert(m.id) {
            problems.push(format!("node id {} is given twice", m.id));
        }
        for addr in [&m.raft_addr, &m.api_addr] {
            if !addrs.insert(addr.to_ascii_lowercase()) {
                problems.push(format!("address {addr} is given twice"));
            }
        }
    }
    match problems.len() {
        0 => Ok(()),
        _ => Err(Error::Config(problems.join("; "))),
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.node_id;
        let opt = |v: Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
        let (last_index, last_term) = self.last_log.unwrap_or((0, 0));
        writeln!(
            f,
            "node {n}: its log ends at index {last_index} (term {last_term}); it knew entries up \
             to index {} as committed; its database had applied up to index {}.",
            opt(self.committed),
            opt(self.applied)
        )?;
        writeln!(
            f,
            "old members: voters {:?}, learners {:?}",
            self.old_voters, self.old_learners
        )?;
        let list: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{} {} {}", m.id, m.raft_addr, m.api_addr))
            .collect();
        writeln!(f, "new members (all voters): {}", list.join(", "))?;
        writeln!(f, "what may be lost:")?;
        writeln!(
            f,
            "  - writes the old cluster committed after index {last_index} (acknowledged by lost \
             nodes without node {n}) are gone. If another surviving node's log ends later, \
             recover that node instead (compare with --dry-run on each)."
        )?;
        if self.committed.unwrap_or(0) < last_index {
            writeln!(
                f,
                "  - entries {}..={last_index} were not known to be committed; they are kept and \
                 become committed (their clients may have been told the outcome was unknown).",
                self.committed.map_or(1, |c| c + 1)
            )?;
        }
        let (index, term) = self.new_entry;
        if self.dry_run {
            writeln!(
                f,
                "dry run: nothing was changed; without --dry-run, index {index} (term {term}) \
                 would hold the new membership."
            )
        } else {
            writeln!(
                f,
                "done: index {index} (term {term}) holds the new membership, and node {n} leads \
                 term {term}.\nnext: start node {n} with exactly these members as `nodes`; start \
                 every other new member with an EMPTY data directory and the same `nodes`."
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: NodeId, port: u16) -> Member {
        Member {
            id,
            raft_addr: format!("127.0.0.1:{port}"),
            api_addr: format!("127.0.0.1:{}", port + 100),
        }
    }

    #[test]
    fn the_node_must_be_a_new_member() {
        let e = check_members(1, &[member(2, 8000)]).unwrap_err();
        assert!(
            e.to_string()
                .contains("--node-id 1 is not in the new members"),
            "{e}"
        );
        check_members(1, &[member(1, 8000), member(2, 8001)]).unwrap();
        let e = check_members(1, &[member(1, 8000), member(1, 8001)]).unwrap_err();
        assert!(e.to_string().contains("node id 1 is given twice"), "{e}");
    }

    #[tokio::test]
    async fn an_empty_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = recover(dir.path(), "hiqlite.db", 1, vec![member(1, 8000)], false)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("has no Raft log"), "{e}");
    }
}
