//! Reading one SQLite value into a Rust type: the [`Decode`] trait that rows, `query!` records and
//! `#[derive(HiqliteRow)]` fields use, whether the value comes from a local connection, the
//! network or `... RETURNING`.
//!
//! Hiqlite has its own trait (not rusqlite's `FromSql`) so that it can read the types of other
//! crates the way a user expects: a timestamp from TEXT *or* INTEGER, a UUID from BLOB *or* TEXT
//! (see `types::external`). The rules for the built-in types are rusqlite's.

pub use rusqlite::types::ValueRef;

use crate::types::value::Value;

/// Why a value could not be read as the requested type. The caller (row, field, column) adds
/// where it happened and what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The value's SQLite type cannot be read as this Rust type (e.g. TEXT as `i64`, NULL as
    /// `String`).
    #[error("wrong type")]
    InvalidType,
    /// An integer outside the Rust type's range.
    #[error("the value {0} does not fit")]
    OutOfRange(i64),
    /// The value has the right SQLite type but not a valid form (a malformed timestamp, a blob
    /// of the wrong length, invalid JSON, an unknown enum name, ...).
    #[error("{0}")]
    Invalid(String),
}

/// Reads one SQLite value (`ValueRef`: NULL, INTEGER, REAL, TEXT or BLOB) into `Self`.
///
/// Implemented for the integer types (range-checked), `f32`/`f64` (from REAL or INTEGER),
/// `bool` (an INTEGER, non-zero is true), `String` (TEXT, which must be UTF-8), `Vec<u8>` and
/// `[u8; N]` (BLOB), [`Value`] (anything), `Option<T>` (NULL is `None`), and with the crate's
/// features the types of `chrono`, `time`, `uuid` and `serde_json` (see docs/typed-api.md).
/// `#[derive(HiqliteType)]` implements it for your enums and newtypes; or implement it by hand:
///
/// ```
/// use hiqlite::types::{Decode, DecodeError, ValueRef};
/// struct Cents(i64);
/// impl Decode for Cents {
///     fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
///         i64::decode(value).map(Cents)
///     }
/// }
/// ```
pub trait Decode: Sized {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError>;
}

impl Decode for i64 {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match value {
            ValueRef::Integer(i) => Ok(i),
            _ => Err(DecodeError::InvalidType),
        }
    }
}

macro_rules! decode_integer {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
                let i = i64::decode(value)?;
                <$t>::try_from(i).map_err(|_| DecodeError::OutOfRange(i))
            }
        }
    )*};
}
decode_integer!(i8, i16, i32, isize, u8, u16, u32, u64, usize);

impl Decode for f64 {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match value {
            ValueRef::Real(r) => Ok(r),
            ValueRef::Integer(i) => Ok(i as f64),
            _ => Err(DecodeError::InvalidType),
        }
    }
}

impl Decode for f32 {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        f64::decode(value).map(|f| f as f32)
    }
}

impl Decode for bool {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        i64::decode(value).map(|i| i != 0)
    }
}

impl Decode for String {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match value {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(str::to_owned)
                .map_err(|e| DecodeError::Invalid(format!("the TEXT is not valid UTF-8: {e}"))),
            _ => Err(DecodeError::InvalidType),
        }
    }
}

impl Decode for Vec<u8> {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match value {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            _ => Err(DecodeError::InvalidType),
        }
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match value {
            ValueRef::Blob(b) => b.try_into().map_err(|_| {
                DecodeError::Invalid(format!("a BLOB of {} bytes, expected {N}", b.len()))
            }),
            _ => Err(DecodeError::InvalidType),
        }
    }
}

impl Decode for Value {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        Ok(Value::from_ref(value))
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::decode(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_types_follow_sqlite_storage() {
        assert_eq!(i64::decode(ValueRef::Integer(7)), Ok(7));
        assert_eq!(
            u8::decode(ValueRef::Integer(300)),
            Err(DecodeError::OutOfRange(300))
        );
        assert_eq!(
            i64::decode(ValueRef::Text(b"7")),
            Err(DecodeError::InvalidType)
        );
        assert_eq!(f64::decode(ValueRef::Integer(2)), Ok(2.0));
        assert_eq!(bool::decode(ValueRef::Integer(2)), Ok(true));
        assert_eq!(
            String::decode(ValueRef::Null),
            Err(DecodeError::InvalidType)
        );
        assert_eq!(Option::<String>::decode(ValueRef::Null), Ok(None));
        assert!(matches!(
            String::decode(ValueRef::Text(&[0xff])),
            Err(DecodeError::Invalid(m)) if m.contains("UTF-8")
        ));
        assert_eq!(<[u8; 2]>::decode(ValueRef::Blob(&[1, 2])), Ok([1, 2]));
        assert!(<[u8; 2]>::decode(ValueRef::Blob(&[1])).is_err());
        assert_eq!(Value::decode(ValueRef::Real(0.5)), Ok(Value::Real(0.5)));
    }
}
