//! What one statement produced, on either side, in one comparable shape.

use hiqlite::client::SqlOutput;
use hiqlite::{ConstraintKind, Rows, SqlError, Value};

use crate::sqlgen::{is_ddl, Compare, Route, Statement};

/// A statement's result, as plain SQLite or one Hiqlite call returned it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Rows with SQLite's column names (in order, duplicates kept).
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
    },
    /// A write without rows.
    Executed {
        rows_affected: u64,
        last_insert_rowid: i64,
    },
    /// A batch and how many statements it ran.
    Batch { statements: usize },
    /// A statement error: SQLite's message and, for a broken constraint, its kind.
    Error {
        message: String,
        constraint: Option<ConstraintKind>,
    },
    /// Hiqlite failed with something that is no SQL error (network, timeout, Raft).
    Failure(String),
}

impl From<Rows> for Outcome {
    fn from(rows: Rows) -> Outcome {
        Outcome::Rows {
            columns: rows.columns,
            rows: rows.rows,
        }
    }
}

impl From<SqlOutput> for Outcome {
    fn from(output: SqlOutput) -> Outcome {
        match output {
            SqlOutput::Rows(rows) => rows.into(),
            SqlOutput::Executed {
                rows_affected,
                last_insert_rowid,
            } => Outcome::Executed {
                rows_affected,
                last_insert_rowid,
            },
            SqlOutput::Batch { statements } => Outcome::Batch { statements },
        }
    }
}

impl From<hiqlite::Error> for Outcome {
    /// `SqlError` displays as `SQL error: <message>`; the message is what SQLite said.
    fn from(e: hiqlite::Error) -> Outcome {
        match e {
            hiqlite::Error::Sql(SqlError::Sqlite { message }) => Outcome::Error {
                message,
                constraint: None,
            },
            hiqlite::Error::Sql(SqlError::Constraint { kind, message }) => Outcome::Error {
                message,
                constraint: Some(kind),
            },
            other => Outcome::Failure(other.to_string()),
        }
    }
}

/// Whether two values are the same SQLite value: same storage class, same content (REALs bit
/// for bit, so `0.0` and `-0.0` differ).
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

impl Outcome {
    /// Whether `self` (Hiqlite) matches `expected` for `stmt`: exactly, except that
    /// `last_insert_rowid` only counts where it describes the statement, results compared
    /// [`Compare::AcrossNodes`] only need the same columns and number of rows, and column names
    /// are not compared unless `exact_names`.
    pub fn matches(&self, expected: &Outcome, stmt: &Statement, exact_names: bool) -> bool {
        if let (
            Compare::Refused(reason),
            Outcome::Error {
                message: expected, ..
            },
        ) = (stmt.compare, expected)
        {
            return matches!(self, Outcome::Error { message, .. }
                if (expected == reason && message.contains(reason))
                    || sqlite_message(message, &stmt.sql) == sqlite_message(expected, &stmt.sql));
        }
        match (self, expected) {
            (
                Outcome::Rows { columns, rows },
                Outcome::Rows {
                    columns: c2,
                    rows: r2,
                },
            ) => {
                (columns == c2 || (!exact_names && columns.len() == c2.len()))
                    && rows.len() == r2.len()
                    && (stmt.compare == Compare::AcrossNodes
                        || rows.iter().zip(r2).all(|(a, b)| {
                            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
                        }))
            }
            (
                Outcome::Executed {
                    rows_affected: a,
                    last_insert_rowid: ra,
                },
                Outcome::Executed {
                    rows_affected: b,
                    last_insert_rowid: rb,
                },
            ) => a == b && (!stmt.rowid_meaningful || *b == 0 || ra == rb),
            (Outcome::Batch { statements: a }, Outcome::Batch { statements: b }) => a == b,
            // `Client::sql` on DDL that SQLite compiles with a nested check query (ALTER TABLE
            // ADD COLUMN with a CHECK, or on a STRICT table): "executed" or its empty result,
            // both say the same.
            (
                Outcome::Executed {
                    rows_affected: 0, ..
                },
                Outcome::Rows { rows, .. },
            )
            | (
                Outcome::Rows { rows, .. },
                Outcome::Executed {
                    rows_affected: 0, ..
                },
            ) if stmt.route == Route::Sql && is_ddl(&stmt.sql) && rows.is_empty() => true,
            (
                Outcome::Error {
                    message: a,
                    constraint: ka,
                },
                Outcome::Error {
                    message: b,
                    constraint: kb,
                },
            ) => sqlite_message(a, &stmt.sql) == sqlite_message(b, &stmt.sql) && ka == kb,
            _ => false,
        }
    }

