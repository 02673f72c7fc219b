use hiqlite::query;

fn main() {
    // TEXT against an INTEGER column (affinity rules).
    let _ = query!("SELECT id FROM users WHERE id = ?", "x");
    // REAL into an INTEGER column of a STRICT table.
    let _ = query!("UPDATE events SET amount = ? WHERE id = 1", 1.5);
    // An integer into a TEXT column, by name.
    let _ = query!("INSERT INTO users (name) VALUES (:name)", name = 5);
    // A variable, not a literal: checked through its type.
    let day = hiqlite::types::chrono::NaiveDate::from_ymd_opt(2026, 11, 30);
    let _ = query!("SELECT id FROM events WHERE user_id = ? AND kind = ?", day, 1u8);
    // LIMIT takes an integer.
    let _ = query!("SELECT id FROM users LIMIT ?", "10");
}
