//! Value types of other crates, each behind the cargo feature of the same name (as sqlx names
//! them): `chrono` and `time` (dates and times), `uuid`, `json` (`serde_json::Value`, [`Json`]).
//! Each type gets the four conversions of the typed API: binding (`From<T> for Value`), reading
//! ([`Decode`](crate::types::Decode)), and what the build-time checks need
//! ([`ColumnFit`](crate::types::ColumnFit), [`ArgType`](crate::types::ArgType)). How each is
//! stored: docs/typed-api.md, "Value types".

/// `From<&T> for Value` through `From<T>`, for the `Copy` date/time types.
#[cfg(any(feature = "chrono", feature = "time"))]
macro_rules! from_ref {
    ($($t:ty),*) => {$(
        impl From<&$t> for Value {
            fn from(v: &$t) -> Self {
                Value::from(*v)
            }
        }
    )*};
}

/// `ColumnFit` (reads from `$accepts`) and `ArgType` (bound as TEXT) of date/time types.
#[cfg(any(feature = "chrono", feature = "time"))]
macro_rules! sql_type {
    ($accepts:expr => $($t:ty),*) => {$(
        impl ColumnFit for $t {
            const ACCEPTS: u32 = $accepts;
        }
        impl ArgType for $t {
            type Storage = storage::TEXT;
        }
    )*};
}

/// What a date/time column may hold: TEXT, unix seconds, a Julian day or NUMERIC affinity.
#[cfg(any(feature = "chrono", feature = "time"))]
const INSTANT: u32 = crate::types::sql_type::kind::TEXT
    | crate::types::sql_type::kind::INTEGER
    | crate::types::sql_type::kind::REAL
    | crate::types::sql_type::kind::NUMERIC;

#[cfg(feature = "chrono")]
mod chrono;
#[cfg(any(feature = "chrono", feature = "time"))]
pub(crate) mod datetime;
#[cfg(feature = "json")]
mod json;
#[cfg(feature = "time")]
mod time;
#[cfg(feature = "uuid")]
mod uuid;

#[cfg(feature = "json")]
pub use self::json::Json;

use crate::types::decode::{Decode, DecodeError, ValueRef};
use crate::types::sql_type::{storage, ArgType, ColumnFit};
use crate::types::value::Value;

/// A date and time bound as unix seconds (an INTEGER) instead of the default ISO-8601 TEXT:
/// `UnixTime(created_at)` as a parameter. Sub-second parts are dropped (rounded towards the
/// past). Reading needs no wrapper: the date/time types read INTEGER columns as unix seconds, but
/// `UnixTime<T>` also works as a field or override type.
///
/// Works with `chrono::DateTime<Tz>`, `chrono::NaiveDateTime` (taken as UTC),
/// `time::OffsetDateTime` and `time::PrimitiveDateTime` (taken as UTC).
///
/// ```
/// # #[cfg(feature = "chrono")] {
/// use hiqlite::types::UnixTime;
/// let t = chrono::DateTime::from_timestamp(1_700_000_000, 5).unwrap();
/// assert_eq!(hiqlite::Value::from(UnixTime(t)), hiqlite::Value::Integer(1_700_000_000));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnixTime<T>(pub T);

/// Date/time types that [`UnixTime`] can bind: seconds since 1970-01-01 00:00 UTC.
pub trait UnixSeconds {
    fn unix_seconds(&self) -> i64;
}

impl<T: UnixSeconds> From<UnixTime<T>> for Value {
    fn from(t: UnixTime<T>) -> Self {
        Value::Integer(t.0.unix_seconds())
    }
}

impl<T: UnixSeconds> From<&UnixTime<T>> for Value {
    fn from(t: &UnixTime<T>) -> Self {
        Value::Integer(t.0.unix_seconds())
    }
}

impl<T: Decode> Decode for UnixTime<T> {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        T::decode(value).map(UnixTime)
    }
}

impl<T: ColumnFit> ColumnFit for UnixTime<T> {
    const ACCEPTS: u32 = T::ACCEPTS;
}

impl<T> ArgType for UnixTime<T> {
    type Storage = storage::INTEGER;
}

impl<T> std::ops::Deref for UnixTime<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
