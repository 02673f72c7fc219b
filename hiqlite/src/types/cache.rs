//! What the replicated cache and the distributed locks put in the log (`CacheOp`, inside
//! `WriteOp::Cache`) and what applying it returns (`CacheOutput`). Added in format 5
//! (`Feature::Cache`). Stored with postcard: new variants go last, never reorder.
//!
//! Times are milliseconds since the Unix epoch on the log's clock (the entry time, see
//! `store::sqlite::clock`), never the applying node's clock, so every node decides the same.

use serde::{Deserialize, Serialize};

use crate::types::sql_error::SqlError;

/// The guard [`Txn::fence`](crate::Txn::fence) adds (parameters: lock name, token): true while
/// that grant holds the lock at the entry's time (`unixepoch('now', 'subsec')` is the entry time
/// in a replicated statement).
pub const FENCE_SQL: &str = "SELECT EXISTS (SELECT 1 FROM _hiqlite_locks WHERE name = ? \
     AND token = ? AND expires_ms > CAST(round(unixepoch('now', 'subsec') * 1000) AS INTEGER))";

/// One cache or lock operation. `cache` names a cache (any string); keys and values are bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheOp {
    /// Stores `value` under `key`, replacing what was there. With `ttl_ms`, the key expires at
    /// entry time + `ttl_ms`; without, it never expires. Returns the previous value.
    Put {
        cache: String,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        ttl_ms: Option<u64>,
        /// The bound on all caches' keys plus values (0: none), set by the leader that proposes
        /// the entry (`cache_max_bytes`); see [`CacheOp::with_max_bytes`].
        max_bytes: u64,
    },
    /// Removes `key`; returns the value it had (`take` is this, with its answer used).
    Delete {
        cache: String,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// Stores `new` (or removes the key when `None`) only when the current value is `expected`
    /// (`None`: the key is absent). Returns whether it swapped and the value before.
    CompareAndSwap {
        cache: String,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl_ms: Option<u64>,
        max_bytes: u64,
    },
    /// Adds `delta` to the counter `key` (an absent key counts as 0; the value is stored as an
    /// 8-byte big-endian `i64`) and returns the new value. Keeps the key's expiry, or sets it to
    /// `ttl_ms` from now when given. Overflow and a value that is not a counter are errors.
    Add {
        cache: String,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        delta: i64,
        ttl_ms: Option<u64>,
        max_bytes: u64,
    },
    /// Deletes every key whose expiry has been reached. Proposed by the leader when the earliest
    /// expiry has passed; every cache operation does the same first.
    Expire,
    /// Grants lock `name` to `holder` for `lease_ms` when it is free, its lease ran out, or
    /// `holder` already holds it (then the lease is extended and the token kept).
    Lock {
        name: String,
        holder: u64,
        lease_ms: u64,
    },
    /// Extends the lease of grant `token` of lock `name` to `lease_ms` from now, if that grant
    /// still holds the lock.
    Renew {
        name: String,
        token: u64,
        lease_ms: u64,
    },
    /// Releases grant `token` of lock `name`, if it still holds the lock.
    Unlock { name: String, token: u64 },
    /// Several `Put`, `Delete`, `CompareAndSwap` and `Add` operations in one entry, applied in
    /// order, each on its own: one that fails (a value too large, a counter overflow) changes
    /// nothing and the others still apply. Any other operation inside is refused. The client
    /// makes these from concurrent calls (`client/cache_batch.rs`), so one log entry, one fsync
    /// and one SQLite transaction carry many cache writes.
    Many(#[serde(deserialize_with = "nesting::bounded")] Vec<CacheOp>),
}

/// What a [`CacheOp`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheOutput {
    /// The value before the operation (`Put`, `Delete`).
    Previous(Option<Vec<u8>>),
    /// `CompareAndSwap`: whether it swapped, and the value before (the one that did not match).
    Swapped {
        swapped: bool,
        previous: Option<Vec<u8>>,
    },
    /// `Add`: the counter's new value.
    Counter(i64),
    /// `Expire`: how many keys were removed.
    Expired(u64),
    /// `Lock`: the grant (its fencing token and lease end), or `None` with the current holder's
    /// lease end when another grant holds the lock.
    Lock { token: Option<u64>, expires_ms: i64 },
    /// `Renew`, `Unlock`: whether the grant still held the lock; `expires_ms` is its new lease end.
    Held { held: bool, expires_ms: i64 },
    /// `Many`: each operation's output or failure, in order.
    Many(#[serde(deserialize_with = "nesting::bounded")] Vec<Result<CacheOutput, SqlError>>),
}

impl CacheOp {
    /// This operation with the size bound `max_bytes` for the writes that store a value (the
    /// leader's `cache_max_bytes`, stamped when it proposes the entry, so every node evicts by
    /// the same bound).
    pub fn with_max_bytes(mut self, bound: u64) -> CacheOp {
        match &mut self {
            CacheOp::Put { max_bytes, .. }
            | CacheOp::CompareAndSwap { max_bytes, .. }
            | CacheOp::Add { max_bytes, .. } => *max_bytes = bound,
            CacheOp::Many(ops) => {
                for op in ops {
                    *op = std::mem::replace(op, CacheOp::Expire).with_max_bytes(bound);
                }
            }
            _ => {}
        }
        self
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CacheOp::Put { .. } => "cache_put",
            CacheOp::Delete { .. } => "cache_delete",
            CacheOp::CompareAndSwap { .. } => "cache_cas",
            CacheOp::Add { .. } => "cache_add",
            CacheOp::Expire => "cache_expire",
            CacheOp::Lock { .. } => "lock",
            CacheOp::Renew { .. } => "lock_renew",
            CacheOp::Unlock { .. } => "unlock",
            CacheOp::Many(_) => "cache_batch",
        }
    }
}

