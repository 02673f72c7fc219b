//! Rows as the typed API sees them, whether they come from a local SQLite connection, over the
//! network, or from `... RETURNING` through Raft: one [`Row`] type, one [`FromRow`] trait.

use serde::de::DeserializeOwned;

use crate::engine::error::Error;
use crate::types::decode::{Decode, DecodeError};
use crate::types::value::Value;

/// One result row. Read columns by name with [`Row::get`] or by position with [`Row::get_idx`].
pub struct Row<'r> {
    inner: RowInner<'r>,
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Owned {
        columns: &'r [String],
        values: &'r [Value],
    },
}

impl<'r> Row<'r> {
    pub(crate) fn sqlite(row: &'r rusqlite::Row<'r>) -> Self {
        Row {
            inner: RowInner::Sqlite(row),
        }
    }

    pub(crate) fn owned(columns: &'r [String], values: &'r [Value]) -> Self {
        Row {
            inner: RowInner::Owned { columns, values },
        }
    }

    /// The value of column `name`, read with [`Decode`] (integers, floats, strings, blobs,
    /// `Option<T>` for NULL, the feature types, `#[derive(HiqliteType)]` types, ...).
    /// [`Error::Conversion`] names the column when it is missing or its value does not fit `T`.
    pub fn get<T: Decode>(&self, name: &str) -> Result<T, Error> {
        let idx = match &self.inner {
            RowInner::Sqlite(row) => row.as_ref().column_index(name).ok(),
            RowInner::Owned { columns, .. } => columns.iter().position(|c| c == name),
        }
        .ok_or_else(|| Error::Conversion(format!("no column named {name:?}")))?;
        self.decode_at(idx, &format!("{name:?}"))
    }

    /// The value of the column at `idx` (0-based), read with [`Decode`].
    pub fn get_idx<T: Decode>(&self, idx: usize) -> Result<T, Error> {
        self.decode_at(idx, &idx.to_string())
    }

    fn decode_at<T: Decode>(&self, idx: usize, label: &str) -> Result<T, Error> {
        let value = self
            .value_ref(idx)
            .ok_or_else(|| Error::Conversion(format!("no column {label}")))?;
        T::decode(value).map_err(|e| {
            let why = match e {
                DecodeError::InvalidType => format!(
                    "cannot read {} as `{}`",
                    value.data_type(),
                    std::any::type_name::<T>()
                ),
                other => other.to_string(),
            };
            Error::Conversion(format!("column {label}: {why}"))
        })
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        match &self.inner {
            RowInner::Sqlite(row) => row.as_ref().column_count(),
            RowInner::Owned { values, .. } => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column's name.
    pub fn column_name(&self, idx: usize) -> Option<&str> {
        match &self.inner {
            RowInner::Sqlite(row) => row.as_ref().column_name(idx).ok(),
            RowInner::Owned { columns, .. } => columns.get(idx).map(String::as_str),
        }
    }

    /// The raw value of the column at `idx`.
    pub fn value(&self, idx: usize) -> Option<Value> {
        match &self.inner {
            RowInner::Sqlite(row) => row.get_ref(idx).ok().map(Value::from_ref),
            RowInner::Owned { values, .. } => values.get(idx).cloned(),
        }
    }

    /// The position of column `name` (SQLite compares column names case-insensitively).
    pub(crate) fn column_index(&self, name: &str) -> Option<usize> {
        (0..self.len()).find(|&i| {
            self.column_name(i)
                .is_some_and(|c| c.eq_ignore_ascii_case(name))
        })
    }

    /// The column names, for error messages.
    pub(crate) fn column_names(&self) -> Vec<&str> {
        (0..self.len())
            .filter_map(|i| self.column_name(i))
            .collect()
    }

    /// The value of the column at `idx`, borrowed (no copy of text or blobs).
    pub(crate) fn value_ref(&self, idx: usize) -> Option<rusqlite::types::ValueRef<'_>> {
        match &self.inner {
            RowInner::Sqlite(row) => row.get_ref(idx).ok(),
            RowInner::Owned { values, .. } => values.get(idx).map(Value::as_ref),
        }
    }

    /// Deserializes the row as a map from column name to value (for `query_as`).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let mut map = serde_json::Map::with_capacity(self.len());
        for idx in 0..self.len() {
            let name = self.column_name(idx).unwrap_or_default().to_string();
            let value = self.value(idx).unwrap_or(Value::Null);
            map.insert(name, value.to_json());
        }
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| Error::Conversion(e.to_string()))
    }
}

/// Builds a value from a result row. Implement it for your row structs (a derive comes with the typed API)
/// or use tuples, `Value` and `Vec<Value>`, which implement it already.
///
/// ```
/// use hiqlite::client::{FromRow, Row};
/// struct User { id: i64, name: String }
/// impl FromRow for User {
///     fn from_row(row: &Row<'_>) -> Result<Self, hiqlite::Error> {
///         Ok(User { id: row.get("id")?, name: row.get("name")? })
///     }
/// }
/// ```
pub trait FromRow: Sized {
    fn from_row(row: &Row<'_>) -> Result<Self, Error>;
}

impl FromRow for Vec<Value> {
    fn from_row(row: &Row<'_>) -> Result<Self, Error> {
        Ok((0..row.len())
            .map(|i| row.value(i).unwrap_or(Value::Null))
            .collect())
    }
}

impl FromRow for Value {
    fn from_row(row: &Row<'_>) -> Result<Self, Error> {
        row.value(0)
            .ok_or_else(|| Error::Conversion("row has no columns".into()))
    }
}

macro_rules! tuple_from_row {
    ($($t:ident => $i:tt),+) => {
        impl<$($t: Decode),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row<'_>) -> Result<Self, Error> {
                Ok(($(row.get_idx::<$t>($i)?,)+))
            }
        }
    };
}
tuple_from_row!(A => 0);
tuple_from_row!(A => 0, B => 1);
tuple_from_row!(A => 0, B => 1, C => 2);
tuple_from_row!(A => 0, B => 1, C => 2, D => 3);
tuple_from_row!(A => 0, B => 1, C => 2, D => 3, E => 4);
tuple_from_row!(A => 0, B => 1, C => 2, D => 3, E => 4, F => 5);

/// Maps owned rows (from the network or `RETURNING`) with `F`.
pub(crate) fn map_rows<T>(
    rows: &crate::types::command::Rows,
    f: impl Fn(&Row<'_>) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    rows.rows
        .iter()
        .map(|values| f(&Row::owned(&rows.columns, values)))
        .collect()
}
