//! The typed API on an in-process node: derive(HiqliteRow) with every attribute, query! and
//! query_as! reads and writes, transactions, and the runtime errors a user sees when data does
//! not fit. The SQL is checked at build time against the workspace's example schema
//! (`migrations/`, the nearest one above this crate).

mod common;

use std::str::FromStr;

use common::TestCluster;
use hiqlite::typed::{Query, Read, Write};
use hiqlite::{query, query_as, Error, HiqliteRow, Txn, Value};

const SCHEMA: &str = include_str!("../../migrations/0001_init.sql");

#[derive(Debug, PartialEq, Clone, Copy)]
enum Kind {
    Login,
    Logout,
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "login" => Ok(Kind::Login),
            "logout" => Ok(Kind::Logout),
            other => Err(format!("unknown event kind {other:?}")),
        }
    }
}

#[derive(Debug, PartialEq)]
struct EventId(u32);

impl TryFrom<i64> for EventId {
    type Error = std::num::TryFromIntError;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        u32::try_from(v).map(EventId)
    }
}

fn payload_len(v: Value) -> Result<usize, String> {
    match v {
        Value::Text(t) => Ok(t.len()),
        other => Err(format!("expected text, got {other}")),
    }
}

#[derive(HiqliteRow, Debug, PartialEq)]
struct Stamp {
    created_at: i64,
}

#[derive(HiqliteRow, Debug, PartialEq)]
struct Event {
    #[row(try_from = "i64")]
    id: EventId,
    #[row(from_str)]
    kind: Kind,
    #[row(rename = "payload", with = "payload_len")]
    payload_bytes: usize,
    #[row(flatten)]
    stamp: Stamp,
    #[row(skip)]
    seen: bool,
}

