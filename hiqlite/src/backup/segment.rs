//! Log segments: committed log entries, encrypted, as files of the backup store. Shipped by
//! `shipper.rs`, replayed by `pitr.rs`.
//!
//! A segment file is a header readable without the key, then the same encrypted body as a
//! backup's (`crypto.rs`: XChaCha20-Poly1305 chunks, the whole header as associated data). All
//! integers big-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `HQLOGSEG` |
//! | 2 | segment format version ([`SEGMENT_FORMAT`]) |
//! | 1 | the cluster format the shipping node applied the entries in (`types::format`) |
//! | 1 | compression of the payload (0 none, 1 zstd) |
//! | 8 | index of the first entry |
//! | 8 | term of the first entry |
//! | 8 | index of the last entry |
//! | 8 | term of the last entry |
//! | 8 | entry time of the first entry, ms since the Unix epoch, signed |
//! | 8 | entry time of the last entry |
//! | 8 | lineage of the history the entries belong to (`SqliteWriter::lineage`) |
//! | 1 + n | key id: length, then UTF-8 |
//! | 8 | payload length in bytes (after compression) |
//! | 32 | SHA-256 of the payload |
//! | 16 | nonce prefix (random per segment) |
//! | 16 | key check (as in a backup) |
//! | 4 | chunk size in bytes |
//!
//! The payload: the entries (log id and payload: a command, a membership, or blank), in index
//! order, as one postcard-encoded list, compressed with zstd. The entry time of an entry is the
//! larger of its leader's clock (`Command::leader_time_ms`) and the previous entry's entry time
//! (membership and blank entries keep the previous one), as the state machine computes it
//! (`store/sqlite/clock.rs`).
//!
//! Names: `hiqlite-log-<lineage, 16 hex digits>-<first index, 20 digits>-<last index, 20
//! digits>-<first ms>-<last ms>.hqlog`, so a listing tells each segment's history, range and
//! times, and within a lineage sorting by name sorts by first index.

use std::io::{Read, Write};

use openraft::vote::RaftLeaderId;
use sha2::{Digest, Sha256};

use super::crypto;
use super::format::{tampered, Compression, HeaderReader, Sealed, DEFAULT_CHUNK_SIZE, ZSTD_LEVEL};
use crate::config::{EncKey, EncKeys};
use crate::types::backup::{BackupError, BackupLocation, SegmentInfo};
use crate::types::format::{self as data_format, Format};
use crate::types::raft::Entry;

/// The first bytes of every segment file.
pub const MAGIC: &[u8; 8] = b"HQLOGSEG";
/// The segment format this binary writes and the newest it reads.
pub const SEGMENT_FORMAT: u16 = 1;
/// The file name ending of segments.
pub const EXTENSION: &str = "hqlog";
/// Segment names start with this.
pub const NAME_PREFIX: &str = "hiqlite-log-";

/// A segment's header (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    pub format_version: u16,
    pub data_format: Format,
    pub compression: Compression,
    pub first_index: u64,
    pub first_term: u64,
    pub last_index: u64,
    pub last_term: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub lineage: u64,
    pub key_id: String,
    pub plain_len: u64,
    pub sha256: [u8; 32],
    pub nonce_prefix: [u8; 16],
    pub key_check: [u8; 16],
    pub chunk_size: u32,
}

impl Sealed for SegmentHeader {
    fn key_id(&self) -> &str {
        &self.key_id
    }
    fn nonce_prefix(&self) -> &[u8; 16] {
        &self.nonce_prefix
    }
    fn key_check(&self) -> &[u8; 16] {
        &self.key_check
    }
    fn plain_len(&self) -> u64 {
        self.plain_len
    }
    fn chunk_size(&self) -> u32 {
        self.chunk_size
    }
}

