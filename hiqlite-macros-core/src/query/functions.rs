//! SQL functions that Hiqlite adds at run time, declared on the build-time schema so that `query!`
//! accepts what the nodes run.
//!
//! The nodes register SQLite's math functions themselves (the bundled SQLite lacks them; see
//! `hiqlite/src/store/sqlite/math.rs`, which registers exactly [`MATH_FUNCTIONS`]). The
//! build-time check only prepares statements, so stand-ins with the same names and arities are
//! enough; they return NULL if a migration ever calls one while it is applied here.

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

/// SQLite's math functions (`SQLITE_ENABLE_MATH_FUNCTIONS`), as name and number of arguments.
pub const MATH_FUNCTIONS: &[(&str, i32)] = &[
    ("acos", 1),
    ("acosh", 1),
    ("asin", 1),
    ("asinh", 1),
    ("atan", 1),
    ("atan2", 2),
    ("atanh", 1),
    ("ceil", 1),
    ("ceiling", 1),
    ("cos", 1),
    ("cosh", 1),
    ("degrees", 1),
    ("exp", 1),
    ("floor", 1),
    ("ln", 1),
    ("log", 1),
    ("log", 2),
    ("log10", 1),
    ("log2", 1),
    ("mod", 2),
    ("pi", 0),
    ("pow", 2),
    ("power", 2),
    ("radians", 1),
    ("sin", 1),
    ("sinh", 1),
    ("sqrt", 1),
    ("tan", 1),
    ("tanh", 1),
    ("trunc", 1),
];

/// Declares every function of [`MATH_FUNCTIONS`] on `conn`.
pub fn declare(conn: &Connection) -> rusqlite::Result<()> {
    for &(name, arity) in MATH_FUNCTIONS {
        conn.create_scalar_function(
            name,
            arity,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            |_| Ok(rusqlite::types::Null),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_with_math_functions_prepare() {
        let conn = Connection::open_in_memory().unwrap();
        declare(&conn).unwrap();
        conn.execute_batch("CREATE TABLE p (x REAL CHECK (sqrt(x) IS NULL OR sqrt(x) >= 0))")
            .unwrap();
        conn.prepare("SELECT sqrt(x), log(2, x), pi(), pow(x, 2) FROM p")
            .unwrap();
        assert!(
            conn.prepare("SELECT sqrt(1, 2)").is_err(),
            "arity is checked"
        );
    }
}