/// Decoding `Many` inside `Many` recurses: without a bound, a frame or log entry of nested
/// batches (2 bytes a level) overflowed the stack of whatever thread decoded it, aborting the
/// process (found by fuzzing, `fuzz/regressions/rpc_request/`). Clients make one level;
/// applying refuses a batch in a batch; decoding refuses more than [`MAX_NESTING`] levels.
mod nesting {
    use std::cell::Cell;

    use serde::de::{Deserialize, Deserializer, Error};

    /// The deepest `Many` inside `Many` that decodes.
    pub(super) const MAX_NESTING: u32 = 8;

    thread_local! {
        static DEPTH: Cell<u32> = const { Cell::new(0) };
    }

    /// Restores the depth also when decoding fails or panics.
    struct Level(u32);

    impl Drop for Level {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(self.0));
        }
    }

    pub(super) fn bounded<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        let depth = DEPTH.with(Cell::get);
        if depth >= MAX_NESTING {
            return Err(D::Error::custom(format!(
                "cache batches nested more than {MAX_NESTING} deep"
            )));
        }
        let _level = Level(depth);
        DEPTH.with(|d| d.set(depth + 1));
        Vec::<T>::deserialize(d)
    }
}

#[cfg(test)]
mod nesting_tests {
    use super::*;

    fn nested(levels: u32) -> CacheOp {
        (0..levels).fold(CacheOp::Many(vec![]), |op, _| CacheOp::Many(vec![op]))
    }

    #[test]
    fn nested_batches_decode_up_to_the_bound_and_no_deeper() {
        let ok = postcard::to_stdvec(&nested(nesting::MAX_NESTING - 1)).unwrap();
        assert!(postcard::from_bytes::<CacheOp>(&ok).is_ok());
        let deep = postcard::to_stdvec(&nested(nesting::MAX_NESTING)).unwrap();
        assert!(postcard::from_bytes::<CacheOp>(&deep).is_err());
        // 100,000 levels (200 KB) once overflowed the stack; now an error, and the depth is
        // back to 0 for the next decode.
        let mut bomb = [8u8, 1].repeat(100_000);
        bomb.extend([8, 0]);
        assert!(postcard::from_bytes::<CacheOp>(&bomb).is_err());
        assert!(postcard::from_bytes::<CacheOp>(&ok).is_ok());
    }
}
