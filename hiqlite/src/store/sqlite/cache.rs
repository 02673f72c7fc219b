//! Applying cache and lock operations (`WriteOp::Cache`, format 5). Both live in tables of the
//! replicated database, so snapshots, restarts, self-healing and backups carry them like any
//! table:
//!
//! - `_hiqlite_cache (cache, key, value, expires_ms, written_index)`: one row per live key.
//!   Every cache operation first deletes the keys whose `expires_ms` is at or before its entry
//!   time, so a key disappears at the same log position on every node; the leader proposes a
//!   `CacheOp::Expire` once the earliest expiry has passed (`crate::cache::expirer`), so this
//!   happens without other cache writes too. Readers see the rows as they are (no clock of their
//!   own): between the expiry time and that entry a key is still read.
//! - `_hiqlite_locks (name, token, holder, expires_ms)`: the current grant of each lock. A grant's
//!   token is the log index of the entry that granted it, so tokens only grow. A lease has run
//!   out when an entry's time reaches `expires_ms`.

use rusqlite::OptionalExtension;

use super::ops::OpError;
use super::restore::needs_format;
use super::writer::WriterThread;
use crate::types::cache::{CacheOp, CacheOutput};
use crate::types::command::{SqlError, WriteOutput};
use crate::types::format::Feature;

pub(super) const CREATE_CACHE: &str = "CREATE TABLE IF NOT EXISTS _hiqlite_cache (
    cache TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, expires_ms INTEGER,
    written_index INTEGER NOT NULL, PRIMARY KEY (cache, key)) WITHOUT ROWID";
const CREATE_CACHE_EXPIRY: &str = "CREATE INDEX IF NOT EXISTS _hiqlite_cache_expiry
    ON _hiqlite_cache (expires_ms) WHERE expires_ms IS NOT NULL";
pub(super) const CREATE_LOCKS: &str = "CREATE TABLE IF NOT EXISTS _hiqlite_locks (
    name TEXT PRIMARY KEY, token INTEGER NOT NULL, holder INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL) WITHOUT ROWID";

