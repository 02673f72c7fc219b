//! A full disk, as the engine handles it (see `types::disk` for why the storage waits for space
//! instead of failing):
//!
//! - writes sent to this node fail at once with [`Error::DiskFull`]: the node could not apply
//!   them (so a read here after the write would not see it), and a write it took as leader would
//!   commit on the others but wait here for space;
//! - while this node leads, it hands leadership to the most caught-up voter ([`watch_disk`]),
//!   again every second until another node leads: the cluster keeps taking writes if a majority
//!   has space. As a follower it lags until space returns, then catches up by itself;
//! - local reads go on (they write nothing).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::error::Error;
use super::Engine;

/// How often a leader with a full disk tries again to hand leadership over.
const HAND_OVER_EVERY: Duration = Duration::from_secs(1);

impl Engine {
    /// [`Error::DiskFull`] while a part of this node reports a full disk.
    pub(crate) fn disk_full_error(&self) -> Option<Error> {
        let state = self.disk.state();
        let full = state.first()?;
        Some(Error::DiskFull {
            node_id: self.node_id,
            what: full.user.to_string(),
            path: full.path.display().to_string(),
            detail: full.detail.clone(),
        })
    }
}

/// Runs until `shutdown`: whenever this node leads while its disk is full, hands leadership over.
pub(crate) async fn watch_disk(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let mut disk = engine.disk.subscribe();
    loop {
        let full = disk.borrow_and_update().first().is_some();
        if full && engine.current_leader() == Some(engine.node_id) {
            tracing::warn!("this leader's disk is full: handing leadership over");
            // Raft may itself wait for the disk (a vote being saved): never hold up a shutdown.
            tokio::select! {
                _ = shutdown.changed() => return,
                () = engine.hand_over_leadership() => {}
            }
        }
        let wait = if full {
            HAND_OVER_EVERY
        } else {
            Duration::from_secs(3600)
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            changed = disk.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
