//! SQLite's text form of dates and times, shared by the `chrono` and `time` types so both read
//! and write exactly the same values.
//!
//! Reads the "time values" of SQLite's date and time functions (<https://sqlite.org/lang_datefunc.html>,
//! formats 1 to 10): `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]` (a `T` may replace the space),
//! `HH:MM[:SS[.fff]]`, each optionally followed by `Z` or an offset `±HH:MM` (`±HHMM` and `±HH`
//! are accepted too). Writes `YYYY-MM-DD HH:MM:SS[.fff]` plus the offset (`+00:00` for UTC),
//! rusqlite's form, which SQLite's own functions read and which sorts by time when every value
//! has the same offset.

use std::fmt::Write as _;

use crate::types::decode::{DecodeError, ValueRef};

/// A date, a time of day, or both, with an optional offset, as written in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    pub date: Option<(i32, u8, u8)>,
    /// Hour, minute, second, nanosecond.
    pub time: Option<(u8, u8, u8, u32)>,
    /// Seconds east of UTC; `None` when the text has no zone.
    pub offset: Option<i32>,
}

/// Where an instant read from a column comes from.
pub(crate) enum Instant {
    /// TEXT in SQLite's format.
    Text(Parts),
    /// Seconds (and nanoseconds) since the Unix epoch: an INTEGER, or a REAL under SQLite's
    /// `auto` rule.
    Unix { seconds: i64, nanos: u32 },
}

/// SQLite's `auto` modifier: a number from 0.0 to 5373484.499999 is a Julian day number (as
/// `julianday()` returns), anything else is seconds since the Unix epoch.
const JULIAN_DAY_MAX: f64 = 5_373_484.5;
/// The Julian day number of 1970-01-01 00:00 UTC.
const JULIAN_DAY_UNIX_EPOCH: f64 = 2_440_587.5;

/// Reads a column value as an instant: TEXT (parsed), INTEGER (unix seconds) or REAL (a Julian
/// day number or unix seconds, by SQLite's `auto` rule).
pub(crate) fn instant(value: ValueRef<'_>) -> Result<Instant, DecodeError> {
    match value {
        ValueRef::Text(t) => {
            let text = std::str::from_utf8(t)
                .map_err(|e| DecodeError::Invalid(format!("the TEXT is not valid UTF-8: {e}")))?;
            parse(text).map(Instant::Text)
        }
        ValueRef::Integer(seconds) => Ok(Instant::Unix { seconds, nanos: 0 }),
        ValueRef::Real(r) if r.is_finite() => {
            let unix = if (0.0..JULIAN_DAY_MAX).contains(&r) {
                (r - JULIAN_DAY_UNIX_EPOCH) * 86_400.0
            } else {
                r
            };
            if unix.abs() > 1e15 {
                return Err(DecodeError::Invalid(format!(
                    "{r} is out of range for a time"
                )));
            }
            let seconds = unix.floor();
            // Millisecond precision, as SQLite keeps: a Julian day in an f64 has no more.
            let millis = ((unix - seconds) * 1000.0).round() as u32;
            let (seconds, millis) = if millis >= 1000 {
                (seconds as i64 + 1, 0)
            } else {
                (seconds as i64, millis)
            };
            Ok(Instant::Unix {
                seconds,
                nanos: millis * 1_000_000,
            })
        }
        _ => Err(DecodeError::InvalidType),
    }
}

