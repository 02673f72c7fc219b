//! Prepares a statement against the migrated schema and describes it: whether it writes, its
//! parameters, and the name, Rust type and nullability of every result column. Every refusal is
//! a message a user can act on; the caller attaches it to the SQL literal.

use std::ops::Range;

use proc_macro2::TokenStream;
use quote::quote;
use rusqlite::Statement;

use super::arg_types::Expectation;
use super::lex::{self, Kind, Token};
use super::schema::Schema;
use super::types::{column_rust_type, known_rust_type, parse_override, Force, SqlKind};

/// One `?`/`:name` slot of the statement, by SQLite's parameter index (1-based, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamSlot {
    /// `?` or `?NNN`: bound by position.
    Positional,
    /// `:name`, `@name` or `$name` (the text as written, prefix included).
    Named(String),
}

impl ParamSlot {
    /// The name a macro argument must have for this slot (`:min_id` → `min_id`).
    pub fn arg_name(&self) -> Option<&str> {
        match self {
            ParamSlot::Positional => None,
            ParamSlot::Named(n) => Some(&n[1..]),
        }
    }
}

/// A result column, resolved.
#[derive(Debug, Clone)]
pub struct OutputColumn {
    /// The name the row has at runtime (an override suffix like `!` or `: i64` removed).
    pub name: String,
    /// The Rust type of the column: a `query!` record field has exactly this type.
    pub rust_type: TokenStream,
    /// Kind and nullability for `query_as!` checks; `None` for a custom override type, which is
    /// trusted as written.
    pub check: Option<(SqlKind, bool)>,
}

/// What the macro needs to know about a statement.
#[derive(Debug, Clone)]
pub struct Described {
    /// The SQL sent at runtime: the input with override suffixes removed from aliases.
    pub sql: String,
    /// `false` when the statement writes: it must go through Raft.
    pub readonly: bool,
    pub params: Vec<ParamSlot>,
    /// For each parameter, the columns (or clauses) it is compared with or written to, whose
    /// types its argument must fit (see [`arg_types`](super::arg_types)).
    pub param_types: Vec<Vec<Expectation>>,
    pub columns: Vec<OutputColumn>,
}

/// Prepares and describes `sql`; `Err` is a message for the user.
pub fn describe(schema: &Schema, sql: &str) -> Result<Described, String> {
    let tokens = lex::tokenize(sql);
    let Some(first) = tokens.iter().find(|t| !t.is_punct(';')) else {
        return Err("the SQL string is empty".into());
    };
    const CONTROL: &[&str] = &[
        "BEGIN",
        "COMMIT",
        "END",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "ATTACH",
        "DETACH",
        "VACUUM",
    ];
    if let Some(k) = CONTROL.iter().find(|k| first.is(k)) {
        return Err(format!(
            "`{k}` is not supported here: every query! runs as one statement of its own; use \
             `hiqlite::Txn` to run several statements atomically"
        ));
    }
    let stmt = prepare(schema, sql)?;
    let readonly = stmt.readonly();
    let params = (1..=stmt.parameter_count())
        .map(|i| match stmt.parameter_name(i) {
            Some(n) if !n.starts_with('?') => ParamSlot::Named(n.to_string()),
            _ => ParamSlot::Positional,
        })
        .collect::<Vec<_>>();
    let param_types = super::arg_types::expectations(schema, sql, params.len());
    let columns = describe_columns(schema, &stmt, sql, &tokens, readonly)?;
    let original_names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    drop(stmt);

    // Aliases with an override are written quoted; send them without the override so the row's
    // column names are the plain names the record and FromRow read.
    let renamed: Vec<(String, &str)> = columns
        .iter()
        .zip(original_names)
        .filter(|(c, original)| c.name != *original)
        .map(|(c, original)| (original, c.name.as_str()))
        .collect();
    let final_sql = if renamed.is_empty() {
        sql.to_string()
    } else {
        let rewritten = rewrite_aliases(sql, &tokens, &renamed);
        let names = column_names(schema, &rewritten)?;
        let expected: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        if names != expected {
            return Err(format!(
                "cannot strip the type overrides from the aliases (got columns {names:?}, \
                 expected {expected:?}); write each override only in its alias"
            ));
        }
        rewritten
    };
    Ok(Described {
        sql: final_sql,
        readonly,
        params,
        param_types,
        columns,
    })
}

