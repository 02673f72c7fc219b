//! What each parameter of a statement is compared with or written to, so `query!` can check the
//! argument's type against it at build time.
//!
//! SQLite does not say which column a parameter meets, so this reads the tokens around each
//! parameter and resolves column names against the statement's tables. It recognizes:
//!
//! - `col <op> ?` and `? <op> col` (`=`, `==`, `!=`, `<>`, `<`, `<=`, `>`, `>=`, `IS [NOT]`),
//!   with `col` a plain or qualified column name standing alone between clause boundaries
//!   (this covers `UPDATE ... SET col = ?` and `DO UPDATE SET`),
//! - `col [NOT] IN (?, ?, ...)` and `col [NOT] BETWEEN ? AND ?`,
//! - `INSERT INTO t [(cols)] VALUES (?, ...)`, a lone parameter per value,
//! - `LIMIT ?` and `OFFSET ?` (integers).
//!
//! Anything else (a parameter inside an expression, a column of a view, a CTE or a subquery, a
//! name two tables share) is not checked: the check refuses only what it is sure of.

use super::lex::{self, Kind, Token};
use super::schema::Schema;
use super::types::SqlKind;

/// SQLite's storage classes, as the argument check names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Integer,
    Real,
    Text,
    Blob,
}

impl Storage {
    /// The marker type in `hiqlite::types::storage`.
    pub fn marker(self) -> &'static str {
        match self {
            Storage::Integer => "INTEGER",
            Storage::Real => "REAL",
            Storage::Text => "TEXT",
            Storage::Blob => "BLOB",
        }
    }
}

/// What one parameter must fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// What the parameter meets, for messages: "column `users.id`", "LIMIT".
    pub target: String,
    /// The rule, for messages: "INTEGER in a STRICT table", "TEXT affinity (declared `varchar(20)`)".
    pub rule: String,
    /// The storage classes accepted.
    pub accepts: Vec<Storage>,
}

/// For each parameter (SQLite's index − 1), what it must fit; empty when nothing is known.
pub fn expectations(schema: &Schema, sql: &str, param_count: usize) -> Vec<Vec<Expectation>> {
    let tokens = lex::tokenize(sql);
    let depths = lex::depths(&tokens);
    let indexes = parameter_indexes(&tokens);
    let scope = Scope::collect(schema, &tokens);
    let mut out = vec![Vec::new(); param_count];
    let mut add = |param_at: usize, e: Expectation| {
        // Checked: the lexer may see a `?0` SQLite never read (it stops at a NUL in the text).
        let slot = indexes[param_at]
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| out.get_mut(i));
        if let Some(slot) = slot {
            if !slot.contains(&e) {
                slot.push(e);
            }
        }
    };
    for (at, t) in tokens.iter().enumerate() {
        if t.kind != Kind::Param {
            continue;
        }
        let found = limit(&tokens, at)
            .or_else(|| compared_left(&tokens, at).and_then(|c| scope.column(&c)))
            .or_else(|| compared_right(&tokens, at).and_then(|c| scope.column(&c)))
            .or_else(|| in_list(&tokens, at).and_then(|c| scope.column(&c)))
            .or_else(|| between(&tokens, at).and_then(|c| scope.column(&c)));
        if let Some(e) = found {
            add(at, e);
        }
    }
    for (at, e) in insert_values(schema, &tokens, &depths) {
        add(at, e);
    }
    out
}

/// SQLite's parameter numbering: `?` takes the largest index so far + 1, `?NNN` is NNN, a name
/// takes the index of its first use or the largest + 1.
fn parameter_indexes(tokens: &[Token]) -> Vec<Option<usize>> {
    let mut max = 0usize;
    let mut names: Vec<(&str, usize)> = Vec::new();
    tokens
        .iter()
        .map(|t| {
            if t.kind != Kind::Param {
                return None;
            }
            let text = t.text.as_str();
            // Saturating: after a `?NNN` as large as usize::MAX the next number does not exist
            // (SQLite refused the statement already; found by fuzzing).
            let next = max.saturating_add(1);
            let index = if text == "?" {
                next
            } else if let Some(n) = text.strip_prefix('?') {
                n.parse().ok()?
            } else if let Some((_, i)) = names.iter().find(|(n, _)| *n == text) {
                *i
            } else {
                names.push((text, next));
                next
            };
            max = max.max(index);
            Some(index)
        })
        .collect()
}