/// The largest value (bytes) one key may hold: 1 MiB, well under a log entry's size limit.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// The moment `ms` after `now_ms`, saturating at the end of time.
fn after(now_ms: i64, ms: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn refused(message: String) -> OpError {
    OpError::Sql(SqlError::Sqlite { message })
}

impl WriterThread {
    /// Applies one cache or lock operation (inside the entry's savepoint) at `now_ms`, the
    /// entry's time; `index` is the entry's log index (a new lock grant's token).
    pub(super) fn apply_cache(
        &self,
        op: &CacheOp,
        now_ms: i64,
        index: u64,
    ) -> Result<WriteOutput, OpError> {
        if !Feature::Cache.enabled_at(self.format) {
            return Err(needs_format(Feature::Cache, self.format));
        }
        for create in [CREATE_CACHE, CREATE_CACHE_EXPIRY, CREATE_LOCKS] {
            self.with_internal(create, |s| s.execute([]))?;
        }
        let expired = self.with_internal(
            "DELETE FROM _hiqlite_cache WHERE expires_ms IS NOT NULL AND expires_ms <= ?",
            |s| s.execute([now_ms]),
        )? as u64;
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        let output = match op {
            CacheOp::Expire => CacheOutput::Expired(expired),
            CacheOp::Put {
                cache,
                key,
                value,
                ttl_ms,
            } => {
                check_size(value)?;
                let previous = self.cache_get(cache, key)?;
                let expires = ttl_ms.map(|ttl| after(now_ms, ttl));
                self.cache_set(cache, key, value, expires, index)?;
                CacheOutput::Previous(previous.map(|(v, _)| v))
            }
            CacheOp::Delete { cache, key } => {
                let previous = self.cache_get(cache, key)?;
                self.cache_delete(cache, key)?;
                CacheOutput::Previous(previous.map(|(v, _)| v))
            }
            CacheOp::CompareAndSwap {
                cache,
                key,
                expected,
                new,
                ttl_ms,
            } => {
                let previous = self.cache_get(cache, key)?.map(|(v, _)| v);
                let swapped = previous == *expected;
                if swapped {
                    match new {
                        Some(value) => {
                            check_size(value)?;
                            let expires = ttl_ms.map(|ttl| after(now_ms, ttl));
                            self.cache_set(cache, key, value, expires, index)?;
                        }
                        None => self.cache_delete(cache, key)?,
                    }
                }
                CacheOutput::Swapped { swapped, previous }
            }
            CacheOp::Add {
                cache,
                key,
                delta,
                ttl_ms,
            } => {
                let (current, expires) = match self.cache_get(cache, key)? {
                    None => (0, None),
                    Some((bytes, expires)) => {
                        let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                            refused(format!(
                                "cache key holds {} bytes, not a counter (8 bytes)",
                                bytes.len()
                            ))
                        })?;
                        (i64::from_be_bytes(bytes), expires)
                    }
                };
                let new = current
                    .checked_add(*delta)
                    .ok_or_else(|| refused(format!("counter overflow: {current} + {delta}")))?;
                let expires = ttl_ms.map(|ttl| after(now_ms, ttl)).or(expires);
                self.cache_set(cache, key, &new.to_be_bytes(), expires, index)?;
                CacheOutput::Counter(new)
            }
            CacheOp::Lock {
                name,
                holder,
                lease_ms,
            } => self.lock(name, *holder, after(now_ms, *lease_ms), now_ms, index)?,
            CacheOp::Renew {
                name,
                token,
                lease_ms,
            } => {
                let expires = after(now_ms, *lease_ms);
                let held = self.with_internal(
                    "UPDATE _hiqlite_locks SET expires_ms = ?3
                     WHERE name = ?1 AND token = ?2 AND expires_ms > ?4",
                    |s| {
                        s.execute(rusqlite::params![
                            name,
                            i64::try_from(*token).unwrap_or(-1),
                            expires,
                            now_ms
                        ])
                    },
                )? > 0;
                CacheOutput::Held {
                    held,
                    expires_ms: if held { expires } else { now_ms },
                }
            }
            CacheOp::Unlock { name, token } => {
                let held = self.with_internal(
                    "DELETE FROM _hiqlite_locks WHERE name = ? AND token = ? AND expires_ms > ?",
                    |s| {
                        s.execute(rusqlite::params![
                            name,
                            i64::try_from(*token).unwrap_or(-1),
                            now_ms
                        ])
                    },
                )? > 0;
                CacheOutput::Held {
                    held,
                    expires_ms: now_ms,
                }
            }
        };
        Ok(WriteOutput::Cache(output))
    }

    /// Grants lock `name` to `holder` until `expires`, unless another live grant holds it.
    fn lock(
        &self,
        name: &str,
        holder: u64,
        expires: i64,
        now_ms: i64,
        index: i64,
    ) -> Result<CacheOutput, OpError> {
        let holder = holder as i64;
        let current: Option<(i64, i64, i64)> = self.with_internal(
            "SELECT token, holder, expires_ms FROM _hiqlite_locks WHERE name = ?",
            |s| {
                s.query_row([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            },
        )?;
        let token = match current {
            Some((_, other, until)) if other != holder && until > now_ms => {
                return Ok(CacheOutput::Lock {
                    token: None,
                    expires_ms: until,
                })
            }
            // The holder asks again: same grant, longer lease.
            Some((token, _, until)) if until > now_ms => token,
            _ => index,
        };
        self.with_internal(
            "INSERT OR REPLACE INTO _hiqlite_locks (name, token, holder, expires_ms)
             VALUES (?, ?, ?, ?)",
            |s| s.execute(rusqlite::params![name, token, holder, expires]),
        )?;
        Ok(CacheOutput::Lock {
            token: Some(token as u64),
            expires_ms: expires,
        })
    }

    fn cache_get(
        &self,
        cache: &str,
        key: &[u8],
    ) -> rusqlite::Result<Option<(Vec<u8>, Option<i64>)>> {
        self.with_internal(
            "SELECT value, expires_ms FROM _hiqlite_cache WHERE cache = ? AND key = ?",
            |s| {
                s.query_row(rusqlite::params![cache, key], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            },
        )
    }

    fn cache_set(
        &self,
        cache: &str,
        key: &[u8],
        value: &[u8],
        expires_ms: Option<i64>,
        index: i64,
    ) -> rusqlite::Result<()> {
        self.with_internal(
            "INSERT OR REPLACE INTO _hiqlite_cache (cache, key, value, expires_ms, written_index)
             VALUES (?, ?, ?, ?, ?)",
            |s| s.execute(rusqlite::params![cache, key, value, expires_ms, index]),
        )
        .map(|_| ())
    }

    fn cache_delete(&self, cache: &str, key: &[u8]) -> rusqlite::Result<()> {
        self.with_internal(
            "DELETE FROM _hiqlite_cache WHERE cache = ? AND key = ?",
            |s| s.execute(rusqlite::params![cache, key]),
        )
        .map(|_| ())
    }
}

fn check_size(value: &[u8]) -> Result<(), OpError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(refused(format!(
            "cache value of {} bytes exceeds the limit of {MAX_VALUE_BYTES} bytes",
            value.len()
        )));
    }
    Ok(())
}
