//! Literals, expressions and conditions over a list of columns: the pieces every generated
//! statement is built from. Only deterministic functions: nothing here reads the clock,
//! randomness or the connection's history.

use super::rng::Rng;
use super::schema::{ident, Column, Table};

/// Declared types for columns of ordinary (non-STRICT) tables, affinities of every kind.
pub const LOOSE_TYPES: &[&str] = &[
    "INTEGER",
    "INT",
    "REAL",
    "TEXT",
    "BLOB",
    "NUMERIC",
    "",
    "VARCHAR(10)",
    "BOOLEAN",
    "DOUBLE",
    "DATETIME",
];

/// The types a STRICT table accepts.
pub const STRICT_TYPES: &[&str] = &["INTEGER", "INT", "REAL", "TEXT", "BLOB", "ANY"];

/// Literal values, all storage classes, chosen to collide often (UNIQUE conflicts, upserts) and
/// to exercise affinity conversions ('10' into an INTEGER column, 3.0 into INTEGER, ...).
const INTEGERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "5",
    "7",
    "10",
    "42",
    "-1",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
];
const REALS: &[&str] = &[
    "0.5", "1.0", "-2.5", "3.0", "1e300", "1.5e-7", "9e999", "-9e999", "0.1", "2.0", "-0.0",
];
const TEXTS: &[&str] = &[
    "'a'",
    "'b'",
    "'c'",
    "'abc'",
    "''",
    "'NULL'",
    "'10'",
    "'1.5'",
    "' 7 '",
    "'\u{e9}'",
    "'x''y'",
    "'\u{dc}n\u{ef}c\u{f6}d\u{e9}'",
    "'0x10'",
    "'A'",
];
const BLOBS: &[&str] = &["x''", "x'00'", "x'01ff'", "x'616263'"];

/// Storage class a literal is chosen from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Integer,
    Real,
    Text,
    Blob,
    Null,
}

/// The class a value for a column of declared type `decl` usually has.
pub fn class_for(decl: &str) -> Class {
    let d = decl.to_ascii_uppercase();
    if d.contains("INT") || d == "BOOLEAN" {
        Class::Integer
    } else if d.contains("CHAR") || d.contains("TEXT") || d.contains("CLOB") {
        Class::Text
    } else if d.contains("BLOB") {
        Class::Blob
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        Class::Real
    } else {
        Class::Integer
    }
}

/// A literal of `class`.
pub fn literal_of(rng: &mut Rng, class: Class) -> String {
    match class {
        Class::Integer => rng.pick(INTEGERS).to_string(),
        Class::Real => rng.pick(REALS).to_string(),
        Class::Text => rng.pick(TEXTS).to_string(),
        Class::Blob => rng.pick(BLOBS).to_string(),
        Class::Null => "NULL".into(),
    }
}

/// A literal of any class, small integers most often.
pub fn literal(rng: &mut Rng) -> String {
    let class = rng.weighted(&[
        (5, Class::Integer),
        (2, Class::Real),
        (3, Class::Text),
        (1, Class::Blob),
        (1, Class::Null),
    ]);
    literal_of(rng, class)
}

/// A value for `column` of `table`: mostly of its type (nearly always for STRICT tables),
/// sometimes NULL or another class. Never the largest rowid: after it SQLite picks new rowids
/// at random (a documented limit of Hiqlite's determinism).
pub fn value_for(rng: &mut Rng, column: &Column, table: &Table) -> String {
    let strict = table.strict;
    if table.is_rowid_alias(column) {
        return if rng.chance(8) {
            "NULL".into()
        } else {
            rng.range(-3, 60).to_string()
        };
    }
    let class = class_for(&column.decl);
    if rng.chance(8) {
        return "NULL".into();
    }
    if strict {
        // A STRICT table refuses a value it cannot convert: rarely on purpose.
        if rng.chance(3) {
            return literal(rng);
        }
        if column.decl.eq_ignore_ascii_case("ANY") {
            return literal(rng);
        }
        return literal_of(rng, class);
    }
    if rng.chance(20) {
        literal(rng)
    } else {
        literal_of(rng, class)
    }
}

