//! Format versions: which log entries, snapshots and messages a binary can read and write, so
//! that a cluster can be upgraded one node at a time.
//!
//! One number, the *format*, names everything nodes must agree on: the encoding of log entries,
//! snapshots and messages, and how an entry is applied (the same entry must give the same result
//! on every node). Each binary speaks a range of formats, [`OLDEST`]..=[`NEWEST`]:
//!
//! - **On every connection** the handshake carries both sides' ranges (`net::handshake`); the
//!   connection uses the newest format both speak, and a peer whose range does not overlap is
//!   refused with a message naming both ranges. A peer of format 1 predates this and says
//!   nothing: it is taken to speak exactly format 1.
//! - **In the log** the cluster's format is itself replicated: a `WriteOp::SetFormat` entry raises
//!   it, and every entry after it is read and applied in the new format. The leader proposes it
//!   only once every member has shown, on its Raft connection, that it speaks the new format, so
//!   features that need it stay off until the last node is upgraded.
//! - **In snapshots** the cluster's format is stored with the data (`_hiqlite_meta`), so a node
//!   that catches up from a snapshot learns it too. A node refuses, with an error naming both
//!   numbers, an entry or snapshot of a format newer than [`NEWEST`].
//!
//! Formats (see docs/upgrades.md for the policy of which releases run together):
//!
//! | format | first in | adds |
//! |---|---|---|
//! | 1 | commit f4f5ed9 | — |
//! | 2 | 0.1.0 | format negotiation; node identity proof; the full node status and precise remote errors; deterministic SQL functions and rules whose results differ from format 1 (see [`Feature`]) |
//! | 3 | 0.1.0 (main after commit ecbeb24) | streaming reads on the API port (cursor requests); backup requests (`ApiRequest::Backup`, `Backups`); nothing in log entries or snapshots changes |
//! | 4 | 0.1.0 (main after commit 657482d) | log entries: restoring a backup through the log (`WriteOp::RestoreChunk`, `RestoreCommit`), claiming scheduled ticks (`WriteOp::ClaimTick`); API: `ApiRequest::Restore` |
//! | 5 | 0.1.0 (main after commit 4febdce) | log entries: notifications (`WriteOp::Notify`, [`Feature::Notify`]); the replicated cache and distributed locks (`WriteOp::Cache`, [`Feature::Cache`]) |

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// A format version (see the module docs).
pub type Format = u8;

/// The oldest format this binary reads and writes: it runs in a cluster with format-1 nodes.
pub const OLDEST: Format = 1;

/// The newest format this binary speaks, which a cluster of such binaries raises itself to.
pub const NEWEST: Format = 5;

/// The format of a peer that says nothing about formats (it predates them: commit f4f5ed9).
pub const UNMARKED_PEER: Format = 1;

/// The range of formats one side speaks, as sent in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatRange {
    pub oldest: Format,
    pub newest: Format,
}

impl FormatRange {
    /// This binary's range.
    pub const OURS: FormatRange = FormatRange {
        oldest: OLDEST,
        newest: NEWEST,
    };

    /// What a peer that says nothing about formats speaks: format 1 only.
    pub const UNMARKED: FormatRange = FormatRange {
        oldest: UNMARKED_PEER,
        newest: UNMARKED_PEER,
    };

    /// The newest format both ranges contain, or `None` when they do not overlap.
    pub fn agree(self, other: FormatRange) -> Option<Format> {
        let newest = self.newest.min(other.newest);
        (newest >= self.oldest.max(other.oldest)).then_some(newest)
    }

    /// Whether `format` is in this range.
    pub fn contains(self, format: Format) -> bool {
        (self.oldest..=self.newest).contains(&format)
    }
}

impl fmt::Display for FormatRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.oldest == self.newest {
            write!(f, "format {}", self.oldest)
        } else {
            write!(f, "formats {}..={}", self.oldest, self.newest)
        }
    }
}

/// Behaviour that changed between formats: while the cluster runs an older format, every node
/// applies entries the older way, so nodes of both versions compute the same results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// An entry's time never goes back: `max(leader clock, previous entry's time)`.
    MonotonicEntryTime,
    /// The math functions (`sqrt`, `exp`, ...) computed by Hiqlite in pure Rust, bit-identical on
    /// every platform.
    PortableMath,
    /// `VACUUM` is replicated (it runs outside the entry's transaction).
    Vacuum,
    /// Streaming reads over the API port (`ApiRequest::OpenCursor` and the requests that follow
    /// it). A property of a connection, not of the cluster: a remote client checks the format of
    /// its own connection (`RpcClient::peer_format`), and reads in one go from a node that does
    /// not speak it.
    StreamingReads,
    /// Restoring a backup through the log: `WriteOp::RestoreChunk` and `WriteOp::RestoreCommit`.
    Restore,
    /// Scheduled jobs whose ticks are claimed through the log (`WriteOp::ClaimTick`).
    ScheduledTicks,
    /// Notifications published through the log (`WriteOp::Notify`).
    Notify,
    /// The replicated cache and distributed locks (`WriteOp::Cache`).
    Cache,
}

impl Feature {
    /// The first cluster format with this feature.
    pub fn since(self) -> Format {
        match self {
            Feature::MonotonicEntryTime | Feature::PortableMath | Feature::Vacuum => 2,
            Feature::StreamingReads => 3,
            Feature::Restore | Feature::ScheduledTicks => 4,
            Feature::Notify => 5,
            Feature::Cache => 5,
        }
    }

    /// Whether a cluster (or, for [`Feature::StreamingReads`], a connection) running `format`
    /// has this feature.
    pub fn enabled_at(self, format: Format) -> bool {
        format >= self.since()
    }
}

/// The cluster's format as this node's state machine last applied it, shared by the writer (which
/// sets it) with the node's status, its Raft connections and its clients (which read or await it).
#[derive(Debug, Clone)]
pub struct ClusterFormat(Arc<watch::Sender<Format>>);

impl ClusterFormat {
    pub fn new(format: Format) -> ClusterFormat {
        ClusterFormat(Arc::new(watch::Sender::new(format)))
    }

    pub fn get(&self) -> Format {
        *self.0.borrow()
    }

    pub fn set(&self, format: Format) {
        self.0.send_replace(format);
    }

    /// Returns once the cluster runs `format` or a newer one.
    pub async fn reached(&self, format: Format) {
        let mut changes = self.0.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = changes.wait_for(|&now| now >= format).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_agree_on_the_newest_common_format() {
        let r = |oldest, newest| FormatRange { oldest, newest };
        assert_eq!(r(1, 2).agree(r(1, 1)), Some(1));
        assert_eq!(r(1, 2).agree(r(1, 3)), Some(2));
        assert_eq!(r(2, 3).agree(r(1, 1)), None);
        assert_eq!(r(1, 1).agree(r(2, 2)), None);
        assert_eq!(FormatRange::OURS.agree(FormatRange::OURS), Some(NEWEST));
    }
}
