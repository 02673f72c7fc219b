//! Encrypting and decrypting a backup's body, chunk by chunk (memory stays bounded by one chunk).
//!
//! Cipher: XChaCha20-Poly1305, the cipher cryptr uses, with keys from `ENC_KEYS` written as cryptr
//! writes them (`config::EncKey`). The nonce of chunk `i` is the backup's random 16-byte prefix,
//! `i` as 4 bytes big-endian, a byte that is 1 on the last chunk only, and 3 zero bytes: chunks
//! cannot be reordered, dropped from the end, or moved between backups unnoticed. Every chunk
//! authenticates the whole header as associated data. Backups and log segments (`segment.rs`)
//! share this body; each header type says what the body needs through [`Sealed`].

use std::io::{Read, Write};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::format::{tampered, Sealed, TAG_LEN};
use crate::config::{EncKey, EncKeys};
use crate::types::backup::BackupError;

const KEY_CHECK_LABEL: &[u8] = b"hiqlite-backup-key-check";

/// The header's key check for `key` and a backup's nonce prefix: tells a wrong key from damaged
/// data without decrypting.
pub fn key_check(key: &EncKey, nonce_prefix: &[u8; 16]) -> [u8; 16] {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("any key length");
    mac.update(KEY_CHECK_LABEL);
    mac.update(nonce_prefix);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// A fresh random nonce prefix for a new backup.
pub fn new_nonce_prefix() -> std::io::Result<[u8; 16]> {
    let mut p = [0u8; 16];
    getrandom::getrandom(&mut p).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(p)
}

/// The key a backup was written with, checked against the header's key check.
///
/// # Errors
/// [`BackupError::UnknownKey`]: its id is not in `keys`; [`BackupError::WrongKey`]: a key of that
/// id exists but is another key.
pub fn key_for<'k>(
    keys: &'k EncKeys,
    header: &impl Sealed,
    name: &str,
) -> Result<&'k EncKey, BackupError> {
    let key = keys
        .get(header.key_id())
        .ok_or_else(|| BackupError::UnknownKey {
            name: name.into(),
            key_id: header.key_id().to_string(),
            known: keys.ids(),
        })?;
    let check = key_check(key, header.nonce_prefix());
    if bool::from(check.ct_eq(header.key_check())) {
        Ok(key)
    } else {
        Err(BackupError::WrongKey {
            name: name.into(),
            key_id: header.key_id().to_string(),
        })
    }
}

fn nonce(prefix: &[u8; 16], chunk: u64, last: bool) -> XNonce {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(prefix);
    // A body has at most plain_len / 1 + 1 chunks; more than 2^32 chunks is refused below.
    n[16..20].copy_from_slice(&(chunk as u32).to_be_bytes());
    n[20] = u8::from(last);
    XNonce::from(n)
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encrypts exactly `header.plain_len()` bytes of `plain` into `out`, chunk by chunk, with
/// `header_bytes` (the encoded header) as associated data.
///
/// # Errors
/// An I/O error from either side; `InvalidData` when `plain` holds more or fewer bytes than
/// `header.plain_len()`, or the body would need more than 2^32 chunks.
pub fn seal_body(
    key: &EncKey,
    header: &impl Sealed,
    header_bytes: &[u8],
    plain: &mut impl Read,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let chunks = header.chunks();
    if chunks > u64::from(u32::MAX) {
        return Err(invalid(format!("{chunks} chunks are too many")));
    }
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let mut buf = vec![0u8; header.chunk_size() as usize];
    let mut remaining = header.plain_len();
    for i in 0..chunks {
        let want = remaining.min(u64::from(header.chunk_size())) as usize;
        let got = fill(plain, &mut buf[..want])?;
        if got < want {
            return Err(invalid(format!(
                "the data ended {} bytes early",
                remaining - got as u64
            )));
        }
        remaining -= want as u64;
        let last = i + 1 == chunks;
        let sealed = cipher
            .encrypt(
                &nonce(header.nonce_prefix(), i, last),
                Payload {
                    msg: &buf[..want],
                    aad: header_bytes,
                },
            )
            .map_err(|_| invalid("encryption failed".into()))?;
        out.write_all(&sealed)?;
    }
    if fill(plain, &mut [0u8; 1])? != 0 {
        return Err(invalid("the data grew while it was encrypted".into()));
    }
    Ok(())
}

/// Decrypts the body that follows the header in `body` into `out`, and returns the SHA-256 of
/// the plaintext (the caller compares it with the header's). `name` is for messages.
///
/// # Errors
/// [`BackupError::Truncated`]: the body ends early (`expected`/`found` count the whole file);
/// [`BackupError::Tampered`]: a chunk fails authentication, or bytes follow the last chunk;
/// [`BackupError::Io`].
pub fn open_body(
    key: &EncKey,
    header: &impl Sealed,
    header_bytes: &[u8],
    name: &str,
    body: &mut impl Read,
    out: &mut impl Write,
) -> Result<[u8; 32], BackupError> {
    let io = |e: std::io::Error| BackupError::Io {
        path: name.into(),
        message: e.to_string(),
    };
    let header_len = header_bytes.len() as u64;
    let chunks = header.chunks();
    if chunks > u64::from(u32::MAX) {
        return Err(tampered(name, "the header announces too many chunks"));
    }
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; header.chunk_size() as usize + TAG_LEN as usize];
    let mut remaining = header.plain_len();
    let mut read_so_far = 0u64;
    for i in 0..chunks {
        let plain_len = remaining.min(u64::from(header.chunk_size()));
        let want = (plain_len + TAG_LEN) as usize;
        let got = fill(body, &mut buf[..want]).map_err(io)?;
        read_so_far += got as u64;
        if got < want {
            return Err(BackupError::Truncated {
                name: name.into(),
                expected: header_len + header.body_len(),
                found: header_len + read_so_far,
            });
        }
        let last = i + 1 == chunks;
        let plain = cipher
            .decrypt(
                &nonce(header.nonce_prefix(), i, last),
                Payload {
                    msg: &buf[..want],
                    aad: header_bytes,
                },
            )
            .map_err(|_| {
                tampered(
                    name,
                    &format!("chunk {i} of {chunks} failed authentication"),
                )
            })?;
        hash.update(&plain);
        out.write_all(&plain).map_err(io)?;
        remaining -= plain_len;
    }
    if fill(body, &mut [0u8; 1]).map_err(io)? != 0 {
        return Err(tampered(name, "bytes follow the last chunk"));
    }
    Ok(hash.finalize().into())
}

/// Length and SHA-256 of everything `r` yields.
pub fn measure(r: &mut impl Read) -> std::io::Result<(u64, [u8; 32])> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = fill(r, &mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hash.finalize().into()))
}
