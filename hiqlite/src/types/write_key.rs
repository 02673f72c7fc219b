//! [`WriteKey`]: an idempotency key the caller keeps, so a write whose outcome is unknown can be
//! retried safely, even from another process.
//!
//! A key is nothing but a request id that the caller chooses instead of the client: the state
//! machine remembers the result of every request id (`_hiqlite_requests`) and answers a repeat
//! with the first result. A key's id never counts as "answered" for the client-side pruning, so
//! only [`WRITE_KEY_RETENTION`] ends it. Nothing new travels in the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::command::RequestId;

/// How long the cluster remembers the result of a keyed write (and of every other write): at
/// least this long after the write was first applied, measured in entry time (the leader's clock
/// carried in the log). A retry within it is answered with the first result; a retry after it
/// may apply the write again. The cluster forgets old results every 1024 log entries, so a
/// result may also be kept somewhat longer.
pub const WRITE_KEY_RETENTION: Duration = Duration::from_secs(10 * 60);

/// An idempotency key for one write: the first write made with it is applied, every later write
/// with the same key (within [`WRITE_KEY_RETENTION`], through any node, embedded or remote
/// client) returns the first write's result instead and applies nothing.
///
/// Make one with [`WriteKey::new`] before the first attempt, keep it with the work to be done
/// (it prints and parses as 32 hex digits, and serializes as that string), and use it for every
/// retry: [`Client::with_key`](crate::Client::with_key),
/// [`Query::with_key`](crate::typed::Query::with_key).
///
/// ```
/// let key = hiqlite::WriteKey::new();
/// let text = key.to_string(); // e.g. stored with a job in a queue
/// assert_eq!(text.len(), 32);
/// let again: hiqlite::WriteKey = text.parse().unwrap();
/// assert_eq!(again, key);
/// ```
///
/// 127 of its 128 bits are random (the highest bit of the second half is always 0: the cluster
/// stores that half as a signed integer and prunes by comparing it). Two keys made by
/// [`new`](Self::new) are different for all practical purposes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriteKey {
    /// The `client` half of the request id: any value.
    client: u64,
    /// The `seq` half: at most `i64::MAX` (see the type's docs).
    seq: u64,
}

/// Bit 63 of the `seq` half: always clear in a key.
const SEQ_HIGH_BIT: u64 = 1 << 63;

impl WriteKey {
    /// A fresh random key, from the operating system's random source. Should that fail (it does
    /// not on any supported platform), the key is made from the clock, the process id and a
    /// counter: still different from every other key this process makes.
    pub fn new() -> WriteKey {
        let (mut client, mut seq) = ([0u8; 8], [0u8; 8]);
        if getrandom::getrandom(&mut client).is_err() || getrandom::getrandom(&mut seq).is_err() {
            return WriteKey::fallback();
        }
        WriteKey {
            client: u64::from_le_bytes(client),
            seq: u64::from_le_bytes(seq) & !SEQ_HIGH_BIT,
        }
    }

    fn fallback() -> WriteKey {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        WriteKey {
            client: nanos ^ (u64::from(std::process::id()) << 32),
            seq: COUNTER.fetch_add(1, Ordering::Relaxed) & !SEQ_HIGH_BIT,
        }
    }

    /// The request id every write with this key carries. `answered_below: 0`: the client-side
    /// pruning never forgets it (nothing is below 0), only [`WRITE_KEY_RETENTION`] does.
    pub(crate) fn request_id(self) -> RequestId {
        RequestId {
            client: self.client,
            seq: self.seq,
            answered_below: 0,
        }
    }
}

impl Default for WriteKey {
    /// A fresh random key, as [`WriteKey::new`].
    fn default() -> Self {
        WriteKey::new()
    }
}

/// 32 lowercase hex digits.
impl std::fmt::Display for WriteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}{:016x}", self.client, self.seq)
    }
}

impl std::fmt::Debug for WriteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriteKey({self})")
    }
}

/// Why a text is not a [`WriteKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseWriteKeyError {
    /// A key is exactly 32 hex digits.
    #[error("a write key is 32 hex digits, this text has {0} characters")]
    Length(usize),
    /// A character that is not a hex digit, at this (0-based) character position.
    #[error("a write key is 32 hex digits, character {index} is {found:?}")]
    NotHex { index: usize, found: char },
    /// The 17th digit (the first of the second half) is 8 or above: [`WriteKey::new`] never
    /// makes such a key (see [`WriteKey`]).
    #[error("not a write key: its 17th hex digit must be 0 to 7, it is {0:?}")]
    OutOfRange(char),
}

