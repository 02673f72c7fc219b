//! Rows as the typed API sees them, whether they come from a local SQLite connection, over the
//! network, or from `... RETURNING` through Raft: one [`Row`] type, one [`FromRow`] trait.

use rusqlite::types::FromSql;
use serde::de::DeserializeOwned;

use crate::engine::error::Error;
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

    /// The value of column `name`, converted with rusqlite's `FromSql` (integers, floats, strings,
    /// blobs, `Option<T>` for NULL, ...).
    pub fn get<T: FromSql>(&self, name: &str) -> Result<T, Error> {
        match &self.inner {
            RowInner::Sqlite(row) => row.get(name).map_err(|e| conversion(name, e)),
            RowInner::Owned { columns, values } => {
                let idx = columns
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| Error::Conversion(format!("no column named {name:?}")))?;
                let value = values.get(idx).ok_or_else(|| {
                    Error::Conversion(format!("row has no value for column {name:?}"))
                })?;
                from_value(value).map_err(|e| Error::Conversion(format!("column {name:?}: {e}")))
            }
        }
    }

    /// The value of the column at `idx` (0-based).
    pub fn get_idx<T: FromSql>(&self, idx: usize) -> Result<T, Error> {
        match &self.inner {
            RowInner::Sqlite(row) => row.get(idx).map_err(|e| conversion(&idx.to_string(), e)),
            RowInner::Owned { values, .. } => {
                let value = values
                    .get(idx)
                    .ok_or_else(|| Error::Conversion(format!("no column at index {idx}")))?;
                from_value(value).map_err(|e| Error::Conversion(format!("column {idx}: {e}")))
            }
        }
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

fn conversion(column: &str, e: rusqlite::Error) -> Error {
    Error::Conversion(format!("column {column}: {e}"))
}

fn from_value<T: FromSql>(value: &Value) -> Result<T, rusqlite::types::FromSqlError> {
    T::column_result(value.as_ref())
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
        impl<$($t: FromSql),+> FromRow for ($($t,)+) {
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
