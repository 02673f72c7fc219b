//! How `hiqlite sql` prints what SQLite returned: a table for people, `--json` (an array of row
//! objects) and `--json-rows` (columns plus values tagged with their storage class) for programs.
//! Pure functions from a result to text; the rules are documented in `docs/operations.md`
//! ("Running SQL") and checked against SQLite itself in the tests below.

use comfy_table::{presets::UTF8_FULL, Table};
use hiqlite::client::SqlOutput;
use hiqlite::{Rows, Value};

/// The output format picked on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table, then `(N rows)`.
    Table,
    /// One JSON array of row objects, keys in column order ([`unique_names`] for duplicates).
    Json,
    /// One JSON object `{"columns":[..],"rows":[[..]]}`, every value tagged with its type.
    JsonRows,
}

/// What to print for one result: `stdout` is the result itself, `stderr` a note for people
/// (counts of a write) that never mixes into the machine-readable output.
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

/// Renders one result of `Client::sql` in `format`.
///
/// Writes without `RETURNING` print `[]` with `--json` (a result without rows; existing scripts
/// expect an array) and an object with their counts with `--json-rows`; the counts also go to
/// stderr in every format.
pub fn render(output: &SqlOutput, format: Format) -> Rendered {
    match output {
        SqlOutput::Rows(rows) => Rendered {
            stdout: Some(match format {
                Format::Table => table(rows),
                Format::Json => json_objects(rows),
                Format::JsonRows => json_rows(rows, &[]),
            }),
            stderr: None,
        },
        SqlOutput::Executed {
            rows_affected,
            last_insert_rowid,
        } => Rendered {
            stdout: match format {
                Format::Table => None,
                Format::Json => Some("[]".into()),
                Format::JsonRows => Some(json_rows(
                    &Rows {
                        columns: Vec::new(),
                        rows: Vec::new(),
                    },
                    &[
                        ("rows_affected", rows_affected.to_string()),
                        ("last_insert_rowid", last_insert_rowid.to_string()),
                    ],
                )),
            },
            stderr: Some(format!(
                "rows affected: {rows_affected}, last insert rowid: {last_insert_rowid}"
            )),
        },
        SqlOutput::Batch { statements } => Rendered {
            stdout: match format {
                Format::Table => None,
                Format::Json => Some("[]".into()),
                Format::JsonRows => Some(json_rows(
                    &Rows {
                        columns: Vec::new(),
                        rows: Vec::new(),
                    },
                    &[("statements", statements.to_string())],
                )),
            },
            stderr: Some(format!("statements run: {statements}")),
        },
    }
}

/// Column names made unique the way SQLite names the columns of `CREATE TABLE ... AS SELECT` and
/// of views: a name already taken (compared without regard to ASCII case, as SQLite compares
/// column names) gets `:1`, `:2`, ... appended, after dropping a `:<digits>` suffix it already
/// had. `["a", "a", "A"]` becomes `["a", "a:1", "A:2"]`. SQLite switches to random suffixes after
/// the fourth try; this keeps counting, so the result is always the same.
pub fn unique_names(columns: &[String]) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(columns.len());
    for name in columns {
        let mut candidate = name.clone();
        let mut count = 0u64;
        while taken.contains(&candidate.to_ascii_lowercase()) {
            count += 1;
            candidate = format!("{}:{count}", strip_counter(name));
        }
        taken.insert(candidate.to_ascii_lowercase());
        out.push(candidate);
    }
    out
}

/// `name` without a trailing `:<digits>` (or a trailing `:`), as SQLite strips it before
/// numbering a duplicate; a name that is only `:<digits>` becomes empty.
fn strip_counter(name: &str) -> &str {
    let bytes = name.as_bytes();
    let mut j = bytes.len().saturating_sub(1);
    while j > 0 && bytes[j].is_ascii_digit() {
        j -= 1;
    }
    if bytes.get(j) == Some(&b':') {
        &name[..j]
    } else {
        name
    }
}

