// query_scalar! and the query_file*! macros: a row is the one column's value, typed as a query!
// field would be; SQL from a file is checked and sent as written there (tests/ui/queries,
// placed next to trybuild's crate by typed_ui.rs).
use hiqlite::typed::{Access, Query, QueryRow, Read, Scalar, Write};
use hiqlite::{query_file, query_file_as, query_file_scalar, query_scalar, HiqliteRow, Value};

/// A value of one row of the query, for type assertions only (never called).
fn row<A: Access, T: QueryRow>(_: &Query<A, T>) -> T::Output {
    unreachable!()
}

#[derive(HiqliteRow)]
struct User {
    id: i64,
    name: String,
    email: Option<String>,
}

fn main() {
    // Reads: the column's type, nullability and overrides as in query!.
    let q: Query<Read, Scalar<i64>> = query_scalar!("SELECT count(*) FROM users");
    assert_eq!(q.sql(), "SELECT count(*) FROM users");
    let q = query_scalar!("SELECT email FROM users WHERE id = ?", 7);
    assert_eq!(q.params(), &[Value::Integer(7)]);
    if false {
        let _: Option<String> = row(&q);
    }
    let q = query_scalar!(r#"SELECT max(id) AS "top!: u32" FROM users"#);
    assert_eq!(q.sql(), r#"SELECT max(id) AS "top" FROM users"#);
    if false {
        let _: u32 = row(&q);
    }
    let q = query_scalar!(r#"SELECT name AS "name?" FROM users WHERE id = :id"#, id = 1);
    if false {
        let _: Option<String> = row(&q);
    }
    let q = query_scalar!("SELECT avatar FROM users");
    if false {
        let _: Option<Vec<u8>> = row(&q);
    }

    // Writes with RETURNING go through Raft; the row is still the column.
    let q: Query<Write, Scalar<i64>> =
        query_scalar!("INSERT INTO users (name) VALUES (:name) RETURNING id", name = "x");
    assert_eq!(q.params(), &[Value::Text("x".into())]);

    // SQL in files.
    let q = query_file!("tests/ui/queries/user_by_id.sql", id = 3);
    assert_eq!(q.sql(), include_str!("../queries/user_by_id.sql"));
    assert_eq!(q.params(), &[Value::Integer(3)]);
    if false {
        let r = row(&q);
        let _: (i64, String, Option<String>) = (r.id, r.name, r.email);
    }
    let q: Query<Read, User> = query_file_as!(User, "tests/ui/queries/user_by_id.sql", id = 3);
    let _ = q;
    let q: Query<Read, Scalar<i64>> = query_file_scalar!("tests/ui/queries/count_users.sql", 1.5);
    assert_eq!(q.params(), &[Value::Real(1.5)]);
    let q: Query<Write, _> =
        query_file_scalar!("tests/ui/queries/rename_returning.sql", name = "y", id = 2);
    // The override is gone from the SQL sent.
    assert!(q.sql().trim_end().ends_with(r#"RETURNING name AS "renamed""#), "{}", q.sql());
    if false {
        let _: Option<String> = row(&q);
    }
}
