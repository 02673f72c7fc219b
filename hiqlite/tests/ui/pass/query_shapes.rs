// query! on every statement shape: the record's field types follow the schema, reads are
// `Query<Read, _>`, writes `Query<Write, _>`.
use hiqlite::typed::{Access, Query, Read, Write};
use hiqlite::{query, Value};

/// A value of the query's row type, for type assertions only (never called).
fn row<A: Access, T>(_: &Query<A, T>) -> T {
    unreachable!()
}

/// A user type named like the generated record: arguments still see this one.
struct Record(i64);

impl From<Record> for Value {
    fn from(r: Record) -> Value {
        Value::Integer(r.0)
    }
}

fn main() {
    let q = query!("SELECT name FROM users WHERE id = ?", Record(7));
    assert_eq!(q.params(), &[Value::Integer(7)]);
    if false {
        let _: String = row(&q).name;
    }

    let q: Query<Read, _> = query!(
        "SELECT id, name, email, score, active, balance, avatar, extra FROM users WHERE id > ?",
        10
    );
    if false {
        let r = row(&q);
        let _: i64 = r.id;
        let _: String = r.name;
        let _: Option<String> = r.email;
        let _: f64 = r.score;
        let _: bool = r.active;
        let _: Option<f64> = r.balance;
        let _: Option<Vec<u8>> = r.avatar;
        let _: Option<Value> = r.extra;
    }

    // STRICT table, ANY column, LEFT JOIN: the joined side becomes nullable.
    let q = query!(
        "SELECT u.name, e.kind, e.amount, e.data FROM users u LEFT JOIN events e ON e.user_id = u.id"
    );
    if false {
        let r = row(&q);
        let _: String = r.name;
        let _: Option<String> = r.kind;
        let _: Option<i64> = r.amount;
        let _: Option<Value> = r.data;
    }

    // Inferred expressions and overrides.
    let q = query!(
        r#"SELECT count(*) AS n, total(score) AS t, 1 AS one, 'x' AS x, exists(SELECT 1 FROM events) AS e,
                  max(users.id) AS "top: i64", email AS "email!", name AS "name?", sum(amount) AS "s?: i64",
                  CAST(score AS INTEGER) AS rounded
           FROM users, events WHERE users.id = events.user_id"#
    );
    assert!(!q.sql().contains("top: i64"));
    if false {
        let r = row(&q);
        let _: i64 = r.n;
        let _: f64 = r.t;
        let _: i64 = r.one;
        let _: String = r.x;
        let _: bool = r.e;
        let _: i64 = r.top;
        let _: String = r.email;
        let _: Option<String> = r.name;
        let _: Option<i64> = r.s;
        let _: Option<i64> = r.rounded;
    }

    // Views resolve to their base table.
    let q = query!("SELECT id, name FROM user_names");
    if false {
        let r = row(&q);
        let _: (i64, String) = (r.id, r.name);
    }

    // Parameters: positional, numbered, named (bound by name), one name used twice.
    let min = 3;
    let q = query!("SELECT id FROM users WHERE id > ?1 AND id < ?2", min, 10);
    assert_eq!(q.params(), &[Value::Integer(3), Value::Integer(10)]);
    let name = String::from("bob");
    let q = query!("SELECT id FROM users WHERE name = :name OR email = :name OR id = @id", name = &name, id = 5);
    assert_eq!(q.params().len(), 2);

    // Writes: with RETURNING the rows are typed, without it the row type is ().
    let q: Query<Write, _> = query!("INSERT INTO users (name) VALUES (?) RETURNING id, name, email", "bob");
    if false {
        let r = row(&q);
        let _: (i64, String, Option<String>) = (r.id, r.name, r.email);
    }
    let q = query!("UPDATE events SET amount = amount + 1 WHERE kind = :kind RETURNING *", kind = "x");
    if false {
        let r = row(&q);
        let _: (i64, i64, String, Option<i64>, Option<Value>) = (r.id, r.user_id, r.kind, r.amount, r.data);
    }
    let _: Query<Write, ()> = query!("DELETE FROM users WHERE id = ?", 1);
    let _: Query<Write, ()> = query!("INSERT INTO events (user_id, kind) VALUES (?, ?)", 1, "login");
    let _: Query<Write, ()> = query!("CREATE TABLE IF NOT EXISTS t (a INT)");
}
