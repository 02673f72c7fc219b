//! SQL functions that Hiqlite adds at run time, declared on the build-time schema so that `query!`
//! accepts what the nodes run.
//!
//! The nodes register SQLite's math functions themselves (the bundled SQLite lacks them; see
//! `hiqlite/src/store/sqlite/math.rs`, which registers exactly [`MATH_FUNCTIONS`]). The
//! build-time check only prepares statements, so stand-ins with the same names and arities are
//! enough; they return NULL if a migration ever calls one while it is applied here.

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

pub use hiqlite_shared::functions::MATH_FUNCTIONS;

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