/// Parses SQLite's text form (see the module docs).
pub(crate) fn parse(text: &str) -> Result<Parts, DecodeError> {
    let invalid = || {
        DecodeError::Invalid(format!(
            "{text:?} is not a date/time in SQLite's format (YYYY-MM-DD HH:MM:SS.SSS, optionally \
             with Z or ±HH:MM)"
        ))
    };
    let s = text.trim();
    let mut p = Cursor {
        bytes: s.as_bytes(),
        at: 0,
    };
    let date = if p.looks_like_date() {
        let year = p.digits(4).ok_or_else(invalid)? as i32;
        p.expect(b'-').ok_or_else(invalid)?;
        let month = p.digits(2).ok_or_else(invalid)? as u8;
        p.expect(b'-').ok_or_else(invalid)?;
        let day = p.digits(2).ok_or_else(invalid)? as u8;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(invalid());
        }
        if p.peek()
            .is_some_and(|c| c == b' ' || c == b'T' || c == b't')
        {
            p.at += 1;
        }
        Some((year, month, day))
    } else {
        None
    };
    let time = if p.peek().is_some_and(|c| c.is_ascii_digit()) {
        let hour = p.digits(2).ok_or_else(invalid)? as u8;
        p.expect(b':').ok_or_else(invalid)?;
        let minute = p.digits(2).ok_or_else(invalid)? as u8;
        let (second, nanos) = if p.peek() == Some(b':') {
            p.at += 1;
            let second = p.digits(2).ok_or_else(invalid)? as u8;
            let nanos = if p.peek() == Some(b'.') {
                p.at += 1;
                p.fraction().ok_or_else(invalid)?
            } else {
                0
            };
            (second, nanos)
        } else {
            (0, 0)
        };
        if hour > 23 || minute > 59 || second > 59 {
            return Err(invalid());
        }
        Some((hour, minute, second, nanos))
    } else {
        None
    };
    if date.is_none() && time.is_none() {
        return Err(invalid());
    }
    while p.peek() == Some(b' ') {
        p.at += 1;
    }
    let offset = match p.peek() {
        None => None,
        Some(b'Z' | b'z') => {
            p.at += 1;
            Some(0)
        }
        Some(sign @ (b'+' | b'-')) => {
            p.at += 1;
            let hours = p.digits(2).ok_or_else(invalid)? as i32;
            if p.peek() == Some(b':') {
                p.at += 1;
            }
            let minutes = if p.peek().is_some() {
                p.digits(2).ok_or_else(invalid)? as i32
            } else {
                0
            };
            if hours > 23 || minutes > 59 {
                return Err(invalid());
            }
            let seconds = hours * 3600 + minutes * 60;
            Some(if sign == b'-' { -seconds } else { seconds })
        }
        Some(_) => return Err(invalid()),
    };
    if p.peek().is_some() {
        return Err(invalid());
    }
    Ok(Parts { date, time, offset })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn looks_like_date(&self) -> bool {
        self.bytes.get(self.at + 4) == Some(&b'-')
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.at += 1)
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let chunk = self.bytes.get(self.at..self.at + n)?;
        if !chunk.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += n;
        Some(
            chunk
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }

    /// One or more digits after the decimal point, as nanoseconds (digits past 9 are dropped).
    fn fraction(&mut self) -> Option<u32> {
        let start = self.at;
        let mut nanos = 0u32;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            if self.at - start < 9 {
                nanos = nanos * 10 + u32::from(d - b'0');
            }
            self.at += 1;
        }
        let len = self.at - start;
        if len == 0 {
            return None;
        }
        Some(nanos * 10u32.pow(9 - len.min(9) as u32))
    }
}

/// `YYYY-MM-DD`.
pub(crate) fn write_date(out: &mut String, (year, month, day): (i32, u8, u8)) {
    let _ = write!(out, "{year:04}-{month:02}-{day:02}");
}

/// `HH:MM:SS` plus `.fff`, `.ffffff` or `.fffffffff` when there are fractions of a second
/// (chrono's `%.f`: as many digits as needed, in groups of three).
pub(crate) fn write_time(out: &mut String, (hour, minute, second, nanos): (u8, u8, u8, u32)) {
    let _ = write!(out, "{hour:02}:{minute:02}:{second:02}");
    let nanos = nanos.min(999_999_999);
    if nanos == 0 {
    } else if nanos % 1_000_000 == 0 {
        let _ = write!(out, ".{:03}", nanos / 1_000_000);
    } else if nanos % 1_000 == 0 {
        let _ = write!(out, ".{:06}", nanos / 1_000);
    } else {
        let _ = write!(out, ".{nanos:09}");
    }
}

/// `+HH:MM` / `-HH:MM` (seconds of the offset, if any, are dropped: SQLite has none).
pub(crate) fn write_offset(out: &mut String, seconds_east: i32) {
    let sign = if seconds_east < 0 { '-' } else { '+' };
    let abs = seconds_east.unsigned_abs();
    let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60);
}

