use hiqlite::query;

fn main() {
    let _ = query!("SELECT id FROM users WHERE id > ? AND id < ?", 1);
    let _ = query!("SELECT id FROM users", 1, 2);
    let _ = query!("SELECT id FROM users WHERE name = :name");
    let _ = query!("SELECT id FROM users WHERE id = $id", id = 1, other = 2);
    let _ = query!("SELECT id FROM users WHERE id = ?", 1, migrations = "x");
    let _ = query!("SELECT id FROM users WHERE id = :id", id = 1, id = 2);
}
