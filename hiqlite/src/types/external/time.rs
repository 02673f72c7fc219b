//! The `time` crate's date and time types (feature `time`), stored exactly like the `chrono`
//! ones (see [`datetime`]): TEXT in SQLite's format, or unix seconds inside
//! [`UnixTime`](super::UnixTime); read from TEXT, INTEGER or REAL. A value without an offset is
//! taken as UTC.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::datetime::{self, Instant, Parts};
use super::UnixSeconds;
use crate::types::decode::{Decode, DecodeError, ValueRef};
use crate::types::sql_type::{kind, storage, ArgType, ColumnFit};
use crate::types::value::Value;

fn date_parts(d: Date) -> (i32, u8, u8) {
    (d.year(), d.month() as u8, d.day())
}

fn time_parts(t: Time) -> (u8, u8, u8, u32) {
    (t.hour(), t.minute(), t.second(), t.nanosecond())
}

impl From<OffsetDateTime> for Value {
    fn from(dt: OffsetDateTime) -> Self {
        Value::Text(datetime::format(
            date_parts(dt.date()),
            time_parts(dt.time()),
            Some(dt.offset().whole_seconds()),
        ))
    }
}

impl From<PrimitiveDateTime> for Value {
    fn from(dt: PrimitiveDateTime) -> Self {
        Value::Text(datetime::format(
            date_parts(dt.date()),
            time_parts(dt.time()),
            None,
        ))
    }
}

impl From<Date> for Value {
    fn from(d: Date) -> Self {
        let mut out = String::with_capacity(10);
        datetime::write_date(&mut out, date_parts(d));
        Value::Text(out)
    }
}

impl From<Time> for Value {
    fn from(t: Time) -> Self {
        let mut out = String::with_capacity(18);
        datetime::write_time(&mut out, time_parts(t));
        Value::Text(out)
    }
}

from_ref!(OffsetDateTime, PrimitiveDateTime, Date, Time);

fn invalid(e: time::error::ComponentRange) -> DecodeError {
    DecodeError::Invalid(format!("not a valid date/time for the time crate: {e}"))
}

fn date((y, m, d): (i32, u8, u8)) -> Result<Date, DecodeError> {
    let month = Month::try_from(m).map_err(invalid)?;
    Date::from_calendar_date(y, month, d).map_err(invalid)
}

fn time_of_day((h, m, s, n): (u8, u8, u8, u32)) -> Result<Time, DecodeError> {
    Time::from_hms_nano(h, m, s, n).map_err(invalid)
}

fn from_unix(seconds: i64, nanos: u32) -> Result<OffsetDateTime, DecodeError> {
    OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(seconds) * 1_000_000_000 + i128::from(nanos),
    )
    .map_err(invalid)
}

impl Decode for OffsetDateTime {
    /// Keeps the offset written in the text (UTC when none).
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match datetime::instant(value)? {
            Instant::Unix { seconds, nanos } => from_unix(seconds, nanos),
            Instant::Text(parts @ Parts { time, offset, .. }) => {
                let date = date(parts.date.ok_or_else(|| datetime::missing_date(&parts))?)?;
                let time = time_of_day(time.unwrap_or_default())?;
                let offset = UtcOffset::from_whole_seconds(offset.unwrap_or(0)).map_err(invalid)?;
                Ok(PrimitiveDateTime::new(date, time).assume_offset(offset))
            }
        }
    }
}

impl Decode for PrimitiveDateTime {
    /// An offset in the text is applied: the result is UTC.
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        let utc = OffsetDateTime::decode(value)?.to_offset(UtcOffset::UTC);
        Ok(PrimitiveDateTime::new(utc.date(), utc.time()))
    }
}

impl Decode for Date {
    /// A date, or the date part of a date and time (its offset is not applied).
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match datetime::instant(value)? {
            Instant::Unix { seconds, nanos } => Ok(from_unix(seconds, nanos)?.date()),
            Instant::Text(parts) => date(parts.date.ok_or_else(|| {
                DecodeError::Invalid("a time of day without a date is not a date".into())
            })?),
        }
    }
}

impl Decode for Time {
    /// A time of day, or the time part of a date and time (its offset is not applied).
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match datetime::instant(value)? {
            Instant::Unix { seconds, nanos } => Ok(from_unix(seconds, nanos)?.time()),
            Instant::Text(parts) => time_of_day(parts.time.unwrap_or_default()),
        }
    }
}

impl UnixSeconds for OffsetDateTime {
    fn unix_seconds(&self) -> i64 {
        self.unix_timestamp()
    }
}

impl UnixSeconds for PrimitiveDateTime {
    fn unix_seconds(&self) -> i64 {
        self.assume_utc().unix_timestamp()
    }
}

sql_type!(super::INSTANT => OffsetDateTime, PrimitiveDateTime, Date);
sql_type!(kind::TEXT | kind::NUMERIC => Time);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_like_chrono() {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(1_764_491_089_123_000_000).unwrap();
        let Value::Text(stored) = Value::from(dt) else {
            panic!()
        };
        assert_eq!(stored, "2025-11-30 08:24:49.123+00:00");
        assert_eq!(
            OffsetDateTime::decode(ValueRef::Text(stored.as_bytes())),
            Ok(dt)
        );
        assert_eq!(
            OffsetDateTime::decode(ValueRef::Integer(1_764_491_089)).map(|d| d.unix_timestamp()),
            Ok(1_764_491_089)
        );
        let d = Date::decode(ValueRef::Text(b"2026-02-28 10:00:00")).unwrap();
        assert_eq!(Value::from(d), Value::Text("2026-02-28".into()));
        assert!(Date::decode(ValueRef::Text(b"2026-02-30")).is_err());
    }
}
