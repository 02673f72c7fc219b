//! `VACUUM` through Raft: every node rebuilds its database file at the same log index.
//!
//! SQLite cannot VACUUM inside a transaction, and the writer applies a batch of entries inside one.
//! A VACUUM entry therefore commits the batch so far (with `last_applied` = the entry before it),
//! runs `VACUUM` on its own, and opens a new transaction for the entry's result and the rest of
//! the batch. A crash between the two leaves `last_applied` before the VACUUM entry, so the log
//! replays it. VACUUM changes no value; like SQLite it renumbers the rowids of tables without an
//! INTEGER PRIMARY KEY (in rowid order, so the same on every node, and the same again when a
//! replay runs it twice). `VACUUM INTO` is refused in writes: it would write a file on every
//! node.

use std::borrow::Cow;

use rusqlite::Connection;

use crate::types::command::{SqlError, WriteOp};

/// What a replicated operation is, as far as VACUUM goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Vacuum {
    /// Not a VACUUM statement.
    No,
    /// A single `VACUUM` (or `VACUUM schema`) statement: the SQL to run.
    Run(String),
    /// Anything else that starts with VACUUM: refused with this error.
    Refuse(SqlError),
}

/// Classifies `op`: only a lone `VACUUM` statement sent on its own (`execute`, or a batch of
/// just that statement) runs as a VACUUM entry. Inside a transaction or with other statements,
/// SQLite's own "cannot VACUUM from within a transaction" is the result, as in a transaction of
/// plain SQLite.
pub(crate) fn classify(conn: &Connection, op: &WriteOp) -> Vacuum {
    let sql = match op {
        WriteOp::Execute { sql, params } if params.is_empty() => sql,
        WriteOp::Batch { sql } => sql,
        _ => return Vacuum::No,
    };
    let words = leading_words(sql);
    if !words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("vacuum"))
    {
        return Vacuum::No;
    }
    if words.iter().any(|w| w.eq_ignore_ascii_case("into")) {
        return Vacuum::Refuse(SqlError::Sqlite {
            message: "VACUUM INTO is not allowed in writes: it would write a file on every node; \
                      take a snapshot or a backup instead"
                .into(),
        });
    }
    // SQLite decides whether the text is one statement: a statement that starts with the
    // keyword VACUUM is a VACUUM statement. Anything else (several statements, an unknown
    // schema) runs as usual and fails as in SQLite ("cannot VACUUM from within a transaction").
    match conn.prepare(sql) {
        Ok(_) => Vacuum::Run(sql.clone()),
        Err(_) => Vacuum::No,
    }
}

/// The first few words of `sql` (keywords and identifiers, quotes removed), skipping comments:
/// enough to recognise `VACUUM [schema] [INTO file]`.
fn leading_words(sql: &str) -> Vec<Cow<'_, str>> {
    let mut words = Vec::new();
    let mut rest = sql;
    while words.len() < 4 {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else if let Some(quote) = rest.chars().next().filter(|c| "\"'`[".contains(*c)) {
            let close = if quote == '[' { ']' } else { quote };
            let body = &rest[1..];
            let end = body.find(close).unwrap_or(body.len());
            words.push(Cow::Borrowed(&body[..end]));
            rest = body.get(end + 1..).unwrap_or("");
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            words.push(Cow::Borrowed(&rest[..end]));
            rest = &rest[end..];
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::value::Value;

    fn execute(sql: &str) -> WriteOp {
        WriteOp::Execute {
            sql: sql.into(),
            params: vec![],
        }
    }

    #[test]
    fn recognises_vacuum_statements() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in ["VACUUM", " vacuum main;", "/* x */ -- y\n Vacuum \"main\""] {
            assert_eq!(
                classify(&conn, &execute(sql)),
                Vacuum::Run(sql.into()),
                "{sql}"
            );
        }
        assert_eq!(
            classify(
                &conn,
                &WriteOp::Batch {
                    sql: "VACUUM;".into()
                }
            ),
            Vacuum::Run("VACUUM;".into())
        );
        for sql in ["VACUUM INTO '/tmp/x'", "vacuum main into 'f'"] {
            assert!(
                matches!(classify(&conn, &execute(sql)), Vacuum::Refuse(e) if e.to_string().contains("VACUUM INTO")),
                "{sql}"
            );
        }
        assert_eq!(
            classify(
                &conn,
                &WriteOp::Batch {
                    sql: "VACUUM; CREATE TABLE t (x)".into()
                }
            ),
            Vacuum::No
        );
        for sql in [
            "SELECT 'VACUUM'",
            "CREATE TABLE vacuum (x)",
            "-- VACUUM\nSELECT 1",
        ] {
            assert_eq!(classify(&conn, &execute(sql)), Vacuum::No, "{sql}");
        }
        let with_params = WriteOp::Execute {
            sql: "VACUUM".into(),
            params: vec![Value::Integer(1)],
        };
        assert_eq!(classify(&conn, &with_params), Vacuum::No);
    }
}
