use hiqlite::{query_as, HiqliteRow};

#[derive(HiqliteRow)]
struct User {
    id: i64,
}

fn main() {
    let _ = query_as!(User, "DELETE FROM users WHERE id = ?", 1);
}
