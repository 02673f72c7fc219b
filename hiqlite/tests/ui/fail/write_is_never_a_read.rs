use hiqlite::typed::{Query, Read};
use hiqlite::{query, Client};

async fn run(client: &Client) {
    // A write is a Query<Write, _>: it has no local or consistent read methods ...
    let _ = query!("DELETE FROM users WHERE id = ? RETURNING id", 1)
        .fetch_all_consistent(client)
        .await;
    // ... and cannot be passed off as a read.
    let _: Query<Read, _> = query!("UPDATE users SET name = 'x'");
}

fn main() {
    let _ = run;
}
