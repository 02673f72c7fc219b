use hiqlite::query;

fn main() {
    let _ = query!("SELEC id FROM users");
    let _ = query!("SELECT id FROM nope");
    let _ = query!("SELECT mail FROM users");
    let _ = query!("SELECT id FROM users; SELECT 1");
    let _ = query!("BEGIN");
    let _ = query!("");
}
