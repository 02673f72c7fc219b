use hiqlite::query;

struct NotAValue;

fn main() {
    let _ = query!("SELECT id FROM users WHERE id = ?", NotAValue);
}
