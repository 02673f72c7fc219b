// query_scalar! needs exactly one result column.
use hiqlite::{query_file_scalar, query_scalar};

fn main() {
    let _ = query_scalar!("SELECT id, name FROM users");
    let _ = query_scalar!("DELETE FROM users WHERE id = ?", 1);
    let _ = query_file_scalar!("tests/ui/queries/user_by_id.sql", id = 1);
}