    /// Whether two Hiqlite results are identical (values included), for results that plain
    /// SQLite cannot predict.
    pub fn identical(&self, other: &Outcome) -> bool {
        match (self, other) {
            (
                Outcome::Rows { columns, rows },
                Outcome::Rows {
                    columns: c2,
                    rows: r2,
                },
            ) => {
                columns == c2
                    && rows.len() == r2.len()
                    && rows.iter().zip(r2).all(|(a, b)| {
                        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
                    })
            }
            (a, b) => format!("{a}") == format!("{b}"),
        }
    }
}

impl Outcome {
    /// Whether both are rows with the same columns and the same rows as a multiset, in another
    /// order (a hint for reports, never a match).
    pub fn same_rows_in_another_order(&self, other: &Outcome) -> bool {
        match (self, other) {
            (
                Outcome::Rows { columns, rows },
                Outcome::Rows {
                    columns: c2,
                    rows: r2,
                },
            ) if columns == c2 && rows.len() == r2.len() => {
                let key = |row: &Vec<Value>| row.iter().map(show_value).collect::<Vec<_>>();
                let mut a: Vec<Vec<String>> = rows.iter().map(key).collect();
                let mut b: Vec<Vec<String>> = r2.iter().map(key).collect();
                a.sort();
                b.sort();
                a == b
            }
            _ => false,
        }
    }
}

/// SQLite's own message: without the ` in <sql> at offset <n>` that rusqlite appends to errors
/// found while preparing (Hiqlite's text has it or not depending on whether the statement was
/// prepared fresh or re-prepared from its cache).
pub fn sqlite_message<'m>(message: &'m str, sql: &str) -> &'m str {
    let Some(at) = message.rfind(" at offset ") else {
        return message;
    };
    let offset = &message[at + " at offset ".len()..];
    if offset.is_empty() || !offset.bytes().all(|b| b.is_ascii_digit()) {
        return message;
    }
    let head = &message[..at];
    // The statement text follows the first " in " whose rest is part of the SQL that ran.
    let mut from = 0;
    while let Some(pos) = head[from..].find(" in ") {
        let start = from + pos;
        if sql.contains(&head[start + " in ".len()..]) {
            return &message[..start];
        }
        from = start + 1;
    }
    message
}

/// Rows shown in a report before "... N more".
const SHOWN_ROWS: usize = 12;