fn prepare<'c>(schema: &'c Schema, sql: &str) -> Result<Statement<'c>, String> {
    schema.conn.prepare(sql).map_err(|e| sqlite_message(sql, e))
}

fn column_names(schema: &Schema, sql: &str) -> Result<Vec<String>, String> {
    let stmt = prepare(schema, sql)?;
    Ok(stmt.column_names().into_iter().map(String::from).collect())
}

/// A prepare error as the user should read it, with a caret under the offending spot when
/// SQLite says where it is.
fn sqlite_message(sql: &str, e: rusqlite::Error) -> String {
    match e {
        rusqlite::Error::MultipleStatement => "the SQL holds more than one statement; a query! \
            runs exactly one (use `hiqlite::Txn` for several)"
            .into(),
        rusqlite::Error::SqlInputError { msg, offset, .. } => {
            let mut out = format!("SQLite rejects this statement: {msg}");
            if let Ok(offset) = usize::try_from(offset) {
                out.push_str(&excerpt(sql, offset));
            }
            out
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) => {
            format!("SQLite rejects this statement: {msg}")
        }
        other => format!("SQLite rejects this statement: {other}"),
    }
}

/// The line of `sql` around byte `offset`, with a caret below it.
fn excerpt(sql: &str, offset: usize) -> String {
    let offset = offset.min(sql.len());
    let offset = (0..=offset)
        .rev()
        .find(|o| sql.is_char_boundary(*o))
        .unwrap_or(0);
    let line_start = sql[..offset].rfind('\n').map(|p| p + 1).unwrap_or(0);
    let line_end = sql[offset..]
        .find('\n')
        .map(|p| offset + p)
        .unwrap_or(sql.len());
    let line = &sql[line_start..line_end];
    let col = sql[line_start..offset].chars().count();
    format!("\n  {line}\n  {}^", " ".repeat(col))
}

/// Replaces each quoted alias `original` by `"name"`.
fn rewrite_aliases(sql: &str, tokens: &[Token], renamed: &[(String, &str)]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for t in tokens.iter().filter(|t| t.kind == Kind::Quoted) {
        if let Some((_, name)) = renamed.iter().find(|(orig, _)| *orig == t.text) {
            out.push_str(&sql[last..t.range.start]);
            out.push('"');
            out.push_str(&name.replace('"', "\"\""));
            out.push('"');
            last = t.range.end;
        }
    }
    out.push_str(&sql[last..]);
    out
}

/// What the schema or the SQL text says about one result column before overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inferred {
    kind: Option<SqlKind>,
    /// `None`: unknown (treated as nullable).
    nullable: Option<bool>,
    /// The declared type of the table column it comes from, if any.
    decl: Option<String>,
}

const UNKNOWN: Inferred = Inferred {
    kind: None,
    nullable: None,
    decl: None,
};

