// query_as! into derived structs (renames, flatten, skip, conversions, Option for a non-null
// column), into a struct with a hand-written FromRow (not checked), and with custom types.
use hiqlite::typed::{Query, Read, Write};
use hiqlite::{query_as, FromRow, HiqliteRow, Row};

#[derive(HiqliteRow)]
struct Contact {
    #[row(rename = "email")]
    mail: Option<String>,
}

#[derive(HiqliteRow)]
struct User {
    id: i64,
    name: Option<String>,
    #[row(flatten)]
    contact: Contact,
    #[row(skip)]
    _loaded: bool,
    #[row(try_from = "i64")]
    active: u8,
    #[row(from_str)]
    balance_text: String,
}

struct Manual {
    _id: i64,
}

impl FromRow for Manual {
    fn from_row(row: &Row<'_>) -> Result<Self, hiqlite::Error> {
        Ok(Manual { _id: row.get("whatever")? })
    }
}

#[derive(Debug)]
struct UserId(i64);

impl hiqlite::types::Decode for UserId {
    fn decode(v: hiqlite::types::ValueRef<'_>) -> Result<Self, hiqlite::types::DecodeError> {
        i64::decode(v).map(UserId)
    }
}

#[derive(HiqliteRow)]
struct Typed {
    id: UserId,
    amount: i64,
}

fn main() {
    let _: Query<Read, User> = query_as!(
        User,
        "SELECT id, name, email, active, CAST(balance AS TEXT) AS \"balance_text!\" FROM users"
    );
    let _: Query<Write, User> = query_as!(
        User,
        "UPDATE users SET name = ? RETURNING id, name, email, active, 'x' AS balance_text",
        "bob"
    );
    let _: Query<Read, Manual> = query_as!(Manual, "SELECT id FROM users");
    let _: Query<Read, Typed> = query_as!(
        Typed,
        r#"SELECT id AS "id: UserId", coalesce(amount, 0) AS "amount: i64" FROM events"#
    );
}
