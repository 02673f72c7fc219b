//! `uuid::Uuid` (feature `uuid`): bound as a 16-byte BLOB (the compact form, as sqlx and rusqlite
//! do); `uuid::fmt::Hyphenated` (`uuid.hyphenated()`) is bound as TEXT
//! (`67e55044-10b1-426f-9247-bb680e5fe0c8`). Both read from either form, so a column can be
//! switched without touching the code that reads it.

use uuid::fmt::Hyphenated;
use uuid::Uuid;

use crate::types::decode::{Decode, DecodeError, ValueRef};
use crate::types::sql_type::{kind, storage, ArgType, ColumnFit};
use crate::types::value::Value;

impl From<Uuid> for Value {
    fn from(u: Uuid) -> Self {
        Value::Blob(u.as_bytes().to_vec())
    }
}

impl From<&Uuid> for Value {
    fn from(u: &Uuid) -> Self {
        Value::from(*u)
    }
}

impl From<Hyphenated> for Value {
    fn from(u: Hyphenated) -> Self {
        Value::Text(u.to_string())
    }
}

impl From<&Hyphenated> for Value {
    fn from(u: &Hyphenated) -> Self {
        Value::from(*u)
    }
}

impl Decode for Uuid {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match value {
            ValueRef::Blob(b) => Uuid::from_slice(b).map_err(|_| {
                DecodeError::Invalid(format!("a UUID is 16 bytes, this BLOB has {}", b.len()))
            }),
            ValueRef::Text(t) => Uuid::try_parse_ascii(t)
                .map_err(|e| DecodeError::Invalid(format!("not a UUID: {e}"))),
            _ => Err(DecodeError::InvalidType),
        }
    }
}

impl Decode for Hyphenated {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        Uuid::decode(value).map(Uuid::hyphenated)
    }
}

impl ColumnFit for Uuid {
    const ACCEPTS: u32 = kind::BLOB | kind::TEXT | kind::NUMERIC;
}
impl ColumnFit for Hyphenated {
    const ACCEPTS: u32 = kind::BLOB | kind::TEXT | kind::NUMERIC;
}
impl ArgType for Uuid {
    type Storage = storage::BLOB;
}
impl ArgType for Hyphenated {
    type Storage = storage::TEXT;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_and_text_forms() {
        let u = Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        assert_eq!(Value::from(u), Value::Blob(u.as_bytes().to_vec()));
        let text = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(Value::from(u.hyphenated()), Value::Text(text.into()));
        assert_eq!(Uuid::decode(ValueRef::Blob(u.as_bytes())), Ok(u));
        assert_eq!(Uuid::decode(ValueRef::Text(text.as_bytes())), Ok(u));
        assert_eq!(
            Hyphenated::decode(ValueRef::Blob(u.as_bytes())),
            Ok(u.hyphenated())
        );
        assert!(
            matches!(Uuid::decode(ValueRef::Blob(&[1, 2])), Err(DecodeError::Invalid(m)) if m.contains("16 bytes"))
        );
        assert!(Uuid::decode(ValueRef::Text(b"nope")).is_err());
        assert_eq!(
            Uuid::decode(ValueRef::Integer(1)),
            Err(DecodeError::InvalidType)
        );
    }
}
