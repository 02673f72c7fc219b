//! The dashboard's SQL box: one read-only statement on this node's own database, at most
//! [`MAX_ROWS`] rows back.
//!
//! It runs on the engine's read pool, whose connections are opened read-only with
//! `PRAGMA query_only` and the reader guard, so nothing here can write; a statement SQLite
//! itself knows to write is refused before it runs, with a message that says so.

use serde_json::Value as Json;

use crate::engine::error::Error;
use crate::engine::Engine;
use crate::types::command::SqlError;
use crate::types::value::Value;

/// The most rows one query returns; the answer says when there were more.
pub(super) const MAX_ROWS: usize = 1000;
/// Bytes of a blob shown before it is cut short.
const BLOB_SHOWN: usize = 32;

/// What a query returned.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(super) struct QueryResult {
    pub columns: Vec<String>,
    /// Each value as JSON: null, a number, or text (a blob as `x'HEX'`, cut after 32 bytes).
    pub rows: Vec<Vec<Json>>,
    /// The statement had more than [`MAX_ROWS`] rows; the rest were not read.
    pub truncated: bool,
    pub max_rows: usize,
}

/// Runs `sql` (one statement) on this node's database.
///
/// # Errors
/// [`Error::Sql`] for a statement that does not parse, several statements, one that would
/// write ("the dashboard only reads ..."), or one that fails while running; or what the read
/// pool fails with.
pub(super) async fn run_query(engine: &Engine, sql: String) -> Result<QueryResult, Error> {
    engine
        .reads
        .with_conn(move |conn| {
            let mut stmt = conn.prepare(&sql)?;
            if !stmt.readonly() {
                return Err(Error::Sql(SqlError::Sqlite {
                    message: "the dashboard only reads: this statement would change the \
                              database (write with the client or `hiqlite sql`)"
                        .into(),
                }));
            }
            let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            let mut truncated = false;
            while let Some(row) = rows.next()? {
                if out.len() == MAX_ROWS {
                    truncated = true;
                    break;
                }
                let mut values = Vec::with_capacity(columns.len());
                for i in 0..columns.len() {
                    values.push(to_json(Value::from_ref(row.get_ref(i)?)));
                }
                out.push(values);
            }
            Ok(QueryResult {
                columns,
                rows: out,
                truncated,
                max_rows: MAX_ROWS,
            })
        })
        .await
}

fn to_json(value: Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(i) => Json::from(i),
        // NaN cannot come out of SQLite; an infinity becomes null.
        Value::Real(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        Value::Text(s) => Json::String(s),
        Value::Blob(b) => {
            let hex: String = b
                .iter()
                .take(BLOB_SHOWN)
                .map(|byte| format!("{byte:02X}"))
                .collect();
            let more = if b.len() > BLOB_SHOWN {
                format!("… ({} bytes)", b.len())
            } else {
                String::new()
            };
            Json::String(format!("x'{hex}'{more}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_json() {
        assert_eq!(to_json(Value::Null), Json::Null);
        assert_eq!(to_json(Value::Integer(-7)), Json::from(-7));
        assert_eq!(to_json(Value::Real(1.5)), Json::from(1.5));
        assert_eq!(to_json(Value::Real(f64::INFINITY)), Json::Null);
        assert_eq!(to_json(Value::Text("a".into())), Json::from("a"));
        assert_eq!(to_json(Value::Blob(vec![0xab, 1])), Json::from("x'AB01'"));
        assert_eq!(
            to_json(Value::Blob(vec![0; 40])),
            Json::from(format!("x'{}'… (40 bytes)", "00".repeat(32)))
        );
    }
}
