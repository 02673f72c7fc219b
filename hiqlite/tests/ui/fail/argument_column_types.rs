use hiqlite::query;

fn main() {
    // TEXT against an INTEGER column (affinity rules).
    let _ = query!("SELECT id FROM users WHERE id = ?", "x");
    // REAL into an INTEGER column of a STRICT table.
    let _ = query!("UPDATE events SET amount = ? WHERE id = 1", 1.5);
    // An integer into a TEXT column, by name.
    let _ = query!("INSERT INTO users (name) VALUES (:name)", name = 5);
    // LIMIT takes an integer.
    let _ = query!("SELECT id FROM users LIMIT ?", "10");
}