impl SegmentHeader {
    /// The header's bytes, as written at the start of the file and used as associated data.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(160);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.format_version.to_be_bytes());
        b.push(self.data_format);
        b.push(self.compression as u8);
        for v in [
            self.first_index,
            self.first_term,
            self.last_index,
            self.last_term,
        ] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&self.first_ms.to_be_bytes());
        b.extend_from_slice(&self.last_ms.to_be_bytes());
        b.extend_from_slice(&self.lineage.to_be_bytes());
        // Key ids are at most 20 bytes (config::check_key_id).
        b.push(self.key_id.len() as u8);
        b.extend_from_slice(self.key_id.as_bytes());
        b.extend_from_slice(&self.plain_len.to_be_bytes());
        b.extend_from_slice(&self.sha256);
        b.extend_from_slice(&self.nonce_prefix);
        b.extend_from_slice(&self.key_check);
        b.extend_from_slice(&self.chunk_size.to_be_bytes());
        b
    }

    /// The file name of this segment.
    pub fn name(&self) -> String {
        name_for(
            self.lineage,
            self.first_index,
            self.last_index,
            self.first_ms,
            self.last_ms,
        )
    }

    /// Reads a header from the start of `r`; returns it with its bytes (the associated data).
    /// `name` is for messages.
    ///
    /// # Errors
    /// [`BackupError::NotABackup`] (not a segment's magic, or too short to hold one),
    /// [`BackupError::NewerFormat`] (a segment format newer than [`SEGMENT_FORMAT`]),
    /// [`BackupError::Truncated`], [`BackupError::Tampered`] (a field no writer produces),
    /// [`BackupError::Io`].
    pub fn read(r: &mut impl Read, name: &str) -> Result<(SegmentHeader, Vec<u8>), BackupError> {
        let mut h = HeaderReader {
            r,
            bytes: Vec::with_capacity(160),
            name,
        };
        let format_version = h.open(MAGIC, SEGMENT_FORMAT)?;
        let [data_format] = h.take()?;
        let compression = h.compression()?;
        let first_index = u64::from_be_bytes(h.take()?);
        let first_term = u64::from_be_bytes(h.take()?);
        let last_index = u64::from_be_bytes(h.take()?);
        let last_term = u64::from_be_bytes(h.take()?);
        let first_ms = i64::from_be_bytes(h.take()?);
        let last_ms = i64::from_be_bytes(h.take()?);
        if first_index > last_index || first_ms > last_ms {
            return Err(tampered(name, "the header's range runs backwards"));
        }
        let lineage = u64::from_be_bytes(h.take()?);
        let tail = h.sealed_tail()?;
        let header = SegmentHeader {
            format_version,
            data_format,
            compression,
            first_index,
            first_term,
            last_index,
            last_term,
            first_ms,
            last_ms,
            lineage,
            key_id: tail.key_id,
            plain_len: tail.plain_len,
            sha256: tail.sha256,
            nonce_prefix: tail.nonce_prefix,
            key_check: tail.key_check,
            chunk_size: tail.chunk_size,
        };
        Ok((header, h.bytes))
    }
}

/// The entry time of `entry` after an entry of time `prev_ms`: the larger of the two for a
/// command (its leader's clock), `prev_ms` for a membership or blank entry.
pub fn entry_time(prev_ms: i64, entry: &Entry) -> i64 {
    match &entry.payload {
        openraft::EntryPayload::Normal(cmd) => prev_ms.max(cmd.leader_time_ms),
        _ => prev_ms,
    }
}

/// The name of lineage `lineage`'s segment of entries `first..=last` with entry times
/// `first_ms..=last_ms`.
pub fn name_for(lineage: u64, first: u64, last: u64, first_ms: i64, last_ms: i64) -> String {
    format!("{NAME_PREFIX}{lineage:016x}-{first:020}-{last:020}-{first_ms}-{last_ms}.{EXTENSION}")
}

/// What a segment name tells, `None` for a name that is not a segment's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameParts {
    pub lineage: u64,
    pub first_index: u64,
    pub last_index: u64,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// The lineage, range and times a segment name tells, `None` for a name that is not a
/// segment's.
pub fn parse_name(name: &str) -> Option<NameParts> {
    let rest = name
        .strip_prefix(NAME_PREFIX)?
        .strip_suffix(&format!(".{EXTENSION}"))?;
    let (lineage, rest) = rest.split_at_checked(16)?;
    let lineage = u64::from_str_radix(lineage, 16)
        .ok()
        .filter(|_| lineage.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let rest = rest.strip_prefix('-')?;
    let (first, rest) = rest.split_at_checked(20)?;
    let rest = rest.strip_prefix('-')?;
    let (last, rest) = rest.split_at_checked(20)?;
    let rest = rest.strip_prefix('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || !digits(last) {
        return None;
    }
    // `<first ms>-<last ms>`, each possibly negative (times before 1970).
    let (neg, body) = match rest.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, rest),
    };
    let dash = body.find('-')?;
    let first_ms_text = &body[..dash];
    let last_ms_text = &body[dash + 1..];
    if !digits(first_ms_text) {
        return None;
    }
    let first_ms: i64 = first_ms_text.parse().ok()?;
    let first_ms = if neg { -first_ms } else { first_ms };
    let last_digits = last_ms_text.strip_prefix('-').unwrap_or(last_ms_text);
    if !digits(last_digits) {
        return None;
    }
    let last_ms: i64 = last_ms_text.parse().ok()?;
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (first <= last && first_ms <= last_ms).then_some(NameParts {
        lineage,
        first_index: first,
        last_index: last,
        first_ms,
        last_ms,
    })
}

/// What a segment's name tells, for a listing (`key_id` and `size` as the caller knows them).
pub fn info_from_name(
    name: &str,
    size: u64,
    key_id: Option<String>,
    location: BackupLocation,
) -> Option<SegmentInfo> {
    let NameParts {
        lineage,
        first_index,
        last_index,
        first_ms,
        last_ms,
    } = parse_name(name)?;
    Some(SegmentInfo {
        name: name.into(),
        first_index,
        last_index,
        first_ms,
        last_ms,
        size,
        key_id,
        location,
        lineage,
    })
}

