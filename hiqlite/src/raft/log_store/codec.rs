//! How the log store lays out rocksdb: column families, keys (big-endian indexes) and
//! postcard-encoded values.

use std::io;
use std::sync::{Mutex, MutexGuard};

use rocksdb::{ColumnFamily, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::raft::Entry;

pub(super) const CF_LOGS: &str = "logs";

pub(super) const CF_META: &str = "meta";

pub(super) const KEY_VOTE: &[u8] = b"vote";

pub(super) const KEY_COMMITTED: &[u8] = b"committed";

pub(super) const KEY_LAST_PURGED: &[u8] = b"last_purged";

pub(super) fn cf<'a>(db: &'a DB, name: &str) -> io::Result<&'a ColumnFamily> {
    db.cf_handle(name)
        .ok_or_else(|| io::Error::other(format!("log store: column family {name:?} is missing")))
}

pub(super) fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub(super) fn decode_log_key(key: &[u8]) -> io::Result<u64> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log store: invalid log key {key:02x?}"),
        )
    })?;
    Ok(u64::from_be_bytes(bytes))
}

pub(super) fn encode_entry(entry: &Entry) -> io::Result<Vec<u8>> {
    encode(&format!("log entry {}", entry.log_id.index), entry)
}

/// An entry this binary cannot decode was most likely written by a newer release (a kind of
/// entry added in a later format, see `types::format`): the error says so.
pub(super) fn decode_entry(index: u64, bytes: &[u8]) -> io::Result<Entry> {
    use crate::types::format::{NEWEST, OLDEST};
    decode(
        &format!(
            "log entry {index} (if a newer release wrote it, upgrade this node: this binary \
             speaks formats {OLDEST}..={NEWEST}, see docs/upgrades.md)"
        ),
        bytes,
    )
}

pub(super) fn encode<T: Serialize>(what: &str, value: &T) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log store: cannot encode {what}: {e}"),
        )
    })
}

pub(super) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log store: cannot decode {what}: {e}"),
        )
    })
}

pub(super) fn read_meta<T: DeserializeOwned>(db: &DB, key: &'static [u8]) -> io::Result<Option<T>> {
    let what = String::from_utf8_lossy(key);
    let value = db
        .get_cf(cf(db, CF_META)?, key)
        .map_err(|e| io::Error::other(format!("log store: read {what}: {e}")))?;
    value.map(|bytes| decode(&what, &bytes)).transpose()
}

pub(super) fn copy_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

/// Locks a mutex, also after another thread panicked while holding it: the data it guards stays
/// consistent across each critical section, and panicking here would only spread the failure.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