/// A scalar expression over `columns` (qualified with `prefix.` when given).
pub fn expr(rng: &mut Rng, columns: &[String], prefix: Option<&str>) -> String {
    let col = |rng: &mut Rng| -> String {
        if columns.is_empty() {
            return literal(rng);
        }
        let c = ident(rng.pick(columns));
        match prefix {
            Some(p) => format!("{p}.{c}"),
            None => c,
        }
    };
    let c = col(rng);
    match rng.below(30) {
        0..=7 => c,
        8 => format!("{c} + {}", rng.pick(&["1", "2.5", "-3", "'4'"])),
        9 => format!("{c} * 2"),
        10 => format!("{c} - {}", col(rng)),
        11 => format!("{c} / {}", rng.pick(&["2", "0", "2.0", "-1"])),
        12 => format!("{c} % 3"),
        13 => format!("{c} || {}", rng.pick(&["'x'", "1", "NULL"])),
        14 => format!(
            "{}({c})",
            rng.pick(&[
                "abs",
                "length",
                "upper",
                "lower",
                "typeof",
                "hex",
                "quote",
                "trim",
                "unicode",
                "ltrim",
                "octet_length",
            ])
        ),
        15 => format!("coalesce({c}, {})", literal(rng)),
        16 => format!("ifnull({c}, {})", literal(rng)),
        17 => format!("nullif({c}, {})", literal(rng)),
        18 => format!("round({c}, {})", rng.below(3)),
        19 => format!("substr({c}, {}, {})", rng.range(-2, 3), rng.range(0, 3)),
        20 => format!(
            "CAST({c} AS {})",
            rng.pick(&["TEXT", "INTEGER", "REAL", "NUMERIC", "BLOB"])
        ),
        21 => format!("printf('%d|%s|%.3f', {c}, {c}, {c})"),
        22 => format!(
            "iif({c} > {}, {}, {})",
            literal(rng),
            literal(rng),
            literal(rng)
        ),
        23 => format!(
            "CASE WHEN {c} IS NULL THEN 'null' WHEN {c} < {} THEN 'low' ELSE 'high' END",
            literal(rng)
        ),
        24 => format!("max({c}, {})", literal(rng)),
        25 => format!("min({c}, {})", col(rng)),
        26 => format!("instr({c}, 'a')"),
        27 => format!("replace({c}, 'a', 'zz')"),
        28 => format!(
            "{}({c})",
            rng.pick(&["json_quote", "json_type", "json_valid", "sign"])
        ),
        _ => format!("concat_ws('-', {c}, {})", col(rng)),
    }
}

/// A boolean condition over `columns`.
pub fn condition(rng: &mut Rng, columns: &[String], prefix: Option<&str>) -> String {
    let one = |rng: &mut Rng| -> String {
        let e = expr(rng, columns, prefix);
        match rng.below(9) {
            0 => format!("{e} IS NULL"),
            1 => format!("{e} IS NOT NULL"),
            2 => format!(
                "{e} IN ({}, {}, {})",
                literal(rng),
                literal(rng),
                literal(rng)
            ),
            3 => format!("{e} BETWEEN {} AND {}", literal(rng), literal(rng)),
            4 => format!("{e} LIKE '{}'", rng.pick(&["a%", "%b%", "_", "1%"])),
            5 => format!("{e} GLOB '{}'", rng.pick(&["a*", "*1*", "?"])),
            _ => format!(
                "{e} {} {}",
                rng.pick(&["=", "<>", "<", "<=", ">", ">=", "IS", "IS NOT"]),
                literal(rng)
            ),
        }
    };
    let first = one(rng);
    match rng.below(6) {
        0 => format!("{first} AND {}", one(rng)),
        1 => format!("({first} OR {})", one(rng)),
        2 => format!("NOT ({first})"),
        _ => first,
    }
}

/// `ORDER BY 1, 2, ..., n`: a total order over every output column, so rows compare exactly.
pub fn order_all(n: usize) -> String {
    let positions: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!("ORDER BY {}", positions.join(", "))
}