/// The full text form of an instant with its offset.
pub(crate) fn format(date: (i32, u8, u8), time: (u8, u8, u8, u32), offset: Option<i32>) -> String {
    let mut out = String::with_capacity(35);
    write_date(&mut out, date);
    out.push(' ');
    write_time(&mut out, time);
    if let Some(offset) = offset {
        write_offset(&mut out, offset);
    }
    out
}

/// The error for a text that has a time but no date, read as a type that needs both.
pub(crate) fn missing_date(parts: &Parts) -> DecodeError {
    DecodeError::Invalid(format!(
        "a time of day without a date ({:?}) cannot be read as a date and time",
        parts.time
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> Parts {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn reads_every_sqlite_format() {
        let p = parts("2026-11-30");
        assert_eq!(
            (p.date, p.time, p.offset),
            (Some((2026, 11, 30)), None, None)
        );
        let p = parts("2026-11-30 08:24");
        assert_eq!(p.time, Some((8, 24, 0, 0)));
        let p = parts("2026-11-30T08:24:49");
        assert_eq!(p.time, Some((8, 24, 49, 0)));
        let p = parts("2026-11-30 08:24:49.5");
        assert_eq!(p.time, Some((8, 24, 49, 500_000_000)));
        let p = parts("2026-11-30 08:24:49.123456789123");
        assert_eq!(p.time, Some((8, 24, 49, 123_456_789)));
        assert_eq!(parts("08:24:49.250").date, None);
        assert_eq!(parts("2026-11-30 08:24:49Z").offset, Some(0));
        assert_eq!(parts("2026-11-30 08:24:49+02:00").offset, Some(7200));
        assert_eq!(parts("2026-11-30T08:24:49-0130").offset, Some(-5400));
        assert_eq!(parts("2026-11-30 08:24:49 +05").offset, Some(18000));
        assert_eq!(parts(" 2026-11-30 ").date, Some((2026, 11, 30)));
    }

    #[test]
    fn refuses_what_sqlite_would_not_read() {
        for bad in [
            "",
            "now",
            "2026-13-01",
            "2026-11-30 25:00",
            "2026-11-30 08:24:49+",
            "2026-11-30 08:24:49 junk",
            "2026/11/30",
            "1700000000",
            "2026-11-30 08:24:49.",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn writes_what_it_reads() {
        for (time, text) in [
            ((8, 24, 49, 0), "2026-11-30 08:24:49+00:00"),
            ((8, 24, 49, 120_000_000), "2026-11-30 08:24:49.120+00:00"),
            ((8, 24, 49, 123_456_000), "2026-11-30 08:24:49.123456+00:00"),
            ((8, 24, 49, 1), "2026-11-30 08:24:49.000000001+00:00"),
        ] {
            let out = format((2026, 11, 30), time, Some(0));
            assert_eq!(out, text);
            assert_eq!(parts(&out).time, Some(time));
        }
        assert_eq!(
            format((2026, 1, 2), (3, 4, 5, 0), Some(-5400)),
            "2026-01-02 03:04:05-01:30"
        );
    }

    #[test]
    fn numbers_are_unix_seconds_or_julian_days() {
        let Ok(Instant::Unix { seconds, nanos }) = instant(ValueRef::Integer(1_700_000_000)) else {
            panic!()
        };
        assert_eq!((seconds, nanos), (1_700_000_000, 0));
        // julianday('1970-01-02 12:00') = 2440589.0
        let Ok(Instant::Unix { seconds, .. }) = instant(ValueRef::Real(2_440_589.0)) else {
            panic!()
        };
        assert_eq!(seconds, 86_400 + 43_200);
        // unixepoch('subsec') values are seconds.
        let Ok(Instant::Unix { seconds, nanos }) = instant(ValueRef::Real(1_700_000_000.25)) else {
            panic!()
        };
        assert_eq!((seconds, nanos), (1_700_000_000, 250_000_000));
        assert!(instant(ValueRef::Real(f64::NAN)).is_err());
        assert!(matches!(
            instant(ValueRef::Blob(b"x")),
            Err(DecodeError::InvalidType)
        ));
    }
}
