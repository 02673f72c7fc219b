use hiqlite::query;

fn main() {
    let _ = query!("SELECT max(id) FROM users");
    let _ = query!("SELECT max(id) AS top FROM users");
    let _ = query!(r#"SELECT max(id) AS "top: not a type" FROM users"#);
    let _ = query!("SELECT u.id, e.id FROM users u, events e");
    let _ = query!("SELECT count(*) FROM users");
}
