//! The replicated cache's client API: [`Client::cache`] names a cache, [`Cache`] reads it locally
//! and writes it through Raft. See docs/cache.md for what a reader sees and when keys expire.

use std::sync::Arc;
use std::time::Duration;

use super::Client;
use crate::engine::error::Error;
use crate::types::cache::{CacheOp, CacheOutput};
use crate::types::value::Value;

/// One named cache of a cluster, from [`Client::cache`]. Cheap to clone.
///
/// Keys and values are bytes (`&str` and `String` work as they are). Writes go through Raft
/// (leader, quorum, every node applies them); [`get`](Self::get) reads the contacted node's own
/// copy, with no network for an embedded node.
///
/// ```no_run
/// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
/// use std::time::Duration;
/// let sessions = client.cache("sessions");
/// sessions.put("s-42", "alice", Some(Duration::from_secs(3600))).await?;
/// assert_eq!(sessions.get("s-42").await?.as_deref(), Some(&b"alice"[..]));
/// let views = client.cache("counters").add("page:/", 1, None).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    client: Client,
    name: String,
}

/// Milliseconds of `ttl`, saturating.
fn millis(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Client {
    /// The cache `name` names: a string (`client.cache("sessions")`), or a variant of an enum
    /// with `#[derive(hiqlite::CacheName)]` (`client.cache(Caches::Sessions)`, the variant's
    /// snake_case name unless renamed). Caches are separate key spaces, created on first write;
    /// a string and a variant with the same name are the same cache. No round trip, no error.
    /// See [`CacheName`](crate::CacheName) and docs/cache.md, "Typed cache names".
    pub fn cache(&self, name: impl crate::CacheName) -> Cache {
        Cache {
            client: self.clone(),
            name: name.cache_name().into_owned(),
        }
    }

    /// Proposes a cache write (`Put`, `Delete`, `CompareAndSwap`, `Add`) together with the
    /// client's other concurrent ones (`cache_batch.rs`) and returns its own output.
    async fn cache_write(&self, op: CacheOp) -> Result<CacheOutput, Error> {
        let batcher = self
            .inner
            .cache_batcher
            .get_or_init(|| super::cache_batch::CacheBatcher::start(Arc::downgrade(&self.inner)));
        batcher.submit(op).await
    }
}

impl Cache {
    /// The cache's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key` on the contacted node, or `None` when absent. A local read: it sees
    /// every cache write made through this node, and a key whose TTL ran out until the entry that
    /// expires it is applied (docs/cache.md, "What a reader sees").
    ///
    /// # Errors
    /// [`Error::Sql`] when the node cannot read its database.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, Error> {
        self.read(key.as_ref(), false).await
    }

    /// Like [`get`](Self::get), linearizable: it sees every cache write that completed before the
    /// call, through any node (one round trip to the leader).
    pub async fn get_consistent(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, Error> {
        self.read(key.as_ref(), true).await
    }

    /// The counter `key` (see [`add`](Self::add)) read locally, or `None` when absent.
    ///
    /// # Errors
    /// [`Error::Conversion`] when the key holds something other than a counter.
    pub async fn counter(&self, key: impl AsRef<[u8]>) -> Result<Option<i64>, Error> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
                Ok(b) => Ok(Some(i64::from_be_bytes(b))),
                Err(_) => Err(Error::Conversion(format!(
                    "cache key holds {} bytes, not a counter (8 bytes)",
                    bytes.len()
                ))),
            },
        }
    }

    async fn read(&self, key: &[u8], consistent: bool) -> Result<Option<Vec<u8>>, Error> {
        let sql = "SELECT value FROM _hiqlite_cache WHERE cache = ? AND key = ?";
        let params = vec![Value::Text(self.name.clone()), Value::Blob(key.to_vec())];
        let rows = if consistent {
            self.client.query_consistent_rows(sql, params).await
        } else {
            self.client.query_rows(sql, params).await
        };
        let rows = match rows {
            Ok(rows) => rows,
            // Nothing was ever written to any cache.
            Err(e) if e.to_string().contains("no such table: _hiqlite_cache") => return Ok(None),
            Err(e) => return Err(e),
        };
        match rows
            .rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
        {
            None => Ok(None),
            Some(Value::Blob(b)) => Ok(Some(b)),
            Some(other) => Err(Error::Conversion(format!(
                "cache value is {other:?}, not a blob"
            ))),
        }
    }

    /// Stores `value` under `key`; with `ttl`, the key expires `ttl` after the entry's time (the
    /// leader's clock). Returns the previous value.
    ///
    /// # Errors
    /// [`Error::Sql`] when the value exceeds 1 MiB; the write path's errors
    /// ([`Error::NoLeader`], [`Error::OutcomeUnknown`], [`Error::FormatTooOld`], ...).
    pub async fn put(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let op = CacheOp::Put {
            cache: self.name.clone(),
            key: key.as_ref().to_vec(),
            value: value.as_ref().to_vec(),
            ttl_ms: millis(ttl),
            max_bytes: 0,
        };
        self.previous(op).await
    }

    /// Removes `key`; returns whether it was present. Errors as for [`put`](Self::put).
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool, Error> {
        Ok(self.take(key).await?.is_some())
    }

    /// Removes `key` and returns its value (get-and-remove in one entry: of two callers, one gets
    /// it). Errors as for [`put`](Self::put).
    pub async fn take(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, Error> {
        let op = CacheOp::Delete {
            cache: self.name.clone(),
            key: key.as_ref().to_vec(),
        };
        self.previous(op).await
    }

    /// Sets `key` to `new` (removes it when `None`; `ttl` as for [`put`](Self::put)) only if its
    /// value is `expected` (`None`: absent). Returns `Ok(())` when it swapped, or `Err(current)`
    /// with the value that did not match. Errors as for [`put`](Self::put).
    pub async fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<Result<(), Option<Vec<u8>>>, Error> {
        let op = CacheOp::CompareAndSwap {
            cache: self.name.clone(),
            key: key.as_ref().to_vec(),
            expected: expected.map(<[u8]>::to_vec),
            new: new.map(<[u8]>::to_vec),
            ttl_ms: millis(ttl),
            max_bytes: 0,
        };
        match self.client.cache_write(op).await? {
            CacheOutput::Swapped { swapped: true, .. } => Ok(Ok(())),
            CacheOutput::Swapped { previous, .. } => Ok(Err(previous)),
            other => Err(unexpected(other)),
        }
    }

    /// Adds `delta` to the counter `key` (absent counts as 0) and returns the new value. With
    /// `ttl`, the key expires `ttl` from now; without, it keeps its expiry.
    ///
    /// # Errors
    /// [`Error::Sql`] on overflow or when the key holds something other than a counter (8 bytes);
    /// otherwise as for [`put`](Self::put).
    pub async fn add(
        &self,
        key: impl AsRef<[u8]>,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, Error> {
        let op = CacheOp::Add {
            cache: self.name.clone(),
            key: key.as_ref().to_vec(),
            delta,
            ttl_ms: millis(ttl),
            max_bytes: 0,
        };
        match self.client.cache_write(op).await? {
            CacheOutput::Counter(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    async fn previous(&self, op: CacheOp) -> Result<Option<Vec<u8>>, Error> {
        match self.client.cache_write(op).await? {
            CacheOutput::Previous(previous) => Ok(previous),
            other => Err(unexpected(other)),
        }
    }
}

pub(crate) fn unexpected(output: CacheOutput) -> Error {
    Error::Raft(format!(
        "unexpected answer to a cache operation: {output:?}"
    ))
}
