//! Expires cache keys without other cache writes: while this node leads, it watches the earliest
//! `expires_ms` in `_hiqlite_cache` and, once this node's clock has passed it, proposes a
//! `CacheOp::Expire` entry. The entry's time (the leader's clock) decides what it deletes, the
//! same on every node; this task only decides when to propose one.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::OptionalExtension;
use tokio::sync::watch;

use crate::engine::error::Error;
use crate::engine::Engine;
use crate::types::cache::CacheOp;
use crate::types::command::WriteOp;
use crate::types::write_key::WriteKey;

/// Longest pause between two looks at the earliest expiry: how late a key written by another
/// leader (or one this node did not see being written) can expire at worst, beyond replication.
pub const MAX_PAUSE: Duration = Duration::from_millis(250);
/// Shortest pause, so a failing proposal does not spin.
const MIN_PAUSE: Duration = Duration::from_millis(10);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs until `shutdown` turns true.
pub(crate) async fn run(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let pause = if engine.current_leader() == Some(engine.node_id) {
            expire_due(&engine).await
        } else {
            MAX_PAUSE
        };
        tokio::select! {
            _ = shutdown.wait_for(|&stop| stop) => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Proposes an expiry when a key is due; returns how long to wait before looking again.
async fn expire_due(engine: &Engine) -> Duration {
    let earliest = match earliest_expiry(engine).await {
        Ok(Some(ms)) => ms,
        Ok(None) => return MAX_PAUSE,
        Err(e) => {
            tracing::debug!(error = %e, "cache expiry: cannot read the earliest expiry");
            return MAX_PAUSE;
        }
    };
    let now = now_ms();
    if earliest > now {
        let wait = Duration::from_millis(u64::try_from(earliest - now).unwrap_or(0));
        return wait.clamp(MIN_PAUSE, MAX_PAUSE);
    }
    let op = WriteOp::Cache(CacheOp::Expire);
    if let Err(e) = engine.write(WriteKey::new().request_id(), op).await {
        tracing::debug!(error = %e, "cache expiry: the proposal failed; trying again");
    }
    MIN_PAUSE
}

/// The earliest expiry of any key on this node, or `None` when no key expires (or the table does
/// not exist yet: nothing was ever cached).
async fn earliest_expiry(engine: &Engine) -> Result<Option<i64>, Error> {
    engine
        .reads
        .with_conn(|conn| {
            let exists: Option<i64> = conn
                .query_row(
                    "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_hiqlite_cache'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                return Ok(None);
            }
            let earliest: Option<i64> = conn.query_row(
                "SELECT min(expires_ms) FROM _hiqlite_cache WHERE expires_ms IS NOT NULL",
                [],
                |r| r.get(0),
            )?;
            Ok(earliest)
        })
        .await
}