#[derive(HiqliteRow, Debug, PartialEq)]
struct User {
    id: i64,
    name: String,
    #[row(rename = "email")]
    mail: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_writes_and_conversions_on_one_node() {
    let cluster = TestCluster::start(1).await;
    let client = &cluster.clients[0];
    client.batch(SCHEMA).await.unwrap();

    // A write with RETURNING goes through Raft and returns a typed record.
    let bob = query!(
        "INSERT INTO users (name, email) VALUES (?, ?) RETURNING id, name, email",
        "bob",
        "bob@example.com"
    )
    .fetch_one(client)
    .await
    .unwrap();
    let (id, name, email): (i64, String, Option<String>) = (bob.id, bob.name, bob.email);
    assert_eq!(
        (name.as_str(), email.as_deref()),
        ("bob", Some("bob@example.com"))
    );

    // Named parameters bind by name.
    let res = query!("INSERT INTO users (name) VALUES (:name)", name = "alice")
        .execute(client)
        .await
        .unwrap();
    assert_eq!(res.rows_affected, 1);

    let users: Vec<User> = query_as!(
        User,
        "SELECT id, name, email FROM users WHERE id >= ? ORDER BY id",
        id
    )
    .fetch_all(client)
    .await
    .unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].mail.as_deref(), Some("bob@example.com"));
    assert_eq!(users[1].mail, None);

    // Overrides: the record gets the overridden types; the aliases reach SQLite without them.
    let stats = query!(r#"SELECT count(*) AS n, max(id) AS "top: i64", min(email) AS "first_mail?: String" FROM users"#)
        .fetch_one_consistent(client)
        .await
        .unwrap();
    assert_eq!(
        (stats.n, stats.top, stats.first_mail.as_deref()),
        (2, res.last_insert_rowid, Some("bob@example.com"))
    );

    let none = query_as!(
        User,
        "SELECT id, name, email FROM users WHERE name = ?",
        "nobody"
    )
    .fetch_optional(client)
    .await
    .unwrap();
    assert!(none.is_none());
    assert!(matches!(
        query_as!(
            User,
            "SELECT id, name, email FROM users WHERE name = ?",
            "nobody"
        )
        .fetch_one(client)
        .await,
        Err(Error::NoRows)
    ));

    // Conversions, flatten and skip.
    query!("INSERT INTO events (kind, payload, created_at) VALUES ('login', 'abcd', 7)")
        .execute(client)
        .await
        .unwrap();
    let events: Vec<Event> = query_as!(Event, "SELECT id, kind, payload, created_at FROM events")
        .fetch_all_consistent(client)
        .await
        .unwrap();
    assert_eq!(
        events,
        vec![Event {
            id: EventId(1),
            kind: Kind::Login,
            payload_bytes: 4,
            stamp: Stamp { created_at: 7 },
            seen: false,
        }]
    );

    // A RETURNING write read into a derived struct.
    let deleted: Vec<Event> = query_as!(
        Event,
        "DELETE FROM events WHERE kind = ? RETURNING id, kind, payload, created_at",
        "login"
    )
    .fetch_all(client)
    .await
    .unwrap();
    assert_eq!(deleted.len(), 1);

    // A conversion that fails at runtime names the column and the field.
    query!("INSERT INTO events (kind, payload) VALUES ('party', 'x')")
        .execute(client)
        .await
        .unwrap();
    let err = query_as!(Event, "SELECT id, kind, payload, created_at FROM events")
        .fetch_all(client)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("field `Event.kind` (column \"kind\")"),
        "{err}"
    );
    assert!(err.contains("unknown event kind \"party\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_queries_in_a_transaction() {
    let cluster = TestCluster::start(1).await;
    let client = &cluster.clients[0];
    client.batch(SCHEMA).await.unwrap();

    let mut txn = Txn::new();
    let inserted = query!(
        "INSERT INTO users (name) VALUES (?) RETURNING id, name",
        "carol"
    )
    .add_to(&mut txn);
    query!(
        "UPDATE users SET email = ? WHERE name = ?",
        "c@example.com",
        "carol"
    )
    .add_to(&mut txn);
    let read = query_as!(
        User,
        "SELECT id, name, email FROM users WHERE name = ?",
        "carol"
    )
    .add_to(&mut txn);
    let outputs = client.txn(txn).await.unwrap();
    let row = &inserted.rows(&outputs).unwrap()[0];
    assert_eq!(row.name, "carol");
    let users = read.rows(&outputs).unwrap();
    assert_eq!(
        users,
        vec![User {
            id: row.id,
            name: "carol".into(),
            mail: Some("c@example.com".into())
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_row_of_a_transaction_statement() {
    let cluster = TestCluster::start(1).await;
    let client = &cluster.clients[0];
    client.batch(SCHEMA).await.unwrap();

    let mut txn = Txn::new();
    let inserted =
        query!("INSERT INTO users (name) VALUES (?) RETURNING id", "dave").add_to(&mut txn);
    let found = query!("SELECT name FROM users WHERE name = ?", "dave").add_to(&mut txn);
    let absent = query!("SELECT name FROM users WHERE name = ?", "nobody").add_to(&mut txn);
    let outputs = client.txn(txn).await.unwrap();

    assert!(inserted.one(&outputs).unwrap().id > 0);
    assert_eq!(found.one(&outputs).unwrap().name, "dave");
    assert_eq!(found.optional(&outputs).unwrap().unwrap().name, "dave");
    assert!(matches!(absent.one(&outputs), Err(Error::NoRows)));
    assert!(absent.optional(&outputs).unwrap().is_none());
    // Outputs of another transaction do not have this statement.
    assert!(matches!(absent.one(&[]), Err(Error::Conversion(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checked_read_guards_a_transaction() {
    let cluster = TestCluster::start(1).await;
    let client = &cluster.clients[0];
    client.batch(SCHEMA).await.unwrap();

    let insert_unless_taken = |name: &'static str| {
        let mut txn = Txn::new();
        query!(
            r#"SELECT NOT exists(SELECT 1 FROM users WHERE name = ?) AS "free: bool""#,
            name
        )
        .add_guard_to(&mut txn);
        query!("INSERT INTO users (name) VALUES (?)", name).add_to(&mut txn);
        txn
    };
    client.txn(insert_unless_taken("erin")).await.unwrap();
    let err = client.txn(insert_unless_taken("erin")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Sql(hiqlite::SqlError::GuardFailed { statement: 0 })
        ),
        "{err}"
    );
    let count = query!(r#"SELECT count(*) AS n FROM users WHERE name = 'erin'"#)
        .fetch_one(client)
        .await
        .unwrap()
        .n;
    assert_eq!(count, 1, "the second transaction rolled back");
}

/// The access marker is in the type: these annotations only compile because SQLite reported
/// the first statement read-only and the second not.
#[test]
fn access_is_part_of_the_type() {
    let read: Query<Read, _> = query!("SELECT id FROM users");
    let write: Query<Write, ()> = query!("DELETE FROM users WHERE id = ?", 1);
    assert_eq!(read.sql(), "SELECT id FROM users");
    assert_eq!(write.params(), &[Value::Integer(1)]);
}
