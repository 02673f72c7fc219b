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
//! - `_hiqlite_cache_bytes`: the sum of key and value lengths, for the bound the leader carries
//!   in each write (`cache_max_bytes`): over it, keys are evicted, soonest expiry first, then
//!   least recently written (`written_index`), the same keys on every node.
//! - `_hiqlite_locks (name, token, holder, expires_ms)`: the current grant of each lock. A grant's
//!   token is the log index of the entry that granted it, so tokens only grow. A lease has run
//!   out when an entry's time reaches `expires_ms`.

use rusqlite::OptionalExtension;

use super::ops::needs_format;
use super::ops::OpError;
use super::writer::WriterThread;
use crate::types::cache::{CacheOp, CacheOutput};
use crate::types::command::{SqlError, WriteOutput};
use crate::types::format::Feature;

pub(super) const CREATE_CACHE: &str = "CREATE TABLE IF NOT EXISTS _hiqlite_cache (
    cache TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, expires_ms INTEGER,
    written_index INTEGER NOT NULL, PRIMARY KEY (cache, key)) WITHOUT ROWID";
const CREATE_CACHE_EXPIRY: &str = "CREATE INDEX IF NOT EXISTS _hiqlite_cache_expiry
    ON _hiqlite_cache (expires_ms) WHERE expires_ms IS NOT NULL";
/// The sum of `length(key) + length(value)` over `_hiqlite_cache`, updated once per cache entry
/// (one row, `id` 0), for the size bound. Started from the table's contents when created.
const CREATE_CACHE_BYTES: &str = "CREATE TABLE IF NOT EXISTS _hiqlite_cache_bytes (
    id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL)";
