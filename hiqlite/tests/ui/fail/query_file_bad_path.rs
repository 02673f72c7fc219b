// query_file*! with a file that cannot be read, and SQL in a file that SQLite refuses.
use hiqlite::{query_file, query_file_as, query_file_scalar};

struct User;

fn main() {
    let _ = query_file!("/nonexistent/hiqlite/missing.sql");
    let _ = query_file_scalar!("/");
    let _ = query_file!("tests/ui/queries/bad_column.sql");
    let _ = query_file_as!(User, concat!("tests/ui/", "queries/user_by_id.sql"));
}
