//! Every SQL statement of the service, checked at build time against `migrations/`.
//!
//! Each function returns a `Query` value without running it: `Query<Read, T>` for a statement
//! SQLite reports as read-only, `Query<Write, T>` for one that writes. The route decides how to
//! run it (a local or a consistent read); a write always goes through Raft, whichever node runs
//! it. Change a column here or in a migration so they disagree and `cargo build` fails.

use std::str::FromStr;

use hiqlite::typed::{Query, Read, Write};
use hiqlite::{query, query_as, Client, Error, HiqliteRow, Txn};
use serde::{Deserialize, Serialize};

/// A row of `users` (migrations/0001_init.sql).
#[derive(HiqliteRow, Serialize, Debug)]
pub struct User {
    pub id: i64,
    pub name: String,
    /// `email` can be NULL, so the field is an `Option`; `String` would not compile.
    pub email: Option<String>,
    /// The column is `created_at`; the API calls it `member_since`.
    #[row(rename = "created_at")]
    pub member_since: String,
}

/// A row of `todos` (migrations/0002_todos.sql).
#[derive(HiqliteRow, Serialize, Debug)]
pub struct Todo {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    /// Stored as text ('open' or 'done'), parsed with `FromStr` when the row is read.
    #[row(from_str)]
    pub status: Status,
    pub notes: Option<String>,
    /// Unix seconds, set by the table's default (the leader's clock, the same on every node).
    pub created_at: i64,
}

/// The state of a todo. The table's CHECK constraint allows exactly these two values.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Done,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Done => "done",
        }
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Status::Open),
            "done" => Ok(Status::Done),
            other => Err(format!("unknown todo status {other:?}")),
        }
    }
}

/// How many open todos one user may have; enforced by a guard inside the insert's transaction.
pub const MAX_OPEN_TODOS: i64 = 20;

pub fn insert_user(name: &str, email: Option<&str>) -> Query<Write, User> {
    query_as!(
        User,
        "INSERT INTO users (name, email) VALUES (?, ?) RETURNING id, name, email, created_at",
        name,
        email,
    )
}

pub fn user(id: i64) -> Query<Read, User> {
    query_as!(
        User,
        "SELECT id, name, email, created_at FROM users WHERE id = ?",
        id
    )
}

pub fn todos_of(user_id: i64) -> Query<Read, Todo> {
    query_as!(
        Todo,
        "SELECT id, user_id, title, status, notes, created_at
         FROM todos WHERE user_id = ? ORDER BY id",
        user_id
    )
}

pub fn set_status(id: i64, status: Status) -> Query<Write, Todo> {
    query_as!(
        Todo,
        "UPDATE todos SET status = :status WHERE id = :id
         RETURNING id, user_id, title, status, notes, created_at",
        status = status.as_str(),
        id = id,
    )
}

/// A write without `RETURNING`: its row type is `()`, run it with `execute`.
pub fn delete_todo(id: i64) -> Query<Write, ()> {
    query!("DELETE FROM todos WHERE id = ?", id)
}

/// Inserts a todo unless the user already has [`MAX_OPEN_TODOS`] open ones: the check and the
/// insert are one Raft entry, so two concurrent inserts cannot both slip under the limit.
///
/// Fails with `SqlError::GuardFailed` over the limit, and with a constraint error for an
/// unknown user (FOREIGN KEY), a duplicate title (UNIQUE) or an empty title (CHECK).
pub async fn create_todo(
    client: &Client,
    user_id: i64,
    title: &str,
    notes: Option<&str>,
) -> Result<Todo, Error> {
    let mut txn = Txn::new();
    // The guard's one column is never read in Rust, but `query!` wants a type for an
    // expression; `bool` says what it means.
    query!(
        r#"SELECT count(*) < ? AS "below_limit: bool"
           FROM todos WHERE user_id = ? AND status = 'open'"#,
        MAX_OPEN_TODOS,
        user_id
    )
    .add_guard_to(&mut txn);
    let inserted = query_as!(
        Todo,
        "INSERT INTO todos (user_id, title, notes) VALUES (?, ?, ?)
         RETURNING id, user_id, title, status, notes, created_at",
        user_id,
        title,
        notes,
    )
    .add_to(&mut txn);
    let outputs = client.txn(txn).await?;
    inserted.one(&outputs)
}
