//! [`Secret`]: a shared secret that is never printed, in `Debug` output or in error messages.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A shared secret (`secret_raft` or `secret_api`). Never printed: `Debug` shows `Secret(***)`.
///
/// ```
/// let s = hiqlite::config::Secret::new("correct-horse-battery-staple");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `secret` as given (not trimmed). Any length is accepted here; a node refuses one
    /// shorter than [`MIN_SECRET_LEN`](super::MIN_SECRET_LEN) characters when it validates.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }
    /// The secret's UTF-8 bytes, for the handshake that proves a peer knows it.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
    /// Length in bytes (not characters).
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Length in characters (what the 16-character minimum counts).
    pub(super) fn char_len(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// Deserializes from a string only; a value of another type is refused without echoing it, so a
/// mistyped secret never ends up in an error message or a log.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;

        const NOT_A_STRING: &str = "a secret must be a string (the value is not shown)";

        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret::new(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_char<E: de::Error>(self, _: char) -> Result<Secret, E> {
                Err(E::custom(NOT_A_STRING))
            }
        }

        deserializer.deserialize_string(SecretVisitor)
    }
}
