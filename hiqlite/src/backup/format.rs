//! The backup file's header: what a backup is, readable without its key.
//!
//! All integers big-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `HQLBAKUP` |
//! | 2 | backup format version ([`BACKUP_FORMAT`]) |
//! | 1 | the hiqlite data format of the database inside (`types::format`) |
//! | 1 | compression of the payload ([`Compression`]: 0 none, 1 zstd) |
//! | 8 | log index of the last entry the database holds |
//! | 8 | log term of that entry |
//! | 8 | creation time: that entry's time (leader time), ms since the Unix epoch, signed |
//! | 8 | lineage of the database's history (`SqliteWriter::lineage`; backup format 2 on, absent in format 1: 0) |
//! | 1 + n | key id: length, then UTF-8 |
//! | 8 | payload length in bytes (the database after compression) |
//! | 32 | SHA-256 of the payload |
//! | 16 | nonce prefix (random per backup) |
//! | 16 | key check: HMAC-SHA256(key, "hiqlite-backup-key-check" ‖ nonce prefix), first 16 bytes |
//! | 4 | chunk size in bytes |
//!
//! The encrypted body follows (`crypto.rs`): the plaintext in chunks of `chunk size` bytes (the
//! last may be shorter; an empty plaintext is one empty chunk), each sealed with
//! XChaCha20-Poly1305 and followed by its 16-byte tag, with the whole header as associated data,
//! so a changed header byte fails authentication too.

use std::io::Read;

use crate::types::backup::BackupError;
use crate::types::format::Format;

/// The first bytes of every backup file.
pub const MAGIC: &[u8; 8] = b"HQLBAKUP";
/// The backup format this binary writes and the newest it reads.
pub const BACKUP_FORMAT: u16 = 2;
/// The first backup format whose header holds the lineage.
pub const FORMAT_WITH_LINEAGE: u16 = 2;
/// Bytes of an authentication tag after each chunk.
pub const TAG_LEN: u64 = 16;
/// The chunk size new backups use: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;
/// The largest chunk size a reader accepts (bounds its memory): 16 MiB.
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;

/// How the database is compressed before it is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// The payload is the database file itself.
    None = 0,
    /// The payload is the database file compressed with zstd.
    Zstd = 1,
}