/// `--json`: `[{"a":1,"a:1":2.0}, ...]` on one line. Keys in column order, made unique with
/// [`unique_names`]; values as [`json_value`].
pub fn json_objects(rows: &Rows) -> String {
    let keys: Vec<String> = unique_names(&rows.columns)
        .iter()
        .map(|k| json_string(k))
        .collect();
    let mut out = String::from("[");
    for (r, values) in rows.rows.iter().enumerate() {
        if r > 0 {
            out.push(',');
        }
        out.push('{');
        for (c, (key, value)) in keys.iter().zip(values).enumerate() {
            if c > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            out.push_str(&json_value(value));
        }
        out.push('}');
    }
    out.push(']');
    out
}

/// `--json-rows`: `{"columns":["a","a"],"rows":[[{"type":"integer","value":1}, ...]]}` on one
/// line, followed by `extra` members (`"name":raw_json`). Column names are SQLite's, duplicates
/// kept; values as [`typed_value`].
fn json_rows(rows: &Rows, extra: &[(&str, String)]) -> String {
    let columns: Vec<String> = rows.columns.iter().map(|c| json_string(c)).collect();
    let rows_json: Vec<String> = rows
        .rows
        .iter()
        .map(|values| {
            let cells: Vec<String> = values.iter().map(typed_value).collect();
            format!("[{}]", cells.join(","))
        })
        .collect();
    let mut out = format!(
        "{{\"columns\":[{}],\"rows\":[{}]",
        columns.join(","),
        rows_json.join(",")
    );
    for (name, raw) in extra {
        out.push_str(&format!(",{}:{raw}", json_string(name)));
    }
    out.push('}');
    out
}

/// One value in `--json`: NULL `null`, INTEGER an exact JSON integer, REAL a JSON number that
/// always has a `.` or an exponent ([`real_json`]), TEXT a JSON string, BLOB an array of byte
/// values (`[1,255]`).
pub fn json_value(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => real_json(*r),
        Value::Text(t) => json_string(t),
        Value::Blob(b) => {
            let bytes: Vec<String> = b.iter().map(u8::to_string).collect();
            format!("[{}]", bytes.join(","))
        }
    }
}

/// One value in `--json-rows`: `{"type":T,"value":V}` with T SQLite's storage class (`null`,
/// `integer`, `real`, `text`, `blob`, as `typeof()` names them) and V as in [`json_value`],
/// except that a BLOB is a string of lowercase hex digits (`"01ff"`, as `lower(hex(x))`).
pub fn typed_value(value: &Value) -> String {
    let (kind, raw) = match value {
        Value::Null => ("null", "null".to_string()),
        Value::Integer(_) => ("integer", json_value(value)),
        Value::Real(_) => ("real", json_value(value)),
        Value::Text(_) => ("text", json_value(value)),
        Value::Blob(b) => ("blob", json_string(&hex(b))),
    };
    format!("{{\"type\":\"{kind}\",\"value\":{raw}}}")
}

/// A REAL in JSON. Finite values as [`real_digits`]; infinities as SQLite's JSON functions
/// write them (`json_quote(9e999)` is `9.0e+999`, which JSON readers take as infinity). SQLite
/// stores no NaN (it becomes NULL), so a NaN can only come from elsewhere: `null`.
pub fn real_json(r: f64) -> String {
    if r.is_nan() {
        "null".into()
    } else if r.is_infinite() {
        if r > 0.0 { "9.0e+999" } else { "-9.0e+999" }.into()
    } else {
        real_digits(r)
    }
}

/// A finite REAL with as many significant digits as it takes to read back the same double
/// (SQLite's own text conversion keeps 15 and may round), laid out as SQLite lays out REALs:
/// plain notation for exponents -4..=14 with at least one digit after the point (`1.0`,
/// `0.0001`), otherwise `d.ddde±XX` (`1.0e+16`, `1.0e-05`).
pub fn real_digits(r: f64) -> String {
    // `{:e}` is Rust's shortest round-trip form: "-1.2345e-7", "1e16", "0e0".
    let sci = format!("{r:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..15).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let (int, frac) = if point <= 0 {
            (
                "0".to_string(),
                format!("{}{digits}", "0".repeat((-point) as usize)),
            )
        } else if point as usize >= digits.len() {
            (
                format!("{digits}{}", "0".repeat(point as usize - digits.len())),
                String::new(),
            )
        } else {
            (
                digits[..point as usize].to_string(),
                digits[point as usize..].to_string(),
            )
        };
        let frac = if frac.is_empty() { "0".into() } else { frac };
        format!("{sign}{int}.{frac}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}.{rest}e{exp_sign}{:02}", exp.abs())
    }
}