fn describe_columns(
    schema: &Schema,
    stmt: &Statement<'_>,
    sql: &str,
    tokens: &[Token],
    readonly: bool,
) -> Result<Vec<OutputColumn>, String> {
    let count = stmt.column_count();
    if count == 0 {
        return Ok(Vec::new());
    }
    let depths = lex::depths(tokens);
    let inferred: Vec<Inferred> = if readonly {
        let items = select_items(tokens, &depths);
        let outer = OuterJoins::scan(schema, tokens);
        infer_all(schema, stmt, items.as_deref(), tokens, &outer)
    } else {
        returning_columns(schema, sql, tokens, &depths, count)
    };
    let mut out = Vec::with_capacity(count);
    let mut seen: Vec<String> = Vec::new();
    for (i, inferred) in inferred.into_iter().enumerate() {
        let column = stmt
            .column_name(i)
            .map_err(|e| format!("cannot read the name of result column {i}: {e}"))?
            .to_string();
        let ov = parse_override(&column)?;
        let name = ov
            .as_ref()
            .map(|o| o.name.clone())
            .unwrap_or(column.clone());
        if let Some(dup) = seen.iter().find(|s| s.eq_ignore_ascii_case(&name)) {
            return Err(format!(
                "two result columns are named \"{dup}\"; give one an alias (`... AS other_name`) \
                 so each column maps to one field"
            ));
        }
        seen.push(name.clone());
        let force = ov.as_ref().and_then(|o| o.force);
        let resolved = match ov.as_ref().and_then(|o| o.ty.as_ref()) {
            Some(ty) => {
                let (rust_type, check) = match force {
                    Some(Force::Nullable) => (
                        quote!(::core::option::Option<#ty>),
                        known_rust_type(ty).map(|(k, _)| (k, true)),
                    ),
                    _ => (quote!(#ty), known_rust_type(ty)),
                };
                OutputColumn {
                    name,
                    rust_type,
                    check,
                }
            }
            None => {
                let Some(kind) = inferred.kind else {
                    return Err(format!(
                        "cannot infer the type of result column \"{column}\" (an expression, not \
                         a table column): give it a type in its alias, e.g. `AS \"{}: i64\"` \
                         (`\"{0}?: i64\"` if it can be NULL)",
                        alias_hint(&name)
                    ));
                };
                let nullable = match force {
                    Some(Force::NonNull) => false,
                    Some(Force::Nullable) => true,
                    None => inferred.nullable.unwrap_or(true),
                };
                let base = column_rust_type(inferred.decl.as_deref(), kind);
                let rust_type = if nullable {
                    quote!(::core::option::Option<#base>)
                } else {
                    base
                };
                OutputColumn {
                    name,
                    rust_type,
                    check: Some((kind, nullable)),
                }
            }
        };
        out.push(resolved);
    }
    Ok(out)
}

/// A name usable in an alias suggestion: the column name if it is an identifier, else `value`.
fn alias_hint(name: &str) -> &str {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        name
    } else {
        "value"
    }
}

/// Resolves each result column: through its origin table column, else from its expression.
fn infer_all(
    schema: &Schema,
    stmt: &Statement<'_>,
    items: Option<&[Range<usize>]>,
    tokens: &[Token],
    outer: &OuterJoins,
) -> Vec<Inferred> {
    let meta = stmt.columns_with_metadata();
    let items = items.filter(|items| items.len() == meta.len());
    meta.iter()
        .enumerate()
        .map(|(i, m)| {
            if let (Some(table), Some(column)) = (m.table_name(), m.origin_name()) {
                return match schema
                    .table(table)
                    .and_then(|t| Some((t, t.column(column)?)))
                {
                    Some((t, c)) => Inferred {
                        kind: Some(SqlKind::from_declared(&c.decl_type, t.strict)),
                        nullable: Some(!c.not_null || outer.nullable(&t.name)),
                        decl: Some(c.decl_type.clone()),
                    },
                    // sqlite_schema and the like: any value.
                    None => Inferred {
                        kind: Some(SqlKind::Any),
                        nullable: Some(true),
                        decl: None,
                    },
                };
            }
            match items {
                Some(items) => infer_expression(&tokens[items[i].clone()]),
                None => UNKNOWN,
            }
        })
        .collect()
}

/// The few expressions whose type is obvious: `count(...)` (non-null integer), `total(...)`
/// (non-null real), `exists(...)` (non-null bool), literals, and `CAST(... AS type)` (the type's
/// affinity, nullable).
fn infer_expression(item: &[Token]) -> Inferred {
    let expr = strip_alias(item);
    let known = |kind, nullable| Inferred {
        kind: Some(kind),
        nullable: Some(nullable),
        decl: None,
    };
    match expr {
        [t] if t.kind == Kind::Number => {
            let real = t.text.contains(['.', 'e', 'E']) && !t.text.starts_with("0x");
            known(
                if real {
                    SqlKind::Real
                } else {
                    SqlKind::Integer
                },
                false,
            )
        }
        [minus, t] if minus.is_punct('-') && t.kind == Kind::Number => {
            infer_expression(std::slice::from_ref(t))
        }
        [t] if t.kind == Kind::String => {
            let blob = t.text.starts_with(['x', 'X']);
            known(if blob { SqlKind::Blob } else { SqlKind::Text }, false)
        }
        [f, open, .., close]
            if f.kind == Kind::Word && open.is_punct('(') && close.is_punct(')') =>
        {
            // The parenthesis after the function name must close at the end of the item.
            if matching_close(expr, 1) != Some(expr.len() - 1) {
                return UNKNOWN;
            }
            if f.is("count") {
                known(SqlKind::Integer, false)
            } else if f.is("total") {
                known(SqlKind::Real, false)
            } else if f.is("exists") {
                known(SqlKind::Bool, false)
            } else if f.is("cast") {
                let inner = &expr[2..expr.len() - 1];
                let depths = lex::depths(inner);
                match inner
                    .iter()
                    .zip(&depths)
                    .rposition(|(t, d)| *d == 0 && t.is("AS"))
                {
                    Some(as_at) => {
                        let decl: Vec<&str> =
                            inner[as_at + 1..].iter().map(|t| t.text.as_str()).collect();
                        Inferred {
                            kind: Some(SqlKind::from_declared(&decl.join(" "), false)),
                            nullable: None,
                            decl: Some(decl.join(" ")),
                        }
                    }
                    None => UNKNOWN,
                }
            } else {
                UNKNOWN
            }
        }
        _ => UNKNOWN,
    }
}

/// The expression of a result item without its alias (`count(*) AS n`, `count(*) n`).
fn strip_alias(item: &[Token]) -> &[Token] {
    let n = item.len();
    if n >= 3 && item[n - 2].is("AS") && item[n - 1].is_name() {
        return &item[..n - 2];
    }
    if n >= 2 && item[n - 1].is_name() {
        let prev = &item[n - 2];
        let ends_expression = prev.is_punct(')')
            || matches!(prev.kind, Kind::Number | Kind::String | Kind::Quoted)
            || (prev.kind == Kind::Word && !is_operator_word(prev));
        if ends_expression {
            return &item[..n - 1];
        }
    }
    item
}

fn is_operator_word(t: &Token) -> bool {
    [
        "NOT", "AND", "OR", "IS", "IN", "LIKE", "GLOB", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE",
        "DISTINCT",
    ]
    .iter()
    .any(|k| t.is(k))
}

/// Index of the `)` matching the `(` at `open`.
fn matching_close(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is_punct('(') {
            depth += 1;
        } else if t.is_punct(')') {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Token ranges of the main `SELECT`'s result items, or `None` if there is no plain select list.
fn select_items(tokens: &[Token], depths: &[usize]) -> Option<Vec<Range<usize>>> {
    let start = lex::after_with(tokens, depths);
    if !tokens.get(start)?.is("SELECT") {
        return None;
    }
    let mut i = start + 1;
    if tokens
        .get(i)
        .is_some_and(|t| t.is("DISTINCT") || t.is("ALL"))
    {
        i += 1;
    }
    const END: &[&str] = &[
        "FROM",
        "WHERE",
        "GROUP",
        "HAVING",
        "WINDOW",
        "ORDER",
        "LIMIT",
        "UNION",
        "INTERSECT",
        "EXCEPT",
    ];
    let end = (i..tokens.len())
        .find(|&j| {
            depths[j] == 0 && (tokens[j].is_punct(';') || END.iter().any(|k| tokens[j].is(k)))
        })
        .unwrap_or(tokens.len());
    Some(split_commas(tokens, depths, i, end))
}

fn split_commas(tokens: &[Token], depths: &[usize], start: usize, end: usize) -> Vec<Range<usize>> {
    let base = depths.get(start).copied().unwrap_or(0);
    let mut items = Vec::new();
    let mut from = start;
    for j in start..end {
        if depths[j] == base && tokens[j].is_punct(',') {
            items.push(from..j);
            from = j + 1;
        }
    }
    if from < end {
        items.push(from..end);
    }
    items
}

/// Types of the `RETURNING` columns of a write: the items are resolved as a `SELECT` of the
/// same expressions from the target table, so a table column gets its declared type and
/// nullability and an expression the same inference as in a read.
fn returning_columns(
    schema: &Schema,
    sql: &str,
    tokens: &[Token],
    depths: &[usize],
    count: usize,
) -> Vec<Inferred> {
    let unknown = vec![UNKNOWN; count];
    let Some(ret) = (0..tokens.len()).find(|&i| depths[i] == 0 && tokens[i].is("RETURNING")) else {
        return unknown;
    };
    let Some(table) = target_table(tokens, depths) else {
        return unknown;
    };
    let end = (ret + 1..tokens.len())
        .find(|&i| depths[i] == 0 && tokens[i].is_punct(';'))
        .map(|i| tokens[i].range.start)
        .unwrap_or(sql.len());
    let Some(first) = tokens.get(ret + 1) else {
        return unknown;
    };
    let items_sql = &sql[first.range.start..end];
    let select = format!("SELECT {items_sql} FROM \"{}\"", table.replace('"', "\"\""));
    let Ok(stmt) = schema.conn.prepare(&select) else {
        return unknown;
    };
    if stmt.column_count() != count {
        return unknown;
    }
    let sel_tokens = lex::tokenize(&select);
    let sel_depths = lex::depths(&sel_tokens);
    let items = select_items(&sel_tokens, &sel_depths);
    infer_all(
        schema,
        &stmt,
        items.as_deref(),
        &sel_tokens,
        &OuterJoins::default(),
    )
}

/// The table an `INSERT`/`REPLACE`/`UPDATE`/`DELETE` writes to.
fn target_table(tokens: &[Token], depths: &[usize]) -> Option<String> {
    let start = lex::after_with(tokens, depths);
    let first = tokens.get(start)?;
    let mut i = start + 1;
    if first.is("INSERT") || first.is("REPLACE") {
        while !tokens.get(i)?.is("INTO") {
            i += 1;
        }
        i += 1;
    } else if first.is("UPDATE") {
        if tokens.get(i)?.is("OR") {
            i += 2;
        }
    } else if first.is("DELETE") {
        if !tokens.get(i)?.is("FROM") {
            return None;
        }
        i += 1;
    } else {
        return None;
    }
    let mut name = tokens.get(i)?;
    // schema.table
    if tokens.get(i + 1).is_some_and(|t| t.is_punct('.')) {
        name = tokens.get(i + 2)?;
    }
    name.is_name().then(|| name.text.clone())
}

/// Which tables sit on the nullable side of an outer join: their columns may be NULL even when
/// declared NOT NULL.
#[derive(Default)]
struct OuterJoins {
    /// A RIGHT or FULL join, or a LEFT join of something that is not a plain table (a view, a
    /// CTE, a subquery): every column may be NULL.
    all: bool,
    tables: Vec<String>,
}

impl OuterJoins {
    fn scan(schema: &Schema, tokens: &[Token]) -> OuterJoins {
        let mut out = OuterJoins::default();
        for (i, t) in tokens.iter().enumerate() {
            let is_left = t.is("LEFT");
            if !(is_left || t.is("RIGHT") || t.is("FULL")) {
                continue;
            }
            let mut j = i + 1;
            if tokens.get(j).is_some_and(|t| t.is("OUTER")) {
                j += 1;
            }
            if !tokens.get(j).is_some_and(|t| t.is("JOIN")) {
                continue;
            }
            if !is_left {
                out.all = true;
                continue;
            }
            let mut name = tokens.get(j + 1);
            if tokens.get(j + 2).is_some_and(|t| t.is_punct('.')) {
                name = tokens.get(j + 3);
            }
            match name
                .filter(|n| n.is_name())
                .and_then(|n| schema.table(&n.text))
            {
                Some(table) => out.tables.push(table.name.clone()),
                None => out.all = true,
            }
        }
        out
    }

    fn nullable(&self, table: &str) -> bool {
        self.all || self.tables.iter().any(|t| t.eq_ignore_ascii_case(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::MigrationFile;

    fn schema() -> Schema {
        let sql = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT,
                       score REAL NOT NULL DEFAULT 0, active BOOLEAN NOT NULL DEFAULT 1, data BLOB);
                   CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,
                       kind TEXT NOT NULL, n INT) STRICT;";
        Schema::build(&[MigrationFile {
            version: 1,
            name: "init".into(),
            path: "0001_init.sql".into(),
            sql: sql.into(),
            checksum: String::new(),
        }])
        .unwrap()
    }

    fn types(d: &Described) -> Vec<(String, String)> {
        d.columns
            .iter()
            .map(|c| (c.name.clone(), c.rust_type.to_string().replace(' ', "")))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn select_types_and_nullability_from_the_schema() {
        let d = describe(
            &schema(),
            "SELECT id, name, email, score, active, data FROM users WHERE id > ?",
        )
        .unwrap();
        assert!(d.readonly);
        assert_eq!(d.params, vec![ParamSlot::Positional]);
        assert_eq!(
            types(&d),
            pairs(&[
                ("id", "i64"),
                ("name", "::std::string::String"),
                ("email", "::core::option::Option<::std::string::String>"),
                ("score", "f64"),
                ("active", "bool"),
                ("data", "::core::option::Option<::std::vec::Vec<u8>>"),
            ])
        );
    }

    #[test]
    fn overrides_are_applied_and_stripped_from_the_sql() {
        let d = describe(
            &schema(),
            "SELECT count(*) AS n, max(users.id) AS \"top: i64\", email AS \"email!\", name AS \"name?\", sum(n) \"s?: i64\" FROM users, events",
        )
        .unwrap();
        assert_eq!(
            types(&d),
            pairs(&[
                ("n", "i64"),
                ("top", "i64"),
                ("email", "::std::string::String"),
                ("name", "::core::option::Option<::std::string::String>"),
                ("s", "::core::option::Option<i64>"),
            ])
        );
        assert_eq!(
            d.sql,
            "SELECT count(*) AS n, max(users.id) AS \"top\", email AS \"email\", name AS \"name\", sum(n) \"s\" FROM users, events"
        );
    }

    #[test]
    fn expressions_without_a_type_are_refused() {
        let err = describe(&schema(), "SELECT max(id) AS top FROM users").unwrap_err();
        assert!(
            err.contains("cannot infer the type of result column \"top\""),
            "{err}"
        );
        assert!(err.contains("AS \"top: i64\""), "{err}");
    }

    #[test]
    fn literals_and_casts() {
        let d = describe(
            &schema(),
            "SELECT 1 AS a, 2.5 b, 'x' c, CAST(id AS TEXT) d, exists(SELECT 1) e FROM users",
        )
        .unwrap();
        assert_eq!(
            types(&d),
            pairs(&[
                ("a", "i64"),
                ("b", "f64"),
                ("c", "::std::string::String"),
                ("d", "::core::option::Option<::std::string::String>"),
                ("e", "bool"),
            ])
        );
    }

    #[test]
    fn left_join_makes_the_joined_table_nullable() {
        let d = describe(
            &schema(),
            "SELECT u.name, e.kind FROM users u LEFT JOIN events e ON e.user_id = u.id",
        )
        .unwrap();
        assert_eq!(
            types(&d),
            pairs(&[
                ("name", "::std::string::String"),
                ("kind", "::core::option::Option<::std::string::String>"),
            ])
        );
    }

    #[test]
    fn writes_and_returning() {
        let d = describe(&schema(), "INSERT INTO users (name) VALUES (?) RETURNING id, name, email AS mail, 1 + 1 AS \"two: i64\"").unwrap();
        assert!(!d.readonly);
        assert_eq!(
            types(&d),
            pairs(&[
                ("id", "i64"),
                ("name", "::std::string::String"),
                ("mail", "::core::option::Option<::std::string::String>"),
                ("two", "i64"),
            ])
        );
        let d = describe(&schema(), "DELETE FROM events WHERE id = :id RETURNING *").unwrap();
        assert_eq!(d.params, vec![ParamSlot::Named(":id".into())]);
        assert_eq!(d.columns.len(), 4);
        assert_eq!(
            d.columns[3].rust_type.to_string().replace(' ', ""),
            "::core::option::Option<i64>"
        );
        let d = describe(&schema(), "UPDATE users SET name = ?1 WHERE id = ?2").unwrap();
        assert!(!d.readonly && d.columns.is_empty());
        assert_eq!(d.params.len(), 2);
    }

    #[test]
    fn errors_name_the_problem() {
        let s = schema();
        let err = describe(&s, "SELEC id FROM users").unwrap_err();
        assert!(err.contains("syntax error") && err.contains('^'), "{err}");
        let err = describe(&s, "SELECT id FROM nope").unwrap_err();
        assert!(err.contains("no such table: nope"), "{err}");
        let err = describe(&s, "SELECT mail FROM users").unwrap_err();
        assert!(err.contains("no such column: mail"), "{err}");
        let err = describe(&s, "SELECT 1; SELECT 2").unwrap_err();
        assert!(err.contains("more than one statement"), "{err}");
        let err = describe(&s, "BEGIN").unwrap_err();
        assert!(err.contains("Txn"), "{err}");
        let err = describe(&s, "  ").unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = describe(&s, "SELECT u.id, e.id FROM users u, events e").unwrap_err();
        assert!(err.contains("two result columns are named \"id\""), "{err}");
    }
}