/// A column reference as written: `col` or `qualifier.col`.
#[derive(Debug)]
struct ColumnRef {
    qualifier: Option<String>,
    name: String,
}

/// The tables a statement names (`FROM`, `JOIN`, `UPDATE`, `INTO`), with their aliases.
struct Scope<'s> {
    schema: &'s Schema,
    sources: Vec<(String, Option<String>)>,
    /// A source that is not a table of the schema (a view, a CTE, a subquery, a table-valued
    /// function): unqualified names might be its columns, so only qualified ones resolve.
    opaque: bool,
}

const NOT_AN_ALIAS: &[&str] = &[
    "WHERE",
    "ON",
    "USING",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "CROSS",
    "NATURAL",
    "SET",
    "GROUP",
    "ORDER",
    "LIMIT",
    "HAVING",
    "WINDOW",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "VALUES",
    "SELECT",
    "DEFAULT",
    "RETURNING",
    "INDEXED",
    "NOT",
    "DO",
    "OR",
];

impl<'s> Scope<'s> {
    fn collect(schema: &'s Schema, tokens: &[Token]) -> Scope<'s> {
        let mut sources = Vec::new();
        let mut opaque = tokens.first().is_some_and(|t| t.is("WITH"));
        let mut i = 0;
        while i < tokens.len() {
            let starts = ["FROM", "JOIN", "UPDATE", "INTO"]
                .iter()
                .any(|k| tokens[i].is(k));
            if !starts {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            // `UPDATE OR REPLACE t`.
            if tokens[i].is("UPDATE") && tokens.get(j).is_some_and(|t| t.is("OR")) {
                j += 2;
            }
            while let Some(t) = tokens.get(j) {
                if NOT_AN_ALIAS.iter().any(|k| t.is(k)) {
                    break; // `DO UPDATE SET`: no table named
                }
                if !t.is_name() {
                    // `FROM (SELECT ...)`, `FROM json_each(...)`: not a table.
                    opaque = true;
                    break;
                }
                // `schema.table`: the table is the last name.
                let mut name = t.text.clone();
                if tokens.get(j + 1).is_some_and(|t| t.is_punct('.'))
                    && tokens.get(j + 2).is_some_and(Token::is_name)
                {
                    j += 2;
                    name = tokens[j].text.clone();
                }
                j += 1;
                if tokens.get(j).is_some_and(|t| t.is_punct('(')) && !tokens[i].is("INTO") {
                    opaque = true; // a table-valued function
                }
                let mut alias = None;
                if tokens.get(j).is_some_and(|t| t.is("AS")) {
                    j += 1;
                }
                if let Some(a) = tokens
                    .get(j)
                    .filter(|t| t.is_name() && !NOT_AN_ALIAS.iter().any(|k| t.is(k)))
                {
                    alias = Some(a.text.clone());
                    j += 1;
                }
                if schema.table(&name).is_none() {
                    opaque = true;
                }
                sources.push((name, alias));
                if tokens.get(j).is_some_and(|t| t.is_punct(',')) && !tokens[i].is("INTO") {
                    j += 1;
                    continue;
                }
                break;
            }
            i = j.max(i + 1);
        }
        Scope {
            schema,
            sources,
            opaque,
        }
    }

    /// The expectation for a column reference, when it names exactly one table column.
    fn column(&self, c: &ColumnRef) -> Option<Expectation> {
        let tables: Vec<&str> = match &c.qualifier {
            Some(q) if q.eq_ignore_ascii_case("excluded") => {
                // The row an UPSERT would have inserted: the INSERT's table.
                self.sources.iter().map(|(t, _)| t.as_str()).collect()
            }
            Some(q) => self
                .sources
                .iter()
                .filter(|(t, a)| match a {
                    Some(a) => a.eq_ignore_ascii_case(q),
                    None => t.eq_ignore_ascii_case(q),
                })
                .map(|(t, _)| t.as_str())
                .collect(),
            None if self.opaque => return None,
            None => self.sources.iter().map(|(t, _)| t.as_str()).collect(),
        };
        let mut found = tables
            .iter()
            .filter_map(|t| self.schema.table(t))
            .filter_map(|t| Some((t, t.column(&c.name)?)));
        let (table, column) = found.next()?;
        if found.any(|(other, _)| !other.name.eq_ignore_ascii_case(&table.name)) {
            return None; // two tables have it: ambiguous here
        }
        column_expectation(
            &format!("column `{}.{}`", table.name, column.name),
            &column.decl_type,
            table.strict,
        )
    }
}

/// The storage classes a column accepts without a likely mistake: STRICT tables exactly (an
/// INTEGER column takes integers, a REAL one integers and reals, TEXT text, BLOB blobs); other
/// tables by affinity (INTEGER, REAL: numbers; TEXT: text; BLOB: blobs; BOOL: integers).
/// NUMERIC affinity (`DATETIME`, `DECIMAL`, `UUID`, ...) and untyped or `ANY` columns take
/// anything: `None`.
pub fn column_expectation(target: &str, decl: &str, strict: bool) -> Option<Expectation> {
    use Storage::*;
    let kind = SqlKind::from_declared(decl, strict);
    let accepts = match kind {
        SqlKind::Integer if strict => vec![Integer],
        SqlKind::Integer | SqlKind::Real => vec![Integer, Real],
        SqlKind::Text => vec![Text],
        SqlKind::Blob => vec![Blob],
        SqlKind::Bool => vec![Integer],
        SqlKind::Numeric | SqlKind::Any => return None,
    };
    let rule = if strict {
        format!("{} in a STRICT table", kind.name())
    } else if decl.trim().eq_ignore_ascii_case(kind.name()) {
        format!("{} affinity", kind.name())
    } else {
        format!("{} affinity (declared `{}`)", kind.name(), decl.trim())
    };
    Some(Expectation {
        target: target.to_string(),
        rule,
        accepts,
    })
}

/// The comparison operator that ends right before `at` (`=`, `==`, `!=`, `<>`, `<`, `<=`, `>`,
/// `>=`, `IS`, `IS NOT`): the index of its first token.
fn operator_before(tokens: &[Token], at: usize) -> Option<usize> {
    let prev = tokens.get(at.checked_sub(1)?)?;
    if prev.is("IS") {
        return Some(at - 1);
    }
    if prev.is("NOT") && at >= 2 && tokens[at - 2].is("IS") {
        return Some(at - 2);
    }
    let joined = |a: usize| {
        a >= 1
            && tokens[a - 1].kind == Kind::Punct
            && tokens[a - 1].range.end == tokens[a].range.start
    };
    if prev.is_punct('=') {
        if joined(at - 1) && ["=", "!", "<", ">"].contains(&tokens[at - 2].text.as_str()) {
            return Some(at - 2);
        }
        return Some(at - 1);
    }
    if prev.is_punct('>') {
        if joined(at - 1) && tokens[at - 2].is_punct('<') {
            return Some(at - 2);
        }
        return Some(at - 1);
    }
    if prev.is_punct('<') {
        return Some(at - 1);
    }
    None
}

/// The comparison operator that starts right after `at`: the index just past it.
fn operator_after(tokens: &[Token], at: usize) -> Option<usize> {
    let next = tokens.get(at + 1)?;
    if next.is("IS") {
        let not = tokens.get(at + 2).is_some_and(|t| t.is("NOT"));
        return Some(at + 2 + usize::from(not));
    }
    let joined = |a: usize| {
        tokens
            .get(a + 1)
            .is_some_and(|t| t.kind == Kind::Punct && tokens[a].range.end == t.range.start)
    };
    match next.text.as_str() {
        "=" | "<" | ">" | "!" if next.kind == Kind::Punct => {
            if joined(at + 1)
                && matches!(
                    (next.text.as_str(), tokens[at + 2].text.as_str()),
                    ("=", "=") | ("!", "=") | ("<", "=") | (">", "=") | ("<", ">")
                )
            {
                Some(at + 3)
            } else if next.text == "!" {
                None
            } else {
                Some(at + 1)
            }
        }
        _ => None,
    }
}

/// Where an operand may start: the start, `(`, `,`, or a keyword that ends the previous clause
/// or condition.
fn boundary_before(tokens: &[Token], at: usize) -> bool {
    let Some(prev) = at.checked_sub(1).and_then(|i| tokens.get(i)) else {
        return true;
    };
    prev.is_punct('(')
        || prev.is_punct(',')
        || [
            "WHERE", "AND", "OR", "ON", "NOT", "HAVING", "WHEN", "THEN", "ELSE", "SET",
        ]
        .iter()
        .any(|k| prev.is(k))
}

/// Where an operand may end: the end, `)`, `,`, `;`, or a keyword that starts the next clause or
/// condition.
fn boundary_after(tokens: &[Token], at: usize) -> bool {
    let Some(next) = tokens.get(at + 1) else {
        return true;
    };
    next.is_punct(')')
        || next.is_punct(',')
        || next.is_punct(';')
        || [
            "AND",
            "OR",
            "WHERE",
            "GROUP",
            "ORDER",
            "LIMIT",
            "HAVING",
            "THEN",
            "ELSE",
            "END",
            "WHEN",
            "RETURNING",
            "ON",
            "UNION",
            "EXCEPT",
            "INTERSECT",
            "WINDOW",
            "FROM",
            "OFFSET",
        ]
        .iter()
        .any(|k| next.is(k))
}

/// A column reference ending at `end` (inclusive) that stands alone: `(start, ref)`.
fn column_ending_at(tokens: &[Token], end: usize) -> Option<(usize, ColumnRef)> {
    let name = tokens.get(end).filter(|t| is_column_name(t))?;
    if end >= 2 && tokens[end - 1].is_punct('.') && tokens[end - 2].is_name() {
        return Some((
            end - 2,
            ColumnRef {
                qualifier: Some(tokens[end - 2].text.clone()),
                name: name.text.clone(),
            },
        ));
    }
    Some((
        end,
        ColumnRef {
            qualifier: None,
            name: name.text.clone(),
        },
    ))
}

/// A column reference starting at `start` that stands alone: `(end inclusive, ref)`.
fn column_starting_at(tokens: &[Token], start: usize) -> Option<(usize, ColumnRef)> {
    let first = tokens.get(start).filter(|t| t.is_name())?;
    if tokens.get(start + 1).is_some_and(|t| t.is_punct('.')) {
        let name = tokens.get(start + 2).filter(|t| is_column_name(t))?;
        return Some((
            start + 2,
            ColumnRef {
                qualifier: Some(first.text.clone()),
                name: name.text.clone(),
            },
        ));
    }
    if tokens.get(start + 1).is_some_and(|t| t.is_punct('(')) {
        return None; // a function call
    }
    is_column_name(first).then(|| {
        (
            start,
            ColumnRef {
                qualifier: None,
                name: first.text.clone(),
            },
        )
    })
}

/// A name that can be a column: quoted, or a bare word that is not a keyword of an expression.
fn is_column_name(t: &Token) -> bool {
    t.kind == Kind::Quoted
        || (t.kind == Kind::Word
            && ![
                "NULL",
                "TRUE",
                "FALSE",
                "NOT",
                "AND",
                "OR",
                "IS",
                "IN",
                "CASE",
                "WHEN",
                "THEN",
                "ELSE",
                "END",
                "EXISTS",
                "SELECT",
                "CURRENT_TIMESTAMP",
                "CURRENT_DATE",
                "CURRENT_TIME",
                "LIKE",
                "GLOB",
                "BETWEEN",
            ]
            .iter()
            .any(|k| t.is(k)))
}

/// `col <op> ?`.
fn compared_left(tokens: &[Token], at: usize) -> Option<ColumnRef> {
    let op = operator_before(tokens, at)?;
    let (start, column) = column_ending_at(tokens, op.checked_sub(1)?)?;
    (boundary_before(tokens, start) && boundary_after(tokens, at)).then_some(column)
}

/// `? <op> col`.
fn compared_right(tokens: &[Token], at: usize) -> Option<ColumnRef> {
    let after = operator_after(tokens, at)?;
    let (end, column) = column_starting_at(tokens, after)?;
    (boundary_before(tokens, at) && boundary_after(tokens, end)).then_some(column)
}

/// `col [NOT] IN (?, ?, ...)`: every item of the list a lone parameter.
fn in_list(tokens: &[Token], at: usize) -> Option<ColumnRef> {
    let mut open = at;
    loop {
        let prev = tokens.get(open.checked_sub(1)?)?;
        if prev.is_punct('(') {
            open -= 1;
            break;
        }
        if prev.is_punct(',') && open >= 2 && tokens[open - 2].kind == Kind::Param {
            open -= 2;
            continue;
        }
        return None;
    }
    let mut end = at;
    loop {
        let next = tokens.get(end + 1)?;
        if next.is_punct(')') {
            break;
        }
        if next.is_punct(',') && tokens.get(end + 2).is_some_and(|t| t.kind == Kind::Param) {
            end += 2;
            continue;
        }
        return None;
    }
    let mut k = open.checked_sub(1)?;
    if !tokens[k].is("IN") {
        return None;
    }
    k = k.checked_sub(1)?;
    if tokens[k].is("NOT") {
        k = k.checked_sub(1)?;
    }
    let (start, column) = column_ending_at(tokens, k)?;
    boundary_before(tokens, start).then_some(column)
}

/// `col [NOT] BETWEEN ? AND ?`.
fn between(tokens: &[Token], at: usize) -> Option<ColumnRef> {
    let (keyword, upper) = match at.checked_sub(1).map(|i| &tokens[i]) {
        Some(t) if t.is("BETWEEN") => (at - 1, false),
        Some(t)
            if t.is("AND")
                && at >= 3
                && tokens[at - 2].kind == Kind::Param
                && tokens[at - 3].is("BETWEEN") =>
        {
            (at - 3, true)
        }
        _ => return None,
    };
    if upper && !boundary_after(tokens, at) {
        return None;
    }
    if !upper && !tokens.get(at + 1).is_some_and(|t| t.is("AND")) {
        return None;
    }
    let mut k = keyword.checked_sub(1)?;
    if tokens[k].is("NOT") {
        k = k.checked_sub(1)?;
    }
    let (start, column) = column_ending_at(tokens, k)?;
    boundary_before(tokens, start).then_some(column)
}

/// `LIMIT ?`, `OFFSET ?`, `LIMIT ?, ?`: integers.
fn limit(tokens: &[Token], at: usize) -> Option<Expectation> {
    let prev = tokens.get(at.checked_sub(1)?)?;
    // `LIMIT a, b` is `LIMIT b OFFSET a`.
    let clause = if prev.is("LIMIT") {
        if tokens.get(at + 1).is_some_and(|t| t.is_punct(',')) {
            "OFFSET"
        } else {
            "LIMIT"
        }
    } else if prev.is("OFFSET") {
        "OFFSET"
    } else if prev.is_punct(',')
        && at >= 3
        && tokens[at - 2].kind == Kind::Param
        && tokens[at - 3].is("LIMIT")
    {
        "LIMIT"
    } else {
        return None;
    };
    boundary_after(tokens, at).then(|| Expectation {
        target: format!("the {clause} clause"),
        rule: "an integer".into(),
        accepts: vec![Storage::Integer],
    })
}

/// `INSERT INTO t [(cols)] VALUES (...), ...`: each lone parameter among the values and the
/// column it is written to, as (token index, expectation).
fn insert_values(schema: &Schema, tokens: &[Token], depths: &[usize]) -> Vec<(usize, Expectation)> {
    let start = lex::after_with(tokens, depths);
    if !tokens
        .get(start)
        .is_some_and(|t| t.is("INSERT") || t.is("REPLACE"))
    {
        return Vec::new();
    }
    let Some(into) = (start..tokens.len()).find(|&i| depths[i] == 0 && tokens[i].is("INTO")) else {
        return Vec::new();
    };
    let Some(mut at) = tokens
        .get(into + 1)
        .filter(|t| t.is_name())
        .map(|_| into + 1)
    else {
        return Vec::new();
    };
    if tokens.get(at + 1).is_some_and(|t| t.is_punct('.')) {
        at += 2;
    }
    let Some(table) = tokens.get(at).and_then(|t| schema.table(&t.text)) else {
        return Vec::new();
    };
    at += 1;
    if tokens.get(at).is_some_and(|t| t.is("AS")) {
        at += 2;
    }
    let columns: Vec<String> = if tokens.get(at).is_some_and(|t| t.is_punct('(')) {
        let mut names = Vec::new();
        at += 1;
        while let Some(t) = tokens.get(at) {
            if t.is_punct(')') {
                at += 1;
                break;
            }
            if t.is_name() {
                names.push(t.text.clone());
            }
            at += 1;
        }
        names
    } else {
        table.columns.iter().map(|c| c.name.clone()).collect()
    };
    if !tokens.get(at).is_some_and(|t| t.is("VALUES")) {
        return Vec::new();
    }
    at += 1;
    let mut out = Vec::new();
    // Each row: `( item, item, ... )` at depth 1.
    while tokens.get(at).is_some_and(|t| t.is_punct('(')) {
        let Some(close) =
            (at + 1..tokens.len()).find(|&i| depths[i] == depths[at] && tokens[i].is_punct(')'))
        else {
            break;
        };
        let mut items: Vec<(usize, usize)> = Vec::new();
        let mut item_start = at + 1;
        for i in at + 1..=close {
            if i == close || (depths[i] == depths[at] + 1 && tokens[i].is_punct(',')) {
                items.push((item_start, i));
                item_start = i + 1;
            }
        }
        if items.len() == columns.len() {
            for ((from, to), name) in items.iter().zip(&columns) {
                if to - from == 1 && tokens[*from].kind == Kind::Param {
                    if let Some(e) = table.column(name).and_then(|c| {
                        column_expectation(
                            &format!("column `{}.{}`", table.name, c.name),
                            &c.decl_type,
                            table.strict,
                        )
                    }) {
                        out.push((*from, e));
                    }
                }
            }
        }
        at = close + 1;
        if tokens.get(at).is_some_and(|t| t.is_punct(',')) {
            at += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let sql = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, \
             born DATETIME, photo BLOB, misc, active BOOLEAN);
             CREATE TABLE s (id INTEGER PRIMARY KEY, n INT NOT NULL, t TEXT, r REAL, a ANY) STRICT;
             CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT);
             CREATE VIEW v AS SELECT id, name FROM users;";
        Schema::build(&[crate::migrations::MigrationFile {
            version: 1,
            name: "init".into(),
            path: "0001_init.sql".into(),
            sql: sql.into(),
            checksum: crate::migrations::checksum(sql),
        }])
        .unwrap()
    }

    /// For each parameter: the accepted storages and the target, as text.
    fn expect(sql: &str) -> Vec<String> {
        let schema = schema();
        let count = schema.conn.prepare(sql).unwrap().parameter_count();
        expectations(&schema, sql, count)
            .into_iter()
            .map(|list| {
                list.iter()
                    .map(|e| {
                        let acc: Vec<&str> = e.accepts.iter().map(|s| s.marker()).collect();
                        format!("{} {}", e.target, acc.join("|"))
                    })
                    .collect::<Vec<_>>()
                    .join(" & ")
            })
            .collect()
    }

    #[test]
    fn a_parameter_zero_after_a_nul_is_no_slot() {
        // Found by fuzzing (fuzz/regressions/sql_lexer/): SQLite stops reading at the NUL, the
        // lexer does not, and `?0` has no slot (it underflowed).
        let sql = "SELECT id FROM users WHERE id = ?\0 AND name = ?0";
        assert_eq!(expect(sql).len(), 1);
        // And a `?` or a name after a `?NNN` of usize::MAX (it overflowed).
        let schema = schema();
        for sql in [
            "SELECT ?\0 ?18446744073709551615 ?",
            "SELECT ?\0 ?18446744073709551615 :a",
        ] {
            assert_eq!(expectations(&schema, sql, 1).len(), 1);
        }
    }

    #[test]
    fn comparisons_in_both_directions() {
        assert_eq!(
            expect("SELECT id FROM users WHERE id = ? AND ? <> name AND score>=? AND misc = ?"),
            [
                "column `users.id` INTEGER|REAL",
                "column `users.name` TEXT",
                "column `users.score` INTEGER|REAL",
                "",
            ]
        );
        assert_eq!(
            expect("SELECT 1 FROM s WHERE s.n == ?1 OR t IS NOT ?2 OR a = ?3 OR r != ?4"),
            [
                "column `s.n` INTEGER",
                "column `s.t` TEXT",
                "",
                "column `s.r` INTEGER|REAL"
            ]
        );
    }

    #[test]
    fn writes_and_lists() {
        assert_eq!(
            expect("INSERT INTO users (name, photo, born) VALUES (?, ?, ?), (?, upper(?), ?)"),
            [
                "column `users.name` TEXT",
                "column `users.photo` BLOB",
                "",
                "column `users.name` TEXT",
                "",
                ""
            ]
        );
        assert_eq!(
            expect("UPDATE users SET name = :n, active = :a WHERE id IN (:i, :j) AND score BETWEEN ? AND ?"),
            [
                "column `users.name` TEXT",
                "column `users.active` INTEGER",
                "column `users.id` INTEGER|REAL",
                "column `users.id` INTEGER|REAL",
                "column `users.score` INTEGER|REAL",
                "column `users.score` INTEGER|REAL",
            ]
        );
        assert_eq!(
            expect("INSERT INTO s VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET t = ?"),
            [
                "column `s.id` INTEGER",
                "column `s.n` INTEGER",
                "column `s.t` TEXT",
                "column `s.r` INTEGER|REAL",
                "",
                "column `s.t` TEXT",
            ]
        );
        assert_eq!(
            expect("SELECT id FROM users LIMIT ?, ?"),
            ["the OFFSET clause INTEGER", "the LIMIT clause INTEGER"]
        );
        assert_eq!(
            expect("SELECT id FROM users LIMIT ? OFFSET ?"),
            ["the LIMIT clause INTEGER", "the OFFSET clause INTEGER"]
        );
    }

    #[test]
    fn joins_aliases_and_what_is_left_unchecked() {
        assert_eq!(
            expect("SELECT u.id FROM users AS u JOIN posts p ON p.user_id = u.id WHERE p.title = ? AND u.id = ?"),
            ["column `posts.title` TEXT", "column `users.id` INTEGER|REAL"]
        );
        // `id` is in both tables: ambiguous here (SQLite would refuse it anyway).
        assert_eq!(
            expect("SELECT 1 FROM users, posts WHERE users.id = posts.id AND title = ?"),
            ["column `posts.title` TEXT"]
        );
        // Parameters inside expressions, views and CTEs are not checked.
        assert_eq!(
            expect("SELECT id FROM users WHERE id = ? + 1 OR id + 1 = ? OR lower(name) = ?"),
            ["", "", ""]
        );
        assert_eq!(expect("SELECT id FROM v WHERE name = ?"), [""]);
        assert_eq!(
            expect("WITH c AS (SELECT id FROM users) SELECT id FROM c WHERE id = ?"),
            [""]
        );
        assert_eq!(
            expect("SELECT id FROM users WHERE name LIKE ? OR name GLOB ?"),
            ["", ""]
        );
        // A qualified name still resolves next to a subquery.
        assert_eq!(
            expect("SELECT u.id FROM users u, (SELECT 1) x WHERE u.name = ?"),
            ["column `users.name` TEXT"]
        );
    }
}
