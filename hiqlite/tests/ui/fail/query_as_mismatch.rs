use hiqlite::{query_as, HiqliteRow};

#[derive(HiqliteRow)]
struct User {
    id: i64,
    name: String,
}

#[derive(HiqliteRow)]
struct WithEmail {
    id: i64,
    email: String,
}

#[derive(HiqliteRow)]
struct WrongType {
    id: i64,
    name: i64,
}

fn main() {
    // A column the struct has no field for.
    let _ = query_as!(User, "SELECT id, name, email FROM users");
    // A field the query does not return.
    let _ = query_as!(User, "SELECT id FROM users");
    // A nullable column into a non-Option field.
    let _ = query_as!(WithEmail, "SELECT id, email FROM users");
    // A TEXT column into an integer field.
    let _ = query_as!(WrongType, "SELECT id, name FROM users");
}