impl Compression {
    pub(super) fn from_byte(b: u8) -> Option<Compression> {
        match b {
            0 => Some(Compression::None),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// The zstd level new backups use: zstd's default, fast, and SQLite pages compress well at it.
pub const ZSTD_LEVEL: i32 = 3;

/// What the encrypted body (`crypto.rs`) needs from a header: backups ([`BackupHeader`]) and log
/// segments (`segment::SegmentHeader`) carry the same fields.
pub trait Sealed {
    /// The id of the key the body is encrypted with.
    fn key_id(&self) -> &str;
    /// Random per file; the first 16 bytes of every chunk's nonce.
    fn nonce_prefix(&self) -> &[u8; 16];
    /// Tells a wrong key from damaged data (`crypto::key_check`).
    fn key_check(&self) -> &[u8; 16];
    /// The plaintext's length in bytes.
    fn plain_len(&self) -> u64;
    /// Plaintext bytes per chunk (1..=[`MAX_CHUNK_SIZE`]).
    fn chunk_size(&self) -> u32;

    /// How many chunks the body has (an empty plaintext is one empty chunk).
    fn chunks(&self) -> u64 {
        self.plain_len()
            .div_ceil(u64::from(self.chunk_size()))
            .max(1)
    }

    /// The length of the encrypted body in bytes.
    fn body_len(&self) -> u64 {
        self.plain_len() + self.chunks() * TAG_LEN
    }
}

impl Sealed for BackupHeader {
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

/// A backup's header (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupHeader {
    pub format_version: u16,
    pub data_format: Format,
    pub compression: Compression,
    pub log_index: u64,
    pub log_term: u64,
    pub created_ms: i64,
    /// The lineage of the history the database belongs to (0: none, or backup format 1).
    pub lineage: u64,
    pub key_id: String,
    pub plain_len: u64,
    pub sha256: [u8; 32],
    pub nonce_prefix: [u8; 16],
    pub key_check: [u8; 16],
    pub chunk_size: u32,
}

impl BackupHeader {
    /// The header's bytes, as written at the start of the file and used as associated data.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(128);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.format_version.to_be_bytes());
        b.push(self.data_format);
        b.push(self.compression as u8);
        b.extend_from_slice(&self.log_index.to_be_bytes());
        b.extend_from_slice(&self.log_term.to_be_bytes());
        b.extend_from_slice(&self.created_ms.to_be_bytes());
        if self.format_version >= FORMAT_WITH_LINEAGE {
            b.extend_from_slice(&self.lineage.to_be_bytes());
        }
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

    /// How many chunks the body has.
    pub fn chunks(&self) -> u64 {
        Sealed::chunks(self)
    }

    /// The length of the encrypted body in bytes.
    pub fn body_len(&self) -> u64 {
        Sealed::body_len(self)
    }

    /// Reads a header from the start of `r`; returns it with its bytes (the associated data).
    /// `name` is for messages.
    ///
    /// # Errors
    /// [`BackupError::NotABackup`] (wrong magic, or too short to hold one),
    /// [`BackupError::NewerFormat`] (a backup format newer than [`BACKUP_FORMAT`]),
    /// [`BackupError::Truncated`] (the file ends inside the header), [`BackupError::Tampered`]
    /// (a field no writer produces: key id, chunk size), [`BackupError::Io`].
    pub fn read(r: &mut impl Read, name: &str) -> Result<(BackupHeader, Vec<u8>), BackupError> {
        let mut h = HeaderReader {
            r,
            bytes: Vec::with_capacity(128),
            name,
        };
        let format_version = h.open(MAGIC, BACKUP_FORMAT)?;
        let [data_format] = h.take()?;
        let compression = h.compression()?;
        let log_index = u64::from_be_bytes(h.take()?);
        let log_term = u64::from_be_bytes(h.take()?);
        let created_ms = i64::from_be_bytes(h.take()?);
        let lineage = if format_version >= FORMAT_WITH_LINEAGE {
            u64::from_be_bytes(h.take()?)
        } else {
            0
        };
        let tail = h.sealed_tail()?;
        let header = BackupHeader {
            format_version,
            data_format,
            compression,
            log_index,
            log_term,
            created_ms,
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

pub(super) fn tampered(name: &str, detail: &str) -> BackupError {
    BackupError::Tampered {
        name: name.into(),
        detail: detail.into(),
    }
}

/// Reads header fields, keeping every byte read.
pub(super) struct HeaderReader<'a, R: Read> {
    pub(super) r: &'a mut R,
    pub(super) bytes: Vec<u8>,
    pub(super) name: &'a str,
}

impl<R: Read> HeaderReader<'_, R> {
    pub(super) fn take<const N: usize>(&mut self) -> Result<[u8; N], BackupError> {
        let v = self.take_vec(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&v);
        Ok(a)
    }

    pub(super) fn take_vec(&mut self, n: usize) -> Result<Vec<u8>, BackupError> {
        let mut v = vec![0u8; n];
        let mut filled = 0;
        while filled < n {
            match self.r.read(&mut v[filled..]) {
                Ok(0) => {
                    return Err(BackupError::Truncated {
                        name: self.name.into(),
                        expected: (self.bytes.len() + n) as u64,
                        found: (self.bytes.len() + filled) as u64,
                    })
                }
                Ok(k) => filled += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(BackupError::Io {
                        path: self.name.into(),
                        message: e.to_string(),
                    })
                }
            }
        }
        self.bytes.extend_from_slice(&v);
        Ok(v)
    }

    /// Reads the magic (`NotABackup` when it is not `magic`, or the input is shorter) and the
    /// format version (`NewerFormat` above `newest`); returns the version.
    pub(super) fn open(&mut self, magic: &[u8; 8], newest: u16) -> Result<u16, BackupError> {
        let name = self.name;
        match self.take::<8>() {
            Ok(found) if &found == magic => {}
            Ok(_) | Err(BackupError::Truncated { .. }) => {
                return Err(BackupError::NotABackup { name: name.into() })
            }
            Err(e) => return Err(e),
        }
        let version = u16::from_be_bytes(self.take()?);
        if version > newest {
            return Err(BackupError::NewerFormat {
                name: name.into(),
                found: version,
                newest,
            });
        }
        Ok(version)
    }

    /// Reads the compression byte (`Tampered` for one no writer produces).
    pub(super) fn compression(&mut self) -> Result<Compression, BackupError> {
        let [byte] = self.take()?;
        Compression::from_byte(byte).ok_or_else(|| {
            tampered(
                self.name,
                &format!("compression {byte} is not one this format has"),
            )
        })
    }

    /// Reads the fields every sealed file ends its header with: key id, payload length and
    /// SHA-256, nonce prefix, key check, chunk size (`Tampered` for a key id or chunk size no
    /// writer produces).
    pub(super) fn sealed_tail(&mut self) -> Result<SealedTail, BackupError> {
        let name = self.name;
        let [id_len] = self.take()?;
        let id_bytes = self.take_vec(usize::from(id_len))?;
        let key_id = String::from_utf8(id_bytes)
            .ok()
            .filter(|id| crate::config::check_key_id(id).is_ok())
            .ok_or_else(|| tampered(name, "the key id in the header is not a valid key id"))?;
        let tail = SealedTail {
            key_id,
            plain_len: u64::from_be_bytes(self.take()?),
            sha256: self.take()?,
            nonce_prefix: self.take()?,
            key_check: self.take()?,
            chunk_size: u32::from_be_bytes(self.take()?),
        };
        if tail.chunk_size == 0 || tail.chunk_size > MAX_CHUNK_SIZE {
            return Err(tampered(
                name,
                &format!(
                    "chunk size {} is outside 1..={MAX_CHUNK_SIZE}",
                    tail.chunk_size
                ),
            ));
        }
        Ok(tail)
    }
}

/// The last fields of a backup's or segment's header (see [`HeaderReader::sealed_tail`]).
pub(super) struct SealedTail {
    pub(super) key_id: String,
    pub(super) plain_len: u64,
    pub(super) sha256: [u8; 32],
    pub(super) nonce_prefix: [u8; 16],
    pub(super) key_check: [u8; 16],
    pub(super) chunk_size: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> BackupHeader {
        BackupHeader {
            format_version: BACKUP_FORMAT,
            data_format: 3,
            compression: Compression::Zstd,
            log_index: 42,
            log_term: 7,
            created_ms: 1_764_495_600_000,
            lineage: 0x1234,
            key_id: "k1".into(),
            plain_len: 5,
            sha256: [9; 32],
            nonce_prefix: [1; 16],
            key_check: [2; 16],
            chunk_size: 4,
        }
    }

    #[test]
    fn a_format_1_header_has_no_lineage_and_reads_as_lineage_0() {
        let v1 = BackupHeader {
            format_version: 1,
            lineage: 0,
            ..sample()
        };
        let bytes = v1.encode();
        assert_eq!(
            bytes.len() + 8,
            sample().encode().len(),
            "format 2 adds 8 bytes"
        );
        let (read, read_bytes) = BackupHeader::read(&mut &bytes[..], "old").unwrap();
        assert_eq!(read, v1);
        assert_eq!(
            read_bytes, bytes,
            "the associated data is the header as written"
        );
        let (read, _) = BackupHeader::read(&mut &sample().encode()[..], "new").unwrap();
        assert_eq!(read.lineage, 0x1234);
    }

    #[test]
    fn header_round_trips() {
        let h = sample();
        let bytes = h.encode();
        let (back, raw) = BackupHeader::read(&mut bytes.as_slice(), "b").unwrap();
        assert_eq!(back, h);
        assert_eq!(raw, bytes);
        assert_eq!(h.chunks(), 2);
        assert_eq!(h.body_len(), 5 + 2 * 16);
    }

    #[test]
    fn newer_format_is_refused_before_the_rest_is_read() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(BACKUP_FORMAT + 1).to_be_bytes());
        let e = BackupHeader::read(&mut bytes.as_slice(), "b").unwrap_err();
        assert_eq!(
            e,
            BackupError::NewerFormat {
                name: "b".into(),
                found: BACKUP_FORMAT + 1,
                newest: BACKUP_FORMAT
            }
        );
    }

    #[test]
    fn other_files_and_short_headers_are_typed() {
        let e = BackupHeader::read(&mut &b"SQLite format 3\0"[..], "b").unwrap_err();
        assert!(matches!(e, BackupError::NotABackup { .. }), "{e:?}");
        let e = BackupHeader::read(&mut &b"HQL"[..], "b").unwrap_err();
        assert!(matches!(e, BackupError::NotABackup { .. }), "{e:?}");
        let bytes = sample().encode();
        let e = BackupHeader::read(&mut &bytes[..30], "b").unwrap_err();
        assert!(matches!(e, BackupError::Truncated { .. }), "{e:?}");
    }
}
