//! `chrono`'s date and time types (feature `chrono`).
//!
//! Written as TEXT in SQLite's format (`2026-11-30 08:24:49.123+00:00`, see [`datetime`]), or as
//! unix seconds (INTEGER) inside [`UnixTime`](super::UnixTime). Read from TEXT, INTEGER (unix
//! seconds) or REAL (a Julian day number or unix seconds, by SQLite's `auto` rule). A value
//! without an offset is taken as UTC.

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};

use super::datetime::{self, Instant, Parts};
use super::UnixSeconds;
use crate::types::decode::{Decode, DecodeError, ValueRef};
use crate::types::sql_type::{kind, storage, ArgType, ColumnFit};
use crate::types::value::Value;

fn date_parts(d: NaiveDate) -> (i32, u8, u8) {
    (d.year(), d.month() as u8, d.day() as u8)
}

fn time_parts(t: NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Value {
    fn from(dt: DateTime<Tz>) -> Self {
        let local = dt.naive_local();
        let offset = dt.fixed_offset().offset().local_minus_utc();
        Value::Text(datetime::format(
            date_parts(local.date()),
            time_parts(local.time()),
            Some(offset),
        ))
    }
}

impl<Tz: TimeZone> From<&DateTime<Tz>> for Value {
    fn from(dt: &DateTime<Tz>) -> Self {
        Value::from(dt.clone())
    }
}

impl From<NaiveDateTime> for Value {
    fn from(dt: NaiveDateTime) -> Self {
        Value::Text(datetime::format(
            date_parts(dt.date()),
            time_parts(dt.time()),
            None,
        ))
    }
}

impl From<NaiveDate> for Value {
    fn from(d: NaiveDate) -> Self {
        let mut out = String::with_capacity(10);
        datetime::write_date(&mut out, date_parts(d));
        Value::Text(out)
    }
}

impl From<NaiveTime> for Value {
    fn from(t: NaiveTime) -> Self {
        let mut out = String::with_capacity(18);
        datetime::write_time(&mut out, time_parts(t));
        Value::Text(out)
    }
}

from_ref!(NaiveDateTime, NaiveDate, NaiveTime);

fn out_of_range(what: impl std::fmt::Debug) -> DecodeError {
    DecodeError::Invalid(format!("{what:?} is not a valid date/time for chrono"))
}

fn naive_date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, DecodeError> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into()).ok_or_else(|| out_of_range((y, m, d)))
}

fn naive_time((h, m, s, n): (u8, u8, u8, u32)) -> Result<NaiveTime, DecodeError> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), n)
        .ok_or_else(|| out_of_range((h, m, s, n)))
}

fn from_unix(seconds: i64, nanos: u32) -> Result<DateTime<Utc>, DecodeError> {
    DateTime::from_timestamp(seconds, nanos).ok_or_else(|| out_of_range(seconds))
}

/// The instant in `value` with the offset it was written with (UTC when none).
fn fixed(value: ValueRef<'_>) -> Result<DateTime<FixedOffset>, DecodeError> {
    match datetime::instant(value)? {
        Instant::Unix { seconds, nanos } => Ok(from_unix(seconds, nanos)?.fixed_offset()),
        Instant::Text(parts @ Parts { date, time, offset }) => {
            let date = naive_date(date.ok_or_else(|| datetime::missing_date(&parts))?)?;
            let time = naive_time(time.unwrap_or_default())?;
            let offset =
                FixedOffset::east_opt(offset.unwrap_or(0)).ok_or_else(|| out_of_range(offset))?;
            NaiveDateTime::new(date, time)
                .and_local_timezone(offset)
                .single()
                .ok_or_else(|| out_of_range(parts))
        }
    }
}

impl Decode for DateTime<FixedOffset> {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        fixed(value)
    }
}

impl Decode for DateTime<Utc> {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        fixed(value).map(|dt| dt.to_utc())
    }
}

impl Decode for NaiveDateTime {
    /// An offset in the text is applied: the result is UTC.
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        fixed(value).map(|dt| dt.naive_utc())
    }
}

impl Decode for NaiveDate {
    /// A date, or the date part of a date and time (its offset is not applied).
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match datetime::instant(value)? {
            Instant::Unix { seconds, nanos } => Ok(from_unix(seconds, nanos)?.date_naive()),
            Instant::Text(parts) => naive_date(parts.date.ok_or_else(|| {
                DecodeError::Invalid("a time of day without a date is not a date".into())
            })?),
        }
    }
}

impl Decode for NaiveTime {
    /// A time of day, or the time part of a date and time (its offset is not applied).
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match datetime::instant(value)? {
            Instant::Unix { seconds, nanos } => Ok(from_unix(seconds, nanos)?.time()),
            Instant::Text(parts) => naive_time(parts.time.unwrap_or_default()),
        }
    }
}

impl<Tz: TimeZone> UnixSeconds for DateTime<Tz> {
    fn unix_seconds(&self) -> i64 {
        self.timestamp()
    }
}

impl UnixSeconds for NaiveDateTime {
    fn unix_seconds(&self) -> i64 {
        self.and_utc().timestamp()
    }
}

sql_type!(super::INSTANT => DateTime<Utc>, DateTime<FixedOffset>, NaiveDateTime, NaiveDate);
sql_type!(kind::TEXT | kind::NUMERIC => NaiveTime);

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: Value) -> String {
        match v {
            Value::Text(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_trips_through_text() {
        let dt = DateTime::from_timestamp(1_764_491_089, 123_000_000).unwrap();
        let stored = text(Value::from(dt));
        assert_eq!(stored, "2025-11-30 08:24:49.123+00:00");
        assert_eq!(
            DateTime::<Utc>::decode(ValueRef::Text(stored.as_bytes())),
            Ok(dt)
        );

        let plus2 = dt.with_timezone(&FixedOffset::east_opt(7200).unwrap());
        let stored = text(Value::from(plus2));
        assert_eq!(stored, "2025-11-30 10:24:49.123+02:00");
        let back = DateTime::<FixedOffset>::decode(ValueRef::Text(stored.as_bytes())).unwrap();
        assert_eq!((back, back.offset().local_minus_utc()), (plus2, 7200));
        assert_eq!(
            DateTime::<Utc>::decode(ValueRef::Text(stored.as_bytes())),
            Ok(dt)
        );

        let d = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        assert_eq!(text(Value::from(d)), "2026-02-28");
        let t = NaiveTime::from_hms_milli_opt(23, 5, 1, 500).unwrap();
        assert_eq!(text(Value::from(t)), "23:05:01.500");
        assert_eq!(NaiveTime::decode(ValueRef::Text(b"23:05:01.500")), Ok(t));
    }

    #[test]
    fn reads_sqlite_and_numeric_forms() {
        // datetime('now') writes no offset and no fraction: UTC.
        let dt = DateTime::<Utc>::decode(ValueRef::Text(b"2026-11-30 08:24:49")).unwrap();
        assert_eq!(dt.timestamp(), 1_796_027_089);
        assert_eq!(
            DateTime::<Utc>::decode(ValueRef::Integer(1_796_027_089)),
            Ok(dt)
        );
        assert_eq!(
            NaiveDate::decode(ValueRef::Integer(1_796_027_089)),
            Ok(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap())
        );
        assert!(matches!(
            DateTime::<Utc>::decode(ValueRef::Text(b"08:00")),
            Err(DecodeError::Invalid(_))
        ));
        assert_eq!(
            DateTime::<Utc>::decode(ValueRef::Blob(b"x")),
            Err(DecodeError::InvalidType)
        );
    }
}