const INIT_CACHE_BYTES: &str = "INSERT OR IGNORE INTO _hiqlite_cache_bytes (id, bytes)
    SELECT 0, coalesce(sum(length(key) + length(value)), 0) FROM _hiqlite_cache";
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
        // Created by the first cache entry (or missing from a restored database). Looked up
        // first: a cached `CREATE ... IF NOT EXISTS` would run on every entry.
        let present: i64 = self.with_internal(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' \
             AND name IN ('_hiqlite_cache', '_hiqlite_cache_bytes', '_hiqlite_locks')",
            |s| s.query_row([], |r| r.get(0)),
        )?;
        if present < 3 {
            for create in [
                CREATE_CACHE,
                CREATE_CACHE_EXPIRY,
                CREATE_CACHE_BYTES,
                INIT_CACHE_BYTES,
                CREATE_LOCKS,
            ] {
                self.guard.internal(|| self.conn.execute(create, []))?;
            }
        }
        let removed: Vec<i64> = self.with_internal(
            "DELETE FROM _hiqlite_cache WHERE expires_ms IS NOT NULL AND expires_ms <= ?
             RETURNING length(key) + length(value)",
            |s| s.query_map([now_ms], |r| r.get(0))?.collect(),
        )?;
        let expired = removed.len() as u64;
        // The change of `_hiqlite_cache_bytes`, written once at the end of the entry.
        let mut bytes = -removed.iter().sum::<i64>();
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        let output = match op {
            CacheOp::Many(ops) => self.apply_cache_many(ops, now_ms, index, &mut bytes)?,
            op => self.apply_cache_op(op, now_ms, index, expired, &mut bytes)?,
        };
        self.add_cache_bytes(bytes)?;
        Ok(WriteOutput::Cache(output))
    }

    /// Applies the operations of a [`CacheOp::Many`] in order, each on its own: a refused one
    /// (value too large, not a counter, overflow, or a kind not allowed in a batch) is answered
    /// on its own and changes nothing, because every refusal of [`Self::apply_cache_op`] comes
    /// before its first change (so no savepoint per operation is needed; the test
    /// `a_batch_applies_each_operation_on_its_own` checks the table after refusals). A failure
    /// of this machine (disk full, I/O) fails the whole entry, as for any entry.
    fn apply_cache_many(
        &self,
        ops: &[CacheOp],
        now_ms: i64,
        index: i64,
        bytes: &mut i64,
    ) -> Result<CacheOutput, OpError> {
        let mut outputs = Vec::with_capacity(ops.len());
        for op in ops {
            if !matches!(
                op,
                CacheOp::Put { .. }
                    | CacheOp::Delete { .. }
                    | CacheOp::CompareAndSwap { .. }
                    | CacheOp::Add { .. }
            ) {
                outputs.push(Err(SqlError::Sqlite {
                    message: format!("{} cannot be part of a cache batch", op.kind()),
                }));
                continue;
            }
            match self.apply_cache_op(op, now_ms, index, 0, bytes) {
                Ok(output) => outputs.push(Ok(output)),
                Err(OpError::Sql(e)) => outputs.push(Err(e)),
                Err(e) => return Err(e),
            }
        }
        Ok(CacheOutput::Many(outputs))
    }

    /// Applies one operation other than `Many`; `expired` is how many keys this entry expired,
    /// `bytes` gathers the change of the byte count. Every refusal comes before the first
    /// change (see [`Self::apply_cache_many`]).
    fn apply_cache_op(
        &self,
        op: &CacheOp,
        now_ms: i64,
        index: i64,
        expired: u64,
        bytes: &mut i64,
    ) -> Result<CacheOutput, OpError> {
        let output = match op {
            CacheOp::Many(_) => return Err(refused("a cache batch cannot hold a batch".into())),
            CacheOp::Expire => CacheOutput::Expired(expired),
            CacheOp::Put {
                cache,
                key,
                value,
                ttl_ms,
                max_bytes,
            } => {
                check_size(key, value, *max_bytes)?;
                let previous = self.cache_get(cache, key)?;
                let expires = ttl_ms.map(|ttl| after(now_ms, ttl));
                let old = stored_bytes(key, previous.as_ref());
                self.cache_set(
                    (cache, key),
                    value,
                    expires,
                    (index, *max_bytes),
                    old,
                    bytes,
                )?;
                CacheOutput::Previous(previous.map(|(v, _)| v))
            }
            CacheOp::Delete { cache, key } => {
                let previous = self.cache_get(cache, key)?;
                if previous.is_some() {
                    self.cache_delete(cache, key, stored_bytes(key, previous.as_ref()), bytes)?;
                }
                CacheOutput::Previous(previous.map(|(v, _)| v))
            }
            CacheOp::CompareAndSwap {
                cache,
                key,
                expected,
                new,
                ttl_ms,
                max_bytes,
            } => {
                let previous = self.cache_get(cache, key)?.map(|(v, _)| v);
                let old = previous.as_ref().map_or(0, |v| row_bytes(key, v));
                let swapped = previous == *expected;
                if swapped {
                    match new {
                        Some(value) => {
                            check_size(key, value, *max_bytes)?;
                            let expires = ttl_ms.map(|ttl| after(now_ms, ttl));
                            let bound = (index, *max_bytes);
                            self.cache_set((cache, key), value, expires, bound, old, bytes)?;
                        }
                        None if previous.is_some() => self.cache_delete(cache, key, old, bytes)?,
                        None => {}
                    }
                }
                CacheOutput::Swapped { swapped, previous }
            }
            CacheOp::Add {
                cache,
                key,
                delta,
                ttl_ms,
                max_bytes,
            } => {
                let previous = self.cache_get(cache, key)?;
                let old = stored_bytes(key, previous.as_ref());
                let (current, expires) = match previous {
                    None => (0, None),
                    Some((value, expires)) => {
                        let value: [u8; 8] = value.as_slice().try_into().map_err(|_| {
                            refused(format!(
                                "cache key holds {} bytes, not a counter (8 bytes)",
                                value.len()
                            ))
                        })?;
                        (i64::from_be_bytes(value), expires)
                    }
                };
                let new = current
                    .checked_add(*delta)
                    .ok_or_else(|| refused(format!("counter overflow: {current} + {delta}")))?;
                let expires = ttl_ms.map(|ttl| after(now_ms, ttl)).or(expires);
                let value = new.to_be_bytes();
                check_size(key, &value, *max_bytes)?;
                self.cache_set(
                    (cache, key),
                    &value,
                    expires,
                    (index, *max_bytes),
                    old,
                    bytes,
                )?;
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
        Ok(output)
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

    /// Stores `value` under `(cache, key)` (whose row held `old` bytes, 0 when absent), adds
    /// the change to `bytes`, and, with a bound (`max_bytes` > 0), evicts other keys until the
    /// cache fits: soonest expiry first, then the keys without expiry, least recently written
    /// first (ties by cache and key).
    fn cache_set(
        &self,
        (cache, key): (&str, &[u8]),
        value: &[u8],
        expires_ms: Option<i64>,
        (index, max_bytes): (i64, u64),
        old: i64,
        bytes: &mut i64,
    ) -> rusqlite::Result<()> {
        self.with_internal(
            "INSERT OR REPLACE INTO _hiqlite_cache (cache, key, value, expires_ms, written_index)
             VALUES (?, ?, ?, ?, ?)",
            |s| s.execute(rusqlite::params![cache, key, value, expires_ms, index]),
        )?;
        *bytes += row_bytes(key, value) - old;
        if max_bytes == 0 {
            return Ok(());
        }
        let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
        let mut total = self.cache_bytes()? + *bytes;
        if total <= max {
            return Ok(());
        }
        let candidates: Vec<(String, Vec<u8>, i64)> = self.with_internal(
            "SELECT cache, key, length(key) + length(value) FROM _hiqlite_cache
             WHERE NOT (cache = ? AND key = ?)
             ORDER BY expires_ms IS NULL, expires_ms, written_index, cache, key",
            |s| {
                s.query_map(rusqlite::params![cache, key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect()
            },
        )?;
        for (victim_cache, victim_key, victim_bytes) in candidates {
            if total <= max {
                break;
            }
            self.cache_delete(&victim_cache, &victim_key, victim_bytes, bytes)?;
            total -= victim_bytes;
        }
        Ok(())
    }

    /// Deletes the row of `(cache, key)`, which holds `old` bytes, and subtracts them from
    /// `bytes`.
    fn cache_delete(
        &self,
        cache: &str,
        key: &[u8],
        old: i64,
        bytes: &mut i64,
    ) -> rusqlite::Result<()> {
        self.with_internal(
            "DELETE FROM _hiqlite_cache WHERE cache = ? AND key = ?",
            |s| s.execute(rusqlite::params![cache, key]),
        )?;
        *bytes -= old;
        Ok(())
    }

    fn cache_bytes(&self) -> rusqlite::Result<i64> {
        self.with_internal("SELECT bytes FROM _hiqlite_cache_bytes WHERE id = 0", |s| {
            s.query_row([], |r| r.get(0))
        })
    }

    fn add_cache_bytes(&self, delta: i64) -> rusqlite::Result<()> {
        if delta == 0 {
            return Ok(());
        }
        self.with_internal(
            "UPDATE _hiqlite_cache_bytes SET bytes = bytes + ? WHERE id = 0",
            |s| s.execute([delta]),
        )
        .map(|_| ())
    }
}

/// The bytes a row counts for, 0 when absent: `previous` is what [`WriterThread::cache_get`]
/// read.
fn stored_bytes(key: &[u8], previous: Option<&(Vec<u8>, Option<i64>)>) -> i64 {
    previous.map_or(0, |(value, _)| row_bytes(key, value))
}

fn row_bytes(key: &[u8], value: &[u8]) -> i64 {
    i64::try_from(key.len() + value.len()).unwrap_or(i64::MAX)
}

/// Refuses a value over [`MAX_VALUE_BYTES`], or a key plus value over the bound `max_bytes`.
fn check_size(key: &[u8], value: &[u8], max_bytes: u64) -> Result<(), OpError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(refused(format!(
            "cache value of {} bytes exceeds the limit of {MAX_VALUE_BYTES} bytes",
            value.len()
        )));
    }
    let size = (key.len() + value.len()) as u64;
    if max_bytes > 0 && size > max_bytes {
        return Err(refused(format!(
            "cache key and value of {size} bytes exceed cache_max_bytes ({max_bytes})"
        )));
    }
    Ok(())
}
