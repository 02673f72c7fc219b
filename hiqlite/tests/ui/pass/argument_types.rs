//! Arguments whose types fit the columns they meet, and the ways to bind one unchecked.

use hiqlite::types::{Json, UnixTime};
use hiqlite::{query, HiqliteType, Value};

#[derive(HiqliteType, Clone, Copy)]
#[hiqlite(rename_all = "lowercase")]
enum Kind {
    Login,
    Logout,
}

#[derive(HiqliteType)]
struct UserId(i64);

struct Opaque;
impl From<Opaque> for Value {
    fn from(_: Opaque) -> Self {
        Value::Integer(1)
    }
}

fn generic<T>(v: T)
where
    Value: From<T>,
{
    // The argument's type is only known to the caller: not checked.
    let _ = query!("SELECT id FROM users WHERE id = ?", v);
}

fn main() {
    let name = String::from("bob");
    let _ = query!("SELECT id FROM users WHERE id = ? AND name = ?", 1, &name);
    let _ = query!("SELECT id FROM users WHERE id IN (?, ?) AND score BETWEEN ? AND ?", 1i32, 2u8, 0.5, 3);
    let _ = query!("SELECT id FROM users WHERE active = ? AND email = ?", true, Some("a@b"));
    let _ = query!("UPDATE users SET avatar = ?, email = ? WHERE id = ?", vec![1u8], None::<String>, UserId(3));
    let _ = query!("INSERT INTO events (user_id, kind, amount, data) VALUES (?, ?, ?, ?)", UserId(1), Kind::Login, 5, 1.5);
    let _ = query!("SELECT id FROM events WHERE kind = ?", Kind::Logout);
    let _ = query!("UPDATE users SET balance = ?, extra = ?", "12.50", vec![0u8]);
    let now = hiqlite::types::chrono::DateTime::from_timestamp(0, 0).unwrap();
    let _ = query!("UPDATE users SET name = ?, score = ? WHERE id = ?", now, 1, UnixTime(now));
    let _ = query!("UPDATE users SET name = ? WHERE id = ?", hiqlite::types::uuid::Uuid::nil().hyphenated(), 1);
    let _ = query!("UPDATE users SET name = ?, avatar = ?", Json(vec![1, 2]), hiqlite::types::uuid::Uuid::nil());
    // Unchecked: a type without `ArgType`, a `Value`, and `as _`.
    let _ = query!("SELECT id FROM users WHERE id = ?", Opaque);
    let _ = query!("SELECT id FROM users WHERE id = ?", Value::Text("1".into()));
    let _ = query!("SELECT id FROM users WHERE id = ?", "1" as _);
    let _ = query!("SELECT id FROM users LIMIT ? OFFSET ?", 10, 20);
    generic(5);
}
