//! Reading one column into one field, for the code `#[derive(HiqliteRow)]` and `query!`
//! generate. Every failure names the column and the field, and says what was found.

use std::fmt::Display;
use std::str::FromStr;

use crate::types::decode::{Decode, DecodeError, ValueRef};

use crate::client::Row;
use crate::engine::error::Error;
use crate::types::value::Value;

/// Which field a derived `FromRow` is filling, for error messages.
#[derive(Debug)]
pub struct Field {
    /// The struct's name.
    pub strukt: &'static str,
    pub field: &'static str,
    /// The column the field reads (its name or its `rename`).
    pub column: &'static str,
    /// The field's type as written.
    pub ty: &'static str,
}

impl Field {
    fn error(&self, message: impl Display) -> Error {
        Error::Conversion(format!(
            "field `{}.{}` (column \"{}\"): {message}",
            self.strukt, self.field, self.column
        ))
    }

    fn value<'r>(&self, row: &'r Row<'_>) -> Result<ValueRef<'r>, Error> {
        let missing = || {
            self.error(format_args!(
                "the result has no such column (it has: {})",
                row.column_names().join(", ")
            ))
        };
        let idx = row.column_index(self.column).ok_or_else(missing)?;
        row.value_ref(idx).ok_or_else(missing)
    }
}

/// What a value is, for "cannot read ... as" messages.
fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => format!("the INTEGER {i}"),
        ValueRef::Real(r) => format!("the REAL {r}"),
        ValueRef::Text(t) => format!("the TEXT {:?}", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("a BLOB of {} bytes", b.len()),
    }
}

fn decode<T: Decode>(value: ValueRef<'_>, ty: &str) -> Result<T, String> {
    T::decode(value).map_err(|e| match e {
        DecodeError::InvalidType if matches!(value, ValueRef::Null) => {
            format!("cannot read NULL as `{ty}`; use `Option<{ty}>` for a column that can be NULL")
        }
        DecodeError::InvalidType => format!("cannot read {} as `{ty}`", describe(value)),
        DecodeError::OutOfRange(i) => format!("the value {i} does not fit in `{ty}`"),
        DecodeError::Invalid(why) => format!("cannot read {} as `{ty}`: {why}", describe(value)),
    })
}

/// A plain field: the column read with [`Decode`].
pub fn read<T: Decode>(row: &Row<'_>, f: &'static Field) -> Result<T, Error> {
    let value = f.value(row)?;
    decode(value, f.ty).map_err(|m| f.error(m))
}

fn read_text<'r>(row: &'r Row<'_>, f: &'static Field) -> Result<Option<&'r str>, Error> {
    match f.value(row)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(Some)
            .map_err(|e| f.error(format_args!("the TEXT is not valid UTF-8: {e}"))),
        other => Err(f.error(format_args!(
            "`from_str` needs TEXT, found {}",
            describe(other)
        ))),
    }
}

/// `#[row(from_str)]`: the column as text, parsed with `FromStr`.
pub fn read_from_str<T>(row: &Row<'_>, f: &'static Field) -> Result<T, Error>
where
    T: FromStr,
    T::Err: Display,
{
    match read_from_str_opt(row, f)? {
        Some(v) => Ok(v),
        None => Err(f.error(format_args!(
            "cannot parse NULL as `{}`; make the field an `Option`",
            f.ty
        ))),
    }
}

/// `#[row(from_str)]` on an `Option<T>` field: NULL is `None`.
pub fn read_from_str_opt<T>(row: &Row<'_>, f: &'static Field) -> Result<Option<T>, Error>
where
    T: FromStr,
    T::Err: Display,
{
    match read_text(row, f)? {
        None => Ok(None),
        Some(text) => T::from_str(text)
            .map(Some)
            .map_err(|e| f.error(format_args!("cannot parse {text:?}: {e}"))),
    }
}

/// `#[row(try_from = "S")]`: the column read as `S`, converted with `TryFrom<S>`.
pub fn read_try_from<S, T>(row: &Row<'_>, f: &'static Field) -> Result<T, Error>
where
    S: Decode,
    T: TryFrom<S>,
    T::Error: Display,
{
    let value = f.value(row)?;
    let source: S = decode(value, std::any::type_name::<S>()).map_err(|m| f.error(m))?;
    T::try_from(source).map_err(|e| {
        f.error(format_args!(
            "cannot convert {} to `{}`: {e}",
            describe(value),
            f.ty
        ))
    })
}

/// `#[row(try_from = "S")]` on an `Option<T>` field: NULL is `None`.
pub fn read_try_from_opt<S, T>(row: &Row<'_>, f: &'static Field) -> Result<Option<T>, Error>
where
    S: Decode,
    T: TryFrom<S>,
    T::Error: Display,
{
    if matches!(f.value(row)?, ValueRef::Null) {
        return Ok(None);
    }
    read_try_from::<S, T>(row, f).map(Some)
}

/// `#[row(with = "path")]`: the column as a [`Value`] (NULL included), converted by the
/// user's function.
pub fn read_with<T, E, C>(row: &Row<'_>, f: &'static Field, convert: C) -> Result<T, Error>
where
    C: FnOnce(Value) -> Result<T, E>,
    E: Display,
{
    let value = Value::from_ref(f.value(row)?);
    let shown = describe(value.as_ref());
    convert(value).map_err(|e| f.error(format_args!("cannot convert {shown}: {e}")))
}

/// A `query!` record field: the column at `idx`, whose name is `column`.
pub fn read_column<T: Decode>(row: &Row<'_>, idx: usize, column: &'static str) -> Result<T, Error> {
    let value = row.value_ref(idx).ok_or_else(|| {
        Error::Conversion(format!(
            "column \"{column}\": the row has no column at position {idx}"
        ))
    })?;
    decode(value, std::any::type_name::<T>())
        .map_err(|m| Error::Conversion(format!("column \"{column}\": {m}")))
}

/// A `query_scalar!` row: the value of its first (only) column, named in errors by the row's
/// own column name.
pub fn read_scalar<T: Decode>(row: &Row<'_>) -> Result<T, Error> {
    let column = row.column_name(0).unwrap_or("?");
    let value = row
        .value_ref(0)
        .ok_or_else(|| Error::Conversion("query_scalar!: the row has no columns".to_string()))?;
    decode(value, std::any::type_name::<T>())
        .map_err(|m| Error::Conversion(format!("column \"{column}\": {m}")))
}