/// A string as a JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The table: SQLite's column names as the header, one line per row, then `(N rows)`. Cells as
/// [`table_cell`].
pub fn table(rows: &Rows) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL).set_header(&rows.columns);
    for values in &rows.rows {
        table.add_row(values.iter().map(table_cell));
    }
    format!("{table}\n({} rows)", rows.rows.len())
}

/// One table cell. NULL prints as `NULL`; a BLOB as SQLite writes a blob literal (`X'01FF'`);
/// an INTEGER in decimal; a REAL always with a point or an exponent (`1.0`, `1.0e+16`, `Inf`,
/// `-Inf` as SQLite's text conversion names infinities). TEXT prints as it is unless it could be
/// read as one of those: text that is `NULL` in any case, or starts with `'`, or looks like a
/// blob literal (`X'...'`) prints as an SQL string literal (`'NULL'`, quotes doubled). A number
/// stored as TEXT looks like the number; `--json-rows` tells every storage class apart.
pub fn table_cell(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) if r.is_infinite() => if *r > 0.0 { "Inf" } else { "-Inf" }.into(),
        Value::Real(r) if r.is_nan() => "NaN".into(),
        Value::Real(r) => real_digits(*r),
        Value::Text(t) => {
            if needs_quotes(t) {
                format!("'{}'", t.replace('\'', "''"))
            } else {
                t.clone()
            }
        }
        Value::Blob(b) => format!("X'{}'", hex(b).to_ascii_uppercase()),
    }
}

/// Whether a TEXT cell would read as NULL, a quoted literal or a blob without quotes.
fn needs_quotes(text: &str) -> bool {
    let looks_like_blob = text.len() >= 3
        && text.as_bytes()[0].eq_ignore_ascii_case(&b'x')
        && text.as_bytes()[1] == b'\''
        && text.ends_with('\'');
    text.eq_ignore_ascii_case("NULL") || text.starts_with('\'') || looks_like_blob
}