/// Encrypts `entries` (consecutive, committed) with `key` into `out` as one segment file;
/// `prev_ms` is the entry time of the entry before the first, `data_format` the cluster format
/// they were applied in. Returns the header.
///
/// # Errors
/// `InvalidInput` for no entries or entries that are not consecutive; `InvalidData` when they do
/// not encode; any error of `out`.
pub fn write_segment(
    out: &mut impl Write,
    key: &EncKey,
    entries: &[Entry],
    prev_ms: i64,
    (data_format, lineage): (Format, u64),
) -> std::io::Result<SegmentHeader> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_string());
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Err(invalid("a segment needs at least one entry"));
    };
    if entries
        .windows(2)
        .any(|w| w[1].log_id.index != w[0].log_id.index + 1)
    {
        return Err(invalid("a segment's entries must be consecutive"));
    }
    let first_ms = entry_time(prev_ms, first);
    let last_ms = entries.iter().fold(prev_ms, entry_time);
    let encoded = postcard::to_allocvec(entries).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("encoding log entries: {e}"),
        )
    })?;
    let payload = zstd::bulk::compress(&encoded, ZSTD_LEVEL)?;
    drop(encoded);
    let nonce_prefix = crypto::new_nonce_prefix()?;
    let header = SegmentHeader {
        format_version: SEGMENT_FORMAT,
        data_format,
        compression: Compression::Zstd,
        first_index: first.log_id.index,
        first_term: first.log_id.leader_id.term(),
        last_index: last.log_id.index,
        last_term: last.log_id.leader_id.term(),
        first_ms,
        last_ms,
        lineage,
        key_id: key.id().to_string(),
        plain_len: payload.len() as u64,
        sha256: Sha256::digest(&payload).into(),
        nonce_prefix,
        key_check: crypto::key_check(key, &nonce_prefix),
        chunk_size: DEFAULT_CHUNK_SIZE,
    };
    let header_bytes = header.encode();
    out.write_all(&header_bytes)?;
    crypto::seal_body(key, &header, &header_bytes, &mut payload.as_slice(), out)?;
    Ok(header)
}

/// Reads, decrypts and checks the segment in `input` (`name` for messages): authentication,
/// the payload's SHA-256, and that it holds exactly the consecutive entries its header names.
///
/// # Errors
/// `NotABackup`, `NewerFormat`, `NewerDataFormat`, `UnknownKey`, `WrongKey`, `Truncated`,
/// `Tampered`, `Mismatch` (the decrypted entries differ from the header), `Io`.
pub fn read_segment(
    input: &mut impl Read,
    keys: &EncKeys,
    name: &str,
) -> Result<(SegmentHeader, Vec<Entry>), BackupError> {
    let (header, header_bytes) = SegmentHeader::read(input, name)?;
    if header.data_format > data_format::NEWEST {
        return Err(BackupError::NewerDataFormat {
            name: name.into(),
            found: header.data_format,
            newest: data_format::NEWEST,
        });
    }
    let key = crypto::key_for(keys, &header, name)?;
    let mut payload = Vec::new();
    let sha = crypto::open_body(key, &header, &header_bytes, name, input, &mut payload)?;
    let mismatch = |detail: String| BackupError::Mismatch {
        name: name.into(),
        detail,
    };
    if sha != header.sha256 {
        return Err(mismatch(
            "the SHA-256 of the decrypted data differs from the header's".into(),
        ));
    }
    let encoded = match header.compression {
        Compression::None => payload,
        Compression::Zstd => zstd::stream::decode_all(payload.as_slice())
            .map_err(|e| mismatch(format!("the payload is not valid zstd data: {e}")))?,
    };
    let entries: Vec<Entry> = postcard::from_bytes(&encoded).map_err(|e| {
        mismatch(format!(
            "the log entries do not decode ({e}); if a newer release wrote them, use it"
        ))
    })?;
    // Checked: a header may name indexes up to u64::MAX (0..=MAX is more entries than a u64
    // counts, and no vector holds them).
    let expected = (header.last_index - header.first_index).checked_add(1);
    let consecutive = entries
        .iter()
        .enumerate()
        .all(|(k, e)| header.first_index.checked_add(k as u64) == Some(e.log_id.index));
    let ends = (
        entries.first().map(|e| e.log_id.leader_id.term()),
        entries.last().map(|e| e.log_id.leader_id.term()),
    );
    if Some(entries.len() as u64) != expected
        || !consecutive
        || ends != (Some(header.first_term), Some(header.last_term))
    {
        return Err(mismatch(format!(
            "it should hold entries {}..={} (terms {} and {}), it holds {} entries",
            header.first_index,
            header.last_index,
            header.first_term,
            header.last_term,
            entries.len()
        )));
    }
    Ok((header, entries))
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