/// A value with its storage class: `integer 1`, `real 1.0`, `text 'a'`, `blob x'01'`, `NULL`.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => format!("integer {i}"),
        Value::Real(r) => format!("real {r:?}"),
        Value::Text(t) => format!("text '{}'", t.replace('\'', "''")),
        Value::Blob(b) => format!(
            "blob x'{}'",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Rows { columns, rows } => {
                write!(f, "{} rows, columns {columns:?}", rows.len())?;
                for row in rows.iter().take(SHOWN_ROWS) {
                    let cells: Vec<String> = row.iter().map(show_value).collect();
                    write!(f, "\n      [{}]", cells.join(", "))?;
                }
                if rows.len() > SHOWN_ROWS {
                    write!(f, "\n      ... {} more", rows.len() - SHOWN_ROWS)?;
                }
                Ok(())
            }
            Outcome::Executed {
                rows_affected,
                last_insert_rowid,
            } => write!(
                f,
                "executed: rows_affected {rows_affected}, last_insert_rowid {last_insert_rowid}"
            ),
            Outcome::Batch { statements } => write!(f, "batch of {statements} statements"),
            Outcome::Error {
                message,
                constraint,
            } => match constraint {
                Some(kind) => write!(f, "error ({kind:?} constraint): {message}"),
                None => write!(f, "error: {message}"),
            },
            Outcome::Failure(m) => write!(f, "failure (not an SQL error): {m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{sqlite_message, Outcome};
    use crate::sqlgen::{Compare, Kind, Route, Statement};
    use hiqlite::{ConstraintKind, Value};

    fn stmt(kind: Kind) -> Statement {
        Statement {
            sql: "SELECT x".into(),
            kind,
            route: Route::Api,
            compare: Compare::Reference,
            rowid_meaningful: false,
        }
    }

    fn rows(columns: &[&str], values: Vec<Value>) -> Outcome {
        Outcome::Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: vec![values],
        }
    }

    #[test]
    fn values_compare_by_storage_class_and_bits() {
        let q = stmt(Kind::Query);
        let one = rows(&["x"], vec![Value::Integer(1)]);
        assert!(one.matches(&rows(&["x"], vec![Value::Integer(1)]), &q, true));
        assert!(!one.matches(&rows(&["x"], vec![Value::Real(1.0)]), &q, true));
        assert!(!one.matches(&rows(&["x"], vec![Value::Text("1".into())]), &q, true));
        let zero = rows(&["x"], vec![Value::Real(0.0)]);
        assert!(!zero.matches(&rows(&["x"], vec![Value::Real(-0.0)]), &q, true));
        // Column names: exact, or only their number when names are not compared.
        let renamed = rows(&["\"x\""], vec![Value::Integer(1)]);
        assert!(!renamed.matches(&one, &q, true));
        assert!(renamed.matches(&one, &q, false));
        assert!(!rows(&["x", "y"], vec![Value::Integer(1), Value::Null]).matches(&one, &q, false));
        // Values from random() and the clock: only the shape is asked of plain SQLite.
        let mut probe = stmt(Kind::Query);
        probe.compare = Compare::AcrossNodes;
        assert!(rows(&["x"], vec![Value::Integer(7)]).matches(&one, &probe, true));
    }

    #[test]
    fn last_insert_rowid_counts_only_where_it_describes_the_statement() {
        let mut write = stmt(Kind::Write);
        let a = Outcome::Executed {
            rows_affected: 1,
            last_insert_rowid: 5,
        };
        let b = Outcome::Executed {
            rows_affected: 1,
            last_insert_rowid: 0,
        };
        assert!(a.matches(&b, &write, true));
        write.rowid_meaningful = true;
        assert!(!a.matches(&b, &write, true));
        let none = Outcome::Executed {
            rows_affected: 2,
            last_insert_rowid: 5,
        };
        assert!(
            !none.matches(&a, &write, true),
            "rows affected always count"
        );
    }

    #[test]
    fn errors_compare_sqlites_message_and_constraint_kind() {
        let w = stmt(Kind::Write);
        let err = |m: &str, k| Outcome::Error {
            message: m.into(),
            constraint: k,
        };
        let unique = Some(ConstraintKind::Unique);
        assert!(err("UNIQUE constraint failed: t.a", unique).matches(
            &err("UNIQUE constraint failed: t.a", unique),
            &w,
            true
        ));
        assert!(!err("UNIQUE constraint failed: t.a", None).matches(
            &err("UNIQUE constraint failed: t.a", unique),
            &w,
            true
        ));
        assert!(!err("not authorized", None).matches(&err("no such table: t", None), &w, true));
        assert!(!Outcome::Failure("timed out".into()).matches(&err("x", None), &w, true));
    }

    #[test]
    fn rusqlites_offset_suffix_is_not_part_of_the_message() {
        let sql = "CREATE TABLE t1 (x)";
        assert_eq!(
            sqlite_message(
                "table t1 already exists in CREATE TABLE t1 (x) at offset 13",
                sql
            ),
            "table t1 already exists"
        );
        assert_eq!(
            sqlite_message("table t1 already exists", sql),
            "table t1 already exists"
        );
        // A message with " in " of its own keeps it.
        let sql = "ALTER TABLE t DROP c";
        assert_eq!(
            sqlite_message(
                "error in trigger tr3: no such column: c in ALTER TABLE t DROP c at offset 3",
                sql
            ),
            "error in trigger tr3: no such column: c"
        );
        // A batch: the text is the rest of the batch from the failing statement.
        let sql = "SELECT 1; SELEC 2; SELECT 3";
        assert_eq!(
            sqlite_message(
                "near \"SELEC\": syntax error in SELEC 2; SELECT 3 at offset 0",
                sql
            ),
            "near \"SELEC\": syntax error"
        );
    }
}