/// Prints `output` as `format` asks: the rendering to stdout, its note (counts) to stderr.
pub fn print_output(output: &SqlOutput, format: Format) {
    let rendered = render(output, format);
    if let Some(text) = rendered.stdout {
        println!("{text}");
    }
    if let Some(note) = rendered.stderr {
        eprintln!("{note}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::ValueRef;
    use rusqlite::Connection;

    /// Runs `sql` on a fresh in-memory SQLite and returns its rows as Hiqlite returns them.
    fn sqlite_rows(conn: &Connection, sql: &str) -> Rows {
        let mut stmt = conn.prepare(sql).unwrap();
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let width = columns.len();
        let mut rows = stmt.query([]).unwrap();
        let mut out = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            out.push(
                (0..width)
                    .map(|i| match row.get_ref(i).unwrap() {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(i) => Value::Integer(i),
                        ValueRef::Real(r) => Value::Real(r),
                        ValueRef::Text(t) => Value::Text(String::from_utf8(t.to_vec()).unwrap()),
                        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    })
                    .collect(),
            );
        }
        Rows { columns, rows: out }
    }

    fn text(conn: &Connection, sql: &str) -> String {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn duplicate_names_follow_sqlites_create_table_as() {
        let conn = Connection::open_in_memory().unwrap();
        let cases: &[&[&str]] = &[
            &["a", "a"],
            &["a", "a", "A", "a", "a"],
            &["a", "a:1", "a"],
            &["b:7", "b:7"],
            &["c:", "c:"],
            &[":5", ":5"],
            &["x", "y", "x:2", "x", "x"],
            &["n1", "n1", "n1:1"],
        ];
        for (i, names) in cases.iter().enumerate() {
            let select: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(k, n)| format!("{k} AS \"{n}\""))
                .collect();
            conn.execute_batch(&format!(
                "CREATE TABLE t{i} AS SELECT {}",
                select.join(", ")
            ))
            .unwrap();
            let sqlite: Vec<String> = sqlite_rows(
                &conn,
                &format!("SELECT name FROM pragma_table_info('t{i}') ORDER BY cid"),
            )
            .rows
            .into_iter()
            .map(|r| match &r[0] {
                Value::Text(t) => t.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            assert_eq!(unique_names(&names), sqlite, "{names:?}");
        }
        // Beyond SQLite's fourth try we keep counting instead of picking random suffixes.
        let many: Vec<String> = (0..7).map(|_| "a".to_string()).collect();
        assert_eq!(
            unique_names(&many),
            ["a", "a:1", "a:2", "a:3", "a:4", "a:5", "a:6"]
        );
    }

    #[test]
    fn reals_read_back_exactly_and_match_sqlite_where_it_keeps_every_digit() {
        let conn = Connection::open_in_memory().unwrap();
        let values = [
            0.0,
            -0.5,
            1.0,
            2.5,
            0.1,
            100.0,
            0.0001,
            0.00001,
            1e14,
            123456789012345.0,
            1e15,
            1e16,
            1e300,
            -1e-300,
            5e-324,
            1.7976931348623157e308,
            12.375,
            -3.0,
        ];
        for v in values {
            let ours = real_json(v);
            assert_eq!(ours.parse::<f64>().unwrap(), v, "{ours} reads back");
            assert!(ours.contains('.'), "{ours} looks like a REAL");
            // SQLite prints 15 significant digits: equal wherever that is enough (for normal
            // numbers; it prints subnormals with more digits than needed).
            let sqlite = text(&conn, &format!("SELECT json_quote({v:e})"));
            if sqlite.parse::<f64>().unwrap() == v && (v == 0.0 || v.is_normal()) {
                assert_eq!(ours, sqlite, "json_quote({v:e})");
            }
        }
        // Any double: a fixed pseudo-random walk over bit patterns.
        let mut bits = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            let v = f64::from_bits(bits);
            if v.is_finite() {
                let ours = real_json(v);
                assert_eq!(
                    ours.parse::<f64>().unwrap().to_bits(),
                    v.to_bits(),
                    "{ours}"
                );
            }
        }
        // Where 15 digits are not enough we keep the rest.
        assert_eq!(real_json(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(real_json(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(real_json(123456789012345680.0), "1.2345678901234568e+17");
        assert_eq!(real_json(-0.0), "-0.0");
    }

    #[test]
    fn infinities_are_written_as_sqlite_writes_them() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(
            real_json(f64::INFINITY),
            text(&conn, "SELECT json_quote(9e999)")
        );
        assert_eq!(
            real_json(f64::NEG_INFINITY),
            text(&conn, "SELECT json_quote(-9e999)")
        );
        assert_eq!(
            table_cell(&Value::Real(f64::INFINITY)),
            text(&conn, "SELECT CAST(9e999 AS TEXT)")
        );
        assert_eq!(
            table_cell(&Value::Real(f64::NEG_INFINITY)),
            text(&conn, "SELECT CAST(-9e999 AS TEXT)")
        );
    }

    #[test]
    fn json_objects_equal_sqlites_json_for_the_same_row() {
        let conn = Connection::open_in_memory().unwrap();
        // SQLite builds the same objects with json_object(); its reals keep 15 digits, so the
        // row uses reals that need no more.
        let select = "SELECT 1 AS id, 'x\"y\\z\n\u{e9}\u{1}' AS name, NULL AS gone, 2.0 AS two, \
                      -0.25 AS q, 9e999 AS big, -9e999 AS small, 9223372036854775807 AS max";
        let ours = json_objects(&sqlite_rows(&conn, select));
        let sqlite = text(
            &conn,
            &format!(
                "SELECT json_group_array(json_object('id', id, 'name', name, 'gone', gone, \
                 'two', two, 'q', q, 'big', big, 'small', small, 'max', max)) FROM ({select})"
            ),
        );
        assert_eq!(ours, sqlite);
    }

    #[test]
    fn json_keeps_every_column_in_order() {
        let conn = Connection::open_in_memory().unwrap();
        let rows = sqlite_rows(
            &conn,
            "SELECT 1 AS b, 2 AS a, 3 AS a, 1.0 AS c, x'01ff' AS d",
        );
        assert_eq!(
            json_objects(&rows),
            r#"[{"b":1,"a":2,"a:1":3,"c":1.0,"d":[1,255]}]"#
        );
        assert_eq!(
            json_rows(&rows, &[]),
            concat!(
                r#"{"columns":["b","a","a","c","d"],"rows":[["#,
                r#"{"type":"integer","value":1},{"type":"integer","value":2},"#,
                r#"{"type":"integer","value":3},{"type":"real","value":1.0},"#,
                r#"{"type":"blob","value":"01ff"}]]}"#
            )
        );
        let empty = sqlite_rows(&conn, "SELECT 1 AS a WHERE 0");
        assert_eq!(json_objects(&empty), "[]");
        assert_eq!(json_rows(&empty, &[]), r#"{"columns":["a"],"rows":[]}"#);
    }

    #[test]
    fn typed_values_name_sqlites_storage_class() {
        let conn = Connection::open_in_memory().unwrap();
        let select = "SELECT NULL, 7, 7.0, '7', x'07', 9e999";
        let rows = sqlite_rows(&conn, select);
        let types = sqlite_rows(
            &conn,
            "SELECT typeof(NULL), typeof(7), typeof(7.0), typeof('7'), typeof(x'07'), typeof(9e999)",
        );
        for (value, kind) in rows.rows[0].iter().zip(&types.rows[0]) {
            let Value::Text(kind) = kind else {
                panic!("{kind:?}")
            };
            let parsed: serde_json::Value = match value {
                // serde_json reads no infinity; the text is checked below.
                Value::Real(r) if r.is_infinite() => continue,
                _ => serde_json::from_str(&typed_value(value)).unwrap(),
            };
            assert_eq!(parsed["type"], serde_json::Value::from(kind.as_str()));
        }
        assert_eq!(
            typed_value(&Value::Real(f64::INFINITY)),
            r#"{"type":"real","value":9.0e+999}"#
        );
        assert_eq!(
            typed_value(&Value::Text("7".into())),
            r#"{"type":"text","value":"7"}"#
        );
        assert_eq!(typed_value(&Value::Null), r#"{"type":"null","value":null}"#);
    }

    #[test]
    fn table_cells_tell_null_real_and_blob_apart() {
        let conn = Connection::open_in_memory().unwrap();
        let rows = sqlite_rows(
            &conn,
            "SELECT NULL, 'NULL', 'null', 1, 1.0, '', 'it''s', '''q''', x'01ff', 'X''01''', 1e16",
        );
        let cells: Vec<String> = rows.rows[0].iter().map(table_cell).collect();
        assert_eq!(
            cells,
            [
                "NULL",
                "'NULL'",
                "'null'",
                "1",
                "1.0",
                "",
                "it's",
                "'''q'''",
                "X'01FF'",
                "'X''01'''",
                "1.0e+16"
            ]
        );
        // A blob cell is the literal SQLite's quote() writes.
        assert_eq!(cells[8], text(&conn, "SELECT quote(x'01ff')"));
        let table = table(&rows);
        assert!(table.ends_with("(1 rows)"), "{table}");
    }

    #[test]
    fn writes_print_counts() {
        let executed = SqlOutput::Executed {
            rows_affected: 2,
            last_insert_rowid: 9,
        };
        assert_eq!(
            render(&executed, Format::Json).stdout.as_deref(),
            Some("[]")
        );
        assert_eq!(
            render(&executed, Format::JsonRows).stdout.as_deref(),
            Some(r#"{"columns":[],"rows":[],"rows_affected":2,"last_insert_rowid":9}"#)
        );
        assert_eq!(render(&executed, Format::Table).stdout, None);
        assert_eq!(
            render(&executed, Format::Table).stderr.as_deref(),
            Some("rows affected: 2, last insert rowid: 9")
        );
        let batch = SqlOutput::Batch { statements: 3 };
        assert_eq!(
            render(&batch, Format::JsonRows).stdout.as_deref(),
            Some(r#"{"columns":[],"rows":[],"statements":3}"#)
        );
    }
}