/// Parses the 32 hex digits [`Display`](std::fmt::Display) prints (either case).
///
/// Errors: [`ParseWriteKeyError`] says what is wrong.
impl std::str::FromStr for WriteKey {
    type Err = ParseWriteKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let len = s.chars().count();
        if len != 32 {
            return Err(ParseWriteKeyError::Length(len));
        }
        if let Some((index, found)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(ParseWriteKeyError::NotHex { index, found });
        }
        // 32 ASCII hex digits (no sign: checked above) always fit.
        let value = u128::from_str_radix(s, 16).map_err(|_| ParseWriteKeyError::Length(len))?;
        let (client, seq) = ((value >> 64) as u64, value as u64);
        if seq & SEQ_HIGH_BIT != 0 {
            return Err(ParseWriteKeyError::OutOfRange(
                s.chars().nth(16).unwrap_or('?'),
            ));
        }
        Ok(WriteKey { client, seq })
    }
}

/// As its 32 hex digits, in every format.
impl Serialize for WriteKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WriteKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn display_and_parse_round_trip() {
        for _ in 0..100 {
            let key = WriteKey::new();
            let text = key.to_string();
            assert_eq!(text.len(), 32);
            assert!(text
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            assert_eq!(text.parse::<WriteKey>(), Ok(key));
            assert_eq!(text.to_uppercase().parse::<WriteKey>(), Ok(key));
        }
        let fixed: WriteKey = "0123456789abcdef7edcba9876543210".parse().unwrap();
        assert_eq!(fixed.to_string(), "0123456789abcdef7edcba9876543210");
        assert_eq!(
            format!("{fixed:?}"),
            "WriteKey(0123456789abcdef7edcba9876543210)"
        );
    }

    #[test]
    fn new_keys_are_random_and_fit_the_store() {
        let keys: HashSet<WriteKey> = (0..10_000).map(|_| WriteKey::new()).collect();
        assert_eq!(keys.len(), 10_000, "no two fresh keys are equal");
        // Both halves vary (not a counter in one of them).
        let clients: HashSet<u64> = keys.iter().map(|k| k.client).collect();
        let seqs: HashSet<u64> = keys.iter().map(|k| k.seq).collect();
        assert_eq!((clients.len(), seqs.len()), (10_000, 10_000));
        for key in &keys {
            let id = key.request_id();
            assert!(id.seq <= i64::MAX as u64, "{key}");
            assert_eq!(id.answered_below, 0);
            assert_eq!((id.client, id.seq), (key.client, key.seq));
        }
        assert_ne!(WriteKey::fallback(), WriteKey::fallback());
        assert!(WriteKey::fallback().seq <= i64::MAX as u64);
    }

    #[test]
    fn bad_text_is_refused_with_the_reason() {
        let parse = |s: &str| s.parse::<WriteKey>();
        assert_eq!(parse(""), Err(ParseWriteKeyError::Length(0)));
        assert_eq!(
            parse("0123456789abcdef0123456789abcde"),
            Err(ParseWriteKeyError::Length(31))
        );
        assert_eq!(
            parse("0123456789abcdef0123456789abcdef0"),
            Err(ParseWriteKeyError::Length(33))
        );
        assert_eq!(
            parse("0123456789abcdeg0123456789abcdef"),
            Err(ParseWriteKeyError::NotHex {
                index: 15,
                found: 'g'
            })
        );
        assert_eq!(
            parse("+123456789abcdef0123456789abcdef"),
            Err(ParseWriteKeyError::NotHex {
                index: 0,
                found: '+'
            })
        );
        // 32 characters, not all ASCII: a character error, not a byte-slicing panic.
        assert_eq!(
            parse("0123456789abcdef0123456789abcdeé"),
            Err(ParseWriteKeyError::NotHex {
                index: 31,
                found: 'é'
            })
        );
        assert_eq!(
            parse("0123456789abcdef8123456789abcdef"),
            Err(ParseWriteKeyError::OutOfRange('8'))
        );
        let message = parse("xyz").unwrap_err().to_string();
        assert_eq!(
            message,
            "a write key is 32 hex digits, this text has 3 characters"
        );
    }

    #[test]
    fn serde_as_a_string() {
        let key = WriteKey::new();
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, format!("\"{key}\""));
        assert_eq!(serde_json::from_str::<WriteKey>(&json).unwrap(), key);
        let bytes = postcard::to_stdvec(&key).unwrap();
        assert_eq!(postcard::from_bytes::<WriteKey>(&bytes).unwrap(), key);
        let err = serde_json::from_str::<WriteKey>("\"nope\"").unwrap_err();
        assert!(err.to_string().contains("32 hex digits"), "{err}");
        assert!(serde_json::from_str::<WriteKey>("42").is_err());
    }
}
